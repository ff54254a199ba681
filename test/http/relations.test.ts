// Relations over HTTP: bundled m.replace and m.reference aggregations, annotations, and
// GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]].
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'
import { edit, getEvent, ignore, mostRecent, reaction, redact, reference, room, roomWith, send, text, trySend, v1room } from './relations-support.ts'

const t: TestServer = await startTestServer()

const ids = (chunk: Array<{ event_id: string }>) => chunk.map((e) => e.event_id)

describe('bundled m.replace aggregation', () => {
  it('bundles the most recent valid edit and leaves the original content as it was', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [bob])
    const original = await send(t, alice, roomId, text('first'))
    const edit1 = await send(t, alice, roomId, edit(original, 'second'))
    const edit2 = await send(t, alice, roomId, edit(original, 'third'))
    const expected = mostRecent([await getEvent(t, alice, roomId, edit1), await getEvent(t, alice, roomId, edit2)])

    const seen = await getEvent(t, bob, roomId, original)
    assert.equal(seen.content.body, 'first', 'servers do not apply edits to the original content')
    const bundled = seen.unsigned['m.relations']['m.replace']
    assert.equal(bundled.event_id, expected.event_id)
    assert.equal(bundled.sender, alice.user_id)
    assert.equal(bundled.type, 'm.room.message')
    assert.deepEqual(bundled.content['m.new_content'], expected.content['m.new_content'])
    assert.equal(bundled.content['m.relates_to'].event_id, original)
  })

  it('ignores edits by another sender, of another type, without m.new_content, and of edits', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [bob])
    const original = await send(t, alice, roomId, text('mine'))
    await send(t, bob, roomId, edit(original, 'hijacked'))
    await send(t, alice, roomId, { ...edit(original, 'sticker'), url: 'mxc://x/y' }, 'm.sticker')
    await send(t, alice, roomId, { body: '* no new content', 'm.relates_to': { rel_type: 'm.replace', event_id: original } })
    const seen = await getEvent(t, bob, roomId, original)
    assert.equal(seen.unsigned['m.relations'], undefined, JSON.stringify(seen.unsigned))

    const valid = await send(t, alice, roomId, edit(original, 'fixed'))
    await send(t, alice, roomId, edit(valid, 'edit of an edit'))
    const after = await getEvent(t, bob, roomId, original)
    assert.equal(after.unsigned['m.relations']['m.replace'].event_id, valid)
    const editSeen = await getEvent(t, bob, roomId, valid)
    assert.equal(editSeen.unsigned['m.relations']?.['m.replace'], undefined, 'an edit cannot itself be edited')
  })

  it('falls back to the previous edit when the latest is redacted, and bundles none on a redacted original', async () => {
    const alice = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [])
    const original = await send(t, alice, roomId, text('v1'))
    const edit1 = await send(t, alice, roomId, edit(original, 'v2'))
    const edit2 = await send(t, alice, roomId, edit(original, 'v3'))
    const latest = mostRecent([await getEvent(t, alice, roomId, edit1), await getEvent(t, alice, roomId, edit2)]).event_id
    await redact(t, alice, roomId, latest)
    const seen = await getEvent(t, alice, roomId, original)
    assert.equal(seen.unsigned['m.relations']['m.replace'].event_id, latest === edit1 ? edit2 : edit1)

    await redact(t, alice, roomId, original)
    const redacted = await getEvent(t, alice, roomId, original)
    assert.deepEqual(redacted.content, {})
    assert.equal(redacted.unsigned['m.relations']?.['m.replace'], undefined)
  })

  it('bundles the edit on /messages and /context too', async () => {
    const alice = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [])
    const original = await send(t, alice, roomId, text('hello'))
    const edited = await send(t, alice, roomId, edit(original, 'hello there'))
    const messages = await t.api.get(`${room(roomId)}/messages?dir=b&limit=5`, alice.access_token)
    const inMessages = messages.body.chunk.find((e: { event_id: string }) => e.event_id === original)
    assert.equal(inMessages.unsigned['m.relations']['m.replace'].event_id, edited)
    const context = await t.api.get(`${room(roomId)}/context/${encodeURIComponent(original)}?limit=2`, alice.access_token)
    assert.equal(context.body.event.unsigned['m.relations']['m.replace'].event_id, edited)
  })

  it('does not show a member who left the edits made after they left', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [bob])
    await t.api.put(`${room(roomId)}/state/m.room.history_visibility`, { history_visibility: 'joined' }, alice.access_token)
    const original = await send(t, alice, roomId, text('draft'))
    const before = await send(t, alice, roomId, edit(original, 'draft 2'))
    assert.equal((await t.api.post(`${room(roomId)}/leave`, {}, bob.access_token)).status, 200)
    const afterLeave = await send(t, alice, roomId, edit(original, 'secret'))

    const bobView = await getEvent(t, bob, roomId, original)
    assert.equal(bobView.unsigned['m.relations']['m.replace'].event_id, before)
    const aliceView = await getEvent(t, alice, roomId, original)
    assert.equal(aliceView.unsigned['m.relations']['m.replace'].event_id, afterLeave)
    const listed = await t.api.get(`${v1room(roomId)}/relations/${encodeURIComponent(original)}`, bob.access_token)
    assert.deepEqual(ids(listed.body.chunk), [before])
  })
})

