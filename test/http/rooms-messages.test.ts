// Reading room history over HTTP (client-server API, "Getting events for a room", "Room History
// Visibility", "Redactions"): /messages pagination and filters, /context, GET /event, history visibility
// and redaction.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, assertError, bodies, enc, ids, sharedRoom, type ClientEventJson } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const user = () => RoomClient.register(t.api)

/** Pages through /messages until no `end` is returned; checks each `start` echoes `from`. */
async function paginate(c: RoomClient, roomId: string, params: Record<string, string | number | undefined>): Promise<{ events: ClientEventJson[]; pages: number }> {
  const events: ClientEventJson[] = []
  let from = params.from
  let pages = 0
  for (;;) {
    const page = await c.messages(roomId, { ...params, from })
    pages++
    if (from !== undefined) assert.equal(page.start, from, 'start is the from token')
    events.push(...page.chunk)
    if (page.end === undefined) return { events, pages }
    assert.notEqual(page.end, from, 'end moves on')
    from = page.end
    assert.ok(pages < 200, 'pagination terminates')
  }
}

const messagesOnly = (events: ClientEventJson[]) => events.filter((e) => e.type === 'm.room.message')

describe('GET /rooms/{roomId}/messages', () => {
  it('pages backwards and forwards through the whole history without gaps or duplicates', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    const sent: string[] = []
    for (let i = 0; i < 25; i++) sent.push(await alice.send(roomId, `m${i}`))
    const back = await paginate(alice, roomId, { dir: 'b', limit: 7 })
    assert.deepEqual(ids(messagesOnly(back.events)), [...sent].reverse())
    assert.equal(back.events.at(-1)?.type, 'm.room.create', 'backwards ends at the create event')
    assert.equal(new Set(ids(back.events)).size, back.events.length)
    const forward = await paginate(alice, roomId, { dir: 'f', limit: 7 })
    assert.deepEqual(ids(forward.events), ids(back.events).reverse(), 'forwards is the same history in order')
    assert.ok(back.pages >= 4)
  })

  it('gives a page that reaches the first event an `end` (as Synapse), and the empty page after it none', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    await alice.send(roomId, 'only message')
    const whole = await alice.messages(roomId, { dir: 'b', limit: 100 })
    assert.equal(whole.chunk.at(-1)?.type, 'm.room.create', 'the page reached the first event')
    assert.equal(typeof whole.end, 'string')
    const after = await alice.messages(roomId, { dir: 'b', from: whole.end })
    assert.deepEqual([after.chunk, after.end], [[], undefined])
  })

  it('continues from a /sync next_batch and stops at a `to` token', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    const first = await alice.send(roomId, 'first')
    const mark = (await alice.sync()).next_batch
    const later = [await alice.send(roomId, 'a'), await alice.send(roomId, 'b'), await alice.send(roomId, 'c')]
    const fromMark = await alice.messages(roomId, { dir: 'b', from: mark, limit: 2 })
    assert.equal(fromMark.chunk[0]?.event_id, first, 'dir=b from a next_batch starts at the newest event it covers')
    const upToMark = await paginate(alice, roomId, { dir: 'b', to: mark, limit: 2 })
    assert.deepEqual(ids(upToMark.events), [...later].reverse(), 'dir=b without from, stopping at the sync token')
    const forwardFromMark = await paginate(alice, roomId, { dir: 'f', from: mark, limit: 2 })
    assert.deepEqual(ids(forwardFromMark.events), later)
    const page = await alice.messages(roomId, { dir: 'f', from: mark, limit: 1 })
    const rest = await paginate(alice, roomId, { dir: 'f', from: page.end, to: (await alice.sync()).next_batch, limit: 10 })
    assert.deepEqual(ids(rest.events), later.slice(1))
  })

  it('applies types, not_types, senders and not_senders filters across pages', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await sharedRoom(alice, [bob])
    const expected = { aliceMessages: [] as string[], bobMessages: [] as string[], other: [] as string[] }
    for (let i = 0; i < 12; i++) {
      expected.aliceMessages.push(await alice.send(roomId, `a${i}`))
      expected.bobMessages.push(await bob.send(roomId, `b${i}`))
      expected.other.push(await alice.send(roomId, { n: i }, 'org.example.other'))
    }
    const run = async (filter: object) => ids((await paginate(alice, roomId, { dir: 'f', limit: 5, filter: JSON.stringify(filter) })).events)
    assert.deepEqual(await run({ types: ['org.example.other'] }), expected.other)
    assert.deepEqual(await run({ types: ['org.example.*'] }), expected.other, 'a trailing * is a wildcard')
    assert.deepEqual(await run({ types: ['m.room.message'], senders: [bob.userId] }), expected.bobMessages)
    assert.deepEqual(await run({ types: ['m.room.message'], not_senders: [bob.userId] }), expected.aliceMessages)
    const notTypes = await run({ not_types: ['m.room.*', 'org.example.other'] })
    assert.deepEqual(notTypes, [], 'every event is either m.room.* or excluded')
    const backwards = ids((await paginate(alice, roomId, { dir: 'b', limit: 4, filter: JSON.stringify({ senders: [bob.userId], types: ['m.room.message'] }) })).events)
    assert.deepEqual(backwards, [...expected.bobMessages].reverse())
    const byFilterLimit = await alice.messages(roomId, { dir: 'b', filter: JSON.stringify({ limit: 3 }) })
    assert.equal(byFilterLimit.chunk.length, 3, "the filter's limit applies when the query has none")
  })

  it('returns the senders\' member events as state with lazy_load_members', async () => {
    const alice = await user()
    const [bob, carol] = [await user(), await user()]
    const roomId = await sharedRoom(alice, [bob, carol])
    await carol.send(roomId, 'carol early')
    await bob.send(roomId, 'bob')
    await alice.send(roomId, 'alice')
    const page = await alice.messages(roomId, { dir: 'b', limit: 2, filter: JSON.stringify({ lazy_load_members: true }) })
    assert.deepEqual(bodies(page.chunk), ['alice', 'bob'])
    const members = (page.state ?? []).filter((e) => e.type === 'm.room.member').map((e) => e.state_key).sort()
    assert.deepEqual(members, [alice.userId, bob.userId].sort(), 'only the senders of the chunk')
  })

  it('refuses bad parameters with 400 and non-members with 403', async () => {
    const alice = await user()
    const eve = await user()
    const roomId = await alice.createRoom()
    assert.equal((await alice.get(`/rooms/${enc(roomId)}/messages`)).status, 400, 'dir is required')
    assert.equal((await alice.get(`/rooms/${enc(roomId)}/messages?dir=x`)).status, 400)
    assertError(await alice.get(`/rooms/${enc(roomId)}/messages?dir=b&from=garbage`), 400, 'M_INVALID_PARAM')
    assert.equal((await alice.get(`/rooms/${enc(roomId)}/messages?dir=b&limit=-1`)).status, 400)
    assert.equal((await alice.get(`/rooms/${enc(roomId)}/messages?dir=b&filter=${enc('{nope')}`)).status, 400)
    assertError(await eve.get(`/rooms/${enc(roomId)}/messages?dir=b`), 403, 'M_FORBIDDEN')
  })
})

