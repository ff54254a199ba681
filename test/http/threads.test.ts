// Threads over HTTP: the m.thread bundled aggregation on thread roots (/event, /messages, /context,
// /sync), thread validation, and GET /_matrix/client/v1/rooms/{roomId}/threads.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'
import { edit, getEvent, ignore, reaction, redact, room, roomWith, send, text, threadReply, trySend, v1room, type User } from './relations-support.ts'

const t: TestServer = await startTestServer()

const ids = (chunk: Array<{ event_id: string }>) => chunk.map((e) => e.event_id)

async function threads(user: User, roomId: string, query = ''): Promise<any> {
  const res = await t.api.get(`${v1room(roomId)}/threads${query}`, user.access_token)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

describe('bundled m.thread aggregation', () => {
  it('summarises a thread on its root in /event, /messages, /context and /sync', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [bob, carol])
    const root = await send(t, alice, roomId, text('thread root'))
    await send(t, bob, roomId, threadReply(root, 'first reply'))
    const latest = await send(t, alice, roomId, threadReply(root, 'second reply'))

    const check = (event: any, participated: boolean, where: string) => {
      const thread = event.unsigned?.['m.relations']?.['m.thread']
      assert.ok(thread, `${where}: m.thread bundled`)
      assert.equal(thread.count, 2, where)
      assert.equal(thread.latest_event.event_id, latest, where)
      assert.equal(thread.latest_event.content.body, 'second reply', where)
      assert.equal(thread.latest_event.sender, alice.user_id, where)
      assert.equal(thread.current_user_participated, participated, where)
    }
    check(await getEvent(t, carol, roomId, root), false, '/event (carol)')
    check(await getEvent(t, bob, roomId, root), true, '/event (bob, replied)')
    check(await getEvent(t, alice, roomId, root), true, '/event (alice, sent the root)')

    const messages = await t.api.get(`${room(roomId)}/messages?dir=b&limit=10`, carol.access_token)
    check(messages.body.chunk.find((e: { event_id: string }) => e.event_id === root), false, '/messages')
    const context = await t.api.get(`${room(roomId)}/context/${encodeURIComponent(root)}?limit=4`, bob.access_token)
    check(context.body.event, true, '/context')

    const filter = encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 50 } } }))
    const sync = await t.api.get(`/_matrix/client/v3/sync?filter=${filter}`, carol.access_token)
    assert.equal(sync.status, 200)
    const timeline = sync.body.rooms.join[roomId].timeline.events
    check(timeline.find((e: { event_id: string }) => e.event_id === root), false, '/sync')
  })

  it("bundles the latest reply's own edit, and counts neither redacted replies nor ignored users' replies", async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [bob])
    const root = await send(t, alice, roomId, text('root'))
    const reply1 = await send(t, alice, roomId, threadReply(root, 'one'))
    const reply2 = await send(t, alice, roomId, threadReply(root, 'two'))
    const fix = await send(t, alice, roomId, edit(reply2, 'two, fixed'))
    const fromBob = await send(t, bob, roomId, threadReply(root, 'bob here'))
    await redact(t, bob, roomId, fromBob)

    const seen = (await getEvent(t, alice, roomId, root)).unsigned['m.relations']['m.thread']
    assert.equal(seen.count, 2)
    assert.equal(seen.latest_event.event_id, reply2)
    assert.equal(seen.latest_event.unsigned['m.relations']['m.replace'].event_id, fix)

    await send(t, bob, roomId, threadReply(root, 'bob again'))
    await ignore(t, alice, [bob.user_id])
    const ignoring = (await getEvent(t, alice, roomId, root)).unsigned['m.relations']['m.thread']
    assert.equal(ignoring.count, 2)
    assert.equal(ignoring.latest_event.event_id, reply2)
    await redact(t, alice, roomId, reply2)
    const afterRedaction = (await getEvent(t, alice, roomId, root)).unsigned['m.relations']['m.thread']
    assert.equal(afterRedaction.count, 1)
    assert.equal(afterRedaction.latest_event.event_id, reply1)
  })

  it('does not show a member who left the replies made after they left', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [bob])
    await t.api.put(`${room(roomId)}/state/m.room.history_visibility`, { history_visibility: 'joined' }, alice.access_token)
    const root = await send(t, alice, roomId, text('root'))
    const before = await send(t, alice, roomId, threadReply(root, 'bob may see this'))
    assert.equal((await t.api.post(`${room(roomId)}/leave`, {}, bob.access_token)).status, 200)
    const after = await send(t, alice, roomId, threadReply(root, 'bob must not see this'))
    const bobView = (await getEvent(t, bob, roomId, root)).unsigned['m.relations']['m.thread']
    assert.equal(bobView.latest_event.event_id, before)
    assert.equal((await getEvent(t, alice, roomId, root)).unsigned['m.relations']['m.thread'].latest_event.event_id, after)
  })

  it('refuses a thread rooted at an event with a relation with 400 M_UNKNOWN', async () => {
    const alice = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [])
    const root = await send(t, alice, roomId, text('root'))
    const reply = await send(t, alice, roomId, threadReply(root, 'in thread'))
    const nested = await trySend(t, alice, roomId, threadReply(reply, 'nested'))
    assert.equal(nested.status, 400)
    assert.equal(nested.body.errcode, 'M_UNKNOWN')
    const onReaction = await send(t, alice, roomId, reaction(root, 'x'), 'm.reaction')
    assert.equal((await trySend(t, alice, roomId, threadReply(onReaction, 'no'))).status, 400)
  })
})

