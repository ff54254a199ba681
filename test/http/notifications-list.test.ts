// GET /notifications (client-server API, "Push Notifications" → "Listing notifications"): the events that
// notified the user, newest first, paginated, with whether each is read, and agreeing with /sync's counts.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'
import { CS, assertError, enc } from '../support/rooms.ts'
import { notificationHelpers, text, type Session } from '../support/notifications.ts'

const t: TestServer = await startTestServer()
const { send, receipt, counts } = notificationHelpers(t)

async function roomWith(creator: Session, ...others: Session[]): Promise<string> {
  const created = await t.api.post(`${CS}/createRoom`, { preset: 'private_chat', invite: others.map((o) => o.user_id) }, creator.access_token)
  assert.equal(created.status, 200, JSON.stringify(created.body))
  for (const o of others) assert.equal((await t.api.post(`${CS}/join/${enc(created.body.room_id)}`, {}, o.access_token)).status, 200)
  return created.body.room_id
}

async function list(user: Session, params = ''): Promise<{ notifications: Array<Record<string, any>>; next_token?: string }> {
  const res = await t.api.get(`${CS}/notifications${params}`, user.access_token)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

describe('GET /notifications', () => {
  it('lists the events that notified the user, newest first, not their own nor those the rules silence', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const room = await roomWith(alice, bob, carol)
    const first = await send(bob, room, text('one'))
    await send(alice, room, text('mine'))
    await send(bob, room, { msgtype: 'm.notice', body: 'a bot' })
    const second = await send(carol, room, text('two'))
    const { notifications, next_token } = await list(alice)
    assert.deepEqual(notifications.map((n) => n.event.event_id), [second, first])
    assert.equal(next_token, undefined)
    const n = notifications[0] as Record<string, any>
    assert.equal(n.room_id, room)
    assert.deepEqual(n.actions, ['notify'])
    assert.equal(n.read, false)
    assert.equal(n.profile_tag, null)
    assert.equal(n.ts, n.event.origin_server_ts)
    assert.deepEqual(n.event.content, { msgtype: 'm.text', body: 'two' })
    assert.equal(n.event.sender, carol.user_id)
  })

  it('marks what the user has read, and its unread entries are the counts /sync reports', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const room = await roomWith(alice, bob, carol)
    const ids = [await send(bob, room, text('a')), await send(bob, room, text('b')), await send(carol, room, text('c', { 'm.mentions': { user_ids: [alice.user_id] } }))]
    await receipt(alice, room, ids[1] as string)
    const { notifications } = await list(alice)
    assert.deepEqual(notifications.map((n) => [n.event.event_id, n.read]), [[ids[2], false], [ids[1], true], [ids[0], true]])
    const unread = notifications.filter((n) => !n.read)
    const synced = await counts(alice, room)
    assert.equal(unread.length, synced.notification_count)
    assert.equal(unread.filter((n) => n.actions.some((a: any) => a?.set_tweak === 'highlight')).length, synced.highlight_count)
  })

  it('keeps only highlights with only=highlight', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const room = await roomWith(alice, bob, carol)
    await send(bob, room, text('plain'))
    const mention = await send(bob, room, text('hey', { 'm.mentions': { user_ids: [alice.user_id] } }))
    const { notifications } = await list(alice, '?only=highlight')
    assert.deepEqual(notifications.map((n) => n.event.event_id), [mention])
    assert.deepEqual(notifications[0]?.actions, ['notify', { set_tweak: 'highlight' }])
  })

  it('pages with limit and next_token across rooms, each notification once', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const one = await roomWith(alice, bob, carol)
    const two = await roomWith(alice, bob, carol)
    const sent: string[] = []
    for (let i = 0; i < 5; i++) {
      sent.push(await send(bob, one, text(`one ${i}`)))
      sent.push(await send(carol, two, text(`two ${i}`)))
    }
    const seen: string[] = []
    let from = ''
    for (let page = 0; page < 10; page++) {
      const body = await list(alice, `?limit=3${from ? `&from=${enc(from)}` : ''}`)
      seen.push(...body.notifications.map((n) => n.event.event_id as string))
      if (body.next_token === undefined) break
      from = body.next_token
    }
    assert.deepEqual(seen, [...sent].reverse())
  })

  it('starts at the join: events from before the user joined do not notify them', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const room = await roomWith(bob, carol)
    await send(bob, room, text('before alice'))
    assert.equal((await t.api.post(`${CS}/rooms/${enc(room)}/invite`, { user_id: alice.user_id }, bob.access_token)).status, 200)
    assert.equal((await t.api.post(`${CS}/join/${enc(room)}`, {}, alice.access_token)).status, 200)
    const after = await send(bob, room, text('after'))
    assert.deepEqual((await list(alice)).notifications.map((n) => n.event.event_id), [after])
  })

  it('refuses a from token it did not give', async () => {
    const alice = await registerUser(t.api)
    assertError(await t.api.get(`${CS}/notifications?from=abc`, alice.access_token), 400, 'M_INVALID_PARAM')
  })
})
