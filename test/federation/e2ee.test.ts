// E2EE across two Homesteads (HTTPS, test CA): a user's device and cross-signing key changes reach the
// servers sharing a room with them as m.device_list_update / m.signing_key_update EDUs (each update naming
// the one before, so the receiver sees no gap), and to-device messages to another server's users travel
// as m.direct_to_device EDUs (split when they exceed one EDU's size).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { signJson } from '../../src/protocol/signing.ts'
import { crossSigningKeys, loginAgain, TestDevice, type Json } from '../support/e2ee.ts'
import { eventually, federatedServers, type FederatedServer } from '../support/federation-rig.ts'
import { RoomClient, enc } from '../support/rooms.ts'

const { servers } = await federatedServers(2)
const [a, b] = servers as [FederatedServer, FederatedServer]

const alice = await RoomClient.register(a.api)
const bob = await RoomClient.register(b.api)

// Alice (A) and Bob (B) share a room; A knows B is in it (room_servers), B knows Alice is (device lists apply).
const roomId = await alice.createRoom({ preset: 'public_chat' })
{
  const res = await bob.post(`/join/${enc(roomId)}?via=${enc(a.name)}`, {})
  assert.equal(res.status, 200, JSON.stringify(res.body))
  await eventually('Bob joined on A', async () => Object.keys((await alice.get(`/rooms/${enc(roomId)}/joined_members`)).body.joined ?? {}).length, (n) => n === 2)
}

/** Alice's devices as B keeps them: [device ID, keys] pairs. */
async function aliceOnB(): Promise<Array<[string, Json | null]>> {
  const list = await b.ctx.remoteDeviceLists.list(alice.userId)
  return (list?.devices ?? []).map((d) => [d.device_id, d.keys_json === null ? null : (JSON.parse(d.keys_json) as Json)])
}

describe('device lists across servers', () => {
  it('sends a new device, its signatures and its deletion to the servers sharing a room, each update following the last', async () => {
    const { next_batch: since } = await bob.sync({ timeout: 0 })
    const phone = await loginAgain(a.api, alice)
    const device = new TestDevice(alice.userId, phone.deviceId)
    assert.equal((await phone.post('/keys/upload', { device_keys: device.deviceKeys() })).status, 200)

    const synced = await eventually('device_lists.changed on B', () => bob.sync({ since, timeout: 1000 }), (s) => (s.device_lists?.changed ?? []).includes(alice.userId))
    assert.ok(synced.device_lists.changed.includes(alice.userId))
    // The login reaches B first (a device without keys), then its keys (by an update, or in the list fetched whole,
    // where the key query's `unsigned` comes along).
    const devices = await eventually('the device with its keys on B', aliceOnB, (d) => d.some(([id, keys]) => id === phone.deviceId && keys !== null))
    const { unsigned: _unsigned, ...kept } = devices.find(([id]) => id === phone.deviceId)?.[1] ?? {}
    assert.deepEqual(kept, device.deviceKeys())
    // Bob's client asking his own server gets the device (from Alice's server).
    const queried = await bob.post('/keys/query', { device_keys: { [alice.userId]: [] } })
    assert.deepEqual(queried.body.failures, {})
    assert.deepEqual(queried.body.device_keys[alice.userId]?.[phone.deviceId]?.keys, device.deviceKeys().keys)

    // B fetched the list whole once (it had never seen it); from here on each update names the last as
    // prev_id, so B applies them in turn (a resync would start its seen IDs afresh).
    await eventually('the list resynced on B', () => b.ctx.storage.repos.remoteDeviceLists.get(alice.userId), (row) => row?.stale === false)
    // Fetched whole again once A's stream has moved past the update: the list is then at a stream position
    // no update was sent at, which the next update's prev_id is below.
    await alice.send(roomId, { msgtype: 'm.text', body: 'moving the stream on' })
    assert.equal(await b.ctx.remoteDeviceLists.resync(alice.userId), true)
    const fresh = await b.ctx.storage.repos.remoteDeviceLists.get(alice.userId)

    // Cross-signing keys: the master and self-signing keys arrive; the device signed by the self-signing key
    // arrives again with that signature.
    const cross = crossSigningKeys(alice.userId)
    assert.equal((await phone.post('/keys/device_signing/upload', cross.body)).status, 200)
    const signed = signJson(device.deviceKeys(), alice.userId, cross.selfSigning)
    const signature = signed.signatures[alice.userId]?.[cross.selfSigning.keyId]
    const upload = await phone.post('/keys/signatures/upload', { [alice.userId]: { [phone.deviceId]: signed } })
    assert.deepEqual(upload.body.failures, {})
    const keys = await eventually('the cross-signing keys on B', async () => (await b.ctx.remoteDeviceLists.list(alice.userId))?.crossSigningKeys ?? [], (k) => k.length === 2)
    assert.deepEqual(keys.map((k) => [k.key_type, JSON.parse(k.key_json).keys]).sort(), [
      ['master', cross.body.master_key.keys],
      ['self_signing', cross.body.self_signing_key.keys],
    ])
    await eventually('the signed device on B', aliceOnB, (d) => d.find(([id]) => id === phone.deviceId)?.[1]?.signatures?.[alice.userId]?.[cross.selfSigning.keyId] === signature)

    assert.equal((await phone.post('/logout', {})).status, 200)
    await eventually('the device gone on B', aliceOnB, (d) => !d.some(([id]) => id === phone.deviceId))
    const after = await bob.post('/keys/query', { device_keys: { [alice.userId]: [] } })
    assert.equal(after.body.device_keys[alice.userId]?.[phone.deviceId], undefined)
    const row = await b.ctx.storage.repos.remoteDeviceLists.get(alice.userId)
    const { rows: sent } = await a.ctx.storage.db.query<{ stream_id: string }>('SELECT stream_id FROM device_list_outbound WHERE user_id = $1', [alice.userId])
    assert.equal(row?.stale, false, 'no update was missed')
    assert.equal(Number(row?.stream_id), Number(sent[0]?.stream_id), "B is at A's last update")
    // The signed device and its deletion, both applied as updates (no resync since).
    assert.deepEqual(row?.seen_ids.map(Number).slice(0, -2), fresh?.seen_ids.map(Number))
  })
})