describe('GET /rooms/{roomId}/context/{eventId}', () => {
  it('returns events before and after with tokens that continue /messages seamlessly', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    const sent: string[] = []
    for (let i = 0; i < 15; i++) sent.push(await alice.send(roomId, `m${i}`))
    const res = await alice.get(`/rooms/${enc(roomId)}/context/${enc(sent[7] as string)}?limit=6`)
    assert.equal(res.status, 200)
    const ctx = res.body
    assert.equal(ctx.event.event_id, sent[7])
    assert.deepEqual(ids(ctx.events_before), [sent[6], sent[5], sent[4]], 'before: newest first')
    assert.deepEqual(ids(ctx.events_after), [sent[8], sent[9], sent[10]], 'after: oldest first')
    const older = await alice.messages(roomId, { dir: 'b', from: ctx.start, limit: 2 })
    assert.deepEqual(ids(older.chunk), [sent[3], sent[2]])
    const newer = await alice.messages(roomId, { dir: 'f', from: ctx.end, limit: 2 })
    assert.deepEqual(ids(newer.chunk), [sent[11], sent[12]])
    const stateTypes = (ctx.state as ClientEventJson[]).map((e) => e.type)
    assert.ok(stateTypes.includes('m.room.create') && stateTypes.includes('m.room.member'))
  })

  it('filters context events and answers 404 for unknown events or events of another room', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    const other = await alice.createRoom()
    const m1 = await alice.send(roomId, 'one')
    await alice.send(roomId, { x: 1 }, 'org.example.noise')
    const m2 = await alice.send(roomId, 'two')
    await alice.send(roomId, { x: 2 }, 'org.example.noise')
    const m3 = await alice.send(roomId, 'three')
    const filter = enc(JSON.stringify({ types: ['m.room.message'] }))
    const ctx = (await alice.get(`/rooms/${enc(roomId)}/context/${enc(m2)}?limit=2&filter=${filter}`)).body
    assert.deepEqual(ids(ctx.events_before), [m1])
    assert.deepEqual(ids(ctx.events_after), [m3])
    assertError(await alice.get(`/rooms/${enc(roomId)}/context/${enc('$nope')}`), 404, 'M_NOT_FOUND')
    assertError(await alice.get(`/rooms/${enc(other)}/context/${enc(m1)}`), 404, 'M_NOT_FOUND')
  })

  it('refuses /context to a user who was never in a room that is not world_readable with 403, and lets anyone read a world_readable one', async () => {
    const alice = await user()
    const eve = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    const message = await alice.send(roomId, 'members only')
    assertError(await eve.get(`/rooms/${enc(roomId)}/context/${enc(message)}`), 403, 'M_FORBIDDEN')
    assertError(await eve.get(`/rooms/${enc(roomId)}/context/${enc('$nope')}`), 403, 'M_FORBIDDEN', 'whether or not the event exists')
    await alice.putState(roomId, 'm.room.history_visibility', '', { history_visibility: 'world_readable' })
    const readable = await alice.send(roomId, 'for anyone')
    const open = await eve.get(`/rooms/${enc(roomId)}/context/${enc(readable)}`)
    assert.equal(open.status, 200)
    assert.equal(open.body.event.event_id, readable)
  })

  it('with lazy_load_members, sends the room state with only the member events of the senders returned', async () => {
    const alice = await user()
    const bob = await user()
    const carol = await user()
    const roomId = await sharedRoom(alice, [bob, carol])
    await alice.putState(roomId, 'm.room.topic', '', { topic: 'lazy' })
    const m1 = await alice.send(roomId, 'from alice')
    const m2 = await bob.send(roomId, 'from bob')
    for (let i = 0; i < 5; i++) await carol.send(roomId, `carol ${i}`)
    const filter = enc(JSON.stringify({ lazy_load_members: true }))
    const ctx = (await alice.get(`/rooms/${enc(roomId)}/context/${enc(m2)}?limit=2&filter=${filter}`)).body
    assert.deepEqual(ids(ctx.events_before), [m1])
    const state = ctx.state as ClientEventJson[]
    for (const type of ['m.room.create', 'm.room.power_levels', 'm.room.join_rules', 'm.room.topic']) assert.ok(state.some((e) => e.type === type), type)
    const members = state.filter((e) => e.type === 'm.room.member').map((e) => e.state_key).sort()
    // The senders of m1, m2 and of the one event after (carol's first).
    assert.deepEqual(members, [alice.userId, bob.userId, carol.userId].sort())
    const narrower = (await alice.get(`/rooms/${enc(roomId)}/context/${enc(m1)}?limit=0&filter=${filter}`)).body
    assert.deepEqual((narrower.state as ClientEventJson[]).filter((e) => e.type === 'm.room.member').map((e) => e.state_key), [alice.userId])
    // Without the filter, every member.
    const full = (await alice.get(`/rooms/${enc(roomId)}/context/${enc(m1)}?limit=0`)).body
    assert.equal((full.state as ClientEventJson[]).filter((e) => e.type === 'm.room.member').length, 3)
  })
})

