// Device list tracking over real HTTP: /sync device_lists.changed/left and GET /keys/changes, for key
// uploads, new and deleted devices, joins and leaves, and the long-poll they wake.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { signJson } from '../../src/protocol/signing.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, assertError } from '../support/rooms.ts'
import { TestDevice, crossSigningKeys, loginAgain, userWithKeys } from '../support/e2ee.ts'

const t: TestServer = await startTestServer()
const PASSWORD = 'correct horse battery staple'

async function encryptedRoom(owner: RoomClient, members: RoomClient[]): Promise<string> {
  const roomId = await owner.createRoom({
    preset: 'public_chat',
    initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
  })
  for (const m of members) await m.join(roomId)
  return roomId
}

async function newDeviceWithKeys(client: RoomClient): Promise<RoomClient> {
  const second = await loginAgain(t.api, client)
  const res = await second.post('/keys/upload', { device_keys: new TestDevice(second.userId, second.deviceId).deviceKeys() })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return second
}

describe('/sync device_lists', () => {
  it('tells room-mates when a user adds a device with keys, and says nothing to strangers', async () => {
    const alice = await userWithKeys(t.api)
    const bob = await userWithKeys(t.api)
    const stranger = await userWithKeys(t.api)
    await encryptedRoom(alice.client, [bob.client])
    const bobSince = (await bob.client.sync()).next_batch
    const strangerSince = (await stranger.client.sync()).next_batch
    await newDeviceWithKeys(alice.client)

    const bobSync = await bob.client.sync({ since: bobSince, timeout: 0 })
    assert.deepEqual(bobSync.device_lists, { changed: [alice.client.userId] })
    const strangerSync = await stranger.client.sync({ since: strangerSince, timeout: 0 })
    assert.equal(strangerSync.device_lists, undefined, 'empty lists are left out')
    const changes = await bob.client.get(`/keys/changes?from=${bobSince}&to=${bobSync.next_batch}`)
    assert.equal(changes.status, 200)
    assert.deepEqual(changes.body, { changed: [alice.client.userId], left: [] })
  })

  it("tells a user's own other devices about a new device", async () => {
    const alice = await userWithKeys(t.api)
    const since = (await alice.client.sync()).next_batch
    await newDeviceWithKeys(alice.client)
    assert.deepEqual((await alice.client.sync({ since, timeout: 0 })).device_lists.changed, [alice.client.userId])
  })

  it('tells room-mates and the user when a user logs in a new device, before it has keys; logging in an existing device again is no change', async () => {
    const alice = await userWithKeys(t.api)
    const bob = await userWithKeys(t.api)
    await encryptedRoom(alice.client, [bob.client])
    let since = (await bob.client.sync()).next_batch
    const aliceSince = (await alice.client.sync()).next_batch
    const phone = await loginAgain(t.api, alice.client)
    let sync = await bob.client.sync({ since, timeout: 0 })
    assert.deepEqual(sync.device_lists, { changed: [alice.client.userId] })
    assert.deepEqual((await alice.client.sync({ since: aliceSince, timeout: 0 })).device_lists, { changed: [alice.client.userId] })
    const changes = await bob.client.get(`/keys/changes?from=${since}&to=${sync.next_batch}`)
    assert.deepEqual(changes.body, { changed: [alice.client.userId], left: [] })

    since = sync.next_batch
    const again = await t.api.post('/_matrix/client/v3/login', {
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user: alice.client.userId },
      password: PASSWORD,
      device_id: phone.deviceId,
    })
    assert.equal(again.status, 200, JSON.stringify(again.body))
    sync = await bob.client.sync({ since, timeout: 0 })
    assert.equal(sync.device_lists, undefined, 'the device was there already')
  })

  it('tells room-mates when a device is renamed', async () => {
    const alice = await userWithKeys(t.api)
    const bob = await userWithKeys(t.api)
    await encryptedRoom(alice.client, [bob.client])
    const since = (await bob.client.sync()).next_batch
    assert.equal((await alice.client.put(`/devices/${alice.client.deviceId}`, { display_name: 'Kitchen tablet' })).status, 200)
    const renamed = await bob.client.sync({ since, timeout: 0 })
    assert.deepEqual(renamed.device_lists, { changed: [alice.client.userId] })
    assertError(await alice.client.put('/devices/NOSUCHDEVICE', { display_name: 'x' }), 404, 'M_NOT_FOUND')
    assert.equal((await bob.client.sync({ since: renamed.next_batch, timeout: 0 })).device_lists, undefined, 'an unknown device is no change')
  })

  it('wakes a waiting long-poll when a room-mate uploads keys', async () => {
    const alice = await userWithKeys(t.api)
    const bob = await userWithKeys(t.api)
    await encryptedRoom(alice.client, [bob.client])
    const since = (await bob.client.sync()).next_batch
    const waiting = bob.client.sync({ since, timeout: 30_000 })
    await new Promise((r) => setTimeout(r, 200))
    await newDeviceWithKeys(alice.client)
    const woke = await waiting
    assert.deepEqual(woke.device_lists.changed, [alice.client.userId])
  })

  it('lists a user who joins a shared room as changed, and as left once no room is shared', async () => {
    const alice = await userWithKeys(t.api)
    const carol = await userWithKeys(t.api)
    const roomId = await encryptedRoom(alice.client, [])
    let since = (await alice.client.sync()).next_batch
    await carol.client.join(roomId)
    let sync = await alice.client.sync({ since, timeout: 0 })
    assert.deepEqual(sync.device_lists, { changed: [carol.client.userId] })
    since = sync.next_batch
    await carol.client.leave(roomId)
    sync = await alice.client.sync({ since, timeout: 0 })
    assert.deepEqual(sync.device_lists, { left: [carol.client.userId] })
  })

  it('lists a user invited to a shared room as changed, with their key changes, and as left when they reject it', async () => {
    const alice = await userWithKeys(t.api)
    const dan = await userWithKeys(t.api)
    const roomId = await encryptedRoom(alice.client, [])
    let since = (await alice.client.sync()).next_batch
    await alice.client.invite(roomId, dan.client.userId)
    let sync = await alice.client.sync({ since, timeout: 0 })
    assert.deepEqual(sync.device_lists, { changed: [dan.client.userId] }, 'clients encrypt for invited members too')
    since = sync.next_batch
    await newDeviceWithKeys(dan.client)
    sync = await alice.client.sync({ since, timeout: 0 })
    assert.deepEqual(sync.device_lists, { changed: [dan.client.userId] })
    since = sync.next_batch
    await dan.client.leave(roomId)
    sync = await alice.client.sync({ since, timeout: 0 })
    assert.deepEqual(sync.device_lists, { left: [dan.client.userId] })
  })

  it('lists the members of a room the user joins as changed, and as left when the user leaves it', async () => {
    const alice = await userWithKeys(t.api)
    const bob = await userWithKeys(t.api)
    const carol = await userWithKeys(t.api)
    const roomId = await encryptedRoom(alice.client, [bob.client])
    let since = (await carol.client.sync()).next_batch
    await carol.client.join(roomId)
    let sync = await carol.client.sync({ since, timeout: 0 })
    assert.deepEqual(sync.device_lists.changed, [alice.client.userId, bob.client.userId].sort())
    since = sync.next_batch
    await carol.client.leave(roomId)
    sync = await carol.client.sync({ since, timeout: 0 })
    assert.deepEqual(sync.device_lists, { left: [alice.client.userId, bob.client.userId].sort() })
  })

  it('does not list as left a user still sharing another room', async () => {
    const alice = await userWithKeys(t.api)
    const bob = await userWithKeys(t.api)
    const first = await encryptedRoom(alice.client, [bob.client])
    await encryptedRoom(alice.client, [bob.client])
    const since = (await alice.client.sync()).next_batch
    await bob.client.leave(first)
    const sync = await alice.client.sync({ since, timeout: 0 })
    assert.equal(sync.device_lists?.left, undefined)
  })

  it('tells room-mates when a device is deleted', async () => {
    const alice = await userWithKeys(t.api)
    const bob = await userWithKeys(t.api)
    await encryptedRoom(alice.client, [bob.client])
    const second = await newDeviceWithKeys(alice.client)
    const since = (await bob.client.sync()).next_batch
    const res = await second.post('/logout', {})
    assert.equal(res.status, 200)
    const sync = await bob.client.sync({ since, timeout: 0 })
    assert.deepEqual(sync.device_lists.changed, [alice.client.userId])
    const query = await bob.client.post('/keys/query', { device_keys: { [alice.client.userId]: [] } })
    assert.deepEqual(Object.keys(query.body.device_keys[alice.client.userId]), [alice.client.deviceId])
  })
})

