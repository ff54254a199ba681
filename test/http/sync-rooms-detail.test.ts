// GET /sync (client-server API, "Syncing"), the finer points clients written against Synapse rely on: a
// newly joined room's limited timeline, rooms with nothing left once filtered, history visibility refills
// and current state in the timeline, left rooms' filtered timeline and state, the federation event format,
// prev_batch of a room whose whole history fits, and the empty m.typing of an initial sync.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, bodies, enc, ids, sharedRoom, type ClientEventJson } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const user = () => RoomClient.register(t.api)
const filterOf = (f: object) => JSON.stringify(f)

describe('GET /sync joined rooms', () => {
  it('marks a room joined since the last sync limited, even when its whole history fits', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await alice.send(roomId, 'before bob')
    const since = (await bob.sync()).next_batch
    await bob.join(roomId)
    const room = (await bob.sync({ since })).rooms.join[roomId]
    assert.ok(room.timeline.events.length < 10, 'everything fits')
    assert.equal(room.timeline.limited, true)
  })

  it('leaves out an incremental update with nothing left once filtered', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    const filter = filterOf({ room: { timeline: { types: [] }, state: { types: ['org.example.state'] } }, presence: { types: [] } })
    await alice.putState(roomId, 'org.example.state', '', { n: 1 })
    const first = await alice.sync({ filter })
    assert.equal(first.rooms.join[roomId].state.events.length, 1, 'an initial sync lists the room')
    await alice.put(`/rooms/${enc(roomId)}/state/m.room.member/${enc(alice.userId)}`, { membership: 'join', displayname: 'Alice' })
    await alice.send(roomId, 'filtered out')
    const next = await alice.sync({ filter, since: first.next_batch, timeout: 0 })
    assert.deepEqual(next.rooms.join, {})
  })

  it('refills a timeline that history visibility emptied, and keeps current state events the viewer could not see', async () => {
    const alice = await user()
    const bob = await user()
    const carol = await user()
    const roomId = await sharedRoom(alice, [bob])
    await alice.putState(roomId, 'm.room.history_visibility', '', { history_visibility: 'joined' })
    await alice.invite(roomId, carol.userId)
    const since = (await bob.sync()).next_batch
    await bob.leave(roomId)
    await carol.join(roomId)
    for (let i = 0; i < 25; i++) await alice.send(roomId, `unseen ${i}`)
    await bob.join(roomId)
    const room = (await bob.sync({ since })).rooms.join[roomId]
    const timeline = room.timeline.events as ClientEventJson[]
    assert.ok(!bodies(timeline).some((b) => typeof b === 'string' && b.startsWith('unseen')), 'messages from while bob was away stay hidden')
    assert.ok(timeline.some((e) => e.type === 'm.room.member' && e.state_key === carol.userId && e.content.membership === 'join'), "carol's join, current state")
    assert.equal(timeline.at(-1)?.state_key, bob.userId)
  })

  it('gives prev_batch at the end when a room sent from its start has its whole history in the timeline', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    const message = await alice.send(roomId, 'only message')
    const room = (await alice.sync()).rooms.join[roomId]
    assert.equal(room.timeline.limited, false)
    const page = await alice.messages(roomId, { dir: 'b', from: room.timeline.prev_batch })
    assert.equal(page.chunk[0]?.event_id, message, 'the timeline again, newest first')
    assert.equal(typeof page.end, 'string')
    const after = await alice.messages(roomId, { dir: 'b', from: page.end as string })
    assert.deepEqual(after.chunk, [])
    assert.equal(after.end, undefined)
  })

  it('sends events in the federation format when the filter asks for it', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    const message = await alice.send(roomId, 'federated')
    const room = (await alice.sync({ filter: filterOf({ event_format: 'federation', room: { timeline: { limit: 1 } } }) })).rooms.join[roomId]
    const event = room.timeline.events[0]
    assert.equal(event.event_id, message)
    assert.equal(event.room_id, roomId)
    for (const key of ['prev_events', 'auth_events', 'depth', 'hashes', 'signatures']) assert.ok(key in event, key)
    assert.equal(event.content.body, 'federated')
    assert.equal(typeof event.unsigned.age, 'number')
  })
})

describe('GET /sync left rooms', () => {
  it('filters a left room\'s timeline and sends its state before the timeline, as the user left it', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await sharedRoom(alice, [bob])
    const filter = filterOf({ room: { timeline: { types: ['m.room.message', 'org.example.state'] }, state: { types: ['org.example.state'] }, include_leave: true } })
    const since = (await bob.sync({ filter })).next_batch
    await alice.send(roomId, 'before')
    await alice.putState(roomId, 'org.example.state', '', { when: 'before' })
    await bob.leave(roomId)
    await alice.send(roomId, 'after')
    await alice.putState(roomId, 'org.example.state', '', { when: 'after' })
    for (const body of [await bob.sync({ filter }), await bob.sync({ filter, since })]) {
      const left = body.rooms.leave[roomId]
      assert.deepEqual(left.state.events, [])
      assert.deepEqual(
        left.timeline.events.map((e: ClientEventJson) => e.content.body ?? e.content.when),
        ['before', 'before'],
      )
    }
  })

  it('sends the whole state of a room joined and left since the last sync', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await alice.putState(roomId, 'org.example.state', '', { n: 1 })
    const filter = filterOf({ room: { timeline: { types: [] }, state: { types: ['org.example.state'] }, include_leave: true } })
    const since = (await bob.sync({ filter })).next_batch
    await bob.join(roomId)
    await bob.leave(roomId)
    const left = (await bob.sync({ filter, since })).rooms.leave[roomId]
    assert.deepEqual(
      left.state.events.map((e: ClientEventJson) => [e.type, e.content.n]),
      [['org.example.state', 1]],
    )
    assert.deepEqual(ids(left.timeline.events), [])
  })
})

describe('GET /sync typing', () => {
  it('gives an initial sync an empty m.typing for a room where typing stopped', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await sharedRoom(alice, [bob])
    assert.equal((await alice.put(`/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, { typing: true, timeout: 30000 })).status, 200)
    assert.equal((await alice.put(`/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, { typing: false })).status, 200)
    const room = (await bob.sync()).rooms.join[roomId]
    assert.deepEqual(
      room.ephemeral.events.filter((e: { type: string }) => e.type === 'm.typing'),
      [{ type: 'm.typing', content: { user_ids: [] } }],
    )
    const quiet = await alice.createRoom()
    assert.deepEqual((await alice.sync()).rooms.join[quiet].ephemeral.events, [], 'a room that never saw typing has none')
  })
})
