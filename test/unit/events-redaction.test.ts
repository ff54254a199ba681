// The redaction algorithms of every room version (rooms/fragments v1-redactions, v6-redactions, rooms/v8
// "Redactions", v9-redactions, v11-redactions): what each keeps of each event type, and of the top level.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ROOM_VERSIONS, roomVersion, type RoomVersion } from '../../src/protocol/room-versions.ts'
import { redact, type JsonObject } from '../../src/protocol/events/index.ts'

const V = (id: string): RoomVersion => roomVersion(id)!
const ALL = [...ROOM_VERSIONS.keys()]
const range = (from: number, to: number) => ALL.filter((id) => Number(id) >= from && Number(id) <= to)

interface Row {
  type: string
  content: JsonObject
  /** Kept content, by the room versions it applies to. */
  kept: Array<[versions: string[], content: JsonObject]>
}

const signed3pid = { mxid: '@bob:b.example', token: 'abc', signatures: { 'id.example': { 'ed25519:0': 'sig' } } }

const TABLE: Row[] = [
  {
    type: 'm.room.member',
    content: {
      membership: 'join', displayname: 'Alice', avatar_url: 'mxc://a/b', reason: 'hi', is_direct: true,
      join_authorised_via_users_server: '@mod:c.example', third_party_invite: { display_name: 'bob@…', signed: signed3pid },
    },
    kept: [
      [range(1, 8), { membership: 'join' }],
      [range(9, 10), { membership: 'join', join_authorised_via_users_server: '@mod:c.example' }],
      [range(11, 12), { membership: 'join', join_authorised_via_users_server: '@mod:c.example', third_party_invite: { signed: signed3pid } }],
    ],
  },
  {
    // Synapse keeps an empty third_party_invite when it has no `signed`; so do we.
    type: 'm.room.member',
    content: { membership: 'invite', third_party_invite: { display_name: 'x' } },
    kept: [[range(1, 10), { membership: 'invite' }], [range(11, 12), { membership: 'invite', third_party_invite: {} }]],
  },
  {
    type: 'm.room.create',
    content: { creator: '@alice:a.example', room_version: '5', 'm.federate': false, predecessor: { room_id: '!old:a.example' }, additional_creators: ['@b:b.example'] },
    kept: [
      [range(1, 10), { creator: '@alice:a.example' }],
      [range(11, 12), { creator: '@alice:a.example', room_version: '5', 'm.federate': false, predecessor: { room_id: '!old:a.example' }, additional_creators: ['@b:b.example'] }],
    ],
  },
  {
    type: 'm.room.join_rules',
    content: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: '!space:a.example' }], extra: 1 },
    kept: [
      [range(1, 7), { join_rule: 'restricted' }],
      [range(8, 12), { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: '!space:a.example' }] }],
    ],
  },
  {
    type: 'm.room.power_levels',
    content: {
      ban: 50, events: { 'm.room.name': 50 }, events_default: 0, invite: 0, kick: 50, notifications: { room: 50 },
      redact: 50, state_default: 50, users: { '@alice:a.example': 100 }, users_default: 0, extra: true,
    },
    kept: [
      [range(1, 10), { ban: 50, events: { 'm.room.name': 50 }, events_default: 0, kick: 50, redact: 50, state_default: 50, users: { '@alice:a.example': 100 }, users_default: 0 }],
      [range(11, 12), { ban: 50, events: { 'm.room.name': 50 }, events_default: 0, invite: 0, kick: 50, redact: 50, state_default: 50, users: { '@alice:a.example': 100 }, users_default: 0 }],
    ],
  },
  {
    type: 'm.room.history_visibility',
    content: { history_visibility: 'shared', extra: 1 },
    kept: [[ALL, { history_visibility: 'shared' }]],
  },
  {
    type: 'm.room.aliases',
    content: { aliases: ['#a:a.example'], extra: 1 },
    kept: [[range(1, 5), { aliases: ['#a:a.example'] }], [range(6, 12), {}]],
  },
  {
    type: 'm.room.redaction',
    content: { redacts: '$bad', reason: 'spam' },
    kept: [[range(1, 10), {}], [range(11, 12), { redacts: '$bad' }]],
  },
  { type: 'm.room.message', content: { msgtype: 'm.text', body: 'secret', membership: 'join' }, kept: [[ALL, {}]] },
  { type: 'm.room.name', content: { name: 'Room' }, kept: [[ALL, {}]] },
  { type: 'org.example.custom', content: { history_visibility: 'shared', join_rule: 'public' }, kept: [[ALL, {}]] },
]

describe('redact: content', () => {
  for (const row of TABLE) {
    it(`keeps the right content of ${row.type} ${JSON.stringify(Object.keys(row.content))} in every version`, () => {
      const covered = row.kept.flatMap(([versions]) => versions).sort()
      assert.deepEqual(covered, [...ALL].sort(), 'the table row covers every version once')
      for (const [versions, expected] of row.kept) {
        for (const id of versions) {
          const redacted = redact({ type: row.type, state_key: '', content: row.content }, V(id))
          assert.deepEqual(redacted.content, expected, `room version ${id}`)
        }
      }
    })
  }

  it('gives empty content when the content is missing or not an object', () => {
    assert.deepEqual(redact({ type: 'm.room.member' }, V('12')).content, {})
    assert.deepEqual(redact({ type: 'm.room.create', content: 'x' }, V('12')).content, {})
    assert.deepEqual(redact({ type: 'm.room.member', content: { third_party_invite: 'x', membership: 'ban' } }, V('11')).content, { membership: 'ban' })
  })
})

describe('redact: top-level keys', () => {
  const event = {
    event_id: '$e:a.example', type: 'm.room.message', room_id: '!r:a.example', sender: '@alice:a.example', state_key: 'sk',
    content: { body: 'x' }, hashes: { sha256: 'h' }, signatures: { 'a.example': { 'ed25519:1': 's' } }, depth: 4,
    prev_events: ['$p'], prev_state: [], auth_events: ['$a'], origin: 'a.example', origin_server_ts: 5, membership: 'join',
    unsigned: { age: 1 }, redacts: '$x', age: 7, custom: 'dropped',
  }
  const always = ['auth_events', 'content', 'depth', 'event_id', 'hashes', 'origin_server_ts', 'prev_events', 'room_id', 'sender', 'signatures', 'state_key', 'type']

  it('keeps origin, membership and prev_state before v11', () => {
    for (const id of range(1, 10)) {
      assert.deepEqual(Object.keys(redact(event, V(id))).sort(), [...always, 'membership', 'origin', 'prev_state'].sort(), `room version ${id}`)
    }
  })

  it('drops origin, membership and prev_state from v11', () => {
    for (const id of range(11, 12)) assert.deepEqual(Object.keys(redact(event, V(id))).sort(), always, `room version ${id}`)
  })

  it('drops unsigned, the top-level redacts and unknown keys in every version', () => {
    for (const id of ALL) {
      const redacted = redact(event, V(id))
      for (const key of ['unsigned', 'redacts', 'age', 'custom']) assert.equal(key in redacted, false, `${key} in room version ${id}`)
    }
  })

  it('keeps the values themselves, and only keys the event has', () => {
    const redacted = redact(event, V('12'))
    assert.deepEqual(redacted.signatures, event.signatures)
    assert.deepEqual(redacted.prev_events, ['$p'])
    assert.equal('state_key' in redact({ type: 'm.room.message', content: {} }, V('12')), false)
  })

  it('does not modify its input', () => {
    const copy = structuredClone(event)
    redact(event, V('1'))
    redact(event, V('12'))
    assert.deepEqual(event, copy)
  })
})
