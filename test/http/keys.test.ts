// Device keys, one-time and fallback keys over real HTTP: POST /keys/upload, /keys/query, /keys/claim,
// with the checks the server makes (owner, device, shape, size; signatures are the clients' to check) and
// the key counts in /sync.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { CS, RoomClient, assertError } from '../support/rooms.ts'
import { TestDevice, userWithKeys, loginAgain } from '../support/e2ee.ts'

const t: TestServer = await startTestServer()
const SERVER = t.config.server_name

async function withDevice(): Promise<{ client: RoomClient; device: TestDevice }> {
  const client = await RoomClient.register(t.api)
  return { client, device: new TestDevice(client.userId, client.deviceId) }
}

describe('POST /keys/upload', () => {
  it('stores device keys and signed one-time keys and answers the counts', async () => {
    const { client, device } = await withDevice()
    const res = await client.post('/keys/upload', { device_keys: device.deviceKeys(), one_time_keys: device.oneTimeKeys(5) })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body, { one_time_key_counts: { signed_curve25519: 5 } })
    const more = await client.post('/keys/upload', { one_time_keys: device.oneTimeKeys(3) })
    assert.deepEqual(more.body, { one_time_key_counts: { signed_curve25519: 8 } })
    const sync = await client.sync()
    assert.deepEqual(sync.device_one_time_keys_count, { signed_curve25519: 8 })
    assert.deepEqual(sync.device_unused_fallback_key_types, [])
  })

  it('answers signed_curve25519: 0 before any key is uploaded', async () => {
    const { client } = await withDevice()
    assert.deepEqual((await client.post('/keys/upload', {})).body, { one_time_key_counts: { signed_curve25519: 0 } })
  })

  it("accepts the same device keys again, and replaces a device's keys with new ones, telling its room-mates", async () => {
    const { client, device } = await withDevice()
    const { client: mate } = await withDevice()
    const roomId = await client.createRoom({ preset: 'public_chat' })
    assert.equal((await mate.post(`/join/${encodeURIComponent(roomId)}`, {})).status, 200)
    const keys = device.deviceKeys()
    assert.equal((await client.post('/keys/upload', { device_keys: keys })).status, 200)
    const { next_batch: since } = await mate.sync({ timeout: 0 })
    assert.equal((await client.post('/keys/upload', { device_keys: keys })).status, 200, 'a repeat is harmless')
    assert.equal((await mate.sync({ since, timeout: 0 })).device_lists?.changed?.includes(client.userId) ?? false, false, 'a repeat changes nothing')
    const renewed = new TestDevice(client.userId, client.deviceId)
    assert.equal((await client.post('/keys/upload', { device_keys: renewed.deviceKeys() })).status, 200)
    const query = await mate.post('/keys/query', { device_keys: { [client.userId]: [] } })
    assert.equal(query.body.device_keys[client.userId][client.deviceId].keys[`ed25519:${client.deviceId}`], renewed.ed25519, 'the new keys are served')
    assert.ok((await mate.sync({ since, timeout: 0 })).device_lists.changed.includes(client.userId), 'room-mates are told')
  })

  it('stores and serves device keys as the client made them, whatever their algorithms and signatures', async () => {
    const { client } = await withDevice()
    // As SyTest uploads them: no curve25519 key, an ed25519 "key" that is no key, no signatures.
    const keys = {
      user_id: client.userId,
      device_id: client.deviceId,
      algorithms: ['m.olm.v1.curve25519-aes-sha2'],
      keys: { [`ed25519:${client.deviceId}`]: 'base64publicidentitykey' },
      signatures: {},
    }
    assert.equal((await client.post('/keys/upload', { device_keys: keys })).status, 200)
    const query = await client.post('/keys/query', { device_keys: { [client.userId]: [] } })
    const { unsigned: _unsigned, ...served } = query.body.device_keys[client.userId][client.deviceId]
    assert.deepEqual(served, keys)
  })

  it('refuses device keys for another user or another device, malformed or oversized ones', async () => {
    const { client, device } = await withDevice()
    const other = new TestDevice(`@someone:${SERVER}`, client.deviceId)
    assertError(await client.post('/keys/upload', { device_keys: other.deviceKeys() }), 400, 'M_INVALID_PARAM', 'other user')
    const otherDevice = new TestDevice(client.userId, 'NOTMINE')
    assertError(await client.post('/keys/upload', { device_keys: otherDevice.deviceKeys() }), 400, 'M_INVALID_PARAM', 'other device')
    assertError(await client.post('/keys/upload', { device_keys: { user_id: client.userId, device_id: client.deviceId } }), 400, 'M_BAD_JSON', 'no keys')
    assertError(await client.post('/keys/upload', { device_keys: { ...device.deviceKeys(), keys: { a: 1 } } }), 400, 'M_BAD_JSON', 'a key that is no string')
    assertError(await client.post('/keys/upload', { device_keys: { ...device.deviceKeys(), signatures: { [client.userId]: 'x' } } }), 400, 'M_BAD_JSON', 'malformed signatures')
    assertError(await client.post('/keys/upload', { device_keys: 'nope' }), 400, 'M_BAD_JSON', 'not an object')
    assertError(await client.post('/keys/upload', { device_keys: device.deviceKeys({ padding: 'x'.repeat(20_000) }) }), 413, 'M_TOO_LARGE', 'oversized')
    // Nothing was stored by any refused upload.
    const query = await client.post('/keys/query', { device_keys: { [client.userId]: [] } })
    assert.deepEqual(query.body.device_keys[client.userId], {})
  })

  it('stores one-time keys as sent (their signatures are for the claiming client), and refuses a reused key ID with other content', async () => {
    const { client, device } = await withDevice()
    assert.equal((await client.post('/keys/upload', { device_keys: device.deviceKeys(), one_time_keys: device.oneTimeKeys(1) })).status, 200)
    // Signed by another key than the device's: the claiming client will tell.
    const foreign = { 'signed_curve25519:FOREIGN': new TestDevice(client.userId, client.deviceId).sign({ key: 'Zm9yZWlnbiBrZXk' }) }
    assert.deepEqual((await client.post('/keys/upload', { one_time_keys: { ...foreign, 'my_algorithm:my_id_1': 'my+base64+key' } })).body, { one_time_key_counts: { signed_curve25519: 2, my_algorithm: 1 } })
    const first = device.oneTimeKeys(1)
    assert.equal((await client.post('/keys/upload', { one_time_keys: first })).status, 200)
    assert.deepEqual((await client.post('/keys/upload', { one_time_keys: first })).body, { one_time_key_counts: { signed_curve25519: 3, my_algorithm: 1 } }, 'a repeat is harmless')
    const [id] = Object.keys(first) as [string]
    const clash = { [id]: device.sign({ key: 'c29tZXRoaW5nIGVsc2UgZW50aXJlbHkgZGlmZmVyZW50' }) }
    assertError(await client.post('/keys/upload', { one_time_keys: clash }), 400, 'M_INVALID_PARAM')
    assertError(await client.post('/keys/upload', { one_time_keys: { nocolon: 'abc' } }), 400, 'M_BAD_JSON')
    assertError(await client.post('/keys/upload', { one_time_keys: { 'a:b': { key: 'k', padding: 'x'.repeat(5000) } } }), 413, 'M_TOO_LARGE')
    assert.deepEqual((await client.sync()).device_one_time_keys_count, { signed_curve25519: 3, my_algorithm: 1 })
    const { client: claimer } = await withDevice()
    const claim = await claimer.post('/keys/claim', { one_time_keys: { [client.userId]: { [client.deviceId]: 'my_algorithm' } } })
    assert.deepEqual(claim.body.one_time_keys[client.userId][client.deviceId], { 'my_algorithm:my_id_1': 'my+base64+key' })
  })

  it('keeps one fallback key per algorithm and reports it unused in /sync until it is claimed', async () => {
    const { client, device } = await withDevice()
    const res = await client.post('/keys/upload', { device_keys: device.deviceKeys(), fallback_keys: device.oneTimeKeys(1, true) })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual((await client.sync()).device_unused_fallback_key_types, ['signed_curve25519'])
    assertError(await client.post('/keys/upload', { fallback_keys: device.oneTimeKeys(2, true) }), 400, 'M_BAD_JSON', 'two for one algorithm')
    const { client: claimer } = await withDevice()
    const claim = await claimer.post('/keys/claim', { one_time_keys: { [client.userId]: { [client.deviceId]: 'signed_curve25519' } } })
    const key = Object.values(claim.body.one_time_keys[client.userId][client.deviceId])[0] as { fallback?: boolean }
    assert.equal(key.fallback, true)
    assert.deepEqual((await client.sync()).device_unused_fallback_key_types, [])
    // A new fallback key is unused again.
    assert.equal((await client.post('/keys/upload', { fallback_keys: device.oneTimeKeys(1, true) })).status, 200)
    assert.deepEqual((await client.sync()).device_unused_fallback_key_types, ['signed_curve25519'])
  })

  it('needs an access token', async () => {
    assertError(await t.api.post(`${CS}/keys/upload`, {}), 401, 'M_MISSING_TOKEN')
    assertError(await t.api.post(`${CS}/keys/query`, { device_keys: {} }), 401, 'M_MISSING_TOKEN')
    assertError(await t.api.post(`${CS}/keys/claim`, { one_time_keys: {} }), 401, 'M_MISSING_TOKEN')
  })
})