describe('/sync device_lists and cross-signing keys', () => {
  const changedIn = async (client: RoomClient, since: string) => (await client.sync({ since, timeout: 0 })).device_lists?.changed ?? []

  it("tells room-mates of a new master key, but only the owner of a new user-signing key", async () => {
    const alice = await userWithKeys(t.api)
    const bob = await userWithKeys(t.api)
    await encryptedRoom(alice.client, [bob.client])
    const keys = crossSigningKeys(alice.client.userId)
    let bobSince = (await bob.client.sync()).next_batch
    const { user_signing_key: _, ...masterAndSelf } = keys.body
    assert.equal((await alice.client.post('/keys/device_signing/upload', masterAndSelf)).status, 200)
    assert.deepEqual(await changedIn(bob.client, bobSince), [alice.client.userId])

    bobSince = (await bob.client.sync()).next_batch
    const aliceSince = (await alice.client.sync()).next_batch
    const auth = { type: 'm.login.password', identifier: { type: 'm.id.user', user: alice.client.userId }, password: PASSWORD }
    const res = await alice.client.post('/keys/device_signing/upload', { user_signing_key: keys.body.user_signing_key, auth })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(await changedIn(alice.client, aliceSince), [alice.client.userId])
    assert.deepEqual(await changedIn(bob.client, bobSince), [])
  })

  it("tells only the signer of a signature over another user's master key, shared room or not", async () => {
    const alice = await userWithKeys(t.api)
    const bob = await userWithKeys(t.api)
    const carol = await userWithKeys(t.api)
    await encryptedRoom(bob.client, [carol.client])
    const aliceKeys = crossSigningKeys(alice.client.userId)
    const bobKeys = crossSigningKeys(bob.client.userId)
    await alice.client.post('/keys/device_signing/upload', aliceKeys.body)
    await bob.client.post('/keys/device_signing/upload', bobKeys.body)
    const aliceSince = (await alice.client.sync()).next_batch
    const carolSince = (await carol.client.sync()).next_batch
    const bobSince = (await bob.client.sync()).next_batch
    const signed = signJson(bobKeys.body.master_key, alice.client.userId, aliceKeys.userSigning)
    const res = await alice.client.post('/keys/signatures/upload', { [bob.client.userId]: { [bobKeys.master.publicKeyBase64]: signed } })
    assert.deepEqual(res.body, { failures: {} })
    assert.deepEqual(await changedIn(alice.client, aliceSince), [bob.client.userId])
    assert.deepEqual(await changedIn(carol.client, carolSince), [])
    assert.deepEqual(await changedIn(bob.client, bobSince), [])
  })
})

