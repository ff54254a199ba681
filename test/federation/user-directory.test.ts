// The user directory over federation, two Homesteads over HTTPS (test CA): another server's users are found
// by the profile of their join, in public rooms this server is in and in rooms the searcher shares with them;
// once this server has left the room, its members are no longer found through it.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { eventually, federatedServers, type FederatedServer } from '../support/federation-rig.ts'
import { RoomClient, enc } from '../support/rooms.ts'

const { servers } = await federatedServers(2)
const [a, b] = servers as [FederatedServer, FederatedServer]

const randomName = () => `N${randomBytes(8).toString('hex')}`

async function found(client: RoomClient, term: string): Promise<Array<{ user_id: string; display_name?: string }>> {
  const res = await client.post('/user_directory/search', { search_term: term })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body.results
}

/** A user of A's with a display name of their own. */
async function named(name: string): Promise<RoomClient> {
  const client = await RoomClient.register(a.api)
  assert.equal((await client.put(`/profile/${enc(client.userId)}/displayname`, { displayname: name })).status, 200)
  return client
}

const join = async (client: RoomClient, roomId: string) => assert.equal((await client.post(`/join/${enc(roomId)}?server_name=${enc(a.name)}`)).status, 200)

describe('POST /user_directory/search with other servers', () => {
  it("finds another server's member of a public room this server is in, until this server leaves it", async () => {
    const name = randomName()
    const alice = await named(name)
    const bob = await RoomClient.register(b.api)
    const carol = await RoomClient.register(b.api)
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await join(bob, roomId)

    assert.deepEqual(await found(carol, name), [{ user_id: alice.userId, display_name: name }], 'a public room B is in: anyone on B finds her')
    await join(carol, roomId)
    await bob.leave(roomId)
    assert.equal((await found(bob, name)).length, 1, 'B is still in the room through carol')
    await carol.leave(roomId)
    assert.deepEqual(await found(bob, name), [], 'B has left the room')
  })

  it("finds another server's member of a private room only for those who share it", async () => {
    const name = randomName()
    const alice = await named(name)
    const bob = await RoomClient.register(b.api)
    const carol = await RoomClient.register(b.api)
    const roomId = await alice.createRoom({ preset: 'private_chat', invite: [bob.userId] })
    await eventually('the invite on B', () => bob.sync(), (s) => s.rooms?.invite?.[roomId] !== undefined)
    await join(bob, roomId)

    assert.deepEqual((await found(bob, name)).map((r) => r.user_id), [alice.userId])
    assert.deepEqual(await found(carol, name), [])
  })

  it("follows another server's member's display name changes", async () => {
    const alice = await named(randomName())
    const bob = await RoomClient.register(b.api)
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await join(bob, roomId)
    const renamed = randomName()
    assert.equal((await alice.put(`/profile/${enc(alice.userId)}/displayname`, { displayname: renamed })).status, 200)
    await eventually('the new name on B', () => found(bob, renamed), (r) => r.some((u) => u.user_id === alice.userId && u.display_name === renamed))
  })
})
