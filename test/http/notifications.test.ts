// Notification counts in /sync (client-server API, "Receiving notifications", "Marking notifications as
// read" and threaded read receipts): push rules run for each local member when an event is sent, and the
// counts are the notifying events after the member's latest read receipt.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'
import { CS, enc } from '../support/rooms.ts'
import { THREAD_FILTER, notificationHelpers, text, type Counts, type Session } from '../support/notifications.ts'

const t: TestServer = await startTestServer()
const { send, receipt, synced, counts, pushRule } = notificationHelpers(t)

/** A room created by the first user with the others joined. */
async function roomWith(creator: Session, ...others: Session[]): Promise<string> {
  const created = await t.api.post(`${CS}/createRoom`, { preset: 'private_chat', invite: others.map((o) => o.user_id) }, creator.access_token)
  assert.equal(created.status, 200, JSON.stringify(created.body))
  for (const o of others) assert.equal((await t.api.post(`${CS}/join/${enc(created.body.room_id)}`, {}, o.access_token)).status, 200)
  return created.body.room_id
}

describe('unread_notifications in /sync', () => {
  it("counts another member's messages, not the sender's own", async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, bob)
    await send(alice, room, text('one'))
    await send(alice, room, text('two'))
    assert.deepEqual(await counts(bob, room), { notification_count: 2, highlight_count: 0 })
    assert.deepEqual(await counts(alice, room), { notification_count: 0, highlight_count: 0 })
  })

  it('delivers the new count in the same incremental sync as the event', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, bob)
    const initial = await t.api.get(`${CS}/sync`, bob.access_token)
    const poll = t.api.get(`${CS}/sync?since=${initial.body.next_batch}&timeout=20000`, bob.access_token)
    const eventId = await send(alice, room, text('wake up'))
    const woken = (await poll).body.rooms.join[room]
    assert.ok(woken.timeline.events.some((e: { event_id: string }) => e.event_id === eventId))
    assert.deepEqual(woken.unread_notifications, { notification_count: 1, highlight_count: 0 })
  })

  it('highlights a mention of the user ID in m.mentions, and @room from a sender allowed to notify the room', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const room = await roomWith(alice, bob, carol)
    await send(alice, room, text(`hey ${bob.username}`, { 'm.mentions': { user_ids: [bob.user_id] } }))
    assert.deepEqual(await counts(bob, room), { notification_count: 1, highlight_count: 1 })
    assert.deepEqual(await counts(carol, room), { notification_count: 1, highlight_count: 0 })
    // Alice created the room (power level 100 ≥ notifications.room 50); bob has 0.
    await send(alice, room, text('@room lunch', { 'm.mentions': { room: true } }))
    assert.deepEqual(await counts(carol, room), { notification_count: 2, highlight_count: 1 })
    await send(bob, room, text('@room me too', { 'm.mentions': { room: true } }))
    assert.deepEqual(await counts(carol, room), { notification_count: 3, highlight_count: 1 })
  })

  it('highlights a body naming the display name with a contains_display_name rule', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, bob)
    await pushRule(bob, 'override/my-name', { conditions: [{ kind: 'contains_display_name' }], actions: ['notify', { set_tweak: 'highlight' }] })
    // The display name is the localpart by default, as carried by bob's join event.
    await send(alice, room, text(`${bob.username.toUpperCase()}: are you there?`))
    await send(alice, room, text(`${bob.username}xyz is not you`))
    assert.deepEqual(await counts(bob, room), { notification_count: 2, highlight_count: 1 })
    // A rule of the user's own reads the body even when the event carries m.mentions (only the legacy defaults step aside).
    await send(alice, room, text(`hi ${bob.username}`, { 'm.mentions': {} }))
    assert.deepEqual(await counts(bob, room), { notification_count: 3, highlight_count: 2 })
  })

  it('does not count notices, reactions, edits or member events', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, bob)
    const first = await send(alice, room, text('counted'))
    await send(alice, room, { msgtype: 'm.notice', body: 'bot' })
    await send(alice, room, { 'm.relates_to': { rel_type: 'm.annotation', event_id: first, key: '👍' } }, 'm.reaction')
    await send(alice, room, text('* counted!', { 'm.new_content': text('counted!'), 'm.relates_to': { rel_type: 'm.replace', event_id: first } }))
    const carol = await registerUser(t.api)
    assert.equal((await t.api.post(`${CS}/rooms/${enc(room)}/invite`, { user_id: carol.user_id }, alice.access_token)).status, 200)
    assert.deepEqual(await counts(bob, room), { notification_count: 1, highlight_count: 0 })
  })

  it("does not count messages from a user the member ignores", async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, bob)
    const ignore = await t.api.put(`${CS}/user/${enc(bob.user_id)}/account_data/m.ignored_user_list`, { ignored_users: { [alice.user_id]: {} } }, bob.access_token)
    assert.equal(ignore.status, 200)
    await send(alice, room, text('you cannot hear me'))
    assert.deepEqual(await counts(bob, room), { notification_count: 0, highlight_count: 0 })
  })
})

