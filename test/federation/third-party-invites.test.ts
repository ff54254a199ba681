// Third-party invites across two Homesteads over HTTPS (test CA), with an identity server of the test's own
// on loopback HTTPS: an invite by e-mail address stores the invite on the identity server and puts an
// m.room.third_party_invite in the room; once the identity server reports the address bound (3pid/onbind),
// the invitee's server issues the m.room.member invite (in the room) or asks the inviter's server to
// (exchange_third_party_invite), which checks the signed block and the key's validity first.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { eventually, federatedServers, type FederatedServer } from '../support/federation-rig.ts'
import { refusedBy } from '../support/federation.ts'
import { ID_ACCESS_TOKEN, startIdentityServer } from '../support/identity-server.ts'
import { RoomClient, assertError, enc } from '../support/rooms.ts'
import { startTestServer } from '../support/server.ts'
import { signingKeyFromSeed } from '../../src/protocol/signing.ts'

const rig = await federatedServers(2)
const [a, b] = rig.servers as [FederatedServer, FederatedServer]
const identity = await startIdentityServer(rig.issue(['127.0.0.1']))
// A server whose outbound requests may not reach loopback (the default blocklist).
const guarded = await startTestServer()

const alice = await RoomClient.register(a.api)
const dan = await RoomClient.register(a.api)
const bob = await RoomClient.register(b.api)
const carol = await RoomClient.register(b.api)

let addresses = 0
/** A fresh e-mail address (the identity server keeps its invites by address). */
const newAddress = () => `invitee${++addresses}@example.org`

function inviteByEmail(client: RoomClient, roomId: string, address: string, extra: Record<string, unknown> = {}) {
  return client.post(`/rooms/${enc(roomId)}/invite`, { id_server: identity.name, id_access_token: ID_ACCESS_TOKEN, medium: 'email', address, ...extra })
}

/** The room's m.room.third_party_invite events (their state keys are the identity server's tokens). */
async function thirdPartyInvites(client: RoomClient, roomId: string) {
  return (await client.fullState(roomId)).filter((e) => e.type === 'm.room.third_party_invite')
}

describe('inviting by e-mail address', () => {
  it('stores an invite for an address bound to nobody on the identity server, and puts its token and keys in the room', async () => {
    const roomId = await alice.createRoom({ preset: 'private_chat', name: 'Garden' })
    const address = newAddress()
    const before = identity.requests.length
    const res = await inviteByEmail(alice, roomId, address)
    assert.equal(res.status, 200, JSON.stringify(res.body))

    const asked = identity.requests.slice(before)
    assert.deepEqual(asked.map((r) => `${r.method} ${r.path}`), ['GET /_matrix/identity/v2/hash_details', 'POST /_matrix/identity/v2/lookup', 'POST /_matrix/identity/v2/store-invite'])
    for (const r of asked) assert.equal(r.authorization, `Bearer ${ID_ACCESS_TOKEN}`, r.path)
    const stored = asked[2]!.body!
    assert.deepEqual(
      { medium: stored.medium, address: stored.address, room_id: stored.room_id, sender: stored.sender, room_name: stored.room_name, room_join_rules: stored.room_join_rules },
      { medium: 'email', address, room_id: roomId, sender: alice.userId, room_name: 'Garden', room_join_rules: 'invite' },
    )

    const [invite] = await thirdPartyInvites(alice, roomId)
    assert.ok(invite, 'an m.room.third_party_invite')
    assert.equal(invite.sender, alice.userId)
    assert.match(invite.state_key!, /^tok\d+$/)
    assert.equal(invite.content.display_name, 'b...@example.org')
    assert.equal(invite.content.public_key, identity.key.publicKeyBase64)
    assert.deepEqual(invite.content.public_keys, [{ public_key: identity.key.publicKeyBase64, key_validity_url: `https://${identity.name}/_matrix/identity/v2/pubkey/isvalid` }])
  })

  it("invites the identity server's user for an address it knows, found by a hashed lookup", async () => {
    const roomId = await alice.createRoom({ preset: 'private_chat' })
    const address = newAddress()
    identity.bindings.set(`email ${address}`, bob.userId)
    const before = identity.requests.length
    assert.equal((await inviteByEmail(alice, roomId, address)).status, 200)
    const lookup = identity.requests.slice(before).find((r) => r.path === '/_matrix/identity/v2/lookup')!
    assert.equal(lookup.body!.algorithm, 'sha256')
    assert.equal(lookup.body!.pepper, 'matrixrocks')
    assert.equal(lookup.body!.addresses.length, 1)
    assert.ok(!lookup.body!.addresses[0].includes('@'), 'the address is hashed')
    assert.equal(identity.requests.slice(before).filter((r) => r.path.endsWith('/store-invite')).length, 0)
    const member = await alice.getState(roomId, 'm.room.member', bob.userId)
    assert.equal(member.membership, 'invite')
    assert.equal(member.third_party_invite, undefined)
    assert.deepEqual(await thirdPartyInvites(alice, roomId), [])
  })

  it('invites the addresses of createRoom invite_3pid once the room exists', async () => {
    const known = newAddress()
    identity.bindings.set(`email ${known}`, dan.userId)
    const unknown = newAddress()
    const tpid = (address: string) => ({ id_server: identity.name, id_access_token: ID_ACCESS_TOKEN, medium: 'email', address })
    const roomId = await alice.createRoom({ preset: 'private_chat', invite_3pid: [tpid(known), tpid(unknown)] })
    assert.equal((await alice.getState(roomId, 'm.room.member', dan.userId)).membership, 'invite')
    assert.equal((await thirdPartyInvites(alice, roomId)).length, 1)
  })
})

