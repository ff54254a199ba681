// Content hashes, reference hashes and event/room IDs (server-server API "Calculating the content hash" and
// "Calculating the reference hash"; rooms/v3 and v4-event-ids; appendices "Room IDs"). The expected values
// were computed independently with Python's json (sort_keys, compact separators, ensure_ascii=False) and
// hashlib, following the spec's steps, so they check this code rather than restate it.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { ROOM_VERSIONS, roomVersion, type RoomVersion } from '../../src/protocol/room-versions.ts'
import {
  checkContentHash, contentHash, createEventIdFromRoomId, eventIdFromReferenceHash, eventIdOf, eventJsonBytes, parsePdu,
  referenceHash, roomIdFromCreateEventId,
} from '../../src/protocol/events/index.ts'
import { pythonFloatRepr } from '../../src/protocol/events/event-json.ts'

const V = (id: string): RoomVersion => roomVersion(id)!

const message = () => ({
  type: 'm.room.message',
  room_id: '!room:example.org',
  sender: '@alice:example.org',
  content: { msgtype: 'm.text', body: 'Hello, world' },
  origin_server_ts: 1700000000000,
  depth: 7,
  prev_events: ['$prevEventA'],
  auth_events: ['$createEvent', '$powerLevels', '$aliceJoin'],
  hashes: { sha256: 'agRDGZEmGsjPO5ZWnYIkLQO0MocvSWswozhP/QBLKXc' },
  signatures: {},
  unsigned: { age: 10 },
})

describe('content hash', () => {
  it('hashes everything but unsigned, signatures and hashes', () => {
    const event = message()
    assert.equal(contentHash(event, V('4')), 'agRDGZEmGsjPO5ZWnYIkLQO0MocvSWswozhP/QBLKXc')
    assert.equal(contentHash({ ...event, unsigned: { age: 99 }, signatures: { x: { y: 'z' } }, hashes: {} }, V('4')), event.hashes.sha256)
    assert.notEqual(contentHash({ ...event, content: { ...event.content, body: 'Hello' } }, V('4')), event.hashes.sha256)
  })

  it('checks hashes.sha256 against the content', () => {
    const event = message()
    assert.equal(checkContentHash(event, V('4')), true)
    assert.equal(checkContentHash({ ...event, content: {} }, V('4')), false)
    assert.equal(checkContentHash({ ...event, hashes: {} }, V('4')), false)
    assert.equal(checkContentHash({ ...event, hashes: { sha256: 'short' } }, V('4')), false)
    assert.equal(checkContentHash({ ...event, hashes: undefined }, V('4')), false)
    assert.equal(checkContentHash({ ...event, depth: 0.5 }, V('6')), false, 'not encodable in v6+: false, not a throw')
  })
})

describe('reference hashes and event IDs', () => {
  it('gives the same reference hash in v3 and v4, Base64 in v3 and URL-safe Base64 from v4', () => {
    const event = message()
    assert.deepEqual(referenceHash(event, V('3')), referenceHash(event, V('4')))
    assert.equal(eventIdOf(event, V('3')), '$lbhZgggPbjMHHzNGAosTDBAy68MGM0btQ+l8OKE/JZs')
    assert.equal(eventIdOf(event, V('4')), '$lbhZgggPbjMHHzNGAosTDBAy68MGM0btQ-l8OKE_JZs')
    for (const id of ['5', '6', '7', '8', '9', '10']) assert.equal(eventIdOf(event, V(id)), '$lbhZgggPbjMHHzNGAosTDBAy68MGM0btQ-l8OKE_JZs')
  })

  it('ignores what redaction removes, signatures and unsigned, but not hashes', () => {
    const event = message()
    const id = eventIdOf(event, V('4'))
    assert.equal(eventIdOf({ ...event, content: { body: 'other' }, unsigned: {}, signatures: { s: { k: 'v' } } }, V('4')), id)
    assert.notEqual(eventIdOf({ ...event, hashes: { sha256: 'other' } }, V('4')), id)
    assert.notEqual(eventIdOf({ ...event, depth: 8 }, V('4')), id)
  })

  it('is a 32-byte SHA-256 over the redacted canonical JSON', () => {
    const event = message()
    const { signatures: _s, unsigned: _u, ...rest } = event
    const redacted = { ...rest, content: {} }
    const expected = createHash('sha256').update(eventJsonBytes(redacted, V('4'))).digest()
    assert.deepEqual(referenceHash(event, V('4')), expected)
    assert.equal(referenceHash(event, V('4')).length, 32)
  })

  it('reads event_id in v1 and v2', () => {
    assert.equal(eventIdOf({ ...message(), event_id: '$abc:example.org' }, V('1')), '$abc:example.org')
    assert.equal(eventIdOf({ ...message(), event_id: '$abc:example.org' }, V('2')), '$abc:example.org')
    assert.throws(() => eventIdOf(message(), V('1')))
    assert.throws(() => eventIdFromReferenceHash(Buffer.alloc(32), V('2')))
  })

  it('encodes a reference hash per version', () => {
    const hash = Buffer.alloc(32, 0xfb)
    assert.equal(eventIdFromReferenceHash(hash, V('3')), '$+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s')
    assert.equal(eventIdFromReferenceHash(hash, V('4')), '$-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s')
  })
})