describe('the legacy mention rules', () => {
  const setName = async (user: Session, displayname: string) =>
    assert.equal((await t.api.put(`${CS}/profile/${enc(user.user_id)}/displayname`, { displayname }, user.access_token)).status, 200)

  it('highlight a body without m.mentions that names a member by localpart or display name, whoever else is in the room', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const dave = await registerUser(t.api)
    const room = await roomWith(alice, bob, carol, dave)
    await setName(carol, 'Zed Quill')
    // A plain message first, then ones that name someone: the room this instance kept must not hide them.
    await send(alice, room, text('morning all'))
    await send(alice, room, text(`${bob.username.toUpperCase()}: coffee?`))
    await send(alice, room, text('zed quill, are you there?'))
    await send(alice, room, text(`${dave.username} with m.mentions naming nobody`, { 'm.mentions': {} }))
    assert.deepEqual(await counts(bob, room), { notification_count: 4, highlight_count: 1 })
    assert.deepEqual(await counts(carol, room), { notification_count: 4, highlight_count: 1 })
    assert.deepEqual(await counts(dave, room), { notification_count: 4, highlight_count: 0 })
    assert.deepEqual(await counts(alice, room), { notification_count: 0, highlight_count: 0 }, 'naming yourself is no notification')
  })

  it('follow a display name change', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const room = await roomWith(alice, bob, carol)
    await setName(bob, 'Wren Porter')
    await send(alice, room, text('wren porter?'))
    assert.deepEqual(await counts(bob, room), { notification_count: 1, highlight_count: 1 })
    // Bob's own event (the new name) marks what came before as read.
    await setName(bob, 'Yara')
    await send(alice, room, text('wren porter again'))
    await send(alice, room, text('yara!'))
    assert.deepEqual(await counts(bob, room), { notification_count: 2, highlight_count: 1 })
  })

  it('an @room in the body highlights from a sender allowed to notify the room', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const room = await roomWith(alice, bob, carol)
    await send(alice, room, text('@room lunch'))
    await send(bob, room, text('@room me too'))
    assert.deepEqual(await counts(carol, room), { notification_count: 2, highlight_count: 1 })
  })

  it('can be switched off by the user', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const room = await roomWith(alice, bob, carol)
    await pushRule(bob, 'content/.m.rule.contains_user_name/enabled', { enabled: false })
    await pushRule(bob, 'override/.m.rule.contains_display_name/enabled', { enabled: false })
    await send(alice, room, text(`${bob.username}?`))
    assert.deepEqual(await counts(bob, room), { notification_count: 1, highlight_count: 0 })
  })
})