describe('a bound address exchanged for a member invite', () => {
  it("by the inviter's server, asked by the invitee's server that is not in the room; the invitee then joins", async () => {
    const roomId = await alice.createRoom({ preset: 'private_chat' })
    const address = newAddress()
    assert.equal((await inviteByEmail(alice, roomId, address)).status, 200)
    const since = (await bob.sync()).next_batch
    const checks = identity.requestsTo('/_matrix/identity/v2/pubkey/isvalid').length

    const bound = await identity.bind(b.api.baseUrl, 'email', address, bob.userId)
    assert.equal(bound.status, 200, JSON.stringify(bound.body))
    // The inviter's server asked the identity server whether the key that signed the binding is still valid.
    const validity = identity.requestsTo('/_matrix/identity/v2/pubkey/isvalid').slice(checks)
    assert.deepEqual(validity.map((r) => r.query.get('public_key')), [identity.key.publicKeyBase64])

    const member = await alice.getState(roomId, 'm.room.member', bob.userId)
    assert.equal(member.membership, 'invite')
    assert.equal(member.third_party_invite.display_name, 'b...@example.org')
    assert.equal(member.third_party_invite.signed.mxid, bob.userId)
    const synced = await bob.sync({ since })
    assert.ok(synced.rooms?.invite?.[roomId], JSON.stringify(synced.rooms))
    await bob.join(roomId)
    assert.equal((await alice.getState(roomId, 'm.room.member', bob.userId)).membership, 'join')
  })

  it("by the invitee's server when it is in the room, in the inviter's name, and sent to the inviter's server", async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    const joined = await carol.post(`/join/${enc(roomId)}?via=${enc(a.name)}`)
    assert.equal(joined.status, 200, JSON.stringify(joined.body))
    const address = newAddress()
    assert.equal((await inviteByEmail(alice, roomId, address)).status, 200)
    await eventually('B has the m.room.third_party_invite', () => thirdPartyInvites(carol, roomId), (events) => events.length === 1)

    const bound = await identity.bind(b.api.baseUrl, 'email', address, bob.userId)
    assert.equal(bound.status, 200, JSON.stringify(bound.body))
    const onB = await carol.getState(roomId, 'm.room.member', bob.userId)
    assert.equal(onB.membership, 'invite')
    const onA = await eventually('A has the invite', () => alice.getState(roomId, 'm.room.member', bob.userId), (m) => m.membership === 'invite')
    assert.equal(onA.third_party_invite.signed.mxid, bob.userId)
    // Built and signed by B, in Alice's name.
    const [row] = await a.ctx.storage.db.query<{ json: string }>(
      `SELECT json FROM events WHERE room_id = $1 AND type = 'm.room.member' AND state_key = $2`,
      [roomId, bob.userId],
    ).then((r) => r.rows)
    const event = JSON.parse(row!.json)
    assert.equal(event.sender, alice.userId)
    assert.deepEqual(Object.keys(event.signatures), [b.name])

    await bob.join(roomId)
    await eventually('A sees the join', () => alice.getState(roomId, 'm.room.member', bob.userId), (m) => m.membership === 'join')
  })

  it('by a join with third_party_signed, through the inviter\'s server', async () => {
    const roomId = await alice.createRoom({ preset: 'private_chat' })
    assert.equal((await inviteByEmail(alice, roomId, newAddress())).status, 200)
    const [invite] = await thirdPartyInvites(alice, roomId)
    const signed = identity.sign({ mxid: bob.userId, sender: alice.userId, token: invite!.state_key! })
    assertError(await carol.post(`/join/${enc(roomId)}`, { third_party_signed: signed }), 403, 'M_FORBIDDEN', 'a block for another user')
    const joined = await bob.post(`/join/${enc(roomId)}`, { third_party_signed: signed })
    assert.equal(joined.status, 200, JSON.stringify(joined.body))
    assert.equal((await alice.getState(roomId, 'm.room.member', bob.userId)).membership, 'join')
  })

  it('refuses a binding signed with a key the identity server revoked, or with another key', async () => {
    const roomId = await alice.createRoom({ preset: 'private_chat' })
    const revokedAddress = newAddress()
    const otherAddress = newAddress()
    assert.equal((await inviteByEmail(alice, roomId, revokedAddress)).status, 200)
    assert.equal((await inviteByEmail(alice, roomId, otherAddress)).status, 200)

    identity.revoked.add(identity.key.publicKeyBase64)
    try {
      assertError(await identity.bind(b.api.baseUrl, 'email', revokedAddress, bob.userId) as never, 403, 'M_FORBIDDEN', 'revoked')
    } finally {
      identity.revoked.clear()
    }
    const otherKey = signingKeyFromSeed('ed25519:0', new Uint8Array(32).fill(5))
    assertError(await identity.bind(b.api.baseUrl, 'email', otherAddress, bob.userId, { signWith: otherKey }) as never, 403, 'M_FORBIDDEN', 'other key')
    assert.equal((await alice.get(`/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId)}`)).status, 404)
  })
})