describe('GET /rooms/{roomId}/event/{eventId}', () => {
  it('returns a client event, and 404 for unknown IDs or events of another room', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    const other = await alice.createRoom()
    const id = await alice.send(roomId, 'hi')
    const event = await alice.event(roomId, id)
    assert.equal(event.event_id, id)
    assert.equal(event.room_id, roomId)
    assert.equal(event.sender, alice.userId)
    assert.equal(event.type, 'm.room.message')
    assert.deepEqual(event.content, { msgtype: 'm.text', body: 'hi' })
    assert.equal(typeof event.unsigned?.age, 'number')
    assert.equal('prev_events' in event || 'auth_events' in event || 'hashes' in event || 'signatures' in event, false, 'client format only')
    assertError(await alice.get(`/rooms/${enc(roomId)}/event/${enc('$unknown')}`), 404, 'M_NOT_FOUND')
    assertError(await alice.get(`/rooms/${enc(other)}/event/${enc(id)}`), 404, 'M_NOT_FOUND')
  })
})

describe('history visibility', () => {
  async function roomWithHistory(visibility: string) {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: visibility } }] })
    const before = [await alice.send(roomId, 'before 1'), await alice.send(roomId, 'before 2')]
    return { alice, bob, roomId, before }
  }
  const visibleTo = async (c: RoomClient, roomId: string) => ids((await paginate(c, roomId, { dir: 'b', limit: 5 })).events)

  it('joined: hides the history before the join, by /messages, /event and /context', async () => {
    const { alice, bob, roomId, before } = await roomWithHistory('joined')
    await bob.join(roomId)
    const after = await alice.send(roomId, 'after')
    const seen = await visibleTo(bob, roomId)
    for (const id of before) assert.ok(!seen.includes(id), 'pre-join message hidden')
    assert.ok(seen.includes(after))
    // Events before the history_visibility event were sent under the default (shared) and stay visible;
    // from it on, only what came after bob's join.
    const all = ids((await paginate(alice, roomId, { dir: 'f' })).events)
    const cut = all.indexOf((await alice.get(`/rooms/${enc(roomId)}/state/m.room.history_visibility?format=event`)).body.event_id)
    const join = all.findIndex((id, i) => i > cut && seen.includes(id) && id !== after)
    assert.deepEqual([...seen].reverse(), [...all.slice(0, cut + 1), ...all.slice(join)])
    assert.ok(join > cut + 1, 'something (guest_access, the messages) was hidden between them')
    assertError(await bob.get(`/rooms/${enc(roomId)}/event/${enc(before[0] as string)}`), 404, 'M_NOT_FOUND')
    assertError(await bob.get(`/rooms/${enc(roomId)}/context/${enc(before[1] as string)}`), 404, 'M_NOT_FOUND')
    const ctx = (await bob.get(`/rooms/${enc(roomId)}/context/${enc(after)}?limit=10`)).body
    for (const id of before) assert.ok(!ids(ctx.events_before).includes(id))
  })

  it('joined: a user who left sees what they saw while joined, nothing after', async () => {
    const { alice, bob, roomId } = await roomWithHistory('joined')
    await bob.join(roomId)
    const during = await alice.send(roomId, 'during')
    await bob.leave(roomId)
    const afterLeave = await alice.send(roomId, 'after leave')
    const seen = await visibleTo(bob, roomId)
    assert.ok(seen.includes(during))
    assert.ok(!seen.includes(afterLeave))
    assertError(await bob.get(`/rooms/${enc(roomId)}/event/${enc(afterLeave)}`), 404, 'M_NOT_FOUND')
  })

  it('shared: members see the history from before they joined, also after leaving, but not events after leaving', async () => {
    const { alice, bob, roomId, before } = await roomWithHistory('shared')
    await bob.join(roomId)
    const seen = await visibleTo(bob, roomId)
    for (const id of before) assert.ok(seen.includes(id), 'pre-join message visible')
    assert.equal(seen.at(-1), ids((await paginate(alice, roomId, { dir: 'b' })).events).at(-1), 'down to the create event')
    await bob.leave(roomId)
    const afterLeave = await alice.send(roomId, 'after leave')
    const seenAfterLeaving = await visibleTo(bob, roomId)
    for (const id of before) assert.ok(seenAfterLeaving.includes(id), 'a user keeps the history they were allowed to see')
    assert.ok(!seenAfterLeaving.includes(afterLeave))
    const carol = await user()
    assertError(await carol.get(`/rooms/${enc(roomId)}/event/${enc(before[0] as string)}`), 404, 'M_NOT_FOUND', 'never joined')
  })

  it('invited: history is visible from the invite on', async () => {
    const { alice, bob, roomId, before } = await roomWithHistory('invited')
    await alice.invite(roomId, bob.userId)
    const whileInvited = await alice.send(roomId, 'while invited')
    await bob.join(roomId)
    const seen = await visibleTo(bob, roomId)
    for (const id of before) assert.ok(!seen.includes(id))
    assert.ok(seen.includes(whileInvited))
  })

  it('world_readable: events are visible to anyone, and the change away from it is visible too', async () => {
    const { alice, bob, roomId, before } = await roomWithHistory('world_readable')
    const eve = await user()
    assert.equal((await eve.event(roomId, before[0] as string)).content.body, 'before 1', 'a user who never joined')
    const change = await alice.putState(roomId, 'm.room.history_visibility', '', { history_visibility: 'joined' })
    const hidden = await alice.send(roomId, 'joined only')
    await bob.join(roomId)
    const seen = await visibleTo(bob, roomId)
    for (const id of before) assert.ok(seen.includes(id), 'sent while world_readable')
    assert.ok(!seen.includes(hidden), 'sent while joined-only, before bob joined')
    assert.ok(seen.includes(change), 'the history_visibility event is visible if the visibility before or after it allows')
  })
})

