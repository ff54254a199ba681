// Purging a room's history over real HTTP (POST /_synapse/admin/v1/purge_history/{roomId}[/{eventId}], GET
// /_synapse/admin/v1/purge_history_status/{purgeId}), with Synapse's requests and answers.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { adminToken, startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, assertError, enc } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const V1 = '/_synapse/admin/v1'


/** Starts a purge and waits for its outcome. */
async function purge(token: string, path: string, body: Record<string, unknown> = {}): Promise<string> {
  const res = await t.api.post(`${V1}/purge_history/${path}`, body, token)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  assert.equal(typeof res.body.purge_id, 'string')
  for (let i = 0; i < 100; i++) {
    const status = await t.api.get(`${V1}/purge_history_status/${enc(res.body.purge_id)}`, token)
    assert.equal(status.status, 200, JSON.stringify(status.body))
    if (status.body.status !== 'active') return status.body.status
    await sleep(50)
  }
  throw new Error('the purge did not finish')
}

async function roomWithMessages(owner: RoomClient, count: number): Promise<{ roomId: string; ids: string[] }> {
  const roomId = await owner.createRoom({ preset: 'private_chat' })
  await owner.put(`/rooms/${enc(roomId)}/state/m.room.name/`, { name: 'Old times' })
  const ids: string[] = []
  for (let i = 1; i <= count; i++) ids.push(await owner.send(roomId, { msgtype: 'm.text', body: `Message ${i}` }))
  return { roomId, ids }
}

const messagesOf = (events: Array<{ type: string; event_id: string }>) => events.filter((e) => e.type === 'm.room.message').map((e) => e.event_id)

describe('POST /_synapse/admin/v1/purge_history', () => {
  it('is for admins only', async () => {
    const alice = await RoomClient.register(t.api)
    const { roomId, ids } = await roomWithMessages(alice, 1)
    assertError(await t.api.post(`${V1}/purge_history/${enc(roomId)}/${enc(ids[0] as string)}`, {}, alice.token), 403, 'M_FORBIDDEN')
  })

  it('takes the messages before an event out of the timeline, keeping the state and the event itself', async () => {
    const token = await adminToken(t)
    const alice = await RoomClient.register(t.api)
    const { roomId, ids } = await roomWithMessages(alice, 6)
    const before = await alice.sync()
    const last = ids.at(-1) as string
    assert.equal(await purge(token, `${enc(roomId)}/${enc(last)}`), 'complete')

    const page = await alice.messages(roomId, { dir: 'b', limit: 50 })
    assert.deepEqual(page.chunk.map((e) => e.event_id), [last], 'the state events before it left the timeline too')
    const initial = (await alice.sync()).rooms.join[roomId]
    assert.deepEqual(initial.timeline.events.map((e: { event_id: string }) => e.event_id), [last])
    for (const type of ['m.room.create', 'm.room.member', 'm.room.power_levels', 'm.room.name']) {
      assert.ok(initial.state.events.some((e: { type: string }) => e.type === type), `the room's ${type} state stays`)
    }
    assert.deepEqual(Object.keys((await alice.get(`/rooms/${enc(roomId)}/joined_members`)).body.joined), [alice.userId], 'and who is in it')
    assert.equal((await alice.getState(roomId, 'm.room.name')).name, 'Old times')
    // A sync token from before the purge still works.
    await alice.sync({ since: before.next_batch, timeout: 0 })
    const search = await alice.post('/search', { search_categories: { room_events: { search_term: 'Message', filter: { rooms: [roomId] } } } })
    assert.deepEqual(search.body.search_categories.room_events.results.map((r: { result: { event_id: string } }) => r.result.event_id), [last])
    // New messages go on as before.
    const next = await alice.send(roomId, { msgtype: 'm.text', body: 'after' })
    assert.deepEqual(messagesOf((await alice.messages(roomId, { dir: 'b', limit: 50 })).chunk), [next, last])
  })

  it("counts a member's unread notifications without what was purged, on the next incremental /sync too", async () => {
    const token = await adminToken(t)
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    const { roomId, ids } = await roomWithMessages(alice, 0)
    await alice.invite(roomId, bob.userId)
    await bob.join(roomId)
    for (let i = 0; i < 4; i++) ids.push(await alice.send(roomId, { msgtype: 'm.text', body: `unread ${i}` }))
    const first = await bob.sync()
    assert.equal(first.rooms.join[roomId].unread_notifications.notification_count, 4)
    assert.equal(await purge(token, `${enc(roomId)}/${enc(ids.at(-1) as string)}`), 'complete')
    await alice.send(roomId, { msgtype: 'm.text', body: 'new' })
    const next = await bob.sync({ since: first.next_batch, timeout: 0 })
    assert.equal(next.rooms.join[roomId].unread_notifications.notification_count, 2, 'the last message before the purge point and the new one')
  })

  it('purges up to a time: what was sent before it', async () => {
    const token = await adminToken(t)
    const alice = await RoomClient.register(t.api)
    const { roomId } = await roomWithMessages(alice, 3)
    await sleep(20)
    const ts = Date.now()
    await sleep(20)
    const kept = await alice.send(roomId, { msgtype: 'm.text', body: 'new' })
    assert.equal(await purge(token, enc(roomId), { purge_up_to_ts: ts }), 'complete')
    assert.deepEqual(messagesOf((await alice.messages(roomId, { dir: 'b', limit: 50 })).chunk), [kept])
  })

  it('with delete_local_events, deletes them: the event is no longer found by ID either', async () => {
    const token = await adminToken(t)
    const alice = await RoomClient.register(t.api)
    const { roomId, ids } = await roomWithMessages(alice, 3)
    assert.equal(await purge(token, `${enc(roomId)}/${enc(ids[2] as string)}`, { delete_local_events: true }), 'complete')
    assertError(await alice.get(`/rooms/${enc(roomId)}/event/${enc(ids[0] as string)}`), 404, 'M_NOT_FOUND')
  })

  it('refuses what it cannot purge', async () => {
    const token = await adminToken(t)
    const alice = await RoomClient.register(t.api)
    const { roomId } = await roomWithMessages(alice, 1)
    assertError(await t.api.post(`${V1}/purge_history/${enc(roomId)}`, {}, token), 400, 'M_INVALID_PARAM', 'no point given')
    assertError(await t.api.post(`${V1}/purge_history/${enc(roomId)}/${enc('$nope')}`, {}, token), 404, 'M_NOT_FOUND')
    assertError(await t.api.post(`${V1}/purge_history/${enc('!nowhere:example.org')}`, { purge_up_to_ts: 1 }, token), 404, 'M_NOT_FOUND')
    assertError(await t.api.post(`${V1}/purge_history/${enc(roomId)}`, { purge_up_to_ts: 'soon' }, token), 400, 'M_BAD_JSON')
    assertError(await t.api.get(`${V1}/purge_history_status/nope`, token), 404, 'M_NOT_FOUND')
  })
})
