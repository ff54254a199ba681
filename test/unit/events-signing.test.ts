// Event hashing and signing against the spec's test vectors (appendices, "Cryptographic Test Vectors" →
// "Event Signing"), signature verification over the redacted event, and the servers that must sign.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeBase64 } from '../../src/protocol/base64.ts'
import { ROOM_VERSIONS, roomVersion, type RoomVersion } from '../../src/protocol/room-versions.ts'
import { signingKeyFromSeed } from '../../src/protocol/signing.ts'
import {
  checkContentHash, contentHash, hashAndSignEvent, redact, requiredSignatureServers, signEvent, verifyEventSignature,
  type JsonObject,
} from '../../src/protocol/events/index.ts'

const SIGNING_KEY_SEED = decodeBase64('YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1') as Buffer
const key = signingKeyFromSeed('ed25519:1', SIGNING_KEY_SEED)
const otherKey = signingKeyFromSeed('ed25519:1', Buffer.alloc(32, 9))
const V = (id: string): RoomVersion => roomVersion(id)!
/** The vectors keep `origin`, which only the v1–v10 redaction algorithms protect. */
const PRE_V11 = [...ROOM_VERSIONS.values()].filter((v) => !v.updatedRedactionRules)

const minimalEvent = () => ({
  room_id: '!x:domain',
  sender: '@a:domain',
  origin: 'domain',
  origin_server_ts: 1000000,
  signatures: {},
  hashes: {},
  type: 'X',
  content: {},
  prev_events: [],
  auth_events: [],
  depth: 3,
  unsigned: { age_ts: 1000000 },
})

const eventWithContent = () => ({
  content: { body: 'Here is the message content' },
  event_id: '$0:domain',
  origin: 'domain',
  origin_server_ts: 1000000,
  type: 'm.room.message',
  room_id: '!r:domain',
  sender: '@u:domain',
  signatures: {},
  unsigned: { age_ts: 1000000 },
})

describe('hashAndSignEvent (appendix test vectors)', () => {
  it('signs the minimally-sized event exactly as the spec says', () => {
    for (const version of PRE_V11) {
      assert.deepEqual(hashAndSignEvent(minimalEvent(), version, 'domain', key), {
        auth_events: [],
        content: {},
        depth: 3,
        hashes: { sha256: '5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos' },
        origin: 'domain',
        origin_server_ts: 1000000,
        prev_events: [],
        room_id: '!x:domain',
        sender: '@a:domain',
        signatures: { domain: { 'ed25519:1': 'KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg' } },
        type: 'X',
        unsigned: { age_ts: 1000000 },
      }, `room version ${version.id}`)
    }
  })

  it('signs the event with redactable content exactly as the spec says', () => {
    for (const version of PRE_V11) {
      assert.deepEqual(hashAndSignEvent(eventWithContent(), version, 'domain', key), {
        content: { body: 'Here is the message content' },
        event_id: '$0:domain',
        hashes: { sha256: 'onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g' },
        origin: 'domain',
        origin_server_ts: 1000000,
        type: 'm.room.message',
        room_id: '!r:domain',
        sender: '@u:domain',
        signatures: { domain: { 'ed25519:1': 'Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA' } },
        unsigned: { age_ts: 1000000 },
      }, `room version ${version.id}`)
    }
  })

  it('computes the vectors\' content hashes, which do not depend on the room version', () => {
    for (const version of ROOM_VERSIONS.values()) {
      assert.equal(contentHash(minimalEvent(), version), '5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos')
      assert.equal(contentHash(eventWithContent(), version), 'onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g')
    }
  })

  it('signs differently from v11, where origin is no longer protected from redaction', () => {
    const signed = hashAndSignEvent(minimalEvent(), V('11'), 'domain', key)
    assert.notEqual(signed.signatures.domain?.['ed25519:1'], 'KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg')
    // The signature covers the redacted form, which has no origin in v11 (the content hash still covers it).
    assert.equal('origin' in redact(signed, V('11')), false)
    assert.equal(verifyEventSignature({ ...signed, origin: 'elsewhere' }, V('11'), 'domain', 'ed25519:1', key.publicKey), true)
    assert.equal(checkContentHash({ ...signed, origin: 'elsewhere' }, V('11')), false)
  })
})