describe('v12 room IDs', () => {
  // A create event as a homeserver makes it for a new v12 room: no room_id, the creator as sender.
  const create = () => ({
    type: 'm.room.create',
    state_key: '',
    sender: '@alice:example.org',
    content: { room_version: '12', additional_creators: ['@bob:example.org'], 'm.federate': true },
    origin_server_ts: 1757000000000,
    depth: 1,
    prev_events: [],
    auth_events: [],
    hashes: { sha256: '26N3WQrSppEwM8haYHqe50hn19WWnq3oDuFsfd6IdEc' },
    signatures: {},
    unsigned: { age_ts: 1757000000000 },
  })

  it('computes the create event\'s ID and the room ID from it', () => {
    const event = create()
    assert.equal(contentHash(event, V('12')), event.hashes.sha256)
    const eventId = eventIdOf(event, V('12'))
    assert.equal(eventId, '$xoHcXT-r3ajqvB5H9zQWDnyHlVjSmdhLsnsvK1TjhJw')
    assert.equal(roomIdFromCreateEventId(eventId), '!xoHcXT-r3ajqvB5H9zQWDnyHlVjSmdhLsnsvK1TjhJw')
    assert.equal(createEventIdFromRoomId('!xoHcXT-r3ajqvB5H9zQWDnyHlVjSmdhLsnsvK1TjhJw'), eventId)
  })

  it('round-trips through parsePdu with the room ID filled in', () => {
    const parsed = parsePdu(create(), V('12'))
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason)
    assert.equal(parsed.event.event_id, '$xoHcXT-r3ajqvB5H9zQWDnyHlVjSmdhLsnsvK1TjhJw')
    assert.equal(parsed.event.room_id, '!xoHcXT-r3ajqvB5H9zQWDnyHlVjSmdhLsnsvK1TjhJw')
    assert.equal('room_id' in parsed.event.pdu, false)
  })

  it('covers the whole create content, which v11+ redaction keeps', () => {
    const other = { ...create(), content: { ...create().content, additional_creators: [] } }
    other.hashes = { sha256: contentHash(other, V('12')) }
    assert.notEqual(eventIdOf(other, V('12')), eventIdOf(create(), V('12')))
  })

  it('rejects IDs with the wrong sigil', () => {
    assert.throws(() => roomIdFromCreateEventId('!abc'))
    assert.throws(() => createEventIdFromRoomId('$abc'))
  })
})

describe('room versions 1–5: floats, as Synapse encodes them', () => {
  // The spec's "floaty power levels": JSON text as a remote server sends it.
  const text = '{"type":"m.room.power_levels","state_key":"","room_id":"!old:example.org","sender":"@alice:example.org","event_id":"$pl:example.org","content":{"ban":50,"users":{"@alice:example.org":100,"@bob:example.org":50.57,"@carol:example.org":1.5e-7,"@dave:example.org":2.5e300},"users_default":0},"origin_server_ts":1432735824653,"depth":3,"prev_events":[["$a:example.org",{"sha256":"x"}]],"auth_events":[],"hashes":{},"signatures":{}}'

  it('hashes the content like Python\'s json does', () => {
    const event = JSON.parse(text)
    assert.equal(eventJsonBytes(event.content, V('1')).toString(), '{"ban":50,"users":{"@alice:example.org":100,"@bob:example.org":50.57,"@carol:example.org":1.5e-07,"@dave:example.org":2.5e+300},"users_default":0}')
    assert.equal(contentHash(event, V('1')), 'kVpQd4pFWecvWlLSPrZJPi0/24yl9UJZxIhgB2GyjhM')
    event.hashes = { sha256: 'kVpQd4pFWecvWlLSPrZJPi0/24yl9UJZxIhgB2GyjhM' }
    assert.equal(referenceHash(event, V('1')).toString('base64').replace(/=+$/, ''), 'EgkfKXo62zjgE4+K0Ejdd51tpy6GaViZWCquqKSPQTc')
  })

  it('refuses the same floats from v6', () => {
    assert.throws(() => contentHash(JSON.parse(text), V('6')))
  })

  it('writes numbers as Python\'s json writes what it parsed from the same text', () => {
    // Non-integers and whole numbers from 1e21 (which JSON.stringify writes as 1e+21) are Python floats;
    // smaller whole numbers are Python ints.
    const cases: Array<[number, string]> = [
      [50.57, '50.57'], [1e16, '10000000000000000'], [1.5e-7, '1.5e-07'], [0.0001, '0.0001'], [0.00001, '1e-05'],
      [1e22, '1e+22'], [123456789012345.6, '123456789012345.6'], [1234567890123456.7, '1234567890123456.8'], [-2.5, '-2.5'],
      [5e-324, '5e-324'], [1.7976931348623157e308, '1.7976931348623157e+308'], [0.1, '0.1'], [1.2345678901234568e16, '12345678901234568'],
    ]
    for (const [x, repr] of cases) assert.equal(eventJsonBytes(x, V('1')).toString(), repr, String(x))
    assert.equal(pythonFloatRepr(100), '100.0')
    assert.equal(pythonFloatRepr(1e16), '1e+16')
    assert.equal(pythonFloatRepr(1.2345678901234568e16), '1.2345678901234568e+16')
    assert.equal(pythonFloatRepr(-0), '-0.0')
  })

  it('encodes the same bytes as strict canonical JSON for events without floats', () => {
    for (const version of ROOM_VERSIONS.values()) {
      assert.equal(eventJsonBytes(message(), version).toString(), eventJsonBytes(message(), V('12')).toString())
    }
  })
})
