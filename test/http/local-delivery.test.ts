// Local delivery (src/sync/local.ts): a long-poll woken by an event this instance committed answers from
// what the instance already holds (the event, whom it notifies, the key counts it read before) instead of
// reading the database. Every answer here is compared with what another instance, which holds none of it,
// reads from the database.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { userWithKeys } from '../support/e2ee.ts'
import { THREAD_FILTER, text } from '../support/notifications.ts'
import { CS, RoomClient, enc, sharedRoom } from '../support/rooms.ts'
import { startInstanceOn, startTestServer, type TestServer } from '../support/server.ts'
import { setTimeout as sleep } from 'node:timers/promises'

const t: TestServer = await startTestServer()
const second = await startInstanceOn(t.database)
after(() => second.close())

/** How many /sync parts were answered locally or read, on this instance. */
async function local(part: 'timeline' | 'unread' | 'keys'): Promise<{ local: number; read: number }> {
  const { values } = await t.server.ctx.metrics.syncLocal.get()
  const of = (outcome: string) => values.find((v) => v.labels.part === part && v.labels.outcome === outcome)?.value ?? 0
  return { local: of('local'), read: of('read') }
}

const onSecond = (client: RoomClient) => client.on(second.api)

/** A /sync that leaves presence alone (a presence change would wake the room's other long-polls). */
async function sync(client: RoomClient, since: string | undefined, timeout: number, filter = THREAD_FILTER): Promise<any> {
  const res = await client.api.get(`${CS}/sync?filter=${filter}&set_presence=offline&timeout=${timeout}${since ? `&since=${enc(since)}` : ''}`, client.token)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

/**
 * Starts `client`'s long-poll from `since`, runs `action` once it waits, and returns the first answer with
 * new timeline events in `roomId` (an answer with something else first, such as a receipt, is followed).
 */
async function woken(client: RoomClient, roomId: string, since: string, action: () => Promise<unknown>): Promise<any> {
  let polled = sync(client, since, 30_000)
  await sleep(50)
  await action()
  for (;;) {
    const answer = await polled
    if ((answer.rooms.join[roomId]?.timeline.events.length ?? 0) > 0) return answer
    polled = sync(client, answer.next_batch, 30_000)
  }
}

/** The room's counts as a database read gives them: an initial /sync on the other instance. */
async function reference(client: RoomClient, roomId: string): Promise<{ unread_notifications: unknown; unread_thread_notifications?: unknown }> {
  const room = (await sync(onSecond(client), undefined, 0)).rooms.join[roomId]
  return { unread_notifications: room.unread_notifications, unread_thread_notifications: room.unread_thread_notifications ?? {} }
}

describe('a long-poll woken by this instance', () => {
  it('gets the event with no timeline read, and unsigned.transaction_id on the sending device', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    const roomId = await sharedRoom(alice, [bob])
    let bobSince = (await sync(bob, undefined, 0)).next_batch
    const aliceSince = (await sync(alice, undefined, 0)).next_batch
    const before = await local('timeline')
    const ownPoll = sync(alice, aliceSince, 30_000)
    const answer = await woken(bob, roomId, bobSince, () => alice.send(roomId, 'hello', 'm.room.message', 'txn-local-1'))
    const own = await ownPoll
    assert.ok(own.rooms.join[roomId], JSON.stringify(own))
    bobSince = answer.next_batch
    assert.deepEqual(answer.rooms.join[roomId].timeline.events.map((e: any) => e.content.body), ['hello'])
    assert.equal(answer.rooms.join[roomId].timeline.events[0].unsigned.transaction_id, undefined)
    assert.equal(own.rooms.join[roomId].timeline.events[0].unsigned.transaction_id, 'txn-local-1')
    const afterward = await local('timeline')
    assert.ok(afterward.local - before.local >= 2, `both long-polls answered locally: ${JSON.stringify({ before, afterward })}`)
  })

  it('bundles an edit sent in the same range, as a database read does', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    const bystander = await RoomClient.register(t.api)
    const roomId = await sharedRoom(alice, [bob])
    const since = (await sync(bob, undefined, 0)).next_batch
    // Someone else's long-poll waits meanwhile, so this instance reads the stream's changes as they commit.
    const waiting = sync(bystander, (await sync(bystander, undefined, 0)).next_batch, 1000)
    await sleep(50)
    const original = await alice.send(roomId, 'typo')
    const edit = await alice.send(roomId, { msgtype: 'm.text', body: '* fixed', 'm.new_content': { msgtype: 'm.text', body: 'fixed' }, 'm.relates_to': { rel_type: 'm.replace', event_id: original } })
    const before = await local('timeline')
    const here = (await sync(bob, since, 0)).rooms.join[roomId].timeline.events
    assert.equal((await local('timeline')).local - before.local, 1)
    const there = (await sync(onSecond(bob), since, 0)).rooms.join[roomId].timeline.events
    assert.deepEqual(here.map((e: any) => e.event_id), [original, edit])
    assert.deepEqual(here.map((e: any) => e.event_id), there.map((e: any) => e.event_id))
    assert.equal(here[0].unsigned['m.relations']?.['m.replace']?.event_id, edit)
    const withoutAge = (relations: any) => JSON.parse(JSON.stringify(relations, (key, value) => (key === 'age' ? undefined : value)))
    assert.deepEqual(withoutAge(here[0].unsigned['m.relations']), withoutAge(there[0].unsigned['m.relations']))
    await waiting
  })

  it('keeps unread counts exact through mentions, threads, receipts, ignoring and own messages', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    const carol = await RoomClient.register(t.api)
    const roomId = await sharedRoom(alice, [bob, carol])
    let since = (await sync(bob, undefined, 0)).next_batch
    const before = await local('unread')
    let root = ''
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['a message', async () => (root = await alice.send(roomId, 'one'))],
      ['a mention of bob', () => alice.send(roomId, text('hey bob', { 'm.mentions': { user_ids: [bob.userId] } }))],
      ['a thread reply', () => alice.send(roomId, text('in thread', { 'm.relates_to': { rel_type: 'm.thread', event_id: root } }))],
      ['a second thread reply by carol', () => carol.send(roomId, text('me too', { 'm.relates_to': { rel_type: 'm.thread', event_id: root } }))],
      ['an @room mention', () => alice.send(roomId, text('@room look', { 'm.mentions': { room: true } }))],
      ['a message from carol', () => carol.send(roomId, 'carol here')],
    ]
    const check = async (what: string, answer: any) => {
      since = answer.next_batch
      const room = answer.rooms.join[roomId]
      assert.ok(room, `${what}: the room is in the answer`)
      assert.deepEqual({ unread_notifications: room.unread_notifications, unread_thread_notifications: room.unread_thread_notifications ?? {} }, await reference(bob, roomId), what)
    }
    for (const [what, step] of steps) await check(what, await woken(bob, roomId, since, step))
    const local1 = await local('unread')
    assert.ok(local1.local - before.local >= steps.length - 1, `counted locally: ${JSON.stringify({ before, local1 })}`)
    // Bob reads the main timeline on the other instance: the receipt is seen, the counts are read again.
    const latest = (await sync(bob, undefined, 0)).rooms.join[roomId].timeline.events.at(-1).event_id
    assert.equal((await onSecond(bob).post(`/rooms/${enc(roomId)}/receipt/m.read/${enc(latest)}`, {})).status, 200)
    await check('after a receipt on the other instance', await woken(bob, roomId, since, () => alice.send(roomId, 'after the receipt')))
    // Bob ignores carol on the other instance: her messages stop counting.
    assert.equal((await onSecond(bob).put(`/user/${enc(bob.userId)}/account_data/m.ignored_user_list`, { ignored_users: { [carol.userId]: {} } })).status, 200)
    await check('after ignoring carol', await woken(bob, roomId, since, () => alice.send(roomId, 'ignored or not')))
    await check('a message from the ignored user', await woken(bob, roomId, since, async () => {
      await carol.send(roomId, 'ignored')
      await alice.send(roomId, 'not ignored')
    }))
    // Bob's own message marks the thread read for him.
    await check('after bob writes', await woken(bob, roomId, since, () => bob.send(roomId, 'bob writes')))
    await check('and then alice', await woken(bob, roomId, since, () => alice.send(roomId, 'alice answers')))
  })

  it('sends one-time key counts kept from before, until a claim on another instance changes them', async () => {
    const alice = await RoomClient.register(t.api)
    const { client: bob, device } = await userWithKeys(t.api, 5)
    const roomId = await sharedRoom(alice, [bob])
    let since = (await sync(bob, undefined, 0)).next_batch
    const before = await local('keys')
    let answer = await woken(bob, roomId, since, () => alice.send(roomId, 'one'))
    since = answer.next_batch
    assert.deepEqual(answer.device_one_time_keys_count, { signed_curve25519: 5 })
    assert.ok((await local('keys')).local > before.local, 'kept counts were used')
    const claim = await onSecond(alice).post('/keys/claim', { one_time_keys: { [bob.userId]: { [bob.deviceId]: 'signed_curve25519' } } })
    assert.equal(claim.status, 200, JSON.stringify(claim.body))
    assert.equal(Object.keys(claim.body.one_time_keys[bob.userId][bob.deviceId]).length, 1)
    answer = await woken(bob, roomId, since, () => alice.send(roomId, 'two'))
    since = answer.next_batch
    assert.deepEqual(answer.device_one_time_keys_count, { signed_curve25519: 4 })
    // Uploading more, on the other instance, too.
    assert.equal((await onSecond(bob).post('/keys/upload', { one_time_keys: device.oneTimeKeys(3) })).status, 200)
    answer = await woken(bob, roomId, since, () => alice.send(roomId, 'three'))
    assert.deepEqual(answer.device_one_time_keys_count, { signed_curve25519: 7 })
  })
})