describe('redactions', () => {
  it('strips a redacted event\'s content and adds unsigned.redacted_because, everywhere it is served', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await sharedRoom(alice, [bob])
    const message = await bob.send(roomId, { msgtype: 'm.text', body: 'oops', format: 'x' })
    const res = await bob.put(`/rooms/${enc(roomId)}/redact/${enc(message)}/r1`, { reason: 'typo' })
    assert.equal(res.status, 200)
    const redactionId = res.body.event_id
    const event = await alice.event(roomId, message)
    assert.deepEqual(event.content, {})
    assert.equal(event.type, 'm.room.message')
    const because = event.unsigned?.redacted_because
    assert.equal(because?.event_id, redactionId)
    assert.equal(because?.type, 'm.room.redaction')
    assert.equal(because?.sender, bob.userId)
    assert.equal(because?.content.reason, 'typo')
    const inMessages = (await alice.messages(roomId, { dir: 'b', limit: 5 })).chunk
    const redacted = inMessages.find((e) => e.event_id === message)
    assert.deepEqual(redacted?.content, {})
    assert.equal(redacted?.unsigned?.redacted_because?.event_id, redactionId)
    assert.equal(redacted?.unsigned?.redacted_by, redactionId)
    const redactionEvent = inMessages.find((e) => e.event_id === redactionId)
    assert.equal(redactionEvent?.redacts, message, 'the redaction names what it redacts at the top level')
    const again = await bob.put(`/rooms/${enc(roomId)}/redact/${enc(message)}/r1`, { reason: 'typo' })
    assert.equal(again.body.event_id, redactionId, 'the txnId makes a retry idempotent')
  })

  it("refuses to redact an event of another room (400), and takes an ID this server has never seen", async () => {
    const alice = await user()
    const here = await alice.createRoom()
    const there = await alice.createRoom()
    const elsewhere = await alice.send(there, 'in the other room')
    const res = await alice.put(`/rooms/${enc(here)}/redact/${enc(elsewhere)}/x1`, {})
    assert.deepEqual([res.status, res.body.errcode], [400, 'M_INVALID_PARAM'])
    assert.equal((await alice.event(there, elsewhere)).content.body, 'in the other room')
    const unknown = await alice.put(`/rooms/${enc(here)}/redact/${enc('$neverseen')}/x2`, {})
    assert.equal(unknown.status, 200, JSON.stringify(unknown.body))
  })

  it('puts redacts in content from room version 11 and at the top level before', async () => {
    const alice = await user()
    for (const version of ['10', '11']) {
      const roomId = await alice.createRoom({ room_version: version })
      const message = await alice.send(roomId, 'x')
      const redaction = (await alice.put(`/rooms/${enc(roomId)}/redact/${enc(message)}/v${version}`, {})).body.event_id
      const event = await alice.event(roomId, redaction)
      assert.equal(event.redacts, message, `v${version} top level`)
      if (version === '11') assert.equal(event.content.redacts, message)
    }
  })

  it('lets only the sender, or a user with the redact level, redact an event', async () => {
    const alice = await user()
    const [bob, carol] = [await user(), await user()]
    const roomId = await sharedRoom(alice, [bob, carol])
    const aliceMessage = await alice.send(roomId, 'alice says')
    const bobMessage = await bob.send(roomId, 'bob says')
    assertError(await carol.put(`/rooms/${enc(roomId)}/redact/${enc(bobMessage)}/x`, {}), 403, 'M_FORBIDDEN', 'carol redacting bob')
    assertError(await bob.put(`/rooms/${enc(roomId)}/redact/${enc(aliceMessage)}/x`, {}), 403, 'M_FORBIDDEN', 'bob redacting alice')
    assert.equal((await alice.event(roomId, bobMessage)).content.body, 'bob says', 'nothing was redacted')
    assert.equal((await alice.put(`/rooms/${enc(roomId)}/redact/${enc(bobMessage)}/x`, {})).status, 200, 'alice has the redact level')
    assert.deepEqual((await bob.event(roomId, bobMessage)).content, {})
    assertError(await (await user()).put(`/rooms/${enc(roomId)}/redact/${enc(aliceMessage)}/y`, {}), 403, 'M_FORBIDDEN', 'a non-member')
  })

  it('redacts state events by the room version\'s rules, and the current state is served redacted', async () => {
    const alice = await user()
    const roomId = await alice.createRoom({ room_version: '11', topic: 'secret topic' })
    const topic = (await alice.get(`/rooms/${enc(roomId)}/state/m.room.topic?format=event`)).body.event_id
    const joinRules = (await alice.get(`/rooms/${enc(roomId)}/state/m.room.join_rules?format=event`)).body.event_id
    await alice.put(`/rooms/${enc(roomId)}/redact/${enc(topic)}/a`, {})
    await alice.put(`/rooms/${enc(roomId)}/redact/${enc(joinRules)}/b`, {})
    assert.deepEqual(await alice.getState(roomId, 'm.room.topic'), {})
    assert.deepEqual(await alice.getState(roomId, 'm.room.join_rules'), { join_rule: 'invite' }, 'join_rule survives redaction')
  })
})

