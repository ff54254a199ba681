// Building events in each room version's format (PDU schemas pdu_v1…pdu_v12; server-server API "Adding
// hashes and signatures to outgoing events"), and reading them back with parsePdu.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeBase64, encodeBase64 } from '../../src/protocol/base64.ts'
import { canonicalJsonBytes } from '../../src/protocol/canonical-json.ts'
import { ROOM_VERSIONS, roomVersion, type RoomVersion } from '../../src/protocol/room-versions.ts'
import { signingKeyFromSeed } from '../../src/protocol/signing.ts'
import {
  buildEvent, builtEventLimitError, checkContentHash, eventIdOf, parsePdu, redact, referenceHash, requiredSignatureServers, verifyEventSignature,
  type EventTemplate,
} from '../../src/protocol/events/index.ts'

const key = signingKeyFromSeed('ed25519:1', decodeBase64('YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1') as Buffer)
const V = (id: string): RoomVersion => roomVersion(id)!
const options = (version: RoomVersion, extra: Partial<Parameters<typeof buildEvent>[1]> = {}) => ({
  version, serverName: 'example.org', signingKey: key, prevEventRefs: [], authEventRefs: [], ...extra,
})

const message = (roomId = '!room:example.org'): EventTemplate => ({
  type: 'm.room.message', sender: '@alice:example.org', content: { msgtype: 'm.text', body: 'hi' },
  room_id: roomId, origin_server_ts: 1700000000000, depth: 5,
})

