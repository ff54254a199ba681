// Receipts and read markers end to end: POST /rooms/{roomId}/receipt/{receiptType}/{eventId},
// POST /rooms/{roomId}/read_markers, and the m.receipt / m.fully_read events in /sync.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'
import { ephemeralOf, initialSync, room, sendText, syncUntil, twoMemberRoom, type User } from '../support/ephemeral.ts'

const t: TestServer = await startTestServer()

const receipt = (roomId: string, type: string, eventId: string) => `${room(roomId)}/receipt/${type}/${encodeURIComponent(eventId)}`

/** Every receipt in a room's m.receipt events of a response, flattened. */
function receiptsIn(body: any, roomId: string): Array<{ eventId: string; type: string; userId: string; data: any }> {
  const out: Array<{ eventId: string; type: string; userId: string; data: any }> = []
  for (const event of ephemeralOf(body, roomId, 'm.receipt')) {
    for (const [eventId, byType] of Object.entries<any>(event.content)) {
      for (const [type, byUser] of Object.entries<any>(byType)) {
        for (const [userId, data] of Object.entries<any>(byUser)) out.push({ eventId, type, userId, data })
      }
    }
  }
  return out
}

async function post(path: string, user: User, body: unknown = {}) {
  return t.api.post(path, body, user.access_token)
}

