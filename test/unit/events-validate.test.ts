// parsePdu: the event format of each room version (PDU schemas pdu_v1…pdu_v12), canonical JSON from v6,
// the size limits (client-server API "Size limits") and normalisation to RoomEvent.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeBase64 } from '../../src/protocol/base64.ts'
import { ROOM_VERSIONS, roomVersion, type RoomVersion } from '../../src/protocol/room-versions.ts'
import { signingKeyFromSeed } from '../../src/protocol/signing.ts'
import { buildEvent, parsePdu, type JsonObject, type ParsePduResult } from '../../src/protocol/events/index.ts'

const key = signingKeyFromSeed('ed25519:1', decodeBase64('YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1') as Buffer)
const V = (id: string): RoomVersion => roomVersion(id)!

/** A valid wire event for the version (IDs in its format), with `change` applied on top. */
function pdu(version: string, change: JsonObject = {}): JsonObject {
  const v = V(version)
  const refs = [{ event_id: '$prev:example.org', referenceHash: Buffer.alloc(32, 2) }]
  const built = buildEvent(
    { type: 'm.room.message', sender: '@alice:example.org', content: { body: 'hi' }, room_id: '!room:example.org', origin_server_ts: 1700000000000, depth: 5 },
    { version: v, serverName: 'example.org', signingKey: key, prevEventRefs: refs, authEventRefs: refs, eventIdLocalpart: 'e1' },
  )
  const out: JsonObject = { ...built.pdu, ...change }
  for (const [k, value] of Object.entries(change)) if (value === undefined) delete out[k]
  return out
}

function refused(result: ParsePduResult, pattern: RegExp): void {
  assert.equal(result.ok, false)
  if (!result.ok) {
    assert.match(result.reason, pattern)
    assert.equal(result.rejectedEvent, undefined, 'dropped, not stored as rejected')
  }
}

describe('parsePdu: accepts', () => {
  it('a valid event of every version, normalised', () => {
    for (const version of ROOM_VERSIONS.values()) {
      const result = parsePdu(pdu(version.id), version)
      assert.ok(result.ok, result.ok ? '' : result.reason)
      assert.equal(result.event.room_id, '!room:example.org')
      assert.deepEqual(result.event.prev_events, ['$prev:example.org'])
      assert.deepEqual(result.event.auth_events, ['$prev:example.org'])
      assert.equal(result.event.event_id, version.eventFormat === 1 ? '$e1:example.org' : result.event.event_id)
      assert.match(result.event.event_id, version.eventFormat === 3 ? /^\$[A-Za-z0-9_-]{43}$/ : /^\$/)
    }
  })

  it('unknown top-level keys, a missing hashes.sha256 (the hash check fails later) and v1 refs without a hash', () => {
    assert.ok(parsePdu(pdu('10', { origin: 'example.org', custom: { x: 1 } }), V('10')).ok)
    assert.ok(parsePdu(pdu('10', { hashes: {} }), V('10')).ok)
    assert.ok(parsePdu(pdu('1', { prev_events: [['$p:example.org', {}]] }), V('1')).ok)
  })

  it('floats and large integers before v6, where canonical JSON is not enforced', () => {
    assert.ok(parsePdu(pdu('5', { content: { n: 1.5 } }), V('5')).ok)
    assert.ok(parsePdu(pdu('5', { depth: 2 ** 53 }), V('5')).ok)
  })

  it('redacts from the top level before v11 and from content from v11', () => {
    const v10 = parsePdu(pdu('10', { type: 'm.room.redaction', redacts: '$bad', content: { redacts: '$ignored' } }), V('10'))
    assert.ok(v10.ok)
    assert.equal(v10.event.redacts, '$bad')
    const v11 = parsePdu(pdu('11', { type: 'm.room.redaction', redacts: 42, content: { redacts: '$bad' } }), V('11'))
    assert.ok(v11.ok, 'a top-level redacts is just an unknown key in v11')
    assert.equal(v11.event.redacts, '$bad')
  })

  it('an event of exactly 65536 bytes', () => {
    const base = Buffer.byteLength(JSON.stringify(pdu('12', { content: { body: '' } })))
    const result = parsePdu(pdu('12', { content: { body: 'x'.repeat(65536 - base) } }), V('12'))
    assert.ok(result.ok, result.ok ? '' : result.reason)
  })
})

