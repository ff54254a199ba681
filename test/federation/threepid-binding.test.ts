// A user's 3PIDs on an identity server through the homeserver (client-server API, "Adding Account
// Administrative Contact Information": /account/3pid/bind, /account/3pid/unbind, and the unbinding that
// deactivation does), against an identity server on loopback HTTPS with the test CA.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { federatedServers, type FederatedServer } from '../support/federation-rig.ts'
import { ID_ACCESS_TOKEN, startIdentityServer } from '../support/identity-server.ts'
import { RoomClient, assertError } from '../support/rooms.ts'
import { registerUser } from '../support/server.ts'
import { MAX_BINDINGS } from '../../src/identity/bindings.ts'

const rig = await federatedServers(1)
const [a] = rig.servers as [FederatedServer]
const identity = await startIdentityServer(rig.issue(['127.0.0.1']))
let addresses = 0
const newAddress = () => `bound${++addresses}@example.org`

async function bind(client: RoomClient, address: string): Promise<void> {
  const sid = identity.validate('email', address, 'secret.1')
  const res = await client.post('/account/3pid/bind', { id_server: identity.name, id_access_token: ID_ACCESS_TOKEN, sid, client_secret: 'secret.1' })
  assert.equal(res.status, 200, JSON.stringify(res.body))
}

describe('binding 3PIDs on an identity server', () => {
  it('binds a validated address to the user, and unbinds it without naming the identity server again', async () => {
    const alice = await RoomClient.register(a.api)
    const address = newAddress()
    await bind(alice, address)
    assert.equal(identity.bindings.get(`email ${address}`), alice.userId)
    const res = await alice.post('/account/3pid/unbind', { medium: 'email', address })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body, { id_server_unbind_result: 'success' })
    assert.equal(identity.bindings.has(`email ${address}`), false)
    const unbind = identity.requestsTo('/_matrix/identity/v2/3pid/unbind').at(-1)
    assert.match(String(unbind?.authorization), new RegExp(`^X-Matrix origin="?${a.name.replaceAll('.', '\\.')}"?,`), 'signed by the homeserver')
    assert.deepEqual(unbind?.body, { mxid: alice.userId, threepid: { medium: 'email', address } })
  })

  it('unbinds from a named identity server an address bound there out of band', async () => {
    const alice = await RoomClient.register(a.api)
    const address = newAddress()
    identity.bindings.set(`email ${address}`, alice.userId)
    const res = await alice.post('/account/3pid/unbind', { medium: 'email', address, id_server: identity.name })
    assert.deepEqual(res.body, { id_server_unbind_result: 'success' })
    assert.equal(identity.bindings.has(`email ${address}`), false)
  })

  it('answers no-support when it knows no identity server for the address, or that one refuses', async () => {
    const alice = await RoomClient.register(a.api)
    assert.deepEqual((await alice.post('/account/3pid/unbind', { medium: 'email', address: newAddress() })).body, { id_server_unbind_result: 'no-support' })
    assert.deepEqual((await alice.post('/account/3pid/unbind', { medium: 'email', address: newAddress(), id_server: identity.name })).body, { id_server_unbind_result: 'no-support' })
  })

  it('unbinds every bound address when the account is deactivated', async () => {
    const session = await registerUser(a.api)
    const alice = new RoomClient(a.api, session)
    const [one, two] = [newAddress(), newAddress()]
    await bind(alice, one)
    await bind(alice, two)
    const res = await alice.post('/account/deactivate', { auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: alice.userId }, password: session.password } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body, { id_server_unbind_result: 'success' })
    assert.equal(identity.bindings.has(`email ${one}`) || identity.bindings.has(`email ${two}`), false)
  })

  it(`keeps at most ${MAX_BINDINGS} bindings per user`, async () => {
    const alice = await RoomClient.register(a.api)
    const repo = a.ctx.storage.repos.threepidBindings
    for (let i = 0; i < MAX_BINDINGS; i++) await repo.add(alice.userId, { medium: 'email', address: `many${i}@example.org`, id_server: identity.name })
    const sid = identity.validate('email', newAddress(), 'secret.1')
    assertError(await alice.post('/account/3pid/bind', { id_server: identity.name, id_access_token: ID_ACCESS_TOKEN, sid, client_secret: 'secret.1' }), 400, 'M_LIMIT_EXCEEDED')
  })

  it('refuses a bind the identity server refuses, and bad requests', async () => {
    const alice = await RoomClient.register(a.api)
    assertError(await alice.post('/account/3pid/bind', { id_server: identity.name, id_access_token: ID_ACCESS_TOKEN, sid: 'nope', client_secret: 'secret.1' }), 502, 'M_UNKNOWN')
    assertError(await alice.post('/account/3pid/bind', { id_server: 'not a server', id_access_token: ID_ACCESS_TOKEN, sid: 'x', client_secret: 'secret.1' }), 400, 'M_INVALID_PARAM')
    assertError(await alice.post('/account/3pid/bind', { id_server: identity.name, id_access_token: ID_ACCESS_TOKEN, sid: 'x', client_secret: 'bad secret!' }), 400, 'M_BAD_JSON')
  })
})