describe('buildEvent', () => {
  it('gives events that a stored read (parsePdu with the stored ID) turns into the same event, and whose size and fields pass builtEventLimitError', () => {
    for (const version of ROOM_VERSIONS.values()) {
      const built = buildEvent(message(), options(version, { prevEventRefs: [{ event_id: '$p:example.org', referenceHash: Buffer.alloc(32, 1) }] }))
      const json = JSON.stringify(built.pdu)
      const stored = parsePdu(JSON.parse(json), version, { eventId: built.event_id })
      const fresh = parsePdu(JSON.parse(json), version)
      assert.ok(stored.ok && fresh.ok, `room version ${version.id}`)
      assert.deepEqual(stored.event, fresh.event)
      assert.equal(builtEventLimitError(built.event, json, version), null)
      // In v6+ the JSON text has the canonical length that parsePdu measures.
      if (version.strictCanonicalJson) assert.equal(Buffer.byteLength(json), canonicalJsonBytes(built.pdu).length)
    }
    const big = buildEvent({ ...message(), content: { msgtype: 'm.text', body: 'x'.repeat(70_000) } }, options(V('12')))
    const limit = builtEventLimitError(big.event, JSON.stringify(big.pdu), V('12'))
    assert.match(limit?.reason ?? '', /over 65536/)
    assert.equal(limit?.tooLarge, true)
  })

  it('builds events every version accepts back, hashed and signed by this server', () => {
    for (const version of ROOM_VERSIONS.values()) {
      const built = buildEvent(message(), options(version, { prevEventRefs: [{ event_id: '$p:example.org', referenceHash: Buffer.alloc(32, 1) }] }))
      assert.equal(checkContentHash(built.pdu, version), true, `room version ${version.id}`)
      assert.equal(verifyEventSignature(built.pdu, version, 'example.org', 'ed25519:1', key.publicKey), true)
      assert.equal(eventIdOf(built.pdu, version), built.event_id)
      assert.equal('origin' in built.pdu, false, 'no version\'s schema has origin any more')
      assert.equal('unsigned' in built.pdu, false)
      const parsed = parsePdu(built.pdu, version)
      assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason)
      assert.deepEqual(parsed.event, built.event)
      const required = requiredSignatureServers(built.pdu, version)
      assert.deepEqual(required.ok && required.servers, ['example.org'])
    }
  })

  it('writes v1/v2 event IDs and [event_id, {sha256}] references', () => {
    const refHash = Buffer.alloc(32, 0xfb)
    const built = buildEvent(message(), options(V('1'), {
      eventIdLocalpart: 'abc123',
      prevEventRefs: [{ event_id: '$p:a.example', referenceHash: refHash }],
      authEventRefs: [{ event_id: '$c:a.example', referenceHash: refHash }, { event_id: '$unknown:a.example' }],
    }))
    assert.equal(built.event_id, '$abc123:example.org')
    assert.equal(built.pdu.event_id, '$abc123:example.org')
    assert.deepEqual(built.pdu.prev_events, [['$p:a.example', { sha256: encodeBase64(refHash) }]])
    assert.deepEqual(built.pdu.auth_events, [['$c:a.example', { sha256: encodeBase64(refHash) }], ['$unknown:a.example', {}]])
    assert.deepEqual(built.event.prev_events, ['$p:a.example'])
    assert.deepEqual(built.event.auth_events, ['$c:a.example', '$unknown:a.example'])
  })

  it('makes random v1 event IDs when no localpart is given', () => {
    const a = buildEvent(message(), options(V('2')))
    const b = buildEvent(message(), options(V('2')))
    assert.match(a.event_id, /^\$[A-Za-z0-9]+:example\.org$/)
    assert.notEqual(a.event_id, b.event_id)
  })

  it('writes plain ID lists and no event_id from v3, with IDs from the reference hash', () => {
    const refs = { prevEventRefs: [{ event_id: '$p' }], authEventRefs: [{ event_id: '$a' }, { event_id: '$b' }] }
    const v3 = buildEvent(message(), options(V('3'), refs))
    const v4 = buildEvent(message(), options(V('4'), refs))
    assert.equal('event_id' in v3.pdu, false)
    assert.deepEqual(v3.pdu.prev_events, ['$p'])
    assert.deepEqual(v3.pdu.auth_events, ['$a', '$b'])
    assert.deepEqual(referenceHash(v3.pdu, V('3')), referenceHash(v4.pdu, V('4')))
    assert.equal(v3.event_id, '$' + encodeBase64(referenceHash(v3.pdu, V('3'))))
    assert.equal(v4.event_id, '$' + referenceHash(v4.pdu, V('4')).toString('base64url'))
  })

  it('puts redacts at the top level before v11 and in content from v11', () => {
    const redaction: EventTemplate = { ...message(), type: 'm.room.redaction', content: { reason: 'spam' }, redacts: '$bad' }
    for (const version of ROOM_VERSIONS.values()) {
      const built = buildEvent(redaction, options(version))
      if (version.updatedRedactionRules) {
        assert.deepEqual(built.pdu.content, { reason: 'spam', redacts: '$bad' })
        assert.equal('redacts' in built.pdu, false)
        assert.deepEqual(redact(built.pdu, version).content, { redacts: '$bad' })
      } else {
        assert.deepEqual(built.pdu.content, { reason: 'spam' })
        assert.equal(built.pdu.redacts, '$bad')
      }
      assert.equal(built.event.redacts, '$bad', `room version ${version.id}`)
    }
    assert.deepEqual(redaction.content, { reason: 'spam' }, 'the template is not modified')
    const inContent = buildEvent({ ...redaction, content: { redacts: '$bad' }, redacts: undefined }, options(V('12')))
    assert.equal(inContent.event.redacts, '$bad', 'v11+: content.redacts set by the caller counts too')
  })

  it('builds a v12 create event without room_id, whose ID gives the room ID', () => {
    const create: EventTemplate = {
      type: 'm.room.create', state_key: '', sender: '@alice:example.org', content: { room_version: '12' },
      origin_server_ts: 1757000000000, depth: 1,
    }
    const built = buildEvent(create, options(V('12')))
    assert.equal('room_id' in built.pdu, false)
    assert.equal(built.event.room_id, '!' + built.event_id.slice(1))
    assert.match(built.event.room_id, /^![A-Za-z0-9_-]{43}$/)
    const parsed = parsePdu(JSON.parse(JSON.stringify(built.pdu)), V('12'))
    assert.ok(parsed.ok)
    assert.equal(parsed.event.room_id, built.event.room_id)
    assert.throws(() => buildEvent({ ...create, room_id: '!x:example.org' }, options(V('12'))))
    assert.throws(() => buildEvent({ ...create, room_id: undefined }, options(V('11'))), 'before v12 every event has a room_id')
  })

  it('leaves the create event out of v12 auth_events: the room ID stands for it', () => {
    const roomId = '!xoHcXT-r3ajqvB5H9zQWDnyHlVjSmdhLsnsvK1TjhJw'
    const refs = { authEventRefs: [{ event_id: '$xoHcXT-r3ajqvB5H9zQWDnyHlVjSmdhLsnsvK1TjhJw' }, { event_id: '$pl' }, { event_id: '$member' }] }
    const built = buildEvent(message(roomId), options(V('12'), refs))
    assert.deepEqual(built.pdu.auth_events, ['$pl', '$member'])
    assert.deepEqual(built.event.auth_events, ['$pl', '$member'])
    assert.throws(() => buildEvent({ ...message(), room_id: undefined }, options(V('12'))))
    const v11 = buildEvent(message(), options(V('11'), { authEventRefs: [{ event_id: '$create' }] }))
    assert.deepEqual(v11.pdu.auth_events, ['$create'])
  })

  it('keeps state_key, including the empty one', () => {
    const built = buildEvent({ ...message(), type: 'm.room.topic', state_key: '', content: { topic: 't' } }, options(V('10')))
    assert.equal(built.pdu.state_key, '')
    assert.equal(built.event.state_key, '')
    assert.equal('state_key' in buildEvent(message(), options(V('10'))).pdu, false)
  })

  it('caps depth at the largest canonical integer', () => {
    const built = buildEvent({ ...message(), depth: Number.MAX_SAFE_INTEGER + 10 }, options(V('10')))
    assert.equal(built.pdu.depth, Number.MAX_SAFE_INTEGER)
  })

  it('refuses content that is not canonical JSON in v6+', () => {
    assert.throws(() => buildEvent({ ...message(), content: { n: 1.5 } }, options(V('6'))))
  })
})
