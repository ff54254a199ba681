// The push queue (storage/repositories/pushers.ts), driven step by step on a server that delivers nothing
// itself (push.delivery.enabled false): badge updates when the user reads again while an update is being
// delivered (the one in flight was counted before the new read, so the queue must keep one for the new
// count), and the expansion of an event's fan-out row into its pushers' queues after the send's commit.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type Session, type TestServer } from '../support/server.ts'
import { CS, enc } from '../support/rooms.ts'
import { notificationHelpers, text } from '../support/notifications.ts'

const t: TestServer = await startTestServer({ 'push.delivery.enabled': false, 'outbound.ip_range_allowlist': ['127.0.0.0/8'] })

const { send } = notificationHelpers(t)

async function setPusher(user: Session, pushkey: string): Promise<number> {
  const set = await t.api.post(`${CS}/pushers/set`, { kind: 'http', app_id: 'org.example.q', pushkey, app_display_name: 'Q', device_display_name: 'Phone', lang: 'en', data: { url: 'http://127.0.0.1:9/_matrix/push/v1/notify' } }, user.access_token)
  assert.equal(set.status, 200, JSON.stringify(set.body))
  return ((await t.server.ctx.storage.repos.pushers.list(user.user_id)).find((p) => p.pushkey === pushkey) as { id: number }).id
}

async function queuedFor(eventId: string): Promise<number[]> {
  const { rows } = await t.server.ctx.storage.db.query<{ pusher_id: string }>('SELECT pusher_id FROM push_queue WHERE event_id = $1 ORDER BY pusher_id', [eventId])
  return rows.map((r) => Number(r.pusher_id))
}

async function fanoutRows(eventId: string): Promise<number> {
  const { rows } = await t.server.ctx.storage.db.query<{ n: number }>('SELECT count(*)::int AS n FROM push_fanout WHERE event_id = $1', [eventId])
  return (rows[0] as { n: number }).n
}

describe('push fan-out', () => {
  it("records one row in the send's transaction and spreads it over the pushers after the commit", async () => {
    const [alice, bob, carol] = [await registerUser(t.api), await registerUser(t.api), await registerUser(t.api)]
    const room = (await t.api.post(`${CS}/createRoom`, { preset: 'public_chat' }, alice.access_token)).body.room_id as string
    for (const u of [bob, carol]) assert.equal((await t.api.post(`${CS}/join/${enc(room)}`, {}, u.access_token)).status, 200)
    const quiet = await send(alice, room, text('nobody has a pusher'))
    assert.equal(await fanoutRows(quiet), 0, 'no row when no member it reaches has a pusher')
    const pushers = [await setPusher(alice, 'fa'), await setPusher(bob, 'fb'), await setPusher(carol, 'fc')]
    const eventId = await send(alice, room, text('hello'))
    for (let i = 0; i < 200 && (await fanoutRows(eventId)) > 0; i++) await new Promise((r) => setTimeout(r, 25))
    assert.equal(await fanoutRows(eventId), 0, 'expanded after the commit')
    assert.deepEqual(await queuedFor(eventId), pushers.slice(1).sort((a, b) => a - b), "one queued notification per pusher, none for the sender's")
  })

  it('expands a row left unexpanded by the members joined at the event, once however many instances try', async () => {
    const [alice, bob, carol, dave, erin] = [await registerUser(t.api), await registerUser(t.api), await registerUser(t.api), await registerUser(t.api), await registerUser(t.api)]
    const room = (await t.api.post(`${CS}/createRoom`, { preset: 'public_chat' }, alice.access_token)).body.room_id as string
    for (const u of [bob, carol, erin]) assert.equal((await t.api.post(`${CS}/join/${enc(room)}`, {}, u.access_token)).status, 200)
    // Sent while nobody had a pusher: no fan-out of its own. The row written below stands for one whose
    // instance died after the commit.
    const eventId = await send(alice, room, text('before the changes'))
    const [b, c, d, e] = [await setPusher(bob, 'xb'), await setPusher(carol, 'xc'), await setPusher(dave, 'xd'), await setPusher(erin, 'xe')]
    // After the event: bob changes his name (still joined), carol leaves, dave joins, erin ignores alice.
    assert.equal((await t.api.put(`${CS}/profile/${enc(bob.user_id)}/displayname`, { displayname: 'Bobby' }, bob.access_token)).status, 200)
    assert.equal((await t.api.post(`${CS}/rooms/${enc(room)}/leave`, {}, carol.access_token)).status, 200)
    assert.equal((await t.api.post(`${CS}/join/${enc(room)}`, {}, dave.access_token)).status, 200)
    assert.equal((await t.api.put(`${CS}/user/${enc(erin.user_id)}/account_data/m.ignored_user_list`, { ignored_users: { [alice.user_id]: {} } }, erin.access_token)).status, 200)

    const storage = t.server.ctx.storage
    const { rows } = await storage.db.query<{ stream_ordering: string }>('SELECT stream_ordering FROM events WHERE event_id = $1', [eventId])
    const position = Number((rows[0] as { stream_ordering: string }).stream_ordering)
    const id = await storage.transaction((repos) =>
      repos.pushers.queueFanout({ roomId: room, eventId, streamOrdering: position, sender: alice.user_id, roomNotifies: true, roomTweaks: {}, individuals: [], invitee: null, now: Date.now() }),
    )
    assert.ok(id !== null)
    // Two instances at once: the second skips the row the first holds; once the first commits it is gone.
    let release = (): void => {}
    const held = new Promise<void>((r) => (release = r))
    let first: number[] = []
    const firstDone = storage.transaction(async (repos) => {
      first = await repos.pushers.expandFanout(id)
      await held
    })
    while (first.length === 0) await new Promise((r) => setTimeout(r, 10))
    assert.deepEqual(await storage.transaction((repos) => repos.pushers.expandFanout(id)), [], 'held by the other')
    release()
    await firstDone
    assert.deepEqual(await storage.transaction((repos) => repos.pushers.expandFanout(id)), [], 'gone once expanded')
    assert.deepEqual(first.sort((x, y) => x - y), [b, c].sort((x, y) => x - y))
    assert.deepEqual(await queuedFor(eventId), [b, c].sort((x, y) => x - y), `not dave (${d}, joined after), nor erin (${e}, ignores the sender)`)
    assert.equal(await fanoutRows(eventId), 0)
  })
})