describe('GET /rooms/:roomId/threads', () => {
  it('lists thread roots by latest activity, and with include=participated only those the user started or replied in', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [bob, carol])
    const byAlice = await send(t, alice, roomId, text('alice asks'))
    const byCarol = await send(t, carol, roomId, text('carol asks'))
    const byBob = await send(t, bob, roomId, text('bob asks'))
    await send(t, alice, roomId, text('not a thread'))
    await send(t, bob, roomId, threadReply(byAlice, 'bob answers alice'))
    await send(t, carol, roomId, threadReply(byCarol, 'carol talks to herself'))
    await send(t, alice, roomId, threadReply(byBob, 'alice answers bob'))
    await send(t, carol, roomId, threadReply(byAlice, 'carol joins in'))

    const all = await threads(bob, roomId)
    assert.deepEqual(ids(all.chunk), [byAlice, byBob, byCarol])
    assert.equal(all.next_batch, undefined)
    assert.equal(all.chunk[0].unsigned['m.relations']['m.thread'].count, 2, 'roots carry their bundled aggregations')
    assert.deepEqual(ids((await threads(bob, roomId, '?include=all')).chunk), [byAlice, byBob, byCarol])
    assert.deepEqual(ids((await threads(bob, roomId, '?include=participated')).chunk), [byAlice, byBob])
    assert.deepEqual(ids((await threads(carol, roomId, '?include=participated')).chunk), [byAlice, byCarol])
  })

  it('paginates with next_batch without repeating or skipping threads', async () => {
    const alice = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [])
    const roots: string[] = []
    for (let i = 0; i < 5; i++) {
      const root = await send(t, alice, roomId, text(`root ${i}`))
      await send(t, alice, roomId, threadReply(root, `reply ${i}`))
      roots.push(root)
    }
    const seen: string[] = []
    let from: string | undefined
    for (let page = 0; page < 6; page++) {
      const body = await threads(alice, roomId, `?limit=2${from ? `&from=${encodeURIComponent(from)}` : ''}`)
      assert.ok(body.chunk.length <= 2)
      seen.push(...ids(body.chunk))
      from = body.next_batch
      if (!from) break
    }
    assert.deepEqual(seen, [...roots].reverse())
  })

  it('drops a thread whose only reply is redacted', async () => {
    const alice = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [])
    const root = await send(t, alice, roomId, text('short-lived thread'))
    const reply = await send(t, alice, roomId, threadReply(root, 'oops'))
    assert.deepEqual(ids((await threads(alice, roomId)).chunk), [root])
    await redact(t, alice, roomId, reply)
    assert.deepEqual((await threads(alice, roomId)).chunk, [])
    assert.equal((await getEvent(t, alice, roomId, root)).unsigned['m.relations'], undefined)
  })

  it('serves roots sent by ignored users redacted', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [bob])
    const root = await send(t, bob, roomId, text('from bob'))
    await send(t, alice, roomId, threadReply(root, 'answer'))
    await ignore(t, alice, [bob.user_id])
    const body = await threads(alice, roomId)
    assert.deepEqual(ids(body.chunk), [root])
    assert.deepEqual(body.chunk[0].content, {})
  })

  it('refuses users who were never in the room with 403 M_FORBIDDEN and bad parameters with 400', async () => {
    const alice = await registerUser(t.api)
    const eve = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [])
    const outsider = await t.api.get(`${v1room(roomId)}/threads`, eve.access_token)
    assert.equal(outsider.status, 403)
    assert.equal(outsider.body.errcode, 'M_FORBIDDEN')
    const unknownRoom = await t.api.get(`${v1room('!nowhere:test.localhost')}/threads`, alice.access_token)
    assert.equal(unknownRoom.status, 403)
    for (const query of ['?include=mine', '?limit=0', '?limit=-3', '?from=not-a-token']) {
      const res = await t.api.get(`${v1room(roomId)}/threads${query}`, alice.access_token)
      assert.equal(res.status, 400, query)
      assert.equal(res.body.errcode, 'M_INVALID_PARAM', query)
    }
  })
})
