// The /sync delivery guarantee under concurrency: a client following /sync with since tokens sees every
// event exactly once, in the order each sender sent them, however many senders write at the same time.
// And transaction IDs: a retried send yields the first event, never a second one.
//
// Why these tests can fail: a sync token is a stream position, and a response covers (since, upTo]. Stream
// positions come from one sequence, but the transactions holding them commit in any order — two senders
// writing to different rooms do not wait for each other, so the one that took position 11 may commit
// before the one that took 10. If a reader were allowed to answer up to 11 while 10 was still uncommitted,
// it would hand out next_batch=11 and event 10 would never be delivered (the next sync starts after 11);
// if it then delivered 10 late, per-sender order could break or a retry could deliver it twice. The stream
// fence (migration 0002, storage/repositories/stream.ts) is what prevents it: readers only ever see a
// position once every lower one has committed or rolled back. With eight concurrent senders and a follower
// long-polling in a tight loop, out-of-order commits happen many times per run; a missing, duplicated or
// reordered event fails the test.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, enc, type ClientEventJson } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const user = () => RoomClient.register(t.api)

const SENDERS = 8
const PER_SENDER = 30
/** Large enough that no response is ever limited, so /sync alone must deliver everything. */
const FILTER = JSON.stringify({ room: { timeline: { limit: 1000 }, state: { types: [] } } })

interface Seen {
  eventId: string
  roomId: string
  sender: number
  seq: number
}

/**
 * Follows /sync from `since` with short long-polls while the senders run, and after they finished until
 * three polls in a row bring nothing (so late or duplicated deliveries are caught too). Returns every
 * tagged message in delivery order.
 */
async function follow(follower: RoomClient, since: string, run: string, done: () => boolean): Promise<Seen[]> {
  const seen: Seen[] = []
  let token = since
  const deadline = Date.now() + 120_000
  let quietAfterDone = 0
  while (quietAfterDone < 3) {
    assert.ok(Date.now() < deadline, `the senders did not finish (${seen.length} messages seen)`)
    const finished = done()
    const body = await follower.sync({ since: token, timeout: 200, filter: FILTER })
    let fresh = 0
    for (const [roomId, room] of Object.entries(body.rooms.join) as Array<[string, any]>) {
      assert.equal(room.timeline.limited, false, 'a 1000-event limit is never reached')
      for (const e of room.timeline.events as ClientEventJson[]) {
        if (e.type !== 'm.room.message' || e.content.run !== run) continue
        seen.push({ eventId: e.event_id, roomId, sender: e.content.sender, seq: e.content.seq })
        fresh++
      }
    }
    if (finished) quietAfterDone = fresh === 0 ? quietAfterDone + 1 : 0
    token = body.next_batch
  }
  return seen
}

function checkDelivery(seen: Seen[], sent: string[][]): void {
  const all = sent.flat()
  const counts = new Map<string, number>()
  for (const s of seen) counts.set(s.eventId, (counts.get(s.eventId) ?? 0) + 1)
  const duplicated = [...counts].filter(([, n]) => n > 1).map(([id]) => id)
  assert.deepEqual(duplicated, [], 'no event is delivered twice')
  const missing = all.filter((id) => !counts.has(id))
  assert.deepEqual(missing, [], 'no event is skipped')
  assert.equal(seen.length, all.length)
  for (let sender = 0; sender < sent.length; sender++) {
    const order = seen.filter((s) => s.sender === sender)
    assert.deepEqual(
      order.map((s) => s.eventId),
      sent[sender],
      `sender ${sender}'s messages arrive in the order they were sent`,
    )
    assert.deepEqual(order.map((s) => s.seq), [...Array(PER_SENDER).keys()])
  }
}

/** Each sender sends PER_SENDER messages, one after another, into its room; all senders at once. */
async function sendAll(senders: RoomClient[], roomFor: (i: number) => string, run: string): Promise<string[][]> {
  return Promise.all(
    senders.map(async (c, sender) => {
      const ids: string[] = []
      for (let seq = 0; seq < PER_SENDER; seq++) ids.push(await c.send(roomFor(sender), { msgtype: 'm.text', body: `${sender}/${seq}`, run, sender, seq }))
      return ids
    }),
  )
}

