// A room upgraded on one Homestead, seen from another over HTTPS (test CA): the other server moves its own
// aliases of the old room and its directory listing to the replacement, and copies its users' tags, m.direct
// entries and push rules for the old room, once it is in the new room and the old room's tombstone names it,
// whichever of the two it learns last. A room that only names another as predecessor takes nothing.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { eventually, federatedServers, type FederatedServer } from '../support/federation-rig.ts'
import { RoomClient, enc } from '../support/rooms.ts'

const { servers } = await federatedServers(2)
const [a, b] = servers as [FederatedServer, FederatedServer]

let n = 0
const unique = (prefix: string) => `${prefix}${process.pid}x${++n}`

/** What `client`'s server resolves the alias to (null: not found). */
async function roomOfAlias(client: RoomClient, alias: string): Promise<string | null> {
  const res = await client.get(`/directory/room/${enc(alias)}`)
  return res.status === 200 ? res.body.room_id : null
}

/** The room IDs `client`'s server lists in its published room directory. */
async function listed(client: RoomClient): Promise<string[]> {
  const res = await client.get('/publicRooms')
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body.chunk.map((r: { room_id: string }) => r.room_id)
}

/** A public room of A's that bob (of B) has joined, with an alias of B's pointing at it. */
async function sharedRoom(alice: RoomClient, bob: RoomClient, extra: Record<string, unknown> = {}): Promise<{ roomId: string; alias: string }> {
  const roomId = await alice.createRoom({ preset: 'public_chat', room_version: '10', ...extra })
  assert.equal((await bob.post(`/join/${enc(roomId)}?server_name=${enc(a.name)}`)).status, 200)
  const alias = `#${unique('bobs')}:${b.name}`
  assert.equal((await bob.put(`/directory/room/${enc(alias)}`, { room_id: roomId })).status, 200)
  return { roomId, alias }
}

describe('a room upgraded on another server', () => {
  it("moves the joining server's aliases and listing, and copies its users' tags, m.direct and push rules", async () => {
    const alice = await RoomClient.register(a.api)
    const bob = await RoomClient.register(b.api)
    const { roomId: oldRoom, alias } = await sharedRoom(alice, bob, { visibility: 'public' })
    // Bob may list the room in B's directory once B knows he has the power to.
    const levels = await alice.getState(oldRoom, 'm.room.power_levels')
    await alice.putState(oldRoom, 'm.room.power_levels', '', { ...levels, users: { ...levels.users, [bob.userId]: 100 } })
    await eventually('B sees bob raised', () => bob.getState(oldRoom, 'm.room.power_levels'), (l) => l.users?.[bob.userId] === 100)
    assert.equal((await bob.put(`/directory/list/room/${enc(oldRoom)}`, { visibility: 'public' })).status, 200)
    assert.equal((await bob.put(`/user/${enc(bob.userId)}/rooms/${enc(oldRoom)}/tags/work`, { order: 0.25 })).status, 200)
    assert.equal((await bob.put(`/user/${enc(bob.userId)}/account_data/m.direct`, { [alice.userId]: [oldRoom] })).status, 200)
    assert.equal((await bob.put(`/pushrules/global/room/${enc(oldRoom)}`, { actions: ['dont_notify'] })).status, 200)

    const res = await alice.post(`/rooms/${enc(oldRoom)}/upgrade`, { new_version: '11' })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const newRoom: string = res.body.replacement_room
    assert.equal((await bob.post(`/join/${enc(newRoom)}?server_name=${enc(a.name)}`)).status, 200)

    await eventually("B's alias", () => roomOfAlias(bob, alias), (r) => r === newRoom)
    const onB = await listed(bob)
    assert.ok(onB.includes(newRoom) && !onB.includes(oldRoom), JSON.stringify(onB))
    const onA = await listed(alice)
    assert.ok(onA.includes(newRoom) && !onA.includes(oldRoom), JSON.stringify(onA))
    assert.deepEqual((await bob.get(`/user/${enc(bob.userId)}/rooms/${enc(newRoom)}/tags`)).body, { tags: { work: { order: 0.25 } } })
    assert.deepEqual((await bob.get(`/user/${enc(bob.userId)}/account_data/m.direct`)).body, { [alice.userId]: [oldRoom, newRoom] })
    const rules = (await bob.get('/pushrules/global/')).body.room
    assert.deepEqual(rules.map((r: { rule_id: string }) => r.rule_id).sort(), [newRoom, oldRoom].sort())
  })

  it('waits for the tombstone when the server joined the replacement before it arrived', async () => {
    const alice = await RoomClient.register(a.api)
    const bob = await RoomClient.register(b.api)
    const { roomId: oldRoom, alias } = await sharedRoom(alice, bob)
    assert.equal((await bob.put(`/user/${enc(bob.userId)}/rooms/${enc(oldRoom)}/tags/later`, {})).status, 200)
    const newRoom = await alice.createRoom({ preset: 'public_chat', room_version: '11', creation_content: { predecessor: { room_id: oldRoom } } })
    assert.equal((await bob.post(`/join/${enc(newRoom)}?server_name=${enc(a.name)}`)).status, 200)
    assert.equal(await roomOfAlias(bob, alias), oldRoom, 'no tombstone yet: nothing moves')

    await alice.putState(oldRoom, 'm.room.tombstone', '', { body: 'moved', replacement_room: newRoom })
    await eventually("B's alias", () => roomOfAlias(bob, alias), (r) => r === newRoom)
    assert.deepEqual((await bob.get(`/user/${enc(bob.userId)}/rooms/${enc(newRoom)}/tags`)).body, { tags: { later: {} } })
  })

  it("moves nothing for a tombstone naming a room that does not name the old one as predecessor", async () => {
    const alice = await RoomClient.register(a.api)
    const bob = await RoomClient.register(b.api)
    const { roomId: oldRoom, alias } = await sharedRoom(alice, bob)
    const unrelated = await alice.createRoom({ preset: 'public_chat' })
    assert.equal((await bob.post(`/join/${enc(unrelated)}?server_name=${enc(a.name)}`)).status, 200)
    const tombstone = await alice.putState(oldRoom, 'm.room.tombstone', '', { body: 'moved', replacement_room: unrelated })
    // The tombstone's own transaction on B decides: once B has it, the alias is where it stays.
    await eventually('the tombstone on B', () => bob.event(oldRoom, tombstone), (e) => e.event_id === tombstone)
    assert.equal(await roomOfAlias(bob, alias), oldRoom)
  })
})