describe('POST /rooms/:roomId/receipt/:receiptType/:eventId', () => {
  it('delivers an m.read receipt to the other members through a long-poll /sync', async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    const eventId = await sendText(t.api, alice, roomId, 'hello')
    const start = await initialSync(t.api, alice)
    // Alice is already waiting when Bob's receipt lands.
    const polling = syncUntil(t.api, alice, start.next_batch, (b) => receiptsIn(b, roomId).length > 0)
    const res = await post(receipt(roomId, 'm.read', eventId), bob)
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, {})
    const list = receiptsIn((await polling).responses.at(-1), roomId)
    assert.deepEqual(list.map((r) => [r.eventId, r.type, r.userId]), [[eventId, 'm.read', bob.user_id]])
    assert.equal(typeof list[0]?.data.ts, 'number')
    assert.equal(list[0]?.data.thread_id, undefined, 'an unthreaded receipt has no thread_id')
  })

  it('shows the latest receipts of the room on an initial /sync', async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    const first = await sendText(t.api, alice, roomId, 'one')
    const second = await sendText(t.api, alice, roomId, 'two')
    assert.equal((await post(receipt(roomId, 'm.read', first), bob)).status, 200)
    assert.equal((await post(receipt(roomId, 'm.read', second), bob)).status, 200)
    assert.equal((await post(receipt(roomId, 'm.read', second), alice)).status, 200)
    const list = receiptsIn(await initialSync(t.api, alice), roomId)
    assert.deepEqual(list.map((r) => [r.eventId, r.type, r.userId]).sort(), [
      [second, 'm.read', alice.user_id],
      [second, 'm.read', bob.user_id],
    ].sort())
  })

  it('delivers an m.read.private receipt to its owner only', async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    const eventId = await sendText(t.api, alice, roomId, 'secret')
    const aliceStart = await initialSync(t.api, alice)
    const bobStart = await initialSync(t.api, bob)
    assert.equal((await post(receipt(roomId, 'm.read.private', eventId), bob)).status, 200)
    // Something everyone sees, after the private receipt, marks how far Alice must read.
    const marker = await sendText(t.api, bob, roomId, 'after')
    const timelineHas = (b: any) => (b.rooms?.join?.[roomId]?.timeline.events ?? []).some((e: { event_id: string }) => e.event_id === marker)
    const aliceView = await syncUntil(t.api, alice, aliceStart.next_batch, timelineHas)
    for (const body of aliceView.responses) assert.deepEqual(receiptsIn(body, roomId), [], 'others never see a private receipt')
    assert.deepEqual(receiptsIn(await initialSync(t.api, alice), roomId), [])

    const bobView = await syncUntil(t.api, bob, bobStart.next_batch, (b) => receiptsIn(b, roomId).length > 0)
    assert.deepEqual(receiptsIn(bobView.responses.at(-1), roomId).map((r) => [r.eventId, r.type, r.userId]), [[eventId, 'm.read.private', bob.user_id]])
    assert.deepEqual(receiptsIn(await initialSync(t.api, bob), roomId).map((r) => r.type), ['m.read.private'])
  })

  it('keeps threaded receipts (a thread root and main) apart from the unthreaded one', async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    const root = await sendText(t.api, alice, roomId, 'root')
    const reply = await sendText(t.api, alice, roomId, 'in thread', { 'm.relates_to': { rel_type: 'm.thread', event_id: root } })
    const main = await sendText(t.api, alice, roomId, 'main timeline')
    assert.equal((await post(receipt(roomId, 'm.read', reply), bob, { thread_id: root })).status, 200)
    assert.equal((await post(receipt(roomId, 'm.read', root), bob, { thread_id: root })).status, 200, 'a thread root belongs to its thread')
    assert.equal((await post(receipt(roomId, 'm.read', main), bob, { thread_id: 'main' })).status, 200)
    assert.equal((await post(receipt(roomId, 'm.read', root), bob)).status, 200)

    const list = receiptsIn(await initialSync(t.api, alice), roomId)
    const byThread = new Map(list.map((r) => [r.data.thread_id ?? null, r.eventId]))
    assert.equal(list.length, 3, 'one receipt per thread, and one unthreaded')
    assert.equal(byThread.get(root), reply, 'the older root did not replace the thread receipt')
    assert.equal(byThread.get('main'), main)
    assert.equal(byThread.get(null), root)
  })

  it('refuses a thread_id the event is not in, or that is not a non-empty string, with 400 M_INVALID_PARAM', async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    const root = await sendText(t.api, alice, roomId, 'root')
    const reply = await sendText(t.api, alice, roomId, 'in thread', { 'm.relates_to': { rel_type: 'm.thread', event_id: root } })
    const other = await sendText(t.api, alice, roomId, 'elsewhere')
    const cases: Array<[string, string, unknown]> = [
      ['m.read', reply, 'main'],
      ['m.read', other, root],
      ['m.read', reply, ''],
      ['m.read', reply, 42],
      ['m.read.private', reply, null],
      ['m.fully_read', reply, root],
    ]
    for (const [type, eventId, threadId] of cases) {
      const res = await post(receipt(roomId, type, eventId), bob, { thread_id: threadId })
      assert.equal(res.status, 400, `${type} ${String(threadId)}`)
      assert.equal(res.body.errcode, 'M_INVALID_PARAM')
    }
  })

  it('ignores a receipt for an older event than the current one', async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    const older = await sendText(t.api, alice, roomId, 'older')
    const newer = await sendText(t.api, alice, roomId, 'newer')
    assert.equal((await post(receipt(roomId, 'm.read', newer), bob)).status, 200)
    const start = await initialSync(t.api, alice)
    const back = await post(receipt(roomId, 'm.read', older), bob)
    assert.equal(back.status, 200, 'accepted, as Synapse does, but without effect')
    const list = receiptsIn(await initialSync(t.api, alice), roomId)
    assert.deepEqual(list.map((r) => r.eventId), [newer])
    // Nothing reached Alice's incremental sync either: the next thing she sees is Bob's message.
    const marker = await sendText(t.api, bob, roomId, 'marker')
    const view = await syncUntil(t.api, alice, start.next_batch, (b) => (b.rooms?.join?.[roomId]?.timeline.events ?? []).some((e: { event_id: string }) => e.event_id === marker))
    for (const body of view.responses) assert.deepEqual(receiptsIn(body, roomId), [])
  })

  it('refuses an unknown receipt type with 400 M_INVALID_PARAM and a malformed event ID with 400', async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    const eventId = await sendText(t.api, alice, roomId, 'x')
    const unknown = await post(receipt(roomId, 'm.unknown', eventId), bob)
    assert.equal(unknown.status, 400)
    assert.equal(unknown.body.errcode, 'M_INVALID_PARAM')
    const malformed = await post(receipt(roomId, 'm.read', 'not-an-event'), bob)
    assert.equal(malformed.status, 400)
    assert.equal(malformed.body.errcode, 'M_INVALID_PARAM')
  })

  it('answers 404 M_NOT_FOUND for an event that is not in the room', async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    const other = await twoMemberRoom(t.api)
    const elsewhere = await sendText(t.api, other.alice, other.roomId, 'other room')
    await sendText(t.api, alice, roomId, 'here')
    for (const eventId of [elsewhere, '$doesnotexist']) {
      const res = await post(receipt(roomId, 'm.read', eventId), bob)
      assert.equal(res.status, 404, eventId)
      assert.equal(res.body.errcode, 'M_NOT_FOUND')
    }
  })

  it('refuses a receipt from a user who is not in the room with 403 M_FORBIDDEN', async () => {
    const { alice, roomId } = await twoMemberRoom(t.api)
    const eventId = await sendText(t.api, alice, roomId, 'members only')
    const eve = await registerUser(t.api)
    const res = await post(receipt(roomId, 'm.read', eventId), eve)
    assert.equal(res.status, 403)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
  })

  it('sets the m.fully_read marker for receipt type m.fully_read, without an m.receipt', async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    const eventId = await sendText(t.api, alice, roomId, 'read me')
    const res = await post(receipt(roomId, 'm.fully_read', eventId), bob)
    assert.equal(res.status, 200)
    const marker = await t.api.get(`/_matrix/client/v3/user/${encodeURIComponent(bob.user_id)}/rooms/${encodeURIComponent(roomId)}/account_data/m.fully_read`, bob.access_token)
    assert.equal(marker.status, 200)
    assert.deepEqual(marker.body, { event_id: eventId })
    assert.deepEqual(receiptsIn(await initialSync(t.api, alice), roomId), [])
  })
})