describe('third-party invites: bounds and refusals', () => {
  it('refuses an invite missing id_server, id_access_token or a target, and an id_server that is not a host', async () => {
    const roomId = await alice.createRoom({ preset: 'private_chat' })
    const path = `/rooms/${enc(roomId)}/invite`
    assertError(await alice.post(path, { medium: 'email', address: 'x@example.org', id_access_token: 't' }), 400, 'M_MISSING_PARAM')
    assertError(await alice.post(path, { medium: 'email', address: 'x@example.org', id_server: identity.name }), 400, 'M_MISSING_PARAM')
    assertError(await alice.post(path, {}), 400, 'M_MISSING_PARAM')
    assertError(await inviteByEmail(alice, roomId, 'x@example.org', { id_server: 'id.example/../evil' }), 400, 'M_INVALID_PARAM')
    // Nothing is asked of the identity server for a room the requester is not in.
    const before = identity.requests.length
    assertError(await inviteByEmail(dan, roomId, newAddress()), 403, 'M_FORBIDDEN')
    assert.equal(identity.requests.length, before)
  })

  it('sends nothing to an identity server on an address the outbound guard refuses', async () => {
    const eve = await RoomClient.register(guarded.api)
    const roomId = await eve.createRoom({ preset: 'private_chat' })
    const before = identity.requests.length
    assertError(await eve.post(`/rooms/${enc(roomId)}/invite`, { id_server: identity.name, id_access_token: ID_ACCESS_TOKEN, medium: 'email', address: newAddress() }), 502, 'M_UNKNOWN')
    assert.equal(identity.requests.length, before)
  })

  it('refuses onbind invites past the bounds or for users of other servers', async () => {
    const onbind = (body: unknown) => b.api.post('/_matrix/federation/v1/3pid/onbind', body)
    const invite = (overrides: Record<string, unknown> = {}) => ({
      medium: 'email', address: 'x@example.org', mxid: bob.userId, room_id: '!nowhere:example.org', sender: alice.userId,
      signed: identity.sign({ mxid: bob.userId, token: 'tok' }), ...overrides,
    })
    assertError(await onbind({ mxid: bob.userId, invites: Array.from({ length: 21 }, () => invite()) }), 400, 'M_BAD_JSON')
    assertError(await onbind({ mxid: bob.userId, invites: [invite({ signed: identity.sign({ mxid: bob.userId, token: 'tok', padding: 'x'.repeat(5000) }) })] }), 400, 'M_BAD_JSON')
    assertError(await onbind({ mxid: bob.userId, invites: [invite({ signed: identity.sign({ mxid: bob.userId, token: 't'.repeat(256) }) })] }), 400, 'M_BAD_JSON')
    assertError(await onbind({ mxid: alice.userId, invites: [invite({ mxid: alice.userId, signed: identity.sign({ mxid: alice.userId, token: 'tok' }) })] }), 400, 'M_INVALID_PARAM')
    assertError(await onbind({ invites: ['not an object'] }), 400, 'M_BAD_JSON')
    assert.equal((await onbind({ mxid: bob.userId })).status, 200, 'no invites: nothing to do')
  })

  it('refuses exchange_third_party_invite for an invitee of another server or an inviter not of this one', async () => {
    const roomId = await alice.createRoom({ preset: 'private_chat' })
    const path = `/_matrix/federation/v1/exchange_third_party_invite/${enc(roomId)}`
    const body = (sender: string, target: string) => ({
      type: 'm.room.member', room_id: roomId, sender, state_key: target,
      content: { membership: 'invite', third_party_invite: { signed: identity.sign({ mxid: target, token: 'tok' }) } },
    })
    await refusedBy(b.ctx.federation.client.put(a.name, path, body(alice.userId, dan.userId)), 403, 'M_FORBIDDEN')
    await refusedBy(b.ctx.federation.client.put(a.name, path, body(carol.userId, bob.userId)), 403, 'M_FORBIDDEN')
    await refusedBy(b.ctx.federation.client.put(a.name, path, { ...body(alice.userId, bob.userId), room_id: '!other:example.org' }), 400, 'M_BAD_JSON')
    // The token names no m.room.third_party_invite of the room.
    await refusedBy(b.ctx.federation.client.put(a.name, path, body(alice.userId, bob.userId)), 403, 'M_FORBIDDEN')
  })
})
