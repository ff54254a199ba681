// Notification counts in /sync as members come and go and change their rules (client-server API, "Receiving
// notifications", "Push Rules", "Ignoring Users"). The room's outcome is decided once for the members who keep
// the server-default rules; these tests pin down what each member then sees.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'
import { CS, enc } from '../support/rooms.ts'
import { THREAD_FILTER, notificationHelpers, text, type Counts, type Session } from '../support/notifications.ts'

const t: TestServer = await startTestServer()
const { send, receipt, synced, counts, pushRule } = notificationHelpers(t)

async function publicRoom(creator: Session): Promise<string> {
  const created = await t.api.post(`${CS}/createRoom`, { preset: 'public_chat' }, creator.access_token)
  assert.equal(created.status, 200, JSON.stringify(created.body))
  return created.body.room_id
}

async function join(user: Session, roomId: string) {
  assert.equal((await t.api.post(`${CS}/join/${enc(roomId)}`, {}, user.access_token)).status, 200)
}

async function leave(user: Session, roomId: string) {
  assert.equal((await t.api.post(`${CS}/rooms/${enc(roomId)}/leave`, {}, user.access_token)).status, 200)
}

describe('unread_notifications as members join and leave', () => {
  it('counts only what was sent after the member joined, in the main timeline and in threads', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await publicRoom(alice)
    const root = await send(alice, room, text('before, main timeline'))
    await send(alice, room, text('before, in a thread', { 'm.relates_to': { rel_type: 'm.thread', event_id: root } }))
    await join(bob, room)
    await send(alice, room, text('after'))
    const split = await synced(bob, room, THREAD_FILTER)
    assert.deepEqual(split.unread_notifications, { notification_count: 1, highlight_count: 0 })
    assert.equal(split.unread_thread_notifications, undefined)
  })

  it("keeps a member's thread counts through a change of their own member event (a new display name)", async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await publicRoom(alice)
    await join(bob, room)
    const root = await send(alice, room, text('root'))
    await send(alice, room, text('reply', { 'm.relates_to': { rel_type: 'm.thread', event_id: root } }))
    const renamed = await t.api.put(`${CS}/rooms/${enc(room)}/state/m.room.member/${enc(bob.user_id)}`, { membership: 'join', displayname: 'Robert' }, bob.access_token)
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body))
    // The member event is bob's own event in the main timeline: the root counts as seen, the thread does not.
    const split = await synced(bob, room, THREAD_FILTER)
    assert.deepEqual(split.unread_notifications, { notification_count: 0, highlight_count: 0 })
    assert.deepEqual(split.unread_thread_notifications, { [root]: { notification_count: 1, highlight_count: 0 } })
  })

  it('counts, after leaving and joining again, only what was sent since the new join', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await publicRoom(alice)
    await join(bob, room)
    const root = await send(alice, room, text('root'))
    await send(alice, room, text('in a thread', { 'm.relates_to': { rel_type: 'm.thread', event_id: root } }))
    await leave(bob, room)
    await send(alice, room, text('while away'))
    await join(bob, room)
    await send(alice, room, text('back', { 'm.relates_to': { rel_type: 'm.thread', event_id: root } }))
    const split = await synced(bob, room, THREAD_FILTER)
    assert.deepEqual(split.unread_notifications, { notification_count: 0, highlight_count: 0 })
    assert.deepEqual(split.unread_thread_notifications, { [root]: { notification_count: 1, highlight_count: 0 } })
  })
})

describe('unread_notifications in a room of several members', () => {
  it('gives the mentioned member a highlight, members with rules of their own their outcome, everyone else a notification', async () => {
    const [alice, bob, carol, dave, erin] = await Promise.all([1, 2, 3, 4, 5].map(() => registerUser(t.api)))
    const room = await publicRoom(alice!)
    // carol mutes the room before joining it; erin highlights "cake" after joining.
    await pushRule(carol!, 'override/mute', { conditions: [{ kind: 'event_match', key: 'room_id', pattern: room }], actions: [] })
    for (const member of [bob, carol, dave, erin]) await join(member!, room)
    await pushRule(erin!, 'content/cake', { pattern: 'cake', actions: ['notify', { set_tweak: 'highlight' }] })
    await send(alice!, room, text('cake for bob', { 'm.mentions': { user_ids: [bob!.user_id, carol!.user_id] } }))
    await send(alice!, room, text('anyone?'))
    assert.deepEqual(await counts(bob!, room), { notification_count: 2, highlight_count: 1 })
    assert.deepEqual(await counts(carol!, room), { notification_count: 0, highlight_count: 0 })
    assert.deepEqual(await counts(dave!, room), { notification_count: 2, highlight_count: 0 })
    assert.deepEqual(await counts(erin!, room), { notification_count: 2, highlight_count: 1 })
  })

  it("runs a member's own rule on member events: a join notifies them and nobody else", async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const room = await publicRoom(alice)
    await join(bob, room)
    await join(carol, room)
    await pushRule(bob, 'override/.m.rule.member_event/actions', { actions: ['notify'] })
    const dave = await registerUser(t.api)
    await join(dave, room)
    assert.deepEqual(await counts(bob, room), { notification_count: 1, highlight_count: 0 })
    assert.deepEqual(await counts(carol, room), { notification_count: 0, highlight_count: 0 })
  })

  it('counts a member as a default member again once their last own rule is deleted', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await publicRoom(alice)
    await join(bob, room)
    await pushRule(bob, 'content/cake', { pattern: 'cake', actions: ['notify', { set_tweak: 'highlight' }] })
    await send(alice, room, text('cake'))
    assert.equal((await t.api.delete(`${CS}/pushrules/global/content/cake`, undefined, bob.access_token)).status, 200)
    await send(alice, room, text('more cake'))
    assert.deepEqual(await counts(bob, room), { notification_count: 2, highlight_count: 1 })
  })
})

describe('unread_notifications and ignored users', () => {
  it("leaves out an ignored sender's messages, also those sent before the ignore, until unignored", async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const room = await publicRoom(alice)
    await join(bob, room)
    await join(carol, room)
    await send(alice, room, text('from alice'))
    await send(carol, room, text('from carol', { 'm.mentions': { user_ids: [bob.user_id] } }))
    const ignore = (users: Record<string, unknown>) =>
      t.api.put(`${CS}/user/${enc(bob.user_id)}/account_data/m.ignored_user_list`, { ignored_users: users }, bob.access_token)
    assert.equal((await ignore({ [carol.user_id]: {} })).status, 200)
    assert.deepEqual(await counts(bob, room), { notification_count: 1, highlight_count: 0 })
    assert.equal((await ignore({})).status, 200)
    assert.deepEqual(await counts(bob, room), { notification_count: 2, highlight_count: 1 })
  })
})