describe('POST /keys/query', () => {
  it('refuses a query naming more than 10,000 devices, even of one user, with 413 M_TOO_LARGE', async () => {
    const alice = await userWithKeys(t.api)
    const devices = Array.from({ length: 10_001 }, (_, i) => `D${i}`)
    const res = await alice.client.post('/keys/query', { device_keys: { [alice.client.userId]: devices } })
    assertError(res, 413, 'M_TOO_LARGE')
  })

  it("returns every device's keys with its display name, or only the devices asked for", async () => {
    const alice = await userWithKeys(t.api)
    const second = await loginAgain(t.api, alice.client)
    const secondDevice = new TestDevice(second.userId, second.deviceId)
    assert.equal((await second.post('/keys/upload', { device_keys: secondDevice.deviceKeys() })).status, 200)
    await second.put(`/devices/${second.deviceId}`, { display_name: 'Laptop' })
    const { client: bob } = await withDevice()

    const all = await bob.post('/keys/query', { device_keys: { [alice.client.userId]: [] } })
    assert.equal(all.status, 200, JSON.stringify(all.body))
    const devices = all.body.device_keys[alice.client.userId]
    assert.deepEqual(Object.keys(devices).sort(), [alice.client.deviceId, second.deviceId].sort())
    assert.equal(devices[second.deviceId].unsigned.device_display_name, 'Laptop')
    assert.deepEqual(devices[second.deviceId].keys, secondDevice.deviceKeys().keys)
    assert.deepEqual(devices[second.deviceId].signatures, secondDevice.deviceKeys().signatures)

    const one = await bob.post('/keys/query', { device_keys: { [alice.client.userId]: [second.deviceId, 'NOSUCHDEVICE'] } })
    assert.deepEqual(Object.keys(one.body.device_keys[alice.client.userId]), [second.deviceId])
  })

  it('answers an empty map for unknown users and a failure for servers it cannot reach', async () => {
    const { client } = await withDevice()
    const res = await client.post('/keys/query', { device_keys: { [`@nobody:${SERVER}`]: [], '@x:elsewhere.example': [] } })
    assert.equal(res.status, 200)
    assert.deepEqual(res.body.device_keys, { [`@nobody:${SERVER}`]: {} })
    assert.ok(res.body.failures['elsewhere.example'], JSON.stringify(res.body))
  })

  it('refuses malformed requests', async () => {
    const { client } = await withDevice()
    assertError(await client.post('/keys/query', {}), 400, 'M_MISSING_PARAM')
    assertError(await client.post('/keys/query', { device_keys: { 'not-a-user': [] } }), 400, 'M_INVALID_PARAM')
    assertError(await client.post('/keys/query', { device_keys: { [client.userId]: 'all' } }), 400, 'M_BAD_JSON')
  })
})

