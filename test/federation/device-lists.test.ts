// A client's /keys/query of another server's users, across two Homesteads (HTTPS, test CA): keys of any
// shape come back as their owner's client made them; the device list of a user sharing a room is followed
// (fetched whole from /user/devices on the first query, then kept by m.device_list_update EDUs) and
// answers while their server is down; a list followed, left and shared again is fetched whole again; an
// update arriving while a list is fetched whole has it fetched again. Across leaves and rejoins (client-server
// "Tracking the device list for a user", server-server "Device Management"): a remote user who leaves is
// `left` and no longer followed; one who rejoins, or whom a local user rejoins, is `changed` in /sync and
// /keys/changes, and their list is fetched whole again. A local user's new or renamed device reaches the
// servers sharing a room with them as an update.
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

/** GET /user/devices requests A answered for the user: their list fetched whole. */
const userDevicesFetchesOf = (userId: string) => a.front.requests.filter((r) => r.startsWith(`GET /_matrix/federation/v1/user/devices/${enc(userId)}`)).length
const userDevicesFetches = () => userDevicesFetchesOf(alice.userId)
const query = async (userId: string) => {
  const res = await bob.post('/keys/query', { device_keys: { [userId]: [] } })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body as { device_keys: Record<string, Record<string, Json>>; failures: Record<string, unknown> }
}
/** The device keys as uploaded: what a server adds in `unsigned` left out. */
const uploaded = (devices: Record<string, Json> = {}) => Object.fromEntries(Object.entries(devices).map(([id, { unsigned: _u, ...keys }]) => [id, keys]))

/** The keys B's user gets for a user of A, by device. */
const keysSeenBy = async (viewer: RoomClient, userId: string) => {
  const res = await viewer.post('/keys/query', { device_keys: { [userId]: [] } })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return uploaded((res.body as { device_keys: Record<string, Record<string, Json>> }).device_keys[userId])
}
const upload = async (client: RoomClient, device: TestDevice) => assert.equal((await client.post('/keys/upload', { device_keys: device.deviceKeys() })).status, 200)
const membershipOn = async (viewer: RoomClient, roomId: string, userId: string) => (await viewer.getState(roomId, 'm.room.member', userId)).membership as string
/**
 * A /sync token of `viewer` past `userId`'s `membership` in the room: the stream a token stands for may lag
 * the room's state a moment (a position below is still being written), and a token from before would list
 * the user as changed for the membership itself.
 */
const tokenPast = async (viewer: RoomClient, roomId: string, userId: string, membership: string) => {
  const isIt = (e: Json) => e.type === 'm.room.member' && e.state_key === userId && e.content.membership === membership
  const synced = await eventually(`${userId} ${membership} in /sync`, () => viewer.sync(), (r: Json) => (r.rooms?.join?.[roomId]?.timeline?.events ?? []).some(isIt))
  return synced.next_batch as string
}
/** A /sync of `viewer` since `since` that lists `userId` in device_lists.changed. */
const syncUntilChanged = (viewer: RoomClient, since: string, userId: string) =>
  eventually(`${userId} in device_lists.changed`, () => viewer.sync({ since, timeout: 1000 }), (r: Json) => (r.device_lists?.changed ?? []).includes(userId))
const keysChanges = async (viewer: RoomClient, from: string, to: string) => {
  const res = await viewer.get(`/keys/changes?from=${from}&to=${to}`)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body as { changed: string[]; left: string[] }
}

/** `inviter` invites `invitee` back to the room they left, and they join it again (through the inviter's server). */
async function inviteBack(inviter: RoomClient, invitee: RoomClient, roomId: string): Promise<void> {
  assert.equal((await inviter.post(`/rooms/${enc(roomId)}/invite`, { user_id: invitee.userId })).status, 200)
  const rejoined = await invitee.post(`/join/${enc(roomId)}`, {})
  assert.equal(rejoined.status, 200, JSON.stringify(rejoined.body))
}
/** `viewer`'s /sync and /keys/changes since `since` list `remote` as changed, and a key query gives `device`'s keys. */
async function assertToldOfKeys(viewer: RoomClient, since: string, remote: RoomClient, device: TestDevice): Promise<void> {
  const synced = await syncUntilChanged(viewer, since, remote.userId)
  assert.ok((await keysChanges(viewer, since, synced.next_batch)).changed.includes(remote.userId))
  assert.deepEqual(await keysSeenBy(viewer, remote.userId), { [remote.deviceId]: device.deviceKeys() }, 'the list is fetched whole again')
}

