// checkIncomingPdu: steps 1–3 of "Checks performed on receipt of a PDU" on hand-signed events: the room
// version's format and size, the signatures of every server that must sign (sender's; v1/v2 event ID's;
// a restricted join's authorising server) with keys valid at origin_server_ts, and redaction on a content
// hash mismatch. The server ACL evaluation (m.room.server_acl) is here too.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { KeyObject } from 'node:crypto'
import { checkIncomingPdu, type KeyLookup } from '../../src/federation/pdu-check.ts'
import { buildEvent, hashAndSignEvent, signEvent, type EventTemplate, type JsonObject } from '../../src/protocol/events/index.ts'
import { roomVersion, type RoomVersion } from '../../src/protocol/room-versions.ts'
import { compileServerAcl, serverAllowedByAcl } from '../../src/protocol/server-acl.ts'
import { signingKeyFromSeed, type SigningKey } from '../../src/protocol/signing.ts'
import type { KeyValidity } from '../../src/federation/keys.ts'

const V = (id: string): RoomVersion => roomVersion(id)!
const remoteKey = signingKeyFromSeed('ed25519:r1', Buffer.alloc(32, 1))
const thirdKey = signingKeyFromSeed('ed25519:t1', Buffer.alloc(32, 3))
/** The same key ID as remoteKey, another secret: a forger's. */
const forgedKey = signingKeyFromSeed('ed25519:r1', Buffer.alloc(32, 66))

/** Keys by server and key ID; records what was asked. */
function keyring(known: Record<string, SigningKey[]>) {
  const asked: Array<{ server: string; keyId: string; validity: KeyValidity }> = []
  const lookup: KeyLookup = async (server, keyId, validity) => {
    asked.push({ server, keyId, validity })
    return known[server]?.find((k) => k.keyId === keyId)?.publicKey ?? (null as KeyObject | null)
  }
  return { lookup, asked }
}
const keys = keyring({ 'remote.example': [remoteKey], 'third.example': [thirdKey] })

function message(version: RoomVersion, overrides: Partial<EventTemplate> = {}, signer = remoteKey, server = 'remote.example') {
  return buildEvent(
    { type: 'm.room.message', sender: '@bob:remote.example', room_id: '!room:home.example', content: { msgtype: 'm.text', body: 'hello' }, origin_server_ts: 1_700_000_000_000, depth: 5, ...overrides },
    { version, serverName: server, signingKey: signer, prevEventRefs: [{ event_id: '$prev:remote.example' }], authEventRefs: [{ event_id: '$auth:remote.example' }], eventIdLocalpart: 'abc' },
  )
}
const copy = (pdu: unknown): JsonObject => structuredClone(pdu) as JsonObject

