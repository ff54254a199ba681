// Dehydrated devices (MSC3814 unstable endpoints) over real HTTP: PUT/GET/DELETE /dehydrated_device and
// POST /dehydrated_device/{deviceId}/events, with the device's keys and to-device messages.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, assertError, enc } from '../support/rooms.ts'
import { TestDevice } from '../support/e2ee.ts'

const t: TestServer = await startTestServer()
const BASE = '/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device'
const PASSWORD = 'correct horse battery staple'

function dehydratedBody(client: RoomClient, deviceId = `DEHYDRATED${Math.random().toString(36).slice(2, 8)}`) {
  const device = new TestDevice(client.userId, deviceId)
  return {
    device,
    body: {
      device_id: deviceId,
      device_data: { algorithm: 'org.matrix.msc3814.v1.olm', device_pickle: 'cGlja2xl' },
      initial_device_display_name: 'Dehydrated device',
      device_keys: device.deviceKeys({ dehydrated: true }),
      one_time_keys: device.oneTimeKeys(3),
      fallback_keys: device.oneTimeKeys(1, true),
    },
  }
}

const put = (c: RoomClient, body: unknown) => t.api.put(BASE, body, c.token)
const get = (c: RoomClient) => t.api.get(BASE, c.token)
const del = (c: RoomClient) => t.api.delete(BASE, undefined, c.token)
const events = (c: RoomClient, deviceId: string, nextBatch?: string) =>
  t.api.post(`${BASE}/${enc(deviceId)}/events`, nextBatch === undefined ? {} : { next_batch: nextBatch }, c.token)

describe('PUT/GET/DELETE /dehydrated_device', () => {
  it('stores the device with its keys, which other users can query and claim', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    assertError(await get(alice), 404, 'M_NOT_FOUND')
    const { body } = dehydratedBody(alice)
    const res = await put(alice, body)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body, { device_id: body.device_id })
    assert.deepEqual((await get(alice)).body, { device_id: body.device_id, device_data: body.device_data })

    const query = await bob.post('/keys/query', { device_keys: { [alice.userId]: [] } })
    const keys = query.body.device_keys[alice.userId][body.device_id]
    assert.equal(keys.dehydrated, true)
    assert.equal(keys.unsigned.device_display_name, 'Dehydrated device')
    const claim = await bob.post('/keys/claim', { one_time_keys: { [alice.userId]: { [body.device_id]: 'signed_curve25519' } } })
    assert.equal(Object.keys(claim.body.one_time_keys[alice.userId][body.device_id]).length, 1)
  })

  it('replaces the previous dehydrated device, with its keys and messages', async () => {
    const alice = await RoomClient.register(t.api)
    const first = dehydratedBody(alice)
    await put(alice, first.body)
    const second = dehydratedBody(alice)
    assert.equal((await put(alice, second.body)).status, 200)
    assert.equal((await get(alice)).body.device_id, second.body.device_id)
    const query = await alice.post('/keys/query', { device_keys: { [alice.userId]: [] } })
    assert.deepEqual(Object.keys(query.body.device_keys[alice.userId]).sort(), [second.body.device_id].sort())
    assertError(await events(alice, first.body.device_id), 403, 'M_FORBIDDEN')
  })

  it('deletes the device on DELETE', async () => {
    const alice = await RoomClient.register(t.api)
    const { body } = dehydratedBody(alice)
    await put(alice, body)
    assert.deepEqual((await del(alice)).body, { device_id: body.device_id })
    assertError(await get(alice), 404, 'M_NOT_FOUND')
    assertError(await del(alice), 404, 'M_NOT_FOUND')
  })

  it('refuses bad bodies, keys signed by another device, and an ID already used by a real device', async () => {
    const alice = await RoomClient.register(t.api)
    const { body } = dehydratedBody(alice)
    assertError(await put(alice, { ...body, device_data: 'x' }), 400, 'M_BAD_JSON')
    assertError(await put(alice, { ...body, device_id: 7 }), 400, 'M_BAD_JSON')
    const { device_keys: _k, ...noKeys } = body
    assertError(await put(alice, noKeys), 400, 'M_BAD_JSON')
    const foreignKeys = new TestDevice(alice.userId, 'OTHER').deviceKeys()
    assertError(await put(alice, { ...body, device_keys: foreignKeys }), 400, 'M_INVALID_PARAM')
    const taken = dehydratedBody(alice, alice.deviceId)
    assertError(await put(alice, taken.body), 400, 'M_INVALID_PARAM')
    assertError(await get(alice), 404, 'M_NOT_FOUND', 'nothing was stored')
    assertError(await t.api.put(BASE, body), 401, 'M_MISSING_TOKEN')
  })

  it('cannot be logged in to', async () => {
    const alice = await RoomClient.register(t.api)
    const { body } = dehydratedBody(alice)
    await put(alice, body)
    const login = await t.api.post('/_matrix/client/v3/login', {
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user: alice.userId },
      password: PASSWORD,
      device_id: body.device_id,
    })
    assertError(login, 403, 'M_FORBIDDEN')
  })
})

describe('POST /dehydrated_device/:deviceId/events', () => {
  it('returns the messages sent to the device in batches, ending with an empty one, and keeps them', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    const { body } = dehydratedBody(alice)
    await put(alice, body)
    for (let i = 0; i < 130; i++) {
      const res = await bob.put(`/sendToDevice/m.room.encrypted/dh${i}`, { messages: { [alice.userId]: { [body.device_id]: { n: i } } } })
      assert.equal(res.status, 200)
    }
    const seen: number[] = []
    let next: string | undefined
    for (let round = 0; round < 5; round++) {
      const res = await events(alice, body.device_id, next)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      if (res.body.events.length === 0) break
      assert.ok(res.body.events.length <= 100)
      seen.push(...res.body.events.map((e: any) => e.content.n))
      assert.equal(res.body.events[0].sender, bob.userId)
      next = res.body.next_batch
    }
    assert.deepEqual(seen, Array.from({ length: 130 }, (_, i) => i))
    const again = await events(alice, body.device_id)
    assert.equal(again.body.events.length, 100, 'an interrupted rehydration can start over')
  })

  it("refuses another device's ID and a malformed token", async () => {
    const alice = await RoomClient.register(t.api)
    const { body } = dehydratedBody(alice)
    await put(alice, body)
    assertError(await events(alice, alice.deviceId), 403, 'M_FORBIDDEN')
    assertError(await events(alice, body.device_id, 'not-a-token'), 400, 'M_INVALID_PARAM')
  })
})