describe('POST /rooms/:roomId/read_markers', () => {
  it('sets m.fully_read as room account data (seen in /sync) and the read receipts in one call', async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    const first = await sendText(t.api, alice, roomId, 'one')
    const second = await sendText(t.api, alice, roomId, 'two')
    const start = await initialSync(t.api, bob)
    const res = await post(`${room(roomId)}/read_markers`, bob, { 'm.fully_read': first, 'm.read': second, 'm.read.private': second })
    assert.equal(res.status, 200)
    const accountData = (b: any) => (b.rooms?.join?.[roomId]?.account_data.events ?? []).filter((e: { type: string }) => e.type === 'm.fully_read')
    const seen = await syncUntil(t.api, bob, start.next_batch, (b) => accountData(b).length > 0)
    assert.deepEqual(accountData(seen.responses.at(-1)), [{ type: 'm.fully_read', content: { event_id: first } }])

    const own = receiptsIn(await initialSync(t.api, bob), roomId).map((r) => [r.eventId, r.type, r.userId])
    assert.deepEqual(own.sort(), [[second, 'm.read', bob.user_id], [second, 'm.read.private', bob.user_id]].sort())
    const others = receiptsIn(await initialSync(t.api, alice), roomId).map((r) => r.type)
    assert.deepEqual(others, ['m.read'])
  })

  it('does not move the fully read marker backwards', async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    const older = await sendText(t.api, alice, roomId, 'older')
    const newer = await sendText(t.api, alice, roomId, 'newer')
    assert.equal((await post(`${room(roomId)}/read_markers`, bob, { 'm.fully_read': newer })).status, 200)
    assert.equal((await post(`${room(roomId)}/read_markers`, bob, { 'm.fully_read': older })).status, 200)
    const marker = await t.api.get(`/_matrix/client/v3/user/${encodeURIComponent(bob.user_id)}/rooms/${encodeURIComponent(roomId)}/account_data/m.fully_read`, bob.access_token)
    assert.deepEqual(marker.body, { event_id: newer })
  })

  it('writes nothing when one of the events is not in the room (404 M_NOT_FOUND)', async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    const eventId = await sendText(t.api, alice, roomId, 'here')
    const res = await post(`${room(roomId)}/read_markers`, bob, { 'm.fully_read': eventId, 'm.read': '$missing' })
    assert.equal(res.status, 404)
    assert.equal(res.body.errcode, 'M_NOT_FOUND')
    const marker = await t.api.get(`/_matrix/client/v3/user/${encodeURIComponent(bob.user_id)}/rooms/${encodeURIComponent(roomId)}/account_data/m.fully_read`, bob.access_token)
    assert.equal(marker.status, 404)
  })

  it('refuses malformed markers with 400 and non-members with 403 M_FORBIDDEN', async () => {
    const { alice, roomId } = await twoMemberRoom(t.api)
    const eventId = await sendText(t.api, alice, roomId, 'x')
    const malformed = await post(`${room(roomId)}/read_markers`, alice, { 'm.fully_read': 42 })
    assert.equal(malformed.status, 400)
    assert.equal(malformed.body.errcode, 'M_BAD_JSON')
    const eve = await registerUser(t.api)
    const outsider = await post(`${room(roomId)}/read_markers`, eve, { 'm.fully_read': eventId })
    assert.equal(outsider.status, 403)
    assert.equal(outsider.body.errcode, 'M_FORBIDDEN')
  })
})
