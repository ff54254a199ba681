// Lazy-loaded members (client-server API, "Lazy-loading room members"): /sync, /messages and /context send
// the member events of the senders of what they return (and of the summary's heroes, which a named room
// has none of), not every member's.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, enc, sharedRoom, type ClientEventJson } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const user = () => RoomClient.register(t.api)
const memberKeys = (events: ClientEventJson[] | undefined) =>
  (events ?? [])
    .filter((e) => e.type === 'm.room.member')
    .map((e) => e.state_key as string)
    .sort()

/** A room of alice and five others; bob and carol speak last. */
async function busyRoom(body: Record<string, unknown>) {
  const alice = await user()
  const others: RoomClient[] = []
  for (let i = 0; i < 5; i++) others.push(await user())
  const roomId = await sharedRoom(alice, others, body)
  const [bob, carol] = others as [RoomClient, RoomClient]
  await bob.send(roomId, 'one')
  await carol.send(roomId, 'two')
  await bob.send(roomId, 'three')
  return { alice, bob, carol, others, roomId }
}

describe('GET /sync with lazy_load_members', () => {
  it('sends only the timeline senders\' and the syncing user\'s member events in a named room, with no heroes', async () => {
    const { alice, bob, carol, roomId } = await busyRoom({ name: 'Named' })
    const filter = JSON.stringify({ room: { rooms: [roomId], timeline: { limit: 3 }, state: { lazy_load_members: true } } })
    const room = (await alice.sync({ filter })).rooms.join[roomId]
    assert.deepEqual(memberKeys(room.state.events), [alice.userId, bob.userId, carol.userId].sort())
    assert.equal(room.summary['m.heroes'], undefined, 'a named room needs no heroes')
    assert.equal(room.summary['m.joined_member_count'], 6)
    const redundant = JSON.stringify({ room: { rooms: [roomId], timeline: { limit: 3 }, state: { lazy_load_members: true, include_redundant_members: true } } })
    assert.deepEqual(memberKeys((await alice.sync({ filter: redundant })).rooms.join[roomId].state.events), [alice.userId, bob.userId, carol.userId].sort())
  })

  it('sends a sender\'s member event as it was when the timeline began', async () => {
    const { alice, bob, roomId } = await busyRoom({ name: 'Named' })
    const joined = (await alice.getState(roomId, 'm.room.member', bob.userId)) as { displayname?: string }
    await bob.put(`/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId)}`, { membership: 'join', displayname: 'Bob renamed' })
    await bob.send(roomId, 'after the rename')
    const filter = JSON.stringify({ room: { timeline: { limit: 2 }, state: { lazy_load_members: true } } })
    const room = (await alice.sync({ filter })).rooms.join[roomId]
    const before = (room.state.events as ClientEventJson[]).find((e) => e.type === 'm.room.member' && e.state_key === bob.userId)
    assert.equal(before?.content.displayname, joined.displayname, 'the join, which the rename in the timeline replaced')
    assert.deepEqual(memberKeys(room.state.events), [alice.userId, bob.userId].sort())
  })

  it('treats a room with a canonical alias as named, and an empty name as no name', async () => {
    const { alice, bob, carol, others, roomId } = await busyRoom({ room_alias_name: `lazy${Date.now()}` })
    const filter = JSON.stringify({ room: { timeline: { limit: 3 }, state: { lazy_load_members: true } } })
    const aliased = (await alice.sync({ filter })).rooms.join[roomId]
    assert.deepEqual(memberKeys(aliased.state.events), [alice.userId, bob.userId, carol.userId].sort())
    assert.equal(aliased.summary['m.heroes'], undefined)
    const unnamed = await busyRoom({ name: '' })
    const room = (await unnamed.alice.sync({ filter })).rooms.join[unnamed.roomId]
    const heroes = room.summary['m.heroes'] as string[]
    assert.deepEqual([...heroes].sort(), unnamed.others.map((c) => c.userId).sort(), 'an empty name is no name: heroes are sent')
    // With heroes, their member events come too (a client names the room after them).
    assert.deepEqual(memberKeys(room.state.events), [unnamed.alice.userId, ...heroes].sort())
    assert.ok(others.length === 5)
  })

  it('sends the new senders\' member events in an incremental sync, and no other member\'s', async () => {
    const { alice, bob, others, roomId } = await busyRoom({ name: 'Named' })
    const filter = JSON.stringify({ room: { timeline: { limit: 3 }, state: { lazy_load_members: true } } })
    const since = (await alice.sync({ filter })).next_batch
    const [dave, erin] = [others[2], others[3]] as [RoomClient, RoomClient]
    await dave.send(roomId, 'dave, silent until now')
    const quiet = (await alice.sync({ filter, since })).rooms.join[roomId]
    assert.deepEqual(memberKeys(quiet.state.events), [dave.userId], 'the new sender')
    // A limited timeline: erin's rename falls in the gap, then only bob speaks.
    await erin.put(`/rooms/${enc(roomId)}/state/m.room.member/${enc(erin.userId)}`, { membership: 'join', displayname: 'Erin' })
    for (let i = 0; i < 4; i++) await bob.send(roomId, `bob ${i}`)
    const limited = (await alice.sync({ filter, since })).rooms.join[roomId]
    assert.equal(limited.timeline.limited, true)
    assert.deepEqual(memberKeys(limited.state.events), [bob.userId], 'a member change of someone who sent nothing shown is left out')
  })
})

describe('GET /messages and /context with lazy_load_members', () => {
  it('send only the senders\' member events in a named room', async () => {
    const { alice, bob, carol, roomId } = await busyRoom({ name: 'Named' })
    const filter = JSON.stringify({ lazy_load_members: true })
    const page = await alice.messages(roomId, { dir: 'b', limit: 3, filter })
    assert.deepEqual(memberKeys(page.state), [bob.userId, carol.userId].sort())
    const last = page.chunk[0] as ClientEventJson
    const ctx = (await alice.get(`/rooms/${enc(roomId)}/context/${enc(last.event_id)}?limit=2&filter=${enc(filter)}`)).body
    assert.deepEqual(memberKeys(ctx.state), [bob.userId, carol.userId].sort())
  })
})