describe('GET /sync under concurrent senders', () => {
  it(`delivers ${SENDERS}×${PER_SENDER} messages sent concurrently into one room exactly once, in each sender's order`, async () => {
    const owner = await user()
    const follower = await user()
    const senders = await Promise.all([...Array(SENDERS)].map(() => user()))
    const roomId = await owner.createRoom({ preset: 'public_chat' })
    for (const c of [follower, ...senders]) await c.join(roomId)
    const since = (await follower.sync({ filter: FILTER })).next_batch
    const run = `shared-${Date.now()}`
    let finished = false
    const sending = sendAll(senders, () => roomId, run).finally(() => {
      finished = true
    })
    const seen = await follow(follower, since, run, () => finished)
    checkDelivery(seen, await sending)
    // The room's own order agrees with what /sync delivered.
    const history: string[] = []
    let from: string | undefined
    for (;;) {
      const page = await follower.messages(roomId, { dir: 'f', limit: 100, from })
      history.push(...page.chunk.filter((e) => e.content.run === run).map((e) => e.event_id))
      if (!page.end) break
      from = page.end
    }
    assert.deepEqual(history, seen.map((s) => s.eventId), '/messages and /sync agree on the order')
  })

  it(`delivers ${SENDERS}×${PER_SENDER} messages sent concurrently into separate rooms exactly once, in each sender's order`, async () => {
    const follower = await user()
    const senders = await Promise.all([...Array(SENDERS)].map(() => user()))
    // One room per sender: writers to different rooms never wait for each other, so their transactions
    // commit in an order unrelated to the stream positions they took.
    const rooms: string[] = []
    for (const c of senders) {
      const roomId = await c.createRoom({ preset: 'public_chat' })
      await follower.join(roomId)
      rooms.push(roomId)
    }
    const since = (await follower.sync({ filter: FILTER })).next_batch
    const run = `separate-${Date.now()}`
    let finished = false
    const sending = sendAll(senders, (i) => rooms[i] as string, run).finally(() => {
      finished = true
    })
    const seen = await follow(follower, since, run, () => finished)
    const sent = await sending
    checkDelivery(seen, sent)
    for (const s of seen) assert.equal(s.roomId, rooms[s.sender], 'each message is delivered in its own room')
  })

  it('gives several followers of the same rooms identical event sequences', async () => {
    const followers = [await user(), await user(), await user()]
    const senders = await Promise.all([...Array(4)].map(() => user()))
    const roomId = await senders[0]!.createRoom({ preset: 'public_chat' })
    for (const c of [...followers, ...senders.slice(1)]) await c.join(roomId)
    const tokens = await Promise.all(followers.map(async (f) => (await f.sync({ filter: FILTER })).next_batch))
    const run = `followers-${Date.now()}`
    let finished = false
    const sending = Promise.all(
      senders.map(async (c, sender) => {
        for (let seq = 0; seq < 15; seq++) await c.send(roomId, { msgtype: 'm.text', body: 'x', run, sender, seq })
      }),
    ).finally(() => {
      finished = true
    })
    const sequences = await Promise.all(followers.map((f, i) => follow(f, tokens[i] as string, run, () => finished)))
    assert.equal(sequences[0]?.length, 4 * 15)
    await sending
    for (const s of sequences.slice(1)) assert.deepEqual(s.map((x) => x.eventId), sequences[0]!.map((x) => x.eventId))
  })
})

