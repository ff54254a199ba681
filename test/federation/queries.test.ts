// The server-server API's read-only queries between two Homesteads with different server names over HTTPS
// with a test CA: A asks B through its FederationClient (signed with X-Matrix) for a profile, an alias, a
// user's devices and keys, and claims a one-time key; unsigned, forged and misdirected requests are refused
// with 401, and questions about another server's users or aliases with 400, as Synapse answers them.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { twoHomesteads } from '../support/federation.ts'
import { RoomClient, enc } from '../support/rooms.ts'
import { TestDevice, crossSigningKeys, loginAgain, userWithKeys, type Json } from '../support/e2ee.ts'
import { signingKeyFromSeed } from '../../src/protocol/signing.ts'
import { signRequest, type SignedRequest } from '../../src/protocol/x-matrix.ts'
import { FederationError } from '../../src/federation/index.ts'
import type { AppContext } from '../../src/context.ts'

const { fronts, a, b } = await twoHomesteads()
const { nameA, nameB, common } = fronts
const ctxA: AppContext = a.server.ctx

after(() => fronts.close())

/** A's signed request to B (or `destination`), sent over real HTTPS by A's FederationClient. */
const ask = <T = any>(path: string, query?: Record<string, string>) => ctxA.federation.client.get<T>(nameB, path, query)
const askPost = <T = any>(path: string, body: unknown) => ctxA.federation.client.post<T>(nameB, path, body)

async function refusedBy(promise: Promise<unknown>, status: number, errcode: string) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof FederationError, String(err))
    assert.deepEqual([err.status, err.errcode], [status, errcode], err.message)
    return true
  })
}

// B's users: bob with a profile, keys and cross-signing keys; an alias of B's.
const bob = await userWithKeys(b.api, 2)
await bob.client.put(`/profile/${enc(bob.client.userId)}/displayname`, { displayname: 'Bob' })
await bob.client.put(`/profile/${enc(bob.client.userId)}/m.tz`, { 'm.tz': 'Europe/Paris' })
const bobCross = crossSigningKeys(bob.client.userId)
assert.equal((await bob.client.post('/keys/device_signing/upload', bobCross.body)).status, 200)
const roomId = await bob.client.createRoom()
const alias = `#family:${nameB}`
assert.equal((await bob.client.put(`/directory/room/${enc(alias)}`, { room_id: roomId })).status, 200)

describe('GET /_matrix/federation/v1/version', () => {
  it('names the server and its version, without authentication', async () => {
    const res = await b.api.get('/_matrix/federation/v1/version')
    assert.equal(res.status, 200)
    assert.equal(res.body.server.name, 'Homestead')
    assert.match(res.body.server.version, /^\d+\.\d+\.\d+/)
  })
})

describe('GET /_matrix/federation/v1/query/profile', () => {
  it('answers a signed query with the profile, or one field of it', async () => {
    assert.deepEqual(await ask('/_matrix/federation/v1/query/profile', { user_id: bob.client.userId }), { displayname: 'Bob', 'm.tz': 'Europe/Paris' })
    assert.deepEqual(await ask('/_matrix/federation/v1/query/profile', { user_id: bob.client.userId, field: 'displayname' }), { displayname: 'Bob' })
    assert.deepEqual(await ask('/_matrix/federation/v1/query/profile', { user_id: bob.client.userId, field: 'avatar_url' }), {})
  })

  it('answers 404 M_NOT_FOUND for an unknown user of ours, and 400 for another server\'s user', async () => {
    await refusedBy(ask('/_matrix/federation/v1/query/profile', { user_id: `@nobody:${nameB}` }), 404, 'M_NOT_FOUND')
    await refusedBy(ask('/_matrix/federation/v1/query/profile', { user_id: `@someone:${nameA}` }), 400, 'M_UNKNOWN')
    await refusedBy(ask('/_matrix/federation/v1/query/profile', {}), 400, 'M_MISSING_PARAM')
  })
})

describe('GET /_matrix/federation/v1/query/directory', () => {
  it('resolves an alias of ours to its room and servers', async () => {
    assert.deepEqual(await ask('/_matrix/federation/v1/query/directory', { room_alias: alias }), { room_id: roomId, servers: [nameB] })
  })

  it('answers 404 M_NOT_FOUND for an unknown alias of ours, and 400 for another server\'s alias', async () => {
    await refusedBy(ask('/_matrix/federation/v1/query/directory', { room_alias: `#nothing:${nameB}` }), 404, 'M_NOT_FOUND')
    await refusedBy(ask('/_matrix/federation/v1/query/directory', { room_alias: `#family:${nameA}` }), 400, 'M_UNKNOWN')
  })
})