describe('push rules change the counts', () => {
  it('a disabled default rule stops its events from counting', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, bob)
    await pushRule(bob, 'underride/.m.rule.room_one_to_one/enabled', { enabled: false })
    await pushRule(bob, 'underride/.m.rule.message/enabled', { enabled: false })
    await send(alice, room, text('quiet'))
    assert.deepEqual(await counts(bob, room), { notification_count: 0, highlight_count: 0 })
    await pushRule(bob, 'underride/.m.rule.message/enabled', { enabled: true })
    await send(alice, room, text('loud'))
    assert.deepEqual(await counts(bob, room), { notification_count: 1, highlight_count: 0 })
  })

  it('a dont_notify override for the room silences it; a room rule with highlight makes every message a highlight', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, bob)
    await pushRule(bob, 'override/mute', { conditions: [{ kind: 'event_match', key: 'room_id', pattern: room }], actions: ['dont_notify'] })
    await send(alice, room, text('muted'))
    assert.deepEqual(await counts(bob, room), { notification_count: 0, highlight_count: 0 })
    assert.equal((await t.api.delete(`${CS}/pushrules/global/override/mute`, undefined, bob.access_token)).status, 200)
    await pushRule(bob, `room/${enc(room)}`, { actions: ['notify', { set_tweak: 'highlight' }] })
    await send(alice, room, text('important'))
    assert.deepEqual(await counts(bob, room), { notification_count: 1, highlight_count: 1 })
  })

  it('.m.rule.master silences everything once enabled', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, bob)
    await pushRule(bob, 'override/.m.rule.master/enabled', { enabled: true })
    await send(alice, room, text('hi', { 'm.mentions': { user_ids: [bob.user_id] } }))
    assert.deepEqual(await counts(bob, room), { notification_count: 0, highlight_count: 0 })
  })

  it('a content rule with a highlight counts a matching word as a highlight', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, bob)
    await pushRule(bob, 'content/cake', { pattern: 'cake', actions: ['notify', { set_tweak: 'highlight' }] })
    await send(alice, room, text('Cake time!'))
    await send(alice, room, text('pancakes'))
    assert.deepEqual(await counts(bob, room), { notification_count: 2, highlight_count: 1 })
  })
})

describe('reading resets the counts', () => {
  it('an m.read receipt clears the events up to it; later events count again', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, bob)
    const first = await send(alice, room, text('1', { 'm.mentions': { user_ids: [bob.user_id] } }))
    const second = await send(alice, room, text('2'))
    await send(alice, room, text('3'))
    await receipt(bob, room, first)
    assert.deepEqual(await counts(bob, room), { notification_count: 2, highlight_count: 0 })
    await receipt(bob, room, second)
    assert.deepEqual(await counts(bob, room), { notification_count: 1, highlight_count: 0 })
    await send(alice, room, text('4'))
    assert.deepEqual(await counts(bob, room), { notification_count: 2, highlight_count: 0 })
  })

  it('an m.read.private receipt clears too, and the more recent of the two receipts counts', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, bob)
    const a = await send(alice, room, text('a'))
    await send(alice, room, text('b'))
    const c = await send(alice, room, text('c'))
    await receipt(bob, room, c, {}, 'm.read.private')
    await receipt(bob, room, a, {}, 'm.read')
    assert.deepEqual(await counts(bob, room), { notification_count: 0, highlight_count: 0 })
  })

  it("sending a message clears the sender's earlier notifications in the room", async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, bob)
    await send(alice, room, text('question?'))
    assert.equal((await counts(bob, room)).notification_count, 1)
    await send(bob, room, text('answer'))
    assert.deepEqual(await counts(bob, room), { notification_count: 0, highlight_count: 0 })
    assert.deepEqual(await counts(alice, room), { notification_count: 1, highlight_count: 0 })
  })
})