describe('GET /keys/changes', () => {
  it('refuses tokens that are not sync tokens and needs both', async () => {
    const alice = await userWithKeys(t.api)
    assertError(await alice.client.get('/keys/changes?from=nonsense&to=s1'), 400, 'M_INVALID_PARAM')
    assertError(await alice.client.get('/keys/changes?from=s1'), 400, 'M_MISSING_PARAM')
  })

  it('answers nothing for an empty range', async () => {
    const alice = await userWithKeys(t.api)
    const since = (await alice.client.sync()).next_batch
    assert.deepEqual((await alice.client.get(`/keys/changes?from=${since}&to=${since}`)).body, { changed: [], left: [] })
  })
})

describe('account deactivation and keys', () => {
  it("removes the account's devices, keys, cross-signing keys and key backups", async () => {
    const alice = await userWithKeys(t.api, 2)
    const bob = await userWithKeys(t.api)
    const master = crossSigningKeys(alice.client.userId)
    assert.equal((await alice.client.post('/keys/device_signing/upload', master.body)).status, 200)
    const backup = await alice.client.post('/room_keys/version', { algorithm: 'm.megolm_backup.v1.curve25519-aes-sha2', auth_data: { public_key: 'abc' } })
    assert.equal(backup.status, 200, JSON.stringify(backup.body))
    const res = await alice.client.post('/account/deactivate', {
      auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: alice.client.userId }, password: PASSWORD },
    })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const query = await bob.client.post('/keys/query', { device_keys: { [alice.client.userId]: [] } })
    assert.deepEqual(query.body.device_keys[alice.client.userId], {})
    assert.equal(query.body.master_keys[alice.client.userId], undefined)
    assert.equal(query.body.self_signing_keys[alice.client.userId], undefined)
    const count = async (table: string) =>
      (await t.server.ctx.storage.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE user_id = $1`, [alice.client.userId])).rows[0]?.n
    for (const table of ['e2e_device_keys', 'e2e_one_time_keys', 'e2e_cross_signing_keys', 'key_backup_versions']) assert.equal(await count(table), 0, table)
  })
})