describe('GET /_matrix/federation/v1/user/devices/{userId}', () => {
  it('lists the devices with their keys, the master and self-signing keys and a stream ID', async () => {
    const answer = await ask(`/_matrix/federation/v1/user/devices/${enc(bob.client.userId)}`)
    assert.equal(answer.user_id, bob.client.userId)
    assert.equal(typeof answer.stream_id, 'number')
    assert.deepEqual(answer.devices.map((d: Json) => d.device_id), [bob.client.deviceId])
    const keys = answer.devices[0].keys
    assert.equal(keys.keys[`ed25519:${bob.client.deviceId}`], bob.device.ed25519)
    assert.ok(keys.signatures[bob.client.userId][`ed25519:${bob.client.deviceId}`])
    assert.equal(keys.unsigned?.device_display_name, undefined, 'device names are not shown to other servers')
    assert.deepEqual(answer.master_key.keys, bobCross.body.master_key.keys)
    assert.deepEqual(answer.self_signing_key.keys, bobCross.body.self_signing_key.keys)
    assert.equal(answer.user_signing_key, undefined)
  })

  it('gives a later stream ID once the device list changed, and 400 for another server\'s user', async () => {
    const before = (await ask(`/_matrix/federation/v1/user/devices/${enc(bob.client.userId)}`)).stream_id
    const second = await loginAgain(b.api, bob.client)
    const secondDevice = new TestDevice(second.userId, second.deviceId)
    assert.equal((await second.post('/keys/upload', { device_keys: secondDevice.deviceKeys() })).status, 200)
    const after = await ask(`/_matrix/federation/v1/user/devices/${enc(bob.client.userId)}`)
    assert.deepEqual(after.devices.map((d: Json) => d.device_id).sort(), [bob.client.deviceId, second.deviceId].sort())
    assert.ok(after.stream_id > before, `${after.stream_id} > ${before}`)
    const carol = await RoomClient.register(b.api)
    assert.deepEqual((await ask(`/_matrix/federation/v1/user/devices/${enc(carol.userId)}`)).devices, [], 'a device without keys is not listed')
    await refusedBy(ask(`/_matrix/federation/v1/user/devices/${enc(`@someone:${nameA}`)}`), 400, 'M_UNKNOWN')
  })
})

describe('POST /_matrix/federation/v1/user/keys/query and /user/keys/claim', () => {
  it('answers a key query with device and cross-signing keys, no user-signing key', async () => {
    const answer = await askPost('/_matrix/federation/v1/user/keys/query', { device_keys: { [bob.client.userId]: [] } })
    assert.deepEqual(Object.keys(answer).sort(), ['device_keys', 'master_keys', 'self_signing_keys'])
    assert.deepEqual(answer.device_keys[bob.client.userId][bob.client.deviceId].keys, bob.device.deviceKeys().keys)
    assert.deepEqual(answer.master_keys[bob.client.userId].keys, bobCross.body.master_key.keys)
    await refusedBy(askPost('/_matrix/federation/v1/user/keys/query', { device_keys: { [`@x:${nameA}`]: [] } }), 400, 'M_UNKNOWN')
    const tooMany = Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`@u${i}:${nameB}`, []]))
    await refusedBy(askPost('/_matrix/federation/v1/user/keys/query', { device_keys: tooMany }), 413, 'M_TOO_LARGE')
  })

  it('claims one-time keys of our users, each once; another server\'s users get none', async () => {
    const body = { one_time_keys: { [bob.client.userId]: { [bob.client.deviceId]: 'signed_curve25519' }, [`@x:${nameA}`]: { D: 'signed_curve25519' } } }
    const first = await askPost('/_matrix/federation/v1/user/keys/claim', body)
    const second = await askPost('/_matrix/federation/v1/user/keys/claim', body)
    assert.deepEqual(Object.keys(first), ['one_time_keys'])
    assert.deepEqual(Object.keys(first.one_time_keys), [bob.client.userId])
    const [k1] = Object.keys(first.one_time_keys[bob.client.userId][bob.client.deviceId])
    const [k2] = Object.keys(second.one_time_keys[bob.client.userId][bob.client.deviceId])
    assert.match(k1!, /^signed_curve25519:/)
    assert.notEqual(k1, k2)
  })
})

describe('X-Matrix authentication of federation routes', () => {
  const path = `/_matrix/federation/v1/query/profile?user_id=${enc(bob.client.userId)}`
  const request = (destination: string): SignedRequest => ({ method: 'GET', uri: path, origin: nameA, destination })
  const send = (authorization?: string) => b.api.request('GET', path, authorization ? { headers: { Authorization: authorization } } : {})
  const unauthorized = (res: { status: number; body: any }) => assert.deepEqual([res.status, res.body?.errcode], [401, 'M_UNAUTHORIZED'], JSON.stringify(res.body))

  it('refuses an unsigned request', async () => {
    unauthorized(await send())
    unauthorized(await b.api.post('/_matrix/federation/v1/user/keys/claim', { one_time_keys: {} }))
  })

  it('refuses a forged signature and a signature over another target', async () => {
    const forger = signingKeyFromSeed(ctxA.serverKeys.signingKey.keyId, randomBytes(32))
    unauthorized(await send(signRequest(request(nameB), forger)))
    unauthorized(await send(signRequest({ ...request(nameB), uri: '/_matrix/federation/v1/query/profile?user_id=x' }, ctxA.serverKeys.signingKey)))
  })

  it('refuses a validly signed request for another destination', async () => {
    unauthorized(await send(signRequest(request('elsewhere.example'), ctxA.serverKeys.signingKey)))
  })

  it('accepts the same request signed for this server', async () => {
    const res = await send(signRequest(request(nameB), ctxA.serverKeys.signingKey))
    assert.deepEqual([res.status, res.body.displayname], [200, 'Bob'])
  })
})