describe('parsePdu: refuses', () => {
  it('things that are not objects', () => {
    for (const json of [null, [], 'event', 42]) refused(parsePdu(json, V('12')), /JSON object/)
  })

  it('wrong types in the fields every version has', () => {
    refused(parsePdu(pdu('12', { type: 5 }), V('12')), /type/)
    refused(parsePdu(pdu('12', { type: undefined }), V('12')), /type/)
    refused(parsePdu(pdu('12', { sender: 'alice' }), V('12')), /sender/)
    refused(parsePdu(pdu('12', { sender: '@alice' }), V('12')), /sender/)
    refused(parsePdu(pdu('12', { content: [] }), V('12')), /content/)
    refused(parsePdu(pdu('12', { content: undefined }), V('12')), /content/)
    refused(parsePdu(pdu('12', { origin_server_ts: '1' }), V('12')), /origin_server_ts/)
    refused(parsePdu(pdu('12', { state_key: 3 }), V('12')), /state_key/)
    refused(parsePdu(pdu('12', { hashes: undefined }), V('12')), /hashes/)
    refused(parsePdu(pdu('12', { hashes: { sha256: 1 } }), V('12')), /hashes/)
    refused(parsePdu(pdu('12', { signatures: { 'example.org': 'sig' } }), V('12')), /signatures/)
    refused(parsePdu(pdu('12', { signatures: undefined }), V('12')), /signatures/)
    refused(parsePdu(pdu('12', { unsigned: 'x' }), V('12')), /unsigned/)
    refused(parsePdu(pdu('10', { redacts: 42 }), V('10')), /redacts/)
  })

  it('bad depths', () => {
    refused(parsePdu(pdu('12', { depth: -1 }), V('12')), /depth/)
    refused(parsePdu(pdu('12', { depth: 1.5 }), V('12')), /depth/)
    refused(parsePdu(pdu('12', { depth: '5' }), V('12')), /depth/)
    refused(parsePdu(pdu('6', { depth: 2 ** 53 }), V('6')), /depth/)
    refused(parsePdu(pdu('5', { depth: 2 ** 64 }), V('5')), /depth/)
  })

  it('floats and out-of-range integers anywhere from v6', () => {
    for (const version of ['6', '7', '8', '9', '10', '11', '12']) {
      refused(parsePdu(pdu(version, { content: { n: 1.5 } }), V(version)), /canonical JSON/)
      refused(parsePdu(pdu(version, { content: { deep: [{ n: 2 ** 53 }] } }), V(version)), /canonical JSON/)
      refused(parsePdu(pdu(version, { unsigned: { age: 0.5 } }), V(version)), /canonical JSON/)
      refused(parsePdu(pdu(version, { origin_server_ts: 1.5 }), V(version)), /origin_server_ts/)
    }
  })

  it('missing room IDs, except on a v12 create event', () => {
    for (const version of ROOM_VERSIONS.values()) refused(parsePdu(pdu(version.id, { room_id: undefined }), version), /room_id/)
    refused(parsePdu(pdu('12', { room_id: 'room' }), V('12')), /room_id/)
    refused(parsePdu(pdu('11', { type: 'm.room.create', state_key: '', room_id: undefined }), V('11')), /room_id/)
    refused(parsePdu(pdu('12', { type: 'm.room.create', state_key: 'x', room_id: undefined }), V('12')), /room_id/)
    assert.ok(parsePdu(pdu('12', { type: 'm.room.create', state_key: '', room_id: undefined }), V('12')).ok)
  })

  it('v1/v2 events without a proper event_id', () => {
    refused(parsePdu(pdu('1', { event_id: undefined }), V('1')), /event_id/)
    refused(parsePdu(pdu('2', { event_id: '$nodomain' }), V('2')), /event_id/)
    refused(parsePdu(pdu('2', { event_id: 'e1:example.org' }), V('2')), /event_id/)
  })

  it('prev_events and auth_events in the wrong format for the version', () => {
    refused(parsePdu(pdu('1', { prev_events: ['$p:example.org'] }), V('1')), /prev_events.*pairs/)
    refused(parsePdu(pdu('2', { auth_events: [['$p:example.org']] }), V('2')), /auth_events.*pairs/)
    refused(parsePdu(pdu('1', { prev_events: [['$p:example.org', 'hash']] }), V('1')), /prev_events/)
    refused(parsePdu(pdu('1', { prev_events: [['$p:example.org', { sha256: 1 }]] }), V('1')), /prev_events/)
    refused(parsePdu(pdu('1', { prev_events: [['$nodomain', {}]] }), V('1')), /prev_events/)
    for (const version of ['3', '4', '11', '12']) {
      refused(parsePdu(pdu(version, { prev_events: [['$p:example.org', { sha256: 'x' }]] }), V(version)), /prev_events.*event IDs/)
      refused(parsePdu(pdu(version, { auth_events: ['no-sigil'] }), V(version)), /auth_events/)
      refused(parsePdu(pdu(version, { prev_events: '$p' }), V(version)), /prev_events/)
      refused(parsePdu(pdu(version, { auth_events: undefined }), V(version)), /auth_events/)
    }
  })

  it('more than 20 prev_events or 10 auth_events', () => {
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `$e${i}`)
    assert.ok(parsePdu(pdu('12', { prev_events: ids(20), auth_events: ids(10) }), V('12')).ok)
    refused(parsePdu(pdu('12', { prev_events: ids(21) }), V('12')), /prev_events/)
    refused(parsePdu(pdu('12', { auth_events: ids(11) }), V('12')), /auth_events/)
  })

  it('events over 65536 bytes of canonical JSON', () => {
    const base = Buffer.byteLength(JSON.stringify(pdu('12', { content: { body: '' } })))
    refused(parsePdu(pdu('12', { content: { body: 'x'.repeat(65537 - base) } }), V('12')), /65536/)
    refused(parsePdu(pdu('1', { content: { body: 'é'.repeat(40000) } }), V('1')), /65536/)
  })

  it('type, state_key, sender and room_id over 255 bytes', () => {
    const long = 'a'.repeat(256)
    for (const version of ['1', '10', '11', '12']) {
      refused(parsePdu(pdu(version, { type: long }), V(version)), /type exceeds 255/)
      refused(parsePdu(pdu(version, { state_key: long }), V(version)), /state_key exceeds 255/)
      refused(parsePdu(pdu(version, { sender: `@${long}:example.org` }), V(version)), /sender exceeds 255/)
      refused(parsePdu(pdu(version, { room_id: `!${long}:example.org` }), V(version)), /room_id exceeds 255/)
    }
    refused(parsePdu(pdu('2', { event_id: `$${long}:example.org` }), V('2')), /event_id exceeds 255/)
    assert.ok(parsePdu(pdu('12', { type: 'a'.repeat(255) }), V('12')).ok)
  })

  it('fields over 255 bytes but not code points: dropped from v11, stored as rejected before (as Synapse)', () => {
    const type = 'é'.repeat(200) // 200 code points, 400 bytes
    for (const version of ['11', '12']) refused(parsePdu(pdu(version, { type }), V(version)), /type exceeds 255 bytes/)
    for (const version of ['1', '6', '10']) {
      const result = parsePdu(pdu(version, { type }), V(version))
      assert.equal(result.ok, false)
      if (!result.ok) {
        assert.match(result.reason, /type exceeds 255 bytes/)
        assert.equal(result.rejectedEvent?.type, type, `room version ${version}`)
      }
    }
  })
})