describe('the room DAG under concurrent writers', () => {
  it('stays one chain: each event references the one before it, and the room keeps one forward extremity', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await sharedRoom(alice, [bob])
    await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? alice : bob).send(roomId, `concurrent ${i}`)))
    await alice.putState(roomId, 'm.room.topic', '', { topic: 'after the burst' })
    const { rows } = await t.server.ctx.storage.db.query<{ json: string }>('SELECT json FROM events WHERE room_id = $1 ORDER BY depth', [roomId])
    const pdus = rows.map((r) => JSON.parse(r.json) as { event_id?: string; depth: number; prev_events: string[] })
    const idOf = async (i: number) => (await t.server.ctx.storage.db.query<{ event_id: string }>('SELECT event_id FROM events WHERE room_id = $1 AND depth = $2', [roomId, pdus[i]!.depth])).rows.map((r) => r.event_id)
    for (let i = 1; i < pdus.length; i++) {
      assert.equal(pdus[i]!.depth, pdus[i - 1]!.depth + 1, 'depths follow one another')
      assert.deepEqual(pdus[i]!.prev_events, await idOf(i - 1), `event at depth ${pdus[i]!.depth} references the one before`)
    }
    const room = await t.server.ctx.storage.db.query<{ event_id: string }>('SELECT event_id FROM room_extremities WHERE room_id = $1', [roomId])
    assert.deepEqual(room.rows.map((r) => r.event_id), await idOf(pdus.length - 1))
  })
})

