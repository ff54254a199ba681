// Delivery to push gateways (push gateway API, POST /_matrix/push/v1/notify): a gateway written here, on
// loopback, checks every request against the spec's schema; each notifying event reaches each pusher of each
// member it notifies exactly once, with the unread count, priority and tweaks; reading updates the badge;
// a fan-out an instance died before expanding is expanded by a poll; a rejected pushkey removes its pusher;
// a failing gateway is retried; two instances on one database deliver each notification once.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startInstanceOn, startTestServer, type Session, type TestServer } from '../support/server.ts'
import { CS, enc } from '../support/rooms.ts'
import { notificationHelpers, text } from '../support/notifications.ts'
import { startPushGateway, type Notification, type PushGateway } from '../support/push-gateway.ts'

const t: TestServer = await startTestServer({
  'outbound.ip_range_allowlist': ['127.0.0.0/8'],
  'push.delivery.backoff_base_ms': 50,
  'push.delivery.poll_interval_ms': 200,
})
const { send, receipt } = notificationHelpers(t)
const gateway: PushGateway = await startPushGateway()
after(() => gateway.close())
after(() => assert.deepEqual(gateway.invalid, [], 'every request matched the push gateway API'))

let keys = 0

async function setPusher(user: Session, more: Record<string, unknown> = {}, data: Record<string, unknown> = {}): Promise<string> {
  const pushkey = `key-${process.pid}-${++keys}`
  const res = await t.api.post(
    `${CS}/pushers/set`,
    { kind: 'http', app_id: 'org.example.app', pushkey, app_display_name: 'Example', device_display_name: 'Phone', lang: 'en', data: { url: gateway.url, ...data }, ...more },
    user.access_token,
  )
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return pushkey
}

async function roomWith(creator: Session, others: Session[], extra: Record<string, unknown> = {}): Promise<string> {
  const created = await t.api.post(`${CS}/createRoom`, { preset: 'private_chat', invite: others.map((o) => o.user_id), ...extra }, creator.access_token)
  assert.equal(created.status, 200, JSON.stringify(created.body))
  for (const o of others) assert.equal((await t.api.post(`${CS}/join/${enc(created.body.room_id)}`, {}, o.access_token)).status, 200)
  return created.body.room_id
}

const forKey = (pushkey: string) => (n: Notification) => n.devices.some((d) => d.pushkey === pushkey)
const about = (pushkey: string, eventId: string) => (n: Notification) => forKey(pushkey)(n) && n.event_id === eventId
const of = (pushkey: string) => gateway.received.filter(forKey(pushkey))

/** Sends a last message and waits for it: everything queued for the pusher before it has been delivered. */
async function settle(sender: Session, roomId: string, pushkey: string): Promise<void> {
  const marker = await send(sender, roomId, text('marker'))
  await gateway.waitFor(about(pushkey, marker), 'the marker')
}

