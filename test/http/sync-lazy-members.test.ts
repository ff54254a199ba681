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
    assert.deepEqual(memberKeys(limited.state.events), [erin.userId], "the gap's member change; bob's member event, which the first sync sent, is not sent again")
  })

  it('leaves out member events this device already received, unless include_redundant_members', async () => {
    const { alice, bob, carol, roomId } = await busyRoom({ name: 'Named' })
    const filter = JSON.stringify({ room: { timeline: { limit: 3 }, state: { lazy_load_members: true } } })
    const redundant = JSON.stringify({ room: { timeline: { limit: 3 }, state: { lazy_load_members: true, include_redundant_members: true } } })
    const first = await alice.sync({ filter })
    assert.deepEqual(memberKeys(first.rooms.join[roomId].state.events), [alice.userId, bob.userId, carol.userId].sort())
    await bob.send(roomId, 'again')
    await carol.send(roomId, 'again')
    const next = await alice.sync({ filter, since: first.next_batch })
    assert.deepEqual(next.rooms.join[roomId].state.events, [], 'bob and carol were sent before')
    assert.deepEqual(memberKeys((await alice.sync({ filter: redundant, since: first.next_batch })).rooms.join[roomId].state.events), [bob.userId, carol.userId].sort())
  })

  it('sends a member event again when the client syncs again from the token before the response that carried it', async () => {
    const { alice, others, roomId } = await busyRoom({ name: 'Named' })
    const dave = others[2] as RoomClient
    const filter = JSON.stringify({ room: { timeline: { limit: 3 }, state: { lazy_load_members: true } } })
    const since = (await alice.sync({ filter })).next_batch
    await dave.send(roomId, 'dave speaks')
    const carried = await alice.sync({ filter, since })
    assert.deepEqual(memberKeys(carried.rooms.join[roomId].state.events), [dave.userId])
    // The response was lost: the client asks from the same token, and gets dave's member event again.
    assert.deepEqual(memberKeys((await alice.sync({ filter, since })).rooms.join[roomId].state.events), [dave.userId])
    // Once it syncs from that response's token, the client holds it: not sent again.
    await dave.send(roomId, 'dave again')
    const later = await alice.sync({ filter, since: carried.next_batch })
    assert.deepEqual(memberKeys(later.rooms.join[roomId].state.events), [])
  })

  it('sends a gap\'s member changes (a join, a leave) though their members sent nothing shown', async () => {
    const { alice, bob, others, roomId } = await busyRoom({ name: 'Named' })
    const filter = JSON.stringify({ room: { timeline: { limit: 3 }, state: { lazy_load_members: true } } })
    const since = (await alice.sync({ filter })).next_batch
    const frank = await user()
    await frank.join(roomId)
    await (others[4] as RoomClient).leave(roomId)
    for (let i = 0; i < 4; i++) await bob.send(roomId, `bob ${i}`)
    const room = (await alice.sync({ filter, since })).rooms.join[roomId]
    assert.equal(room.timeline.limited, true)
    const members = Object.fromEntries((room.state.events as ClientEventJson[]).filter((e) => e.type === 'm.room.member').map((e) => [e.state_key, e.content.membership]))
    assert.deepEqual(members, { [frank.userId]: 'join', [(others[4] as RoomClient).userId]: 'leave' })
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