describe('unread_thread_notifications', () => {
  it('splits counts by thread when the filter asks, and threaded receipts clear only their thread', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, bob)
    const root = await send(alice, room, text('root'))
    const inThread = (body: string, more: Record<string, unknown> = {}) => text(body, { 'm.relates_to': { rel_type: 'm.thread', event_id: root }, ...more })
    const t1 = await send(alice, room, inThread('first reply'))
    await send(alice, room, inThread('ping', { 'm.mentions': { user_ids: [bob.user_id] } }))
    // A message referencing a thread message belongs to the thread (relations are followed up to 3 hops).
    await send(alice, room, text('see above', { 'm.relates_to': { rel_type: 'm.reference', event_id: t1 } }))
    const main = await send(alice, room, text('main timeline'))

    const plain = await synced(bob, room)
    assert.deepEqual(plain.unread_notifications, { notification_count: 5, highlight_count: 1 })
    assert.equal(plain.unread_thread_notifications, undefined, 'no thread counts without the filter')

    const split = await synced(bob, room, THREAD_FILTER)
    assert.deepEqual(split.unread_notifications, { notification_count: 2, highlight_count: 0 }, 'main timeline only')
    assert.deepEqual(split.unread_thread_notifications, { [root]: { notification_count: 3, highlight_count: 1 } })

    await receipt(bob, room, t1, { thread_id: root })
    assert.deepEqual((await synced(bob, room, THREAD_FILTER)).unread_thread_notifications, { [root]: { notification_count: 2, highlight_count: 1 } })
    assert.deepEqual((await synced(bob, room, THREAD_FILTER)).unread_notifications, { notification_count: 2, highlight_count: 0 })

    await receipt(bob, room, root, { thread_id: 'main' })
    assert.deepEqual((await synced(bob, room, THREAD_FILTER)).unread_notifications, { notification_count: 1, highlight_count: 0 })

    // An unthreaded receipt covers every thread up to its event.
    await receipt(bob, room, main)
    const cleared = await synced(bob, room, THREAD_FILTER)
    assert.deepEqual(cleared.unread_notifications, { notification_count: 0, highlight_count: 0 })
    assert.equal(cleared.unread_thread_notifications, undefined, 'threads without notifications are left out')
  })

  it("replying in a thread clears the sender's notifications of that thread only", async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await roomWith(alice, bob)
    const root = await send(alice, room, text('root'))
    await send(alice, room, text('in thread', { 'm.relates_to': { rel_type: 'm.thread', event_id: root } }))
    await send(bob, room, text('my reply', { 'm.relates_to': { rel_type: 'm.thread', event_id: root } }))
    const split = await synced(bob, room, THREAD_FILTER)
    assert.deepEqual(split.unread_notifications, { notification_count: 1, highlight_count: 0 })
    assert.equal(split.unread_thread_notifications, undefined)
  })
})

describe('counts of a room the user does not read (checkpoints)', () => {
  it('stay exact through a checkpoint: more events, a receipt, ignoring the sender', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const room = await roomWith(alice, bob, carol)
    const checkpoints = async () =>
      (await t.server.ctx.storage.db.query<{ upto: number }>('SELECT upto FROM push_unread_checkpoints WHERE user_id = $1 AND room_id = $2', [bob.user_id, room])).rows
    // More events than a count goes through before it keeps a checkpoint.
    const ids: string[] = []
    for (let i = 0; i < 250; i++) ids.push(await send(i % 5 === 0 ? carol : alice, room, text(`m${i}`)))
    assert.deepEqual(await counts(bob, room), { notification_count: 250, highlight_count: 0 })
    assert.equal((await checkpoints()).length, 1, 'the count was kept')
    await send(alice, room, text('mention', { 'm.mentions': { user_ids: [bob.user_id] } }))
    await send(alice, room, text('plain'))
    assert.deepEqual(await counts(bob, room), { notification_count: 252, highlight_count: 1 }, 'counted on from the checkpoint')
    // A receipt moves the read position: the checkpoint no longer applies.
    await receipt(bob, room, ids[99] as string)
    assert.deepEqual(await counts(bob, room), { notification_count: 152, highlight_count: 1 })
    // Ignoring a sender changes what counts.
    const ignore = await t.api.put(`${CS}/user/${enc(bob.user_id)}/account_data/m.ignored_user_list`, { ignored_users: { [carol.user_id]: {} } }, bob.access_token)
    assert.equal(ignore.status, 200)
    assert.deepEqual(await counts(bob, room), { notification_count: 122, highlight_count: 1 }, 'carol sent 30 of the 150 after the receipt')
    await t.api.put(`${CS}/user/${enc(bob.user_id)}/account_data/m.ignored_user_list`, { ignored_users: {} }, bob.access_token)
    assert.deepEqual(await counts(bob, room), { notification_count: 152, highlight_count: 1 })
  })
})