describe('push delivery', () => {
  it('pushes a message in a 1:1 room once, with content, names, unread count, sound and high priority', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    assert.equal((await t.api.put(`${CS}/profile/${enc(bob.user_id)}/displayname`, { displayname: 'Bob B' }, bob.access_token)).status, 200)
    const room = await roomWith(alice, [bob], { name: 'Kitchen' })
    const pushkey = await setPusher(alice, {}, { custom: 'kept' })
    const eventId = await send(bob, room, text('dinner is ready'))
    const n = await gateway.waitFor(about(pushkey, eventId))
    assert.equal(n.id, eventId)
    assert.equal(n.room_id, room)
    assert.equal(n.type, 'm.room.message')
    assert.equal(n.sender, bob.user_id)
    assert.equal(n.sender_display_name, 'Bob B')
    assert.equal(n.room_name, 'Kitchen')
    assert.deepEqual(n.content, { msgtype: 'm.text', body: 'dinner is ready' })
    assert.equal(n.prio, 'high')
    assert.deepEqual(n.counts, { unread: 1 })
    assert.equal(n.devices.length, 1)
    const device = n.devices[0] as Record<string, any>
    assert.equal(device.app_id, 'org.example.app')
    assert.deepEqual(device.data, { custom: 'kept' }, 'data without url')
    assert.deepEqual(device.tweaks, { sound: 'default' })
    assert.equal(typeof device.pushkey_ts, 'number')
    assert.ok(device.pushkey_ts < Date.now() / 100, 'pushkey_ts is in seconds')
    await settle(bob, room, pushkey)
    assert.equal(of(pushkey).filter((x) => x.event_id === eventId).length, 1, 'exactly once')
    assert.equal(of(pushkey).filter((x) => x.sender === alice.user_id).length, 0, 'never for her own events')
  })

  it('sends a badge update when the user reads, and counts rooms with unread notifications', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const one = await roomWith(alice, [bob])
    const two = await roomWith(alice, [bob])
    const pushkey = await setPusher(alice)
    await send(bob, one, text('a'))
    const b = await send(bob, one, text('b'))
    assert.deepEqual((await gateway.waitFor(about(pushkey, b))).counts, { unread: 1 }, 'one room unread')
    const c = await send(bob, two, text('c'))
    assert.deepEqual((await gateway.waitFor(about(pushkey, c))).counts, { unread: 2 }, 'two rooms unread')
    const before = of(pushkey).length
    await receipt(alice, one, b)
    const badge = await gateway.waitFor((n) => forKey(pushkey)(n) && n.event_id === undefined && of(pushkey).indexOf(n) >= before, 'a badge update')
    assert.deepEqual(badge.counts, { unread: 1 })
    assert.equal(badge.type, undefined)
    assert.equal(badge.devices[0]?.pushkey, pushkey)
    await receipt(alice, two, c)
    const cleared = await gateway.waitFor((n) => forKey(pushkey)(n) && n.event_id === undefined && n.counts?.unread === 0, 'the badge cleared')
    assert.ok(cleared)
  })

  it('sends only the IDs with data.format event_id_only, and low priority for a message in a group', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const room = await roomWith(alice, [bob, carol])
    const pushkey = await setPusher(alice, {}, { format: 'event_id_only' })
    const eventId = await send(bob, room, text('secret'))
    const n = await gateway.waitFor(about(pushkey, eventId))
    assert.deepEqual(Object.keys(n).sort(), ['counts', 'devices', 'event_id', 'prio', 'room_id'])
    assert.equal(n.prio, 'low')
    assert.deepEqual(n.devices[0]?.data, { format: 'event_id_only' })
    assert.deepEqual(n.devices[0]?.tweaks, {})
  })

  it('pushes a highlight for a mention, and nothing for events the rules do not notify', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const room = await roomWith(alice, [bob, carol])
    const pushkey = await setPusher(alice)
    const notice = await send(bob, room, { msgtype: 'm.notice', body: 'bot says' })
    const reaction = await send(bob, room, { 'm.relates_to': { rel_type: 'm.annotation', event_id: notice, key: '👍' } }, 'm.reaction')
    const mention = await send(bob, room, text('alice!', { 'm.mentions': { user_ids: [alice.user_id] } }))
    const n = await gateway.waitFor(about(pushkey, mention))
    assert.equal(n.prio, 'high')
    assert.deepEqual(n.devices[0]?.tweaks, { sound: 'default', highlight: true })
    await settle(bob, room, pushkey)
    assert.equal(of(pushkey).filter((x) => x.event_id === notice || x.event_id === reaction).length, 0)
  })

  it('pushes a highlight for a body without m.mentions that names the user, and only to them', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const room = await roomWith(alice, [bob, carol])
    const alicePush = await setPusher(alice)
    const carolPush = await setPusher(carol)
    const named = await send(bob, room, text(`${alice.username}: ping`))
    assert.deepEqual((await gateway.waitFor(about(alicePush, named))).devices[0]?.tweaks, { sound: 'default', highlight: true })
    assert.deepEqual((await gateway.waitFor(about(carolPush, named))).devices[0]?.tweaks, {}, 'a plain notification for the others')
  })

  it('pushes an invite to the invited user, with membership and user_is_target', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const pushkey = await setPusher(alice)
    const created = await t.api.post(`${CS}/createRoom`, { preset: 'private_chat', name: 'Party' }, bob.access_token)
    assert.equal((await t.api.post(`${CS}/rooms/${enc(created.body.room_id)}/invite`, { user_id: alice.user_id }, bob.access_token)).status, 200)
    const n = await gateway.waitFor((x) => forKey(pushkey)(x) && x.type === 'm.room.member')
    assert.equal(n.membership, 'invite')
    assert.equal(n.user_is_target, true)
    assert.equal(n.room_name, 'Party')
    assert.equal(n.sender, bob.user_id)
    assert.deepEqual(n.counts, { unread: 1 }, 'an invite counts on the badge')
  })

  it('pushes nobody who ignores the sender', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const room = await roomWith(alice, [bob, carol])
    const pushkey = await setPusher(alice)
    const ignored = await t.api.put(`${CS}/user/${enc(alice.user_id)}/account_data/m.ignored_user_list`, { ignored_users: { [bob.user_id]: {} } }, alice.access_token)
    assert.equal(ignored.status, 200)
    const fromBob = await send(bob, room, text('hello?'))
    await settle(carol, room, pushkey)
    assert.equal(of(pushkey).filter((x) => x.event_id === fromBob).length, 0)
  })

  it("delivers a fan-out its instance recorded but never expanded (it died after the commit): the poll expands it", async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, [bob])
    // Sent before bob had a pusher, so nothing was recorded for it; the row written here is what an instance
    // that died between the commit and the expansion leaves behind.
    const eventId = await send(alice, room, text('are you there?'))
    const pushkey = await setPusher(bob)
    const storage = t.server.ctx.storage
    const { rows } = await storage.db.query<{ stream_ordering: string }>('SELECT stream_ordering FROM events WHERE event_id = $1', [eventId])
    const position = Number((rows[0] as { stream_ordering: string }).stream_ordering)
    await storage.transaction((repos) =>
      repos.pushers.queueFanout({ roomId: room, eventId, streamOrdering: position, sender: alice.user_id, roomNotifies: true, roomTweaks: { sound: 'default' }, individuals: [], invitee: null, now: Date.now() }),
    )
    const n = await gateway.waitFor(about(pushkey, eventId), 'the notification of the recovered fan-out')
    assert.deepEqual((n.devices[0] as Record<string, unknown>).tweaks, { sound: 'default' })
    await settle(alice, room, pushkey)
    assert.equal(of(pushkey).filter((x) => x.event_id === eventId).length, 1, 'exactly once')
  })

  it('removes a pusher whose pushkey the gateway rejects, and keeps the others', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, [bob])
    const doomed = await setPusher(alice)
    const kept = await setPusher(alice)
    const previous = gateway.answer
    gateway.answer = (n) => ({ status: 200, body: { rejected: n.devices.some((d) => d.pushkey === doomed) ? [doomed] : [] } })
    try {
      const eventId = await send(bob, room, text('one'))
      await gateway.waitFor(about(doomed, eventId))
      await gateway.waitFor(about(kept, eventId))
      let pushers: Array<{ pushkey: string }> = []
      // The removal follows the gateway's answer, which the test sees first.
      for (let i = 0; i < 100; i++) {
        pushers = (await t.api.get(`${CS}/pushers`, alice.access_token)).body.pushers
        if (pushers.length === 1) break
        await new Promise((r) => setTimeout(r, 50))
      }
      assert.deepEqual(pushers.map((p) => p.pushkey), [kept])
      const second = await send(bob, room, text('two'))
      await gateway.waitFor(about(kept, second))
      assert.equal(of(doomed).filter((x) => x.event_id === second).length, 0)
    } finally {
      gateway.answer = previous
    }
  })

  it('retries a failing gateway with backoff and delivers each notification once it answers, in order', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, [bob])
    const pushkey = await setPusher(alice)
    let failures = 0
    const previous = gateway.answer
    gateway.answer = (n) => (forKey(pushkey)(n) && failures++ < 3 ? { status: 502, body: {} } : previous(n))
    try {
      const first = await send(bob, room, text('first'))
      const second = await send(bob, room, text('second'))
      await gateway.waitFor(about(pushkey, second))
      const attempts = of(pushkey).map((n) => n.event_id)
      assert.deepEqual(attempts.slice(0, 3), [first, first, first], 'the first is retried until the gateway answers')
      assert.deepEqual(attempts.slice(3), [first, second], 'then each is delivered once, in order')
    } finally {
      gateway.answer = previous
    }
  })

  it('refuses to reach a gateway in a blocked range', async () => {
    const blocked = await startTestServer({ 'push.delivery.backoff_base_ms': 50 })
    const alice = await registerUser(blocked.api)
    const bob = await registerUser(blocked.api)
    const created = await blocked.api.post(`${CS}/createRoom`, { preset: 'trusted_private_chat', invite: [bob.user_id] }, alice.access_token)
    const room = created.body.room_id
    assert.equal((await blocked.api.post(`${CS}/join/${enc(room)}`, {}, bob.access_token)).status, 200)
    const pushkey = `blocked-${process.pid}`
    const res = await blocked.api.post(`${CS}/pushers/set`, { kind: 'http', app_id: 'a', pushkey, app_display_name: 'A', device_display_name: 'D', lang: 'en', data: { url: gateway.url } }, alice.access_token)
    assert.equal(res.status, 200)
    const eventId = (await blocked.api.put(`${CS}/rooms/${enc(room)}/send/m.room.message/t1`, text('hi'), bob.access_token)).body.event_id
    // The attempt failed at the guard: the pusher is backed off with its notification still queued.
    for (let i = 0; i < 200; i++) {
      const { rows } = await blocked.server.ctx.storage.db.query<{ failures: number }>('SELECT failures FROM pushers WHERE pushkey = $1', [pushkey])
      if ((rows[0]?.failures ?? 0) > 0) break
      await new Promise((r) => setTimeout(r, 50))
    }
    const { rows } = await blocked.server.ctx.storage.db.query<{ failures: number; queued: number }>(
      'SELECT p.failures, (SELECT count(*)::int FROM push_queue q WHERE q.pusher_id = p.id) AS queued FROM pushers p WHERE pushkey = $1',
      [pushkey],
    )
    assert.ok((rows[0]?.failures ?? 0) > 0)
    assert.equal(rows[0]?.queued, 1)
    assert.equal(of(pushkey).filter((n) => n.event_id === eventId).length, 0)
  })
})