describe('POST /keys/claim', () => {
  it('hands out each one-time key once and removes it', async () => {
    const alice = await userWithKeys(t.api, 2)
    const { client: bob } = await withDevice()
    const body = { one_time_keys: { [alice.client.userId]: { [alice.client.deviceId]: 'signed_curve25519' } } }
    const first = (await bob.post('/keys/claim', body)).body
    const second = (await bob.post('/keys/claim', body)).body
    const third = (await bob.post('/keys/claim', body)).body
    const idOf = (r: any) => Object.keys(r.one_time_keys[alice.client.userId]?.[alice.client.deviceId] ?? {})[0]
    assert.ok(idOf(first) && idOf(second))
    assert.notEqual(idOf(first), idOf(second))
    assert.deepEqual(third.one_time_keys, {}, 'none left and no fallback key')
    assert.deepEqual(third.failures, {})
    const claimed = first.one_time_keys[alice.client.userId][alice.client.deviceId][idOf(first) as string]
    assert.deepEqual(Object.keys(claimed).sort(), ['key', 'signatures'])
    assert.deepEqual((await alice.client.sync()).device_one_time_keys_count, { signed_curve25519: 0 })
  })

  it('hands out one-time keys in the order they were uploaded, whatever their IDs', async () => {
    const { client: alice, device } = await withDevice()
    // IDs AAAA1..AAAA9, then AAAA10..AAAA12: as text, AAAA10 sorts before AAAA2.
    assert.equal((await alice.post('/keys/upload', { device_keys: device.deviceKeys(), one_time_keys: device.oneTimeKeys(9) })).status, 200)
    assert.equal((await alice.post('/keys/upload', { one_time_keys: device.oneTimeKeys(3) })).status, 200)
    const { client: bob } = await withDevice()
    const body = { one_time_keys: { [alice.userId]: { [alice.deviceId]: 'signed_curve25519' } } }
    const claimed: string[] = []
    for (let i = 0; i < 12; i++) {
      const res = await bob.post('/keys/claim', body)
      claimed.push(...Object.keys(res.body.one_time_keys[alice.userId][alice.deviceId]).map((k) => k.split(':')[1] as string))
    }
    const first = claimed.slice(0, 9).map((id) => Number(id.slice(4)))
    assert.deepEqual([...first].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9], `the first upload first: ${claimed.join(' ')}`)
    assert.deepEqual(claimed.slice(9).sort(), ['AAAA10', 'AAAA11', 'AAAA12'])
  })

  it('never gives the same key to two concurrent claims', async () => {
    const alice = await userWithKeys(t.api, 10)
    const claimers = await Promise.all(Array.from({ length: 4 }, () => withDevice()))
    const body = { one_time_keys: { [alice.client.userId]: { [alice.client.deviceId]: 'signed_curve25519' } } }
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (claimers[i % 4] as { client: RoomClient }).client.post('/keys/claim', body)))
    const ids = results.flatMap((r) => {
      assert.equal(r.status, 200)
      return Object.keys(r.body.one_time_keys[alice.client.userId]?.[alice.client.deviceId] ?? {})
    })
    assert.equal(ids.length, 10, 'exactly the ten keys were handed out')
    assert.equal(new Set(ids).size, 10, `a key was handed out twice: ${ids}`)
  })

  it('reports servers it cannot reach as failures and refuses malformed requests', async () => {
    const { client } = await withDevice()
    const res = await client.post('/keys/claim', { one_time_keys: { '@x:elsewhere.example': { DEV: 'signed_curve25519' } } })
    assert.equal(res.status, 200)
    assert.ok(res.body.failures['elsewhere.example'])
    assertError(await client.post('/keys/claim', { one_time_keys: { [client.userId]: { DEV: 7 } } }), 400, 'M_BAD_JSON')
    assertError(await client.post('/keys/claim', {}), 400, 'M_MISSING_PARAM')
  })
})

describe('device lifecycle and keys', () => {
  it("removes a deleted device's keys and one-time keys", async () => {
    const alice = await userWithKeys(t.api, 3)
    const second = await loginAgain(t.api, alice.client)
    const secondDevice = new TestDevice(second.userId, second.deviceId)
    await second.post('/keys/upload', { device_keys: secondDevice.deviceKeys(), one_time_keys: secondDevice.oneTimeKeys(2) })
    const del = await alice.client.post('/delete_devices', {
      devices: [second.deviceId],
      auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: alice.client.userId }, password: 'correct horse battery staple' },
    })
    assert.equal(del.status, 200, JSON.stringify(del.body))
    const query = await alice.client.post('/keys/query', { device_keys: { [alice.client.userId]: [] } })
    assert.deepEqual(Object.keys(query.body.device_keys[alice.client.userId]), [alice.client.deviceId])
    const claim = await alice.client.post('/keys/claim', { one_time_keys: { [alice.client.userId]: { [second.deviceId]: 'signed_curve25519' } } })
    assert.deepEqual(claim.body.one_time_keys, {})
  })
})
