// Clients joining rooms of other servers (POST /join/{roomIdOrAlias}): three Homesteads over HTTPS with a test
// CA. A hosts the rooms; B's user joins by room ID through `via`, C's by an alias of A's; each server then holds
// the room (its state from A's send_join answer, verified) and its users see it in /sync, and A's users see
// the joins. Refusals of the resident server reach the client with their errcode.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { federatedServers } from '../support/federation-rig.ts'
import { RoomClient, assertError, enc } from '../support/rooms.ts'

const { servers } = await federatedServers(3)
const [a, b, c] = servers as [(typeof servers)[0], (typeof servers)[0], (typeof servers)[0]]

let alice = await RoomClient.register(a.api)
const bob = await RoomClient.register(b.api)
const carol = await RoomClient.register(c.api)

const joinVia = (client: RoomClient, roomIdOrAlias: string, via: string[]) =>
  client.post(`/join/${enc(roomIdOrAlias)}?${via.map((s) => `via=${enc(s)}`).join('&')}`, {})

/** The joined members of a room as `client`'s server has them. */
async function joinedMembers(client: RoomClient, roomId: string): Promise<string[]> {
  const res = await client.get(`/rooms/${enc(roomId)}/joined_members`)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return Object.keys(res.body.joined).sort()
}

describe('joining a room of another server', () => {
  for (const version of ['10', '11', '12']) {
    it(`joins a v${version} room by ID through via; both servers see the join`, async () => {
      const roomId = await alice.createRoom({ preset: 'public_chat', room_version: version, name: `Family v${version}` })
      const res = await joinVia(bob, roomId, [a.name])
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.room_id, roomId)

      // B holds the room's state as A sent it.
      assert.equal((await bob.getState(roomId, 'm.room.name')).name, `Family v${version}`)
      assert.equal((await bob.getState(roomId, 'm.room.create')).room_version, version)
      assert.deepEqual(await joinedMembers(bob, roomId), [alice.userId, bob.userId].sort())
      const synced = await bob.sync()
      assert.ok(synced.rooms.join[roomId], 'the room is in B\'s /sync')
      // A appended B's join.
      assert.deepEqual(await joinedMembers(alice, roomId), [alice.userId, bob.userId].sort())
      assert.equal((await alice.getState(roomId, 'm.room.member', bob.userId)).membership, 'join')
    })
  }

  it("joins by an alias of A's, trying the servers A's directory names", async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat', room_alias_name: `cousins${process.pid}` })
    const res = await carol.post(`/join/${enc(`#cousins${process.pid}:${a.name}`)}`, {})
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.room_id, roomId)
    assert.deepEqual(await joinedMembers(alice, roomId), [alice.userId, carol.userId].sort())
  })

  it('joins through a server already in the room when the first one named is down', async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    assert.equal((await joinVia(bob, roomId, [a.name])).status, 200)
    await a.stop()
    try {
      // A is down: C gets in through B, which is in the room.
      const res = await joinVia(carol, roomId, [a.name, b.name])
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.deepEqual(await joinedMembers(bob, roomId), [alice.userId, bob.userId, carol.userId].sort())
    } finally {
      await a.restart()
      alice = alice.on(a.api)
    }
  })

  it("passes the resident server's refusal on: an invite-only room answers 403 M_FORBIDDEN", async () => {
    const roomId = await alice.createRoom({ preset: 'private_chat' })
    assertError(await joinVia(bob, roomId, [a.name]), 403, 'M_FORBIDDEN')
    assert.deepEqual(await joinedMembers(alice, roomId), [alice.userId])
  })

  it('answers 404 M_NOT_FOUND for a room no named server knows, and 400 for a via that is not a server name', async () => {
    assertError(await joinVia(bob, `!unknown:${a.name}`, [a.name]), 404, 'M_NOT_FOUND')
    assertError(await joinVia(bob, `!unknown:${a.name}`, ['not a server']), 400, 'M_INVALID_PARAM')
  })
})
