// Client reads that reach another server, between two Homesteads with different server names over HTTPS
// with a test CA: A's clients read profiles of B's users, query and claim their keys, and download B's media
// and thumbnails (fetched over authenticated federation media, then served from A's cache). A server that
// cannot be reached is reported as the spec says: a failure in key answers, 502 for profiles and media.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type AddressInfo } from 'node:net'
import sharp from 'sharp'
import { startTestServer, type TestServer } from '../support/server.ts'
import { federationFronts } from '../support/federation.ts'
import { RoomClient, enc } from '../support/rooms.ts'
import { crossSigningKeys, userWithKeys, type Json } from '../support/e2ee.ts'

const fronts = await federationFronts()
const { nameA, nameB, common } = fronts
const a: TestServer = await startTestServer({ ...common(), server_name: nameA })
const b: TestServer = await startTestServer({ ...common(), server_name: nameB })
fronts.route(fronts.frontA, a.url)
fronts.route(fronts.frontB, b.url)

after(() => fronts.close())

/** A loopback port nothing listens on: a server name that cannot be reached. */
async function deadPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
const deadName = `127.0.0.1:${await deadPort()}`


const alice = await RoomClient.register(a.api)
const bob = await userWithKeys(b.api, 3)
await bob.client.put(`/profile/${enc(bob.client.userId)}/displayname`, { displayname: 'Bob' })
await bob.client.put(`/profile/${enc(bob.client.userId)}/m.tz`, { 'm.tz': 'Europe/Paris' })
const bobCross = crossSigningKeys(bob.client.userId)
assert.equal((await bob.client.post('/keys/device_signing/upload', bobCross.body)).status, 200)

describe("GET /profile/{userId} for another server's user", () => {
  it("asks the user's server for the whole profile and for one field", async () => {
    const profile = await alice.get(`/profile/${enc(bob.client.userId)}`)
    assert.deepEqual([profile.status, profile.body], [200, { displayname: 'Bob', 'm.tz': 'Europe/Paris' }])
    const name = await alice.get(`/profile/${enc(bob.client.userId)}/displayname`)
    assert.deepEqual([name.status, name.body], [200, { displayname: 'Bob' }])
    const tz = await alice.get(`/profile/${enc(bob.client.userId)}/m.tz`)
    assert.deepEqual([tz.status, tz.body], [200, { 'm.tz': 'Europe/Paris' }])
  })

  it('answers 404 for a field the user has not set and for a user the server does not know', async () => {
    const avatar = await alice.get(`/profile/${enc(bob.client.userId)}/avatar_url`)
    assert.deepEqual([avatar.status, avatar.body.errcode], [404, 'M_NOT_FOUND'])
    const nobody = await alice.get(`/profile/${enc(`@nobody:${nameB}`)}`)
    assert.deepEqual([nobody.status, nobody.body.errcode], [404, 'M_NOT_FOUND'])
  })

  it('answers 502 when the server cannot be reached', async () => {
    const res = await alice.get(`/profile/${enc(`@carol:${deadName}`)}`)
    assert.deepEqual([res.status, res.body.errcode], [502, 'M_UNKNOWN'])
  })
})

describe("POST /keys/query and /keys/claim for another server's users", () => {
  it('returns device keys and cross-signing keys from their server, and a failure for a server that is down', async () => {
    const res = await alice.post('/keys/query', { device_keys: { [bob.client.userId]: [], [`@carol:${deadName}`]: [] }, timeout: 5000 })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const device: Json = res.body.device_keys[bob.client.userId][bob.client.deviceId]
    assert.deepEqual(device.keys, bob.device.deviceKeys().keys)
    assert.ok(device.signatures[bob.client.userId][`ed25519:${bob.client.deviceId}`])
    assert.deepEqual(res.body.master_keys[bob.client.userId].keys, bobCross.body.master_key.keys)
    assert.deepEqual(res.body.self_signing_keys[bob.client.userId].keys, bobCross.body.self_signing_key.keys)
    assert.equal(res.body.user_signing_keys[bob.client.userId], undefined, "another user's user-signing key is never shown")
    assert.deepEqual(Object.keys(res.body.failures), [deadName])
    assert.equal(typeof res.body.failures[deadName].status, 'number')
  })

  it('returns only the devices asked', async () => {
    const res = await alice.post('/keys/query', { device_keys: { [bob.client.userId]: ['NOSUCHDEVICE'] } })
    assert.equal(res.status, 200)
    assert.deepEqual(res.body.device_keys, { [bob.client.userId]: {} })
    assert.deepEqual(res.body.failures, {})
  })

  it('claims a one-time key from their server, a different one each time, and reports a server that is down', async () => {
    const body = { one_time_keys: { [bob.client.userId]: { [bob.client.deviceId]: 'signed_curve25519' }, [`@carol:${deadName}`]: { D: 'signed_curve25519' } } }
    const first = await alice.post('/keys/claim', body)
    const second = await alice.post('/keys/claim', body)
    assert.equal(first.status, 200, JSON.stringify(first.body))
    const [id1, key1] = Object.entries(first.body.one_time_keys[bob.client.userId][bob.client.deviceId])[0] as [string, Json]
    const [id2] = Object.keys(second.body.one_time_keys[bob.client.userId][bob.client.deviceId])
    assert.match(id1, /^signed_curve25519:/)
    assert.notEqual(id1, id2)
    assert.ok(key1.signatures[bob.client.userId][`ed25519:${bob.client.deviceId}`], 'the key comes as its device signed it')
    assert.deepEqual(Object.keys(first.body.failures), [deadName])
  })
})