describe('badge updates in the push queue', () => {
  it('keeps one queued when the user reads again while the last one is being delivered', async () => {
    const alice = await registerUser(t.api)
    const set = await t.api.post('/_matrix/client/v3/pushers/set', { kind: 'http', app_id: 'org.example.q', pushkey: 'k1', app_display_name: 'Q', device_display_name: 'Phone', lang: 'en', data: { url: 'http://127.0.0.1:9/_matrix/push/v1/notify' } }, alice.access_token)
    assert.equal(set.status, 200, JSON.stringify(set.body))
    const repo = t.server.ctx.storage.repos.pushers
    const [pusher] = await repo.list(alice.user_id)
    const id = (pusher as { id: number }).id
    assert.ok(await repo.takeLease(id, 'worker', 60_000))

    await repo.enqueueBadge(alice.user_id, Date.now())
    await repo.enqueueBadge(alice.user_id, Date.now())
    const inFlight = await repo.next(id)
    assert.ok(inFlight && inFlight.event_id === null, 'one badge update, however many reads came before')
    // The user reads again while the worker sends the count it read before.
    assert.deepEqual(await repo.enqueueBadge(alice.user_id, Date.now()), [id])
    assert.equal(await repo.delivered(id, 'worker', inFlight.id, 1, 60_000), true)
    const again = await repo.next(id)
    assert.ok(again && again.event_id === null && again.id !== inFlight.id, 'the newer read is still to be told')
    assert.equal(await repo.delivered(id, 'worker', again.id, 0, 60_000), true)
    assert.equal(await repo.next(id), null)
  })

  it("gives a pusher's lease up only when nothing is queued, and says when another instance holds it now", async () => {
    const alice = await registerUser(t.api)
    const set = await t.api.post('/_matrix/client/v3/pushers/set', { kind: 'http', app_id: 'org.example.q', pushkey: 'k2', app_display_name: 'Q', device_display_name: 'Phone', lang: 'en', data: { url: 'http://127.0.0.1:9/_matrix/push/v1/notify' } }, alice.access_token)
    assert.equal(set.status, 200, JSON.stringify(set.body))
    const repo = t.server.ctx.storage.repos.pushers
    const id = ((await repo.list(alice.user_id))[0] as { id: number }).id
    assert.ok(await repo.takeLease(id, 'worker', 60_000))
    await repo.enqueueBadge(alice.user_id, Date.now())
    assert.equal(await repo.release(id, 'worker'), 'kept', 'something is queued: the lease stays')
    // The lease lapsed and another instance took it: the first must stop delivering.
    await t.server.ctx.storage.db.query(`UPDATE pushers SET lease_holder = 'another', lease_until = 0 WHERE id = $1`, [id])
    assert.equal(await repo.release(id, 'worker'), 'lost')
    assert.ok(await repo.takeLease(id, 'worker', 60_000), 'a lapsed lease can be taken again')
    const item = await repo.next(id)
    assert.ok(item)
    assert.equal(await repo.delivered(id, 'worker', item.id, 0, 60_000), true)
    assert.equal(await repo.release(id, 'worker'), 'released')
  })
})