describe('annotations and m.reference', () => {
  it('lists reactions through /relations and does not aggregate them in m.relations', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [bob])
    const target = await send(t, alice, roomId, text('react to me'))
    const r1 = await send(t, alice, roomId, reaction(target, '👍'), 'm.reaction')
    const r2 = await send(t, bob, roomId, reaction(target, '👍'), 'm.reaction')
    const listed = await t.api.get(`${v1room(roomId)}/relations/${encodeURIComponent(target)}/m.annotation`, bob.access_token)
    assert.equal(listed.status, 200)
    assert.deepEqual(ids(listed.body.chunk), [r2, r1], 'most recent first')
    assert.equal(listed.body.chunk[0].content['m.relates_to'].key, '👍')
    const byType = await t.api.get(`${v1room(roomId)}/relations/${encodeURIComponent(target)}/m.annotation/m.reaction`, bob.access_token)
    assert.deepEqual(ids(byType.body.chunk), [r2, r1])
    const otherType = await t.api.get(`${v1room(roomId)}/relations/${encodeURIComponent(target)}/m.annotation/m.room.message`, bob.access_token)
    assert.deepEqual(otherType.body.chunk, [])
    const seen = await getEvent(t, bob, roomId, target)
    assert.equal(seen.unsigned['m.relations'], undefined)
  })

  it('refuses a second identical annotation with 400 M_DUPLICATE_ANNOTATION until the first is redacted', async () => {
    const alice = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [])
    const target = await send(t, alice, roomId, text('once'))
    const first = await send(t, alice, roomId, reaction(target, '🎉'), 'm.reaction')
    const again = await trySend(t, alice, roomId, reaction(target, '🎉'), 'm.reaction')
    assert.equal(again.status, 400)
    assert.equal(again.body.errcode, 'M_DUPLICATE_ANNOTATION')
    await send(t, alice, roomId, reaction(target, '🎈'), 'm.reaction')
    await redact(t, alice, roomId, first)
    await send(t, alice, roomId, reaction(target, '🎉'), 'm.reaction')
  })

  it('bundles m.reference children as a chunk of event IDs, oldest first, without redacted or ignored ones', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [bob, carol])
    const target = await send(t, alice, roomId, text('start'))
    const ref1 = await send(t, bob, roomId, reference(target))
    const ref2 = await send(t, alice, roomId, reference(target))
    const ref3 = await send(t, carol, roomId, reference(target))
    const gone = await send(t, bob, roomId, reference(target))
    await redact(t, bob, roomId, gone)
    const seen = await getEvent(t, alice, roomId, target)
    assert.deepEqual(seen.unsigned['m.relations']['m.reference'], { chunk: [{ event_id: ref1 }, { event_id: ref2 }, { event_id: ref3 }] })
    await ignore(t, alice, [carol.user_id])
    const ignoring = await getEvent(t, alice, roomId, target)
    assert.deepEqual(ignoring.unsigned['m.relations']['m.reference'].chunk, [{ event_id: ref1 }, { event_id: ref2 }])
  })
})