describe('checkIncomingPdu', () => {
  it('accepts a well-formed event signed by its sender\'s server, unredacted, with its computed event ID', async () => {
    for (const id of ['1', '3', '4', '6', '10', '11', '12']) {
      const built = message(V(id))
      const result = await checkIncomingPdu(copy(built.pdu), V(id), keys.lookup)
      assert.ok(result.ok, `v${id}: ${!result.ok && result.reason}`)
      assert.equal(result.event.event_id, built.event_id)
      assert.equal(result.redacted, false)
      assert.equal(result.event.content.body, 'hello')
    }
  })

  it('drops an event whose signature was forged with the right key ID but another key', async () => {
    const built = message(V('11'), {}, forgedKey)
    const result = await checkIncomingPdu(copy(built.pdu), V('11'), keys.lookup)
    assert.deepEqual(result, { ok: false, eventId: built.event_id, reason: 'invalid signature of remote.example (ed25519:r1)' })
  })

  it('drops an event whose content was changed after signing when the signature no longer holds', async () => {
    const pdu = copy(message(V('11')).pdu)
    pdu.sender = '@mallory:remote.example'
    const result = await checkIncomingPdu(pdu, V('11'), keys.lookup)
    assert.equal(result.ok, false)
    assert.match((result as { reason: string }).reason, /invalid signature of remote\.example/)
  })

  it('drops an event signed only by another server, or by a key it cannot find', async () => {
    const byThird = message(V('11'), {}, thirdKey, 'third.example')
    assert.deepEqual(await checkIncomingPdu(copy(byThird.pdu), V('11'), keys.lookup), { ok: false, eventId: byThird.event_id, reason: 'not signed by remote.example' })
    const unknown = message(V('11'), {}, signingKeyFromSeed('ed25519:gone', Buffer.alloc(32, 7)))
    const result = await checkIncomingPdu(copy(unknown.pdu), V('11'), keys.lookup)
    assert.deepEqual(result, { ok: false, eventId: unknown.event_id, reason: 'no valid key of remote.example to check its signature with' })
  })

  it('asks for keys valid at origin_server_ts from room version 5, at any time before', async () => {
    const { lookup, asked } = keyring({ 'remote.example': [remoteKey] })
    await checkIncomingPdu(copy(message(V('5')).pdu), V('5'), lookup)
    await checkIncomingPdu(copy(message(V('4')).pdu), V('4'), lookup)
    assert.deepEqual(asked.map((a) => a.validity), [{ validAt: 1_700_000_000_000, forRequest: false }, { validAt: 0, forRequest: false }])
  })

  it('redacts an event whose content hash does not match and goes on with it, under the same event ID', async () => {
    for (const id of ['3', '11', '12']) {
      const built = message(V(id))
      const pdu = copy(built.pdu)
      // The signature covers the redacted event only, so a changed body still verifies; the hash does not.
      ;(pdu.content as JsonObject).body = 'changed in transit'
      const result = await checkIncomingPdu(pdu, V(id), keys.lookup)
      assert.ok(result.ok, `v${id}: ${!result.ok && result.reason}`)
      assert.equal(result.redacted, true)
      assert.deepEqual(result.event.content, {})
      assert.equal(result.event.event_id, built.event_id)
    }
  })

  it('keeps what the redaction algorithm of the version protects when redacting', async () => {
    const built = buildEvent(
      { type: 'm.room.member', state_key: '@bob:remote.example', sender: '@bob:remote.example', room_id: '!room:home.example', content: { membership: 'join', displayname: 'Bob' }, origin_server_ts: 1, depth: 3 },
      { version: V('11'), serverName: 'remote.example', signingKey: remoteKey, prevEventRefs: [], authEventRefs: [] },
    )
    const pdu = copy(built.pdu)
    ;(pdu.content as JsonObject).displayname = 'Mallory'
    const result = await checkIncomingPdu(pdu, V('11'), keys.lookup)
    assert.ok(result.ok && result.redacted)
    assert.deepEqual(result.event.content, { membership: 'join' })
  })

  it('drops an event in the format of another room version', async () => {
    const v1 = message(V('1'))
    const asV11 = await checkIncomingPdu(copy(v1.pdu), V('11'), keys.lookup)
    assert.equal(asV11.ok, false)
    assert.match((asV11 as { reason: string }).reason, /prev_events must be a list of event IDs in room version 11/)
    const v11 = message(V('11'))
    const asV1 = await checkIncomingPdu(copy(v11.pdu), V('1'), keys.lookup)
    assert.equal(asV1.ok, false)
    assert.match((asV1 as { reason: string }).reason, /event_id must be an event ID with a server name in room version 1/)
  })

  it('drops a v12 event without a room_id unless it is the create event, and a float in a v6+ event', async () => {
    const pdu = copy(message(V('12')).pdu)
    delete pdu.room_id
    const result0 = await checkIncomingPdu(hashAndSignEvent(pdu, V('12'), 'remote.example', remoteKey), V('12'), keys.lookup)
    assert.deepEqual([result0.ok, (result0 as { reason: string }).reason], [false, 'room_id is required'])
    const floaty = copy(message(V('6')).pdu)
    ;(floaty.content as JsonObject).value = 1.5
    const result = await checkIncomingPdu(floaty, V('6'), keys.lookup)
    assert.equal(result.ok, false)
    assert.match((result as { reason: string }).reason, /^not canonical JSON/)
  })

  it('drops an event over 65536 bytes, counting what it carries in unsigned', async () => {
    const big = message(V('11'), { content: { msgtype: 'm.text', body: 'x'.repeat(66_000) } })
    const result = await checkIncomingPdu(copy(big.pdu), V('11'), keys.lookup)
    assert.equal(result.ok, false)
    assert.match((result as { reason: string }).reason, /over 65536/)
    const padded = copy(message(V('11')).pdu)
    padded.unsigned = { padding: 'x'.repeat(66_000) }
    assert.equal((await checkIncomingPdu(padded, V('11'), keys.lookup)).ok, false)
  })

  it('keeps only the unsigned keys a remote server may set', async () => {
    const pdu = copy(message(V('11')).pdu)
    pdu.unsigned = { age: 5, redacted_because: { type: 'm.room.redaction' }, invite_room_state: [] }
    const result = await checkIncomingPdu(pdu, V('11'), keys.lookup)
    assert.ok(result.ok)
    assert.equal(result.event.pdu.unsigned, undefined)
  })

  it('requires the v1/v2 event ID\'s server to sign too', async () => {
    const built = message(V('1'), {}, thirdKey, 'third.example') // $abc:third.example, sent by @bob:remote.example
    const result = await checkIncomingPdu(copy(built.pdu), V('1'), keys.lookup)
    assert.deepEqual(result, { ok: false, eventId: '$abc:third.example', reason: 'not signed by remote.example' })
    const both = signEvent(copy(built.pdu), V('1'), 'remote.example', remoteKey)
    assert.equal((await checkIncomingPdu(both, V('1'), keys.lookup)).ok, true)
  })

  it('requires the signature of a restricted join\'s authorising server', async () => {
    const join = buildEvent(
      { type: 'm.room.member', state_key: '@bob:remote.example', sender: '@bob:remote.example', room_id: '!room:home.example', content: { membership: 'join', join_authorised_via_users_server: '@admin:third.example' }, origin_server_ts: 1, depth: 3 },
      { version: V('10'), serverName: 'remote.example', signingKey: remoteKey, prevEventRefs: [], authEventRefs: [] },
    )
    assert.deepEqual(await checkIncomingPdu(copy(join.pdu), V('10'), keys.lookup), { ok: false, eventId: join.event_id, reason: 'not signed by third.example' })
    const cosigned = signEvent(copy(join.pdu), V('10'), 'third.example', thirdKey)
    const result = await checkIncomingPdu(cosigned, V('10'), keys.lookup)
    assert.ok(result.ok && !result.redacted)
    // Before v8 there are no restricted joins: the key is just content.
    const old = buildEvent(
      { type: 'm.room.member', state_key: '@bob:remote.example', sender: '@bob:remote.example', room_id: '!room:home.example', content: { membership: 'join', join_authorised_via_users_server: '@admin:third.example' }, origin_server_ts: 1, depth: 3 },
      { version: V('7'), serverName: 'remote.example', signingKey: remoteKey, prevEventRefs: [], authEventRefs: [] },
    )
    assert.equal((await checkIncomingPdu(copy(old.pdu), V('7'), keys.lookup)).ok, true)
  })
})

