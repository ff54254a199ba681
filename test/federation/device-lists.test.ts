// A client's /keys/query of another server's users, across two Homesteads (HTTPS, test CA): keys of any
// shape come back as their owner's client made them; the device list of a user sharing a room is followed
// (fetched whole from /user/devices on the first query, then kept by m.device_list_update EDUs) and
// answers while their server is down; a list followed, left and shared again is fetched whole again; an
// update arriving while a list is fetched whole has it fetched again.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { loginAgain, TestDevice, type Json } from '../support/e2ee.ts'
import { eventually, federatedServers, type FederatedServer } from '../support/federation-rig.ts'
import { RoomClient, enc } from '../support/rooms.ts'
import { RemoteDeviceLists } from '../../src/e2ee/index.ts'

const { servers } = await federatedServers(2)
const [a, b] = servers as [FederatedServer, FederatedServer]

const alice = await RoomClient.register(a.api)
const bob = await RoomClient.register(b.api)
const aliceDevice = new TestDevice(alice.userId, alice.deviceId)
assert.equal((await alice.post('/keys/upload', { device_keys: aliceDevice.deviceKeys() })).status, 200)

const userDevicesFetches = () => a.front.requests.filter((r) => r.startsWith(`GET /_matrix/federation/v1/user/devices/${enc(alice.userId)}`)).length
const query = async (userId: string) => {
  const res = await bob.post('/keys/query', { device_keys: { [userId]: [] } })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body as { device_keys: Record<string, Record<string, Json>>; failures: Record<string, unknown> }
}
/** The device keys as uploaded: what a server adds in `unsigned` left out. */
const uploaded = (devices: Record<string, Json> = {}) => Object.fromEntries(Object.entries(devices).map(([id, { unsigned: _u, ...keys }]) => [id, keys]))

describe('POST /keys/query of another server\'s users', () => {
  it('gives the keys as their client made them, whatever their algorithms and signatures', async () => {
    const carol = await RoomClient.register(a.api)
    // As SyTest uploads them: no curve25519 key, an ed25519 "key" that is no key, no signatures.
    const keys = {
      user_id: carol.userId,
      device_id: carol.deviceId,
      algorithms: ['m.olm.v1.curve25519-aes-sha2', 'm.megolm.v1.aes-sha2'],
      keys: { [`curve25519:${carol.deviceId}`]: 'base64publicidentitykey', [`ed25519:${carol.deviceId}`]: 'base64publicidentitykey2' },
      signatures: {},
    }
    assert.equal((await carol.post('/keys/upload', { device_keys: keys })).status, 200)
    const answer = await query(carol.userId)
    assert.deepEqual(answer.failures, {})
    assert.deepEqual(uploaded(answer.device_keys[carol.userId]), { [carol.deviceId]: keys })
  })

  it("follows a room-mate's device list: fetched whole on the first query, then kept by updates", async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    assert.equal((await bob.post(`/join/${enc(roomId)}?via=${enc(a.name)}`, {})).status, 200)
    const first = await query(alice.userId)
    assert.deepEqual(first.failures, {})
    assert.deepEqual(uploaded(first.device_keys[alice.userId]), { [alice.deviceId]: aliceDevice.deviceKeys() })
    assert.ok(userDevicesFetches() >= 1, 'the list was fetched whole')
    assert.equal((await b.ctx.storage.repos.remoteDeviceLists.get(alice.userId))?.stale, false)

    // A new device reaches B as an update; the query answers it without asking A again.
    const fetches = userDevicesFetches()
    const phone = await loginAgain(a.api, alice)
    const phoneDevice = new TestDevice(alice.userId, phone.deviceId)
    assert.equal((await phone.post('/keys/upload', { device_keys: phoneDevice.deviceKeys() })).status, 200)
    const second = await eventually('the new device in the answer', () => query(alice.userId), (r) => r.device_keys[alice.userId]?.[phone.deviceId] !== undefined)
    assert.deepEqual(uploaded(second.device_keys[alice.userId]), { [alice.deviceId]: aliceDevice.deviceKeys(), [phone.deviceId]: phoneDevice.deviceKeys() })
    assert.equal(userDevicesFetches(), fetches, 'no fetch: the update was applied')
    assert.equal((await phone.post('/logout', {})).status, 200)
    await eventually('the device gone from the answer', () => query(alice.userId), (r) => r.device_keys[alice.userId]?.[phone.deviceId] === undefined)

    // Bob's server leaves the only room it shares with Alice; she adds a device meanwhile (B is not told).
    assert.equal((await bob.post(`/rooms/${enc(roomId)}/leave`, {})).status, 200)
    await eventually('Bob gone on A', async () => Object.keys((await alice.get(`/rooms/${enc(roomId)}/joined_members`)).body.joined ?? {}), (m) => !m.includes(bob.userId))
    const tablet = await loginAgain(a.api, alice)
    const tabletDevice = new TestDevice(alice.userId, tablet.deviceId)
    assert.equal((await tablet.post('/keys/upload', { device_keys: tabletDevice.deviceKeys() })).status, 200)
    // Sharing the room again, B fetches the list whole: the device added meanwhile is there.
    assert.equal((await bob.post(`/join/${enc(roomId)}?via=${enc(a.name)}`, {})).status, 200)
    const third = await query(alice.userId)
    assert.deepEqual(uploaded(third.device_keys[alice.userId]), { [alice.deviceId]: aliceDevice.deviceKeys(), [tablet.deviceId]: tabletDevice.deviceKeys() })
  })

  it('fetches a list whole again when an update found it stale while it was being fetched', async () => {
    // Another server's answers to /user/devices, held until the test gives them.
    const answers: Array<(answer: unknown) => void> = []
    const lists = new RemoteDeviceLists({ storage: b.ctx.storage, clock: b.ctx.clock, logger: b.ctx.logger, serverName: b.name, fetch: () => new Promise((resolve) => answers.push(resolve)) })
    const zed = '@zed:remote.example'
    const first = lists.resync(zed)
    await eventually('the first fetch', async () => answers.length, (n) => n === 1)
    // An update after the state the first answer will give: it finds the list stale (a gap).
    assert.equal(await lists.applyUpdate({ userId: zed, deviceId: 'NEW', displayName: null, streamId: 5, prevIds: [4], deleted: false, keys: null }), 'stale')
    lists.resyncInBackground(zed, true)
    answers[0]?.({ user_id: zed, stream_id: 3, devices: [{ device_id: 'OLD' }] })
    await eventually('a second fetch', async () => answers.length, (n) => n === 2)
    answers[1]?.({ user_id: zed, stream_id: 5, devices: [{ device_id: 'OLD' }, { device_id: 'NEW' }] })
    assert.equal(await first, true)
    const list = await lists.list(zed)
    assert.deepEqual([list?.stale, list?.streamId, list?.devices.map((d) => d.device_id)], [false, 5, ['NEW', 'OLD']])
  })

  // Last: Alice's server stops.
  it("answers a followed list while its user's server is down, with no failure", async () => {
    const before = await query(alice.userId)
    assert.equal((await b.ctx.storage.repos.remoteDeviceLists.get(alice.userId))?.stale, false)
    await a.stop()
    const down = await query(alice.userId)
    assert.deepEqual(down.failures, {})
    assert.deepEqual(down.device_keys, before.device_keys)
  })
})