describe('push delivery across instances', () => {
  it('delivers each notification once when two instances share the queue', async () => {
    const second = await startInstanceOn(t.database, { 'outbound.ip_range_allowlist': ['127.0.0.0/8'], 'push.delivery.poll_interval_ms': 200 })
    try {
      const alice = await registerUser(t.api)
      const bob = await registerUser(t.api)
      const room = await roomWith(alice, [bob])
      const pushkey = await setPusher(alice)
      const sent: string[] = []
      for (let i = 0; i < 10; i++) {
        const api = i % 2 === 0 ? t.api : second.api
        const res = await api.put(`${CS}/rooms/${enc(room)}/send/m.room.message/x${i}`, text(`m${i}`), bob.access_token)
        assert.equal(res.status, 200)
        sent.push(res.body.event_id)
      }
      await Promise.all(sent.map((id) => gateway.waitFor(about(pushkey, id))))
      await settle(bob, room, pushkey)
      for (const id of sent) assert.equal(of(pushkey).filter((n) => n.event_id === id).length, 1, `${id} once`)
    } finally {
      await second.close()
    }
  })

  it('hands a pusher to another instance when the one delivering to it stops answering', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, [bob])
    const pushkey = await setPusher(alice)
    // The first instance takes the pusher and its request never gets an answer: as if it died mid-delivery.
    const stuck = await startInstanceOn(t.database, { 'outbound.ip_range_allowlist': ['127.0.0.0/8'], 'push.delivery.lease_ms': 2000, 'push.delivery.poll_interval_ms': 200 })
    const previous = gateway.answer
    let hung = 0
    gateway.answer = (n) => (forKey(pushkey)(n) && hung++ === 0 ? 'hang' : previous(n))
    try {
      const res = await stuck.api.put(`${CS}/rooms/${enc(room)}/send/m.room.message/stuck`, text('are you there'), bob.access_token)
      assert.equal(res.status, 200)
      const eventId = res.body.event_id
      await gateway.waitFor(about(pushkey, eventId), 'the first attempt')
      await stuck.close()
      const delivered = await gateway.waitFor((n) => about(pushkey, eventId)(n) && of(pushkey).indexOf(n) > 0, 'the notification again, from another instance')
      assert.ok(delivered)
    } finally {
      gateway.answer = previous
      await stuck.close()
    }
  })
})
