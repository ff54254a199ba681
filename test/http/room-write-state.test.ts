// A send to a room this instance sent to last reuses what it kept of the room (src/rooms/writer.ts, kept
// rooms): no reads, one round trip. Two instances on one database, as behind a load balancer: whatever the
// other instance writes to the room, or to the push rules, must be seen by the next send here.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startInstanceOn, startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, assertError, enc, sharedRoom } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const second = await startInstanceOn(t.database)
after(() => second.close())

/** How this instance's room writers found their rooms so far. */
async function outcomes(server: { ctx: TestServer['server']['ctx'] } = t.server): Promise<{ read: number; reused: number }> {
  const { values } = await server.ctx.metrics.roomWriteState.get()
  const of = (outcome: string) => values.find((v) => v.labels.outcome === outcome)?.value ?? 0
  return { read: of('read'), reused: of('reused') }
}

/** The stored event's prev_events (the DAG, which clients do not see). */
async function prevEvents(roomId: string, eventId: string): Promise<string[]> {
  const row = await t.server.ctx.storage.repos.events.get(roomId, eventId)
  assert.ok(row, `event ${eventId} is stored`)
  return (JSON.parse(row.json) as { prev_events: string[] }).prev_events
}

const onSecond = (client: RoomClient) => client.on(second.api)

async function unread(client: RoomClient, roomId: string): Promise<number> {
  const sync = await client.sync({ timeout: 0 })
  return sync.rooms.join[roomId]?.unread_notifications?.notification_count ?? 0
}

/** Two users in a public room of alice's. */
async function twoInRoom(): Promise<{ alice: RoomClient; bob: RoomClient; roomId: string }> {
  const alice = await RoomClient.register(t.api)
  const bob = await RoomClient.register(t.api)
  return { alice, bob, roomId: await sharedRoom(alice, [bob]) }
}

describe('sends that reuse what the instance kept of the room', () => {
  it('read the room for the first message only, and chain every message on the one before', async () => {
    const alice = await RoomClient.register(t.api)
    const roomId = await alice.createRoom()
    const before = await outcomes()
    const sent: string[] = []
    for (let i = 0; i < 4; i++) sent.push(await alice.send(roomId, `message ${i}`))
    const after = await outcomes()
    assert.equal(after.read - before.read, 1)
    assert.equal(after.reused - before.reused, 3)
    for (let i = 1; i < sent.length; i++) assert.deepEqual(await prevEvents(roomId, sent[i] as string), [sent[i - 1]])
    const { chunk } = await alice.messages(roomId, { dir: 'b', limit: 4 })
    assert.deepEqual(chunk.map((e) => e.content.body), ['message 3', 'message 2', 'message 1', 'message 0'])
  })

  it('build on what the other instance wrote to the room meanwhile', async () => {
    const alice = await RoomClient.register(t.api)
    const roomId = await alice.createRoom()
    await alice.send(roomId, 'kept here')
    const there = await onSecond(alice).send(roomId, 'written on the other instance')
    const before = await outcomes()
    const next = await alice.send(roomId, 'after it')
    assert.deepEqual(await prevEvents(roomId, next), [there])
    const after = await outcomes()
    // The kept room was tried, found out of date, and read again.
    assert.equal(after.reused - before.reused, 1)
    assert.equal(after.read - before.read, 1)
    const { chunk } = await alice.messages(roomId, { dir: 'b', limit: 3 })
    assert.deepEqual(chunk.map((e) => e.content.body), ['after it', 'written on the other instance', 'kept here'])
  })

  it('refuse a sender the other instance banned, though the kept state let them send', async () => {
    const { alice, bob, roomId } = await twoInRoom()
    await bob.send(roomId, 'hello')
    await bob.send(roomId, 'hello again')
    assert.equal((await onSecond(alice).membershipRaw('ban', roomId, bob.userId)).status, 200)
    assertError(await bob.sendRaw(roomId, { msgtype: 'm.text', body: 'banned' }), 403, 'M_FORBIDDEN')
    // And nothing of the refused send was stored.
    const { chunk } = await alice.messages(roomId, { dir: 'b', limit: 2 })
    assert.equal(chunk[0]?.type, 'm.room.member')
    assert.equal(chunk[0]?.content.membership, 'ban')
  })

  it('evaluate push rules changed on the other instance', async () => {
    const { alice, bob, roomId } = await twoInRoom()
    await bob.send(roomId, 'one')
    await bob.send(roomId, 'two')
    assert.equal(await unread(alice, roomId), 2)
    // Alice mutes the room from her other session, served by the other instance.
    const rule = await onSecond(alice).put(`/pushrules/global/room/${enc(roomId)}`, { actions: [] })
    assert.equal(rule.status, 200, JSON.stringify(rule.body))
    const before = await outcomes()
    await bob.send(roomId, 'three')
    assert.equal((await outcomes()).read - before.read, 1, 'the kept push context was found out of date')
    assert.equal(await unread(alice, roomId), 2)
    // Kept again, with her rule: still muted.
    await bob.send(roomId, 'four')
    assert.equal(await unread(alice, roomId), 2)
  })

  it('serve every sender: a new sender reads once (its membership), then senders take turns without reads', async () => {
    const { alice, bob, roomId } = await twoInRoom()
    await alice.send(roomId, 'a1')
    const afterFirst = await outcomes()
    await bob.send(roomId, 'b1')
    assert.equal((await outcomes()).read - afterFirst.read, 1, "bob's membership was not kept yet")
    const before = await outcomes()
    for (let i = 0; i < 3; i++) {
      await alice.send(roomId, `a${i + 2}`)
      await bob.send(roomId, `b${i + 2}`)
    }
    const after = await outcomes()
    assert.equal(after.reused - before.reused, 6)
    assert.equal(after.read - before.read, 0)
    const { chunk } = await alice.messages(roomId, { dir: 'b', limit: 6 })
    assert.deepEqual(chunk.map((e) => e.content.body).reverse(), ['a2', 'b2', 'a3', 'b3', 'a4', 'b4'])
  })

  it('send concurrent messages to one room one after another, each on the one before', async () => {
    const alice = await RoomClient.register(t.api)
    const roomId = await alice.createRoom()
    await alice.send(roomId, 'first')
    const before = await outcomes()
    const sent = await Promise.all(Array.from({ length: 10 }, (_, i) => alice.send(roomId, `burst ${i}`)))
    const after = await outcomes()
    assert.equal(after.reused - before.reused, 10)
    assert.equal(after.read - before.read, 0)
    const { chunk } = await alice.messages(roomId, { dir: 'f', limit: 20 })
    const burst = chunk.filter((e) => String(e.content.body).startsWith('burst')).map((e) => e.event_id)
    assert.deepEqual(new Set(burst), new Set(sent))
    for (let i = 1; i < burst.length; i++) assert.deepEqual(await prevEvents(roomId, burst[i] as string), [burst[i - 1]])
  })

  it('answer a repeated transaction ID with the first event', async () => {
    const alice = await RoomClient.register(t.api)
    const roomId = await alice.createRoom()
    await alice.send(roomId, 'warm')
    const first = await alice.send(roomId, 'once', 'm.room.message', 'same-txn')
    const again = await alice.send(roomId, 'once', 'm.room.message', 'same-txn')
    assert.equal(again, first)
    const { chunk } = await alice.messages(roomId, { dir: 'b', limit: 3 })
    assert.deepEqual(chunk.map((e) => e.content.body), ['once', 'warm', undefined])
  })
})
