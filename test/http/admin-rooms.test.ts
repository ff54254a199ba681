// The admin API's room deletion over real HTTP (DELETE /_synapse/admin/v1/rooms/{roomId}, POST
// /_synapse/admin/v1/shutdown_room/{roomId}), with Synapse's request and answer: members moved out to a notice
// room, aliases repointed, the room blocked and purged.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { adminToken, startTestServer, type TestServer } from '../support/server.ts'
import { CS, RoomClient, assertError, enc } from '../support/rooms.ts'
import { DEFAULT_NOTICE_ROOM_NAME } from '../../src/rooms/shutdown.ts'

const t: TestServer = await startTestServer()
const ROOMS = '/_synapse/admin/v1/rooms'
let counter = 0


/** A public room of `owner` with an alias, joined by the others. */
async function roomOf(owner: RoomClient, members: RoomClient[]): Promise<{ roomId: string; alias: string }> {
  const name = `shut${process.pid}x${++counter}`
  const roomId = await owner.createRoom({ preset: 'public_chat', room_alias_name: name, visibility: 'public' })
  for (const m of members) await m.join(roomId)
  return { roomId, alias: `#${name}:${t.config.server_name}` }
}

describe('DELETE /_synapse/admin/v1/rooms/{roomId}', () => {
  it('is for admins only', async () => {
    const alice = await RoomClient.register(t.api)
    const { roomId } = await roomOf(alice, [])
    assertError(await t.api.delete(`${ROOMS}/${enc(roomId)}`, {}, alice.token), 403, 'M_FORBIDDEN')
  })

  it('moves the members to a notice room where they cannot speak, repoints the aliases and blocks the room', async () => {
    const token = await adminToken(t)
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    const notifier = await RoomClient.register(t.api)
    const { roomId, alias } = await roomOf(alice, [bob])
    const res = await t.api.delete(`${ROOMS}/${enc(roomId)}`, { new_room_user_id: notifier.userId, block: true, purge: false }, token)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual([...res.body.kicked_users].sort(), [alice.userId, bob.userId].sort())
    assert.deepEqual(res.body.failed_to_kick_users, [])
    assert.deepEqual(res.body.local_aliases, [alias])
    const newRoom = res.body.new_room_id as string
    assert.match(newRoom, /^!/)

    assertError(await alice.sendRaw(roomId, { msgtype: 'm.text', body: 'still here?' }), 403, 'M_FORBIDDEN', 'the members left')
    const rejoin = await alice.post(`/join/${enc(roomId)}`)
    assertError(rejoin, 403, 'M_FORBIDDEN', 'a blocked room cannot be joined')
    assert.match(rejoin.body.error, /blocked/)
    assert.equal((await alice.get(`/directory/room/${enc(alias)}`)).body.room_id, newRoom)
    assert.deepEqual(await alice.getState(newRoom, 'm.room.name'), { name: DEFAULT_NOTICE_ROOM_NAME })
    const notice = await alice.messages(newRoom, { dir: 'b', limit: 5 })
    assert.ok(notice.chunk.some((e: { type: string }) => e.type === 'm.room.message'), 'the notice is there')
    assertError(await alice.sendRaw(newRoom, { msgtype: 'm.text', body: 'why?' }), 403, 'M_FORBIDDEN', 'the notice room is read-only')
    const publicRooms = await t.api.get(`${CS}/publicRooms`)
    assert.ok(!publicRooms.body.chunk.some((r: { room_id: string }) => r.room_id === roomId), 'out of the directory')
    const left = (await alice.sync()).rooms?.leave?.[roomId]
    assert.equal(left, undefined, 'and forgotten')
  })

  it('purges the room by default: this server no longer knows it', async () => {
    const token = await adminToken(t)
    const alice = await RoomClient.register(t.api)
    const { roomId, alias } = await roomOf(alice, [])
    await alice.send(roomId, { msgtype: 'm.text', body: 'evidence' })
    const res = await t.api.delete(`${ROOMS}/${enc(roomId)}`, {}, token)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.new_room_id, null)
    assert.deepEqual(res.body.local_aliases, [alias])
    assertError(await alice.get(`/directory/room/${enc(alias)}`), 404, 'M_NOT_FOUND')
    assertError(await alice.post(`/join/${enc(roomId)}`), 404, 'M_NOT_FOUND', 'the room is gone')
    assertError(await t.api.delete(`${ROOMS}/${enc(roomId)}`, {}, token), 404, 'M_NOT_FOUND', 'unknown once purged')
  })

  it('blocks a room this server does not know, and refuses bad requests', async () => {
    const token = await adminToken(t)
    const alice = await RoomClient.register(t.api)
    const unknown = `!nowhere${process.pid}:elsewhere.example`
    const res = await t.api.delete(`${ROOMS}/${enc(unknown)}`, { block: true }, token)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body, { kicked_users: [], failed_to_kick_users: [], local_aliases: [], new_room_id: null })
    assertError(await alice.post(`/join/${enc(unknown)}`), 403, 'M_FORBIDDEN')
    const { roomId } = await roomOf(alice, [])
    assertError(await t.api.delete(`${ROOMS}/${enc(roomId)}`, { new_room_user_id: '@someone:elsewhere.example' }, token), 400, 'M_INVALID_PARAM')
    assertError(await t.api.delete(`${ROOMS}/${enc(roomId)}`, { block: 'yes' }, token), 400, 'M_BAD_JSON')
    assertError(await t.api.delete(`${ROOMS}/not-a-room`, {}, token), 400, 'M_INVALID_PARAM')
  })
})

describe('POST /_synapse/admin/v1/shutdown_room/{roomId}', () => {
  it('blocks without purging', async () => {
    const token = await adminToken(t)
    const alice = await RoomClient.register(t.api)
    const { roomId } = await roomOf(alice, [])
    const res = await t.api.post(`/_synapse/admin/v1/shutdown_room/${enc(roomId)}`, {}, token)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body.kicked_users, [alice.userId])
    assertError(await alice.post(`/join/${enc(roomId)}`), 403, 'M_FORBIDDEN')
  })
})