describe('serverAllowedByAcl', () => {
  const allowed = (server: string, content: unknown) => serverAllowedByAcl(server, compileServerAcl(content))

  it('allows everyone without an ACL and nobody with an empty allow list', () => {
    assert.equal(serverAllowedByAcl('evil.com', null), true)
    assert.equal(allowed('good.com', {}), false)
    assert.equal(allowed('good.com', { deny: ['evil.com'] }), false)
  })

  it('applies deny before allow, with case-insensitive globs and without the port', () => {
    const acl = { allow: ['*'], deny: ['evil.com', '*.EVIL.org', 'b?d.net'] }
    assert.equal(allowed('evil.com:8448', acl), false)
    assert.equal(allowed('EVIL.com', acl), false)
    assert.equal(allowed('sub.evil.org', acl), false)
    assert.equal(allowed('bad.net', acl), false)
    assert.equal(allowed('baad.net', acl), true)
    assert.equal(allowed('good.com:1234', acl), true)
    assert.equal(allowed('other.org', { allow: ['*.org'] }), true)
    assert.equal(allowed('other.com', { allow: ['*.org'] }), false)
  })

  it('denies IP literals when allow_ip_literals is false, and only a boolean false counts', () => {
    assert.equal(allowed('1.2.3.4', { allow: ['*'], allow_ip_literals: false }), false)
    assert.equal(allowed('[::1]:8448', { allow: ['*'], allow_ip_literals: false }), false)
    assert.equal(allowed('1.2.3.4:8448', { allow: ['*'], allow_ip_literals: 'no' }), true)
    assert.equal(allowed('[::1]', { allow: ['[::1]'] }), true)
  })

  it('ignores entries that are not strings and denies names that are not server names', () => {
    assert.equal(allowed('good.com', { allow: [5, null, 'good.com'] }), true)
    assert.equal(allowed('not a name', { allow: ['*'] }), false)
  })
})