describe('the r0 forms without a transaction ID', () => {
  it('POST /send and POST /redact each make a new event, as older clients expect', async () => {
    const alice = await user()
    const roomId = await alice.createRoom({})
    const first = await alice.post(`/rooms/${enc(roomId)}/send/m.room.message`, { msgtype: 'm.text', body: 'one' })
    const second = await alice.post(`/rooms/${enc(roomId)}/send/m.room.message`, { msgtype: 'm.text', body: 'one' })
    assert.equal(first.status, 200, JSON.stringify(first.body))
    assert.notEqual(first.body.event_id, second.body.event_id, 'the same body twice is two events')
    const redaction = await alice.post(`/rooms/${enc(roomId)}/redact/${enc(first.body.event_id)}`, {})
    assert.equal(redaction.status, 200, JSON.stringify(redaction.body))
    const page = await alice.messages(roomId, { dir: 'b', limit: 3 })
    assert.deepEqual(ids(page.chunk), [redaction.body.event_id, second.body.event_id, first.body.event_id])
    assert.equal(page.chunk[0]?.redacts, first.body.event_id)
    assert.equal((page.chunk[2]?.unsigned as { redacted_by?: string } | undefined)?.redacted_by, redaction.body.event_id)
    assertError(await alice.post(`/rooms/${enc(roomId)}/redact/not-an-event`, {}), 400, 'M_INVALID_PARAM')
  })
})