describe('GET /rooms/:roomId/relations/:eventId', () => {
  it('paginates backwards and forwards with next_batch and prev_batch', async () => {
    const alice = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [])
    const target = await send(t, alice, roomId, text('many reactions'))
    const sent: string[] = []
    for (const key of ['a', 'b', 'c', 'd', 'e']) sent.push(await send(t, alice, roomId, reaction(target, key), 'm.reaction'))
    const base = `${v1room(roomId)}/relations/${encodeURIComponent(target)}`

    const backwards: string[] = []
    let from: string | undefined
    for (let page = 0; page < 5; page++) {
      const res = await t.api.get(`${base}?limit=2${from ? `&from=${encodeURIComponent(from)}` : ''}`, alice.access_token)
      assert.equal(res.status, 200)
      if (from) assert.equal(res.body.prev_batch, from)
      else assert.equal(res.body.prev_batch, undefined)
      backwards.push(...ids(res.body.chunk))
      from = res.body.next_batch
      if (!from) break
    }
    assert.deepEqual(backwards, [...sent].reverse())

    const first = await t.api.get(`${base}?dir=f&limit=3`, alice.access_token)
    assert.deepEqual(ids(first.body.chunk), sent.slice(0, 3))
    const second = await t.api.get(`${base}?dir=f&limit=3&from=${encodeURIComponent(first.body.next_batch)}`, alice.access_token)
    assert.deepEqual(ids(second.body.chunk), sent.slice(3))
    assert.equal(second.body.next_batch, undefined)

    // `to` stops the page: from the start of page 1 down to the end of page 1 is page 1 alone.
    const page1 = await t.api.get(`${base}?limit=2`, alice.access_token)
    const page2 = await t.api.get(`${base}?limit=2&from=${encodeURIComponent(page1.body.next_batch)}`, alice.access_token)
    const bounded = await t.api.get(`${base}?limit=10&from=${encodeURIComponent(page1.body.next_batch)}&to=${encodeURIComponent(page2.body.next_batch)}`, alice.access_token)
    assert.deepEqual(ids(bounded.body.chunk), ids(page2.body.chunk))
  })

  it('follows relations of relations with recurse=true, applying the filters at every level', async () => {
    const alice = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [])
    const root = await send(t, alice, roomId, text('root'))
    const level1 = await send(t, alice, roomId, reference(root, 'l1'))
    const level2 = await send(t, alice, roomId, reference(level1, 'l2'))
    const level2reaction = await send(t, alice, roomId, reaction(level1, 'x'), 'm.reaction')
    const level3 = await send(t, alice, roomId, reference(level2, 'l3'))
    const level4 = await send(t, alice, roomId, reference(level3, 'l4'))
    await send(t, alice, roomId, reference(level2reaction, 'under a reaction'))
    const base = `${v1room(roomId)}/relations/${encodeURIComponent(root)}`

    const direct = await t.api.get(base, alice.access_token)
    assert.deepEqual(ids(direct.body.chunk), [level1])
    assert.equal(direct.body.recursion_depth, undefined)
    const notRecursing = await t.api.get(`${base}?recurse=false`, alice.access_token)
    assert.deepEqual(ids(notRecursing.body.chunk), [level1])
    assert.equal(notRecursing.body.recursion_depth, 1)

    const deep = await t.api.get(`${base}/m.reference?recurse=true`, alice.access_token)
    assert.equal(deep.status, 200)
    assert.equal(deep.body.recursion_depth, 3)
    assert.deepEqual(ids(deep.body.chunk), [level3, level2, level1], 'three levels, only through m.reference events')
    assert.ok(!ids(deep.body.chunk).includes(level4))
    const all = await t.api.get(`${base}?recurse=true`, alice.access_token)
    assert.ok(ids(all.body.chunk).includes(level2reaction))
  })

  it('answers 404 for unknown events and for users who cannot see the parent', async () => {
    const alice = await registerUser(t.api)
    const eve = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [])
    const target = await send(t, alice, roomId, text('private'))
    const hidden = await t.api.get(`${v1room(roomId)}/relations/${encodeURIComponent(target)}`, eve.access_token)
    assert.equal(hidden.status, 404)
    assert.equal(hidden.body.errcode, 'M_NOT_FOUND')
    const unknown = await t.api.get(`${v1room(roomId)}/relations/${encodeURIComponent('$nope')}`, alice.access_token)
    assert.equal(unknown.status, 404)
    assert.equal(unknown.body.errcode, 'M_NOT_FOUND')
  })

  it('refuses invalid parameters with 400 M_INVALID_PARAM and requests without a token with 401', async () => {
    const alice = await registerUser(t.api)
    const roomId = await roomWith(t, alice, [])
    const target = encodeURIComponent(await send(t, alice, roomId, text('x')))
    const base = `${v1room(roomId)}/relations/${target}`
    for (const path of [`${base}/${'r'.repeat(300)}`, `${base}?dir=x`, `${base}?limit=0`, `${base}?limit=abc`, `${base}?from=garbage`, `${base}?recurse=maybe`]) {
      const res = await t.api.get(path, alice.access_token)
      assert.equal(res.status, 400, path)
      assert.equal(res.body.errcode, 'M_INVALID_PARAM', path)
    }
    const notEvent = await t.api.get(`${v1room(roomId)}/relations/not-an-event-id`, alice.access_token)
    assert.equal(notEvent.status, 400)
    const anonymous = await t.api.get(base)
    assert.equal(anonymous.status, 401)
    assert.equal(anonymous.body.errcode, 'M_MISSING_TOKEN')
  })
})