describe('to-device messages across servers', () => {
  it("reach the other server's user's device, and every device of theirs for '*'", async () => {
    const bobPhone = await loginAgain(b.api, bob)
    const { next_batch: since } = await bob.sync({ timeout: 0 })
    const { next_batch: phoneSince } = await bobPhone.sync({ timeout: 0 })
    const res = await alice.put(`/sendToDevice/m.test/${Date.now()}`, { messages: { [bob.userId]: { [bob.deviceId]: { hello: 'laptop' } } } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const got = await eventually('to_device on B', () => bob.sync({ since, timeout: 1000 }), (s) => (s.to_device?.events ?? []).length > 0)
    assert.deepEqual(got.to_device.events, [{ sender: alice.userId, type: 'm.test', content: { hello: 'laptop' } }])

    assert.equal((await alice.put(`/sendToDevice/m.test/${Date.now()}-all`, { messages: { [bob.userId]: { '*': { hello: 'everyone' } } } })).status, 200)
    const phone = await eventually('to_device on the phone', () => bobPhone.sync({ since: phoneSince, timeout: 1000 }), (s) => (s.to_device?.events ?? []).length > 0)
    assert.deepEqual(phone.to_device.events.map((e: Json) => e.content.hello), ['everyone'])
  })

  it('splits messages larger together than one EDU', async () => {
    const { next_batch: since } = await bob.sync({ timeout: 0 })
    const bobTablet = await loginAgain(b.api, bob)
    const { next_batch: tabletSince } = await bobTablet.sync({ timeout: 0 })
    const padding = 'x'.repeat(40_000)
    const res = await alice.put(`/sendToDevice/m.big/${Date.now()}`, {
      messages: { [bob.userId]: { [bob.deviceId]: { n: 1, padding }, [bobTablet.deviceId]: { n: 2, padding } } },
    })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    for (const [client, from, n] of [[bob, since, 1], [bobTablet, tabletSince, 2]] as const) {
      const got = await eventually(`message ${n}`, () => client.sync({ since: from, timeout: 1000 }), (s) => (s.to_device?.events ?? []).length > 0)
      assert.deepEqual(got.to_device.events.map((e: Json) => [e.type, e.content.n, e.content.padding.length]), [['m.big', n, 40_000]])
    }
  })
})