describe('device lists across leaves and rejoins', () => {
  it('lists a remote user who left, changed keys and rejoined as changed in /sync and /keys/changes, and fetches their new keys', async () => {
    const viewer = await RoomClient.register(b.api)
    const remote = await RoomClient.register(a.api)
    const first = new TestDevice(remote.userId, remote.deviceId)
    await upload(remote, first)
    const roomId = await viewer.createRoom({ preset: 'private_chat', invite: [remote.userId] })
    assert.equal((await remote.post(`/join/${enc(roomId)}`, {})).status, 200)
    assert.deepEqual(await keysSeenBy(viewer, remote.userId), { [remote.deviceId]: first.deviceKeys() })
    const since = await tokenPast(viewer, roomId, remote.userId, 'join')

    await remote.leave(roomId)
    await eventually('the leave on B', () => membershipOn(viewer, roomId, remote.userId), (m) => m === 'leave')
    const second = new TestDevice(remote.userId, remote.deviceId)
    await upload(remote, second)
    // Invited again to the invite-only room its server has left, the remote user rejoins through B.
    await inviteBack(viewer, remote, roomId)

    await assertToldOfKeys(viewer, since, remote, second)
  })

  it('stops following a remote user who leaves: listed as left, their later key changes unlisted while a room-mate\'s are', async () => {
    const viewer = await RoomClient.register(b.api)
    const leaver = await RoomClient.register(a.api)
    const stayer = await RoomClient.register(a.api)
    await upload(leaver, new TestDevice(leaver.userId, leaver.deviceId))
    await upload(stayer, new TestDevice(stayer.userId, stayer.deviceId))
    const roomId = await viewer.createRoom({ preset: 'public_chat' })
    for (const c of [leaver, stayer]) assert.equal((await c.post(`/join/${enc(roomId)}?via=${enc(b.name)}`, {})).status, 200)
    for (const c of [leaver, stayer]) await keysSeenBy(viewer, c.userId)
    assert.equal((await b.ctx.storage.repos.remoteDeviceLists.get(leaver.userId))?.stale, false, 'followed')
    const since = await tokenPast(viewer, roomId, stayer.userId, 'join')

    await leaver.leave(roomId)
    await eventually('the leave on B', () => membershipOn(viewer, roomId, leaver.userId), (m) => m === 'leave')
    assert.equal((await b.ctx.storage.repos.remoteDeviceLists.get(leaver.userId))?.stale, true, 'no longer followed: updates stop coming')
    await upload(leaver, new TestDevice(leaver.userId, leaver.deviceId))
    await upload(stayer, new TestDevice(stayer.userId, stayer.deviceId))
    const synced = await syncUntilChanged(viewer, since, stayer.userId)
    assert.equal(synced.device_lists.changed.includes(leaver.userId), false, JSON.stringify(synced.device_lists))
    assert.deepEqual(synced.device_lists.left, [leaver.userId])
    assert.deepEqual(await keysChanges(viewer, since, synced.next_batch), { changed: [stayer.userId], left: [leaver.userId] })
  })

  it("lists a remote user as changed to a local user who left and rejoined after the remote user's keys changed", async () => {
    const viewer = await RoomClient.register(b.api)
    const remote = await RoomClient.register(a.api)
    const first = new TestDevice(remote.userId, remote.deviceId)
    await upload(remote, first)
    // Anyone may invite: the remote user invites the viewer back.
    const roomId = await viewer.createRoom({ preset: 'private_chat', invite: [remote.userId], power_level_content_override: { invite: 0 } })
    assert.equal((await remote.post(`/join/${enc(roomId)}`, {})).status, 200)
    await keysSeenBy(viewer, remote.userId)
    const since = await tokenPast(viewer, roomId, remote.userId, 'join')

    // B's only member leaves: B stops following the remote user, who changes keys meanwhile.
    await viewer.leave(roomId)
    await eventually('the leave on A', () => membershipOn(remote, roomId, viewer.userId), (m) => m === 'leave')
    assert.equal((await b.ctx.storage.repos.remoteDeviceLists.get(remote.userId))?.stale, true)
    const fetches = userDevicesFetchesOf(remote.userId)
    const second = new TestDevice(remote.userId, remote.deviceId)
    await upload(remote, second)
    // B rejoins the room it left (its state there is stale) through the inviter's server.
    await inviteBack(remote, viewer, roomId)

    await assertToldOfKeys(viewer, since, remote, second)
    assert.ok(userDevicesFetchesOf(remote.userId) > fetches, 'the list is fetched whole again')
  })

  it("sends a local user's new device and renamed device to the servers sharing a room, as updates", async () => {
    const viewer = await RoomClient.register(b.api)
    const remote = await RoomClient.register(a.api)
    await upload(remote, new TestDevice(remote.userId, remote.deviceId))
    const roomId = await viewer.createRoom({ preset: 'public_chat' })
    assert.equal((await remote.post(`/join/${enc(roomId)}?via=${enc(b.name)}`, {})).status, 200)
    await keysSeenBy(viewer, remote.userId)
    const fetches = userDevicesFetchesOf(remote.userId)
    let since = await tokenPast(viewer, roomId, remote.userId, 'join')

    // A login of a new device (no keys yet) reaches B as an update: B's kept list has it.
    const phone = await loginAgain(a.api, remote)
    since = (await syncUntilChanged(viewer, since, remote.userId)).next_batch
    const devices = async () => (await b.ctx.remoteDeviceLists.list(remote.userId))?.devices.map((d) => d.device_id).sort()
    assert.deepEqual(await eventually('the new device on B', devices, (d) => d?.includes(phone.deviceId) === true), [phone.deviceId, remote.deviceId].sort())
    // So does a rename.
    assert.equal((await phone.put(`/devices/${enc(phone.deviceId)}`, { display_name: 'Phone' })).status, 200)
    await syncUntilChanged(viewer, since, remote.userId)
    assert.equal((await b.ctx.storage.repos.remoteDeviceLists.get(remote.userId))?.stale, false)
    assert.equal(userDevicesFetchesOf(remote.userId), fetches, 'applied as updates, without fetching the list whole')
  })
})

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

  it('tells clients of a list fetched whole only when it holds something new', async () => {
    let answer: unknown = null
    const lists = new RemoteDeviceLists({ storage: b.ctx.storage, clock: b.ctx.clock, logger: b.ctx.logger, serverName: b.name, fetch: async () => answer })
    const zoe = '@zoe:remote.example'
    const changes = async () => {
      const { rows } = await b.ctx.storage.db.query<{ n: string }>('SELECT count(*) AS n FROM device_list_changes WHERE user_id = $1', [zoe])
      return Number(rows[0]?.n)
    }
    const keys = { user_id: zoe, device_id: 'PHONE', algorithms: ['m.megolm.v1.aes-sha2'], keys: { 'ed25519:PHONE': 'key' }, signatures: {} }
    assert.equal(await lists.applyUpdate({ userId: zoe, deviceId: 'PHONE', displayName: null, streamId: 1, prevIds: [], deleted: false, keys }), 'stale')
    assert.equal(await changes(), 1)
    // The list fetched whole because it never was: the device the update brought, its keys with `unsigned` added.
    answer = { user_id: zoe, stream_id: 1, devices: [{ device_id: 'PHONE', keys: { ...keys, unsigned: {} } }] }
    assert.equal(await lists.resync(zoe), true)
    assert.equal(await changes(), 1, 'nothing new: no change')
    answer = { user_id: zoe, stream_id: 2, devices: [{ device_id: 'PHONE', keys }, { device_id: 'TABLET' }] }
    assert.equal(await lists.resync(zoe), true)
    assert.equal(await changes(), 2, 'a device more')
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