describe('GET /sync while the follower joins rooms', () => {
  it('delivers each event once when joins commit while the follower long-polls', async () => {
    // The follower's own join commits before this instance's safe position has reached it; a sync built in
    // that moment must not treat the room as joined yet, or the room is sent as newly joined twice (once
    // up to the old position, once when the join comes into range), its timeline with it.
    const owners = await Promise.all([...Array(4)].map(() => user()))
    const follower = await user()
    const rooms: string[] = []
    for (const o of owners) {
      for (let i = 0; i < 5; i++) {
        const roomId = await o.createRoom({ preset: 'public_chat' })
        for (let m = 0; m < 3; m++) await o.send(roomId, `history ${m}`)
        rooms.push(roomId)
      }
    }
    const busy = await owners[0]!.createRoom({ preset: 'public_chat' })
    await follower.join(busy)
    const since = (await follower.sync({ filter: FILTER })).next_batch
    let finished = false
    // Traffic in a room the follower is in keeps its long-polls returning while it joins.
    const noise = (async () => {
      for (let i = 0; !finished; i++) await owners[0]!.send(busy, `noise ${i}`)
    })()
    const joining = (async () => {
      for (const roomId of rooms) await follower.join(roomId)
    })().finally(() => {
      finished = true
    })
    const delivered = new Map<string, number>()
    const joinedRooms = new Set<string>()
    let token = since
    for (let quiet = 0; quiet < 3; ) {
      const wasFinished = finished
      const body = await follower.sync({ since: token, timeout: 100, filter: FILTER })
      let fresh = 0
      for (const [roomId, room] of Object.entries(body.rooms.join) as Array<[string, any]>) {
        for (const e of room.timeline.events as ClientEventJson[]) {
          delivered.set(e.event_id, (delivered.get(e.event_id) ?? 0) + 1)
          if (e.type === 'm.room.member' && e.state_key === follower.userId && e.content.membership === 'join') joinedRooms.add(roomId)
          fresh++
        }
      }
      if (wasFinished) quiet = fresh === 0 ? quiet + 1 : 0
      token = body.next_batch
    }
    await joining
    await noise
    assert.deepEqual([...delivered].filter(([, n]) => n > 1), [], 'no event is delivered twice')
    assert.deepEqual(rooms.filter((r) => !joinedRooms.has(r)), [], 'every join is delivered')
  })
})

describe('PUT /rooms/{roomId}/send/{eventType}/{txnId} retries', () => {
  it('returns the same event_id for a retry after the first request committed, and stores one event', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    const path = `/rooms/${enc(roomId)}/send/m.room.message/retry-1`
    const first = await alice.put(path, { msgtype: 'm.text', body: 'only once' })
    assert.equal(first.status, 200)
    const retry = await alice.put(path, { msgtype: 'm.text', body: 'only once' })
    assert.equal(retry.status, 200)
    assert.equal(retry.body.event_id, first.body.event_id)
    const changed = await alice.put(path, { msgtype: 'm.text', body: 'a different body' })
    assert.equal(changed.body.event_id, first.body.event_id, 'the txnId decides, not the content')
    const history = (await alice.messages(roomId, { dir: 'b', limit: 50 })).chunk.filter((e) => e.type === 'm.room.message')
    assert.deepEqual(history.map((e) => e.event_id), [first.body.event_id])
    assert.equal(history[0]?.content.body, 'only once')
  })

  it('returns one event_id to concurrent retries of the same txnId, and stores one event', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    const path = `/rooms/${enc(roomId)}/send/m.room.message/concurrent-1`
    const responses = await Promise.all([...Array(8)].map(() => alice.put(path, { msgtype: 'm.text', body: 'racing' })))
    for (const r of responses) assert.equal(r.status, 200, JSON.stringify(r.body))
    const eventIds = new Set(responses.map((r) => r.body.event_id))
    assert.equal(eventIds.size, 1)
    const history = (await alice.messages(roomId, { dir: 'b', limit: 50 })).chunk.filter((e) => e.type === 'm.room.message')
    assert.deepEqual(history.map((e) => e.event_id), [...eventIds])
    const synced = (await alice.sync()).rooms.join[roomId].timeline.events as ClientEventJson[]
    assert.equal(synced.filter((e) => e.type === 'm.room.message').length, 1)
    assert.equal(synced.find((e) => e.type === 'm.room.message')?.unsigned?.transaction_id, 'concurrent-1')
  })

  it('scopes transaction IDs to the device: another device reusing the ID sends a new event', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    const login = await t.api.post('/_matrix/client/v3/login', { type: 'm.login.password', identifier: { type: 'm.id.user', user: alice.userId }, password: 'correct horse battery staple' })
    const phone = new RoomClient(t.api, login.body)
    const a = await alice.send(roomId, 'from laptop', 'm.room.message', 'same-txn')
    const b = await phone.send(roomId, 'from phone', 'm.room.message', 'same-txn')
    assert.notEqual(a, b)
  })
})