describe('verifyEventSignature', () => {
  const v10 = V('10')
  const signed = hashAndSignEvent(eventWithContent(), v10, 'domain', key)

  it('accepts the spec vector\'s signature with the seed\'s public key', () => {
    assert.equal(verifyEventSignature(signed, v10, 'domain', 'ed25519:1', key.publicKey), true)
  })

  it('accepts the redacted copy, and the full event with unsigned data changed', () => {
    assert.equal(verifyEventSignature(redact(signed, v10), v10, 'domain', 'ed25519:1', key.publicKey), true)
    assert.equal(verifyEventSignature({ ...signed, unsigned: { age: 5 } }, v10, 'domain', 'ed25519:1', key.publicKey), true)
  })

  it('still verifies when redactable content is tampered with, but the content hash then fails', () => {
    const tampered = { ...signed, content: { body: 'Something else' } }
    assert.equal(verifyEventSignature(tampered, v10, 'domain', 'ed25519:1', key.publicKey), true)
    assert.equal(checkContentHash(signed, v10), true)
    assert.equal(checkContentHash(tampered, v10), false)
  })

  it('refuses tampered protected keys and tampered hashes', () => {
    assert.equal(verifyEventSignature({ ...signed, sender: '@v:domain' }, v10, 'domain', 'ed25519:1', key.publicKey), false)
    assert.equal(verifyEventSignature({ ...signed, origin_server_ts: 1000001 }, v10, 'domain', 'ed25519:1', key.publicKey), false)
    assert.equal(verifyEventSignature({ ...signed, hashes: { sha256: contentHash(minimalEvent(), v10) } }, v10, 'domain', 'ed25519:1', key.publicKey), false)
  })

  it('refuses a wrong key, a missing server or key ID, and undecodable signatures', () => {
    assert.equal(verifyEventSignature(signed, v10, 'domain', 'ed25519:1', otherKey.publicKey), false)
    assert.equal(verifyEventSignature(signed, v10, 'elsewhere', 'ed25519:1', key.publicKey), false)
    assert.equal(verifyEventSignature(signed, v10, 'domain', 'ed25519:2', key.publicKey), false)
    assert.equal(verifyEventSignature({ ...signed, signatures: { domain: { 'ed25519:1': 'not base64!' } } }, v10, 'domain', 'ed25519:1', key.publicKey), false)
    assert.equal(verifyEventSignature({ ...signed, signatures: undefined }, v10, 'domain', 'ed25519:1', key.publicKey), false)
  })

  it('refuses a v6+ event whose JSON is not canonical instead of throwing', () => {
    const floaty = { ...signed, content: { body: 'x' }, depth: 1.5 }
    assert.equal(verifyEventSignature(floaty, v10, 'domain', 'ed25519:1', key.publicKey), false)
  })

  it('verifies a v1 event whose power levels hold floats, as Synapse encodes them', () => {
    const v1 = V('1')
    const powerLevels = {
      type: 'm.room.power_levels', state_key: '', room_id: '!r:domain', sender: '@u:domain', event_id: '$pl:domain',
      content: { users: { '@u:domain': 100, '@b:domain': 50.57 }, users_default: 0 },
      origin_server_ts: 1, depth: 2, prev_events: [], auth_events: [], hashes: {}, signatures: {},
    }
    const pl = hashAndSignEvent(powerLevels, v1, 'domain', key)
    assert.equal(verifyEventSignature(pl, v1, 'domain', 'ed25519:1', key.publicKey), true)
    assert.equal(checkContentHash(pl, v1), true)
    assert.equal(verifyEventSignature({ ...pl, content: { ...pl.content, users: { '@b:domain': 50.58 } } }, v1, 'domain', 'ed25519:1', key.publicKey), false)
  })
})

describe('signEvent', () => {
  it('adds a second server\'s signature and keeps the first', () => {
    const v12 = V('12')
    const signed = hashAndSignEvent({ ...minimalEvent(), origin: undefined }, v12, 'domain', key)
    const cosigned = signEvent(signed, v12, 'resident.example', otherKey)
    assert.deepEqual(Object.keys(cosigned.signatures).sort(), ['domain', 'resident.example'])
    assert.equal(verifyEventSignature(cosigned, v12, 'domain', 'ed25519:1', key.publicKey), true)
    assert.equal(verifyEventSignature(cosigned, v12, 'resident.example', 'ed25519:1', otherKey.publicKey), true)
    assert.equal(signed.signatures['resident.example'], undefined, 'the input is not modified')
  })
})

describe('requiredSignatureServers', () => {
  const member = (membership: string, extra: JsonObject = {}) => ({
    type: 'm.room.member', sender: '@alice:a.example', state_key: '@alice:a.example', content: { membership, ...extra }, event_id: '$x:a.example',
  })
  const servers = (event: Parameters<typeof requiredSignatureServers>[0], version: string) => {
    const result = requiredSignatureServers(event, V(version))
    assert.ok(result.ok, result.ok ? '' : result.reason)
    return result.servers.sort()
  }

  it('requires the sender\'s server', () => {
    assert.deepEqual(servers({ type: 'm.room.message', sender: '@alice:a.example', content: {} }, '12'), ['a.example'])
  })

  it('also requires the event ID\'s server in v1 and v2, but not from v3', () => {
    const event = { type: 'm.room.member', sender: '@alice:a.example', content: { membership: 'join' }, event_id: '$abc:b.example' }
    assert.deepEqual(servers(event, '1'), ['a.example', 'b.example'])
    assert.deepEqual(servers(event, '2'), ['a.example', 'b.example'])
    assert.deepEqual(servers({ ...event, event_id: '$abc:a.example' }, '1'), ['a.example'])
    assert.deepEqual(servers(event, '3'), ['a.example'])
  })

  it('does not require the sender\'s server for an invite made from a third-party invite', () => {
    assert.deepEqual(servers(member('invite', { third_party_invite: { signed: {} } }), '10'), [])
    assert.deepEqual(servers(member('invite'), '10'), ['a.example'])
    assert.deepEqual(servers(member('join', { third_party_invite: {} }), '10'), ['a.example'])
  })

  it('requires the authorising server of a restricted join from v8', () => {
    const join = member('join', { join_authorised_via_users_server: '@mod:c.example' })
    assert.deepEqual(servers(join, '8'), ['a.example', 'c.example'])
    assert.deepEqual(servers(join, '12'), ['a.example', 'c.example'])
    assert.deepEqual(servers(join, '7'), ['a.example'])
    assert.deepEqual(servers(member('leave', { join_authorised_via_users_server: '@mod:c.example' }), '9'), ['a.example'])
  })

  it('is not ok when an ID it needs has no server name', () => {
    assert.equal(requiredSignatureServers({ type: 'm.room.message', sender: '@alice', content: {} }, V('12')).ok, false)
    assert.equal(requiredSignatureServers({ type: 'm.room.message', sender: '@a:x', content: {}, event_id: '$nodomain' }, V('1')).ok, false)
    assert.equal(requiredSignatureServers(member('join', { join_authorised_via_users_server: 42 }), V('9')).ok, false)
  })
})
