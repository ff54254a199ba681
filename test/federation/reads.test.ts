// The server-server API's reads of a room's DAG between two Homesteads with different server names over
// HTTPS with a test CA: A asks B (signed with X-Matrix by A's FederationClient) for events, the state at an
// event, auth chains, backfill and missing events, B's room directory and a space's hierarchy.
//
// Until remote joins exist, A is "in" a room of B's in one of two ways: the room is world_readable, or
// B's own RoomWriter appended a join of a user of A's (@…:A) to it (signed by B, not A: these reads do not
// check signatures). Each test below says which.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { federationFronts } from '../support/federation.ts'
import { RoomClient } from '../support/rooms.ts'
import { FederationError } from '../../src/federation/index.ts'
import type { AppContext } from '../../src/context.ts'

const fronts = await federationFronts()
const { nameA, nameB, common } = fronts
const a: TestServer = await startTestServer({ ...common(), server_name: nameA })
const b: TestServer = await startTestServer({ ...common(), server_name: nameB })
fronts.route(fronts.frontA, a.url)
fronts.route(fronts.frontB, b.url)
const ctxA: AppContext = a.server.ctx
const ctxB: AppContext = b.server.ctx
const reposB = ctxB.storage.repos

after(() => fronts.close())

const F = '/_matrix/federation/v1'
const ask = <T = any>(path: string, query?: Record<string, string | number | Array<string | number>>) => ctxA.federation.client.get<T>(nameB, `${F}${path}`, query)
const askPost = <T = any>(path: string, body: unknown) => ctxA.federation.client.post<T>(nameB, `${F}${path}`, body)
const enc = encodeURIComponent

async function refusedBy(promise: Promise<unknown>, status: number, errcode: string) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof FederationError, String(err))
    assert.deepEqual([err.status, err.errcode], [status, errcode], err.message)
    return true
  })
}

/** B's RoomWriter appends a join of `userId` (a user of A's) to a room of B's, as a remote join will. */
async function joinFromA(roomId: string, localpart: string): Promise<string> {
  const userId = `@${localpart}:${nameA}`
  return ctxB.rooms.writeRooms((batch) => batch.append(roomId, { type: 'm.room.member', state_key: userId, sender: userId, content: { membership: 'join' } }))
}

/** The PDU B stores for an event, as it would serve it. */
async function stored(roomId: string, eventId: string): Promise<Record<string, any>> {
  const row = await reposB.events.get(roomId, eventId)
  assert.ok(row, `B has ${eventId}`)
  return JSON.parse(row.json)
}

/** The auth chain of `eventIds` by walking the stored JSON (room version 12 adds the create event named by the room ID). */
async function expectedAuthChain(roomId: string, eventIds: string[]): Promise<Set<string>> {
  const v12 = !roomId.includes(':')
  const chain = new Set<string>()
  let frontier = eventIds
  while (frontier.length > 0) {
    const rows = await reposB.events.getMany(roomId, frontier)
    const next: string[] = []
    for (const row of rows) {
      const pdu = JSON.parse(row.json)
      const auth: string[] = pdu.auth_events.map((x: unknown) => (Array.isArray(x) ? x[0] : x))
      if (v12 && pdu.type !== 'm.room.create') auth.push(`$${roomId.slice(1)}`)
      for (const id of auth) if (!chain.has(id)) (chain.add(id), next.push(id))
    }
    frontier = next
  }
  return chain
}

const sorted = (list: Iterable<string>) => [...list].sort()
const canonical = (pdus: unknown[]) => pdus.map((p) => JSON.stringify(p)).sort()

// B's users and rooms.
const bob = await RoomClient.register(b.api, { username: 'bob' })

// A world_readable room A has no member in; its history grows one message at a time.
const world = await bob.createRoom({ preset: 'public_chat', visibility: 'public', name: 'The world room', topic: 'first topic', initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'world_readable' } }] })
const worldMessages: string[] = []
for (let i = 0; i < 5; i++) worldMessages.push(await bob.send(world, `world ${i}`))
const topicEvent = await bob.putState(world, 'm.room.topic', '', { topic: 'second topic' })
const afterTopic = await bob.send(world, 'after the topic')

// A "joined" room: history before A's user joined is hidden from A.
const joinedOnly = await bob.createRoom({ preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'joined' } }] })
const beforeJoin: string[] = []
for (let i = 0; i < 3; i++) beforeJoin.push(await bob.send(joinedOnly, `before ${i}`))
const aliceJoin = await joinFromA(joinedOnly, 'alice')
const afterJoin = await bob.send(joinedOnly, 'after the join')

// A private room with no member of A's.
const privateRoom = await bob.createRoom({ preset: 'private_chat' })
const privateMessage = await bob.send(privateRoom, 'for B only')

// A room A's user is joined to, whose ACL then denies A (an IP literal, and by name).
const aclRoom = await bob.createRoom({ preset: 'public_chat' })
await joinFromA(aclRoom, 'carol')
const aclMessage = await bob.send(aclRoom, 'behind the ACL')
await bob.putState(aclRoom, 'm.room.server_acl', '', { allow: ['*'], deny: [nameA.split(':')[0] as string], allow_ip_literals: true })

describe('GET /_matrix/federation/v1/event/{eventId}', () => {
  it('answers a transaction with the PDU as B stores it', async () => {
    const answer = await ask(`/event/${enc(worldMessages[0] as string)}`)
    assert.equal(answer.origin, nameB)
    assert.equal(typeof answer.origin_server_ts, 'number')
    assert.deepEqual(answer.pdus, [await stored(world, worldMessages[0] as string)])
    assert.equal(answer.pdus[0].content.body, 'world 0')
  })

  it('serves what a user of A may see, and refuses what it may not (403), unknown events 404, a bad ID 400', async () => {
    assert.deepEqual((await ask(`/event/${enc(afterJoin)}`)).pdus, [await stored(joinedOnly, afterJoin)])
    await refusedBy(ask(`/event/${enc(beforeJoin[0] as string)}`), 403, 'M_FORBIDDEN')
    await refusedBy(ask(`/event/${enc(privateMessage)}`), 403, 'M_FORBIDDEN')
    await refusedBy(ask(`/event/${enc('$nothing-here')}`), 404, 'M_NOT_FOUND')
    await refusedBy(ask(`/event/not-an-event-id`), 400, 'M_INVALID_PARAM')
  })
})

describe('History visibility for servers', () => {
  it("'shared': history from before a join of A's user is visible to A", async () => {
    const room = await bob.createRoom({ preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'shared' } }] })
    const early = await bob.send(room, 'early')
    await refusedBy(ask(`/event/${enc(early)}`), 403, 'M_FORBIDDEN')
    await joinFromA(room, 'frank')
    assert.equal((await ask(`/event/${enc(early)}`)).pdus[0].content.body, 'early')
  })

  it("'invited': events from the invite of A's user on are visible to A, not those before", async () => {
    const room = await bob.createRoom({ preset: 'private_chat', initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'invited' } }] })
    const before = await bob.send(room, 'before the invite')
    const erin = `@erin:${nameA}`
    await ctxB.rooms.writeRooms((batch) => batch.append(room, { type: 'm.room.member', state_key: erin, sender: bob.userId, content: { membership: 'invite' } }))
    const after = await bob.send(room, 'after the invite')
    assert.equal((await ask(`/event/${enc(after)}`)).pdus[0].content.body, 'after the invite')
    await refusedBy(ask(`/event/${enc(before)}`), 403, 'M_FORBIDDEN')
    const answer = await ask(`/backfill/${enc(room)}`, { v: after, limit: 3 })
    assert.deepEqual(answer.pdus.map((p: any) => [p.type, p.content.body ?? p.content.membership ?? null]), [
      ['m.room.message', 'after the invite'],
      ['m.room.member', 'invite'],
      ['m.room.message', null],
    ])
  })
})

describe('GET /_matrix/federation/v1/state_ids/{roomId} and /state/{roomId}', () => {
  it('gives the state before the event with its auth chain, IDs or PDUs', async () => {
    const current = await reposB.state.currentStateEvents(world)
    const answer = await ask(`/state_ids/${enc(world)}`, { event_id: afterTopic })
    assert.deepEqual(sorted(answer.pdu_ids), sorted(current.map((c) => c.event_id)))
    assert.deepEqual(sorted(answer.auth_chain_ids), sorted(await expectedAuthChain(world, answer.pdu_ids)))
    const full = await ask(`/state/${enc(world)}`, { event_id: afterTopic })
    assert.deepEqual(canonical(full.pdus), canonical(await Promise.all(answer.pdu_ids.map((id: string) => stored(world, id)))))
    assert.deepEqual(canonical(full.auth_chain), canonical(await Promise.all(answer.auth_chain_ids.map((id: string) => stored(world, id)))))
  })

  it("leaves out the event's own change: the state at a topic change holds the topic it replaced", async () => {
    const answer = await ask(`/state_ids/${enc(world)}`, { event_id: topicEvent })
    assert.ok(!answer.pdu_ids.includes(topicEvent))
    const topics = (await Promise.all(answer.pdu_ids.map((id: string) => stored(world, id)))).filter((p) => p.type === 'm.room.topic')
    assert.deepEqual(topics.map((t) => t.content.topic), ['first topic'])
    const later = await ask(`/state_ids/${enc(world)}`, { event_id: afterTopic })
    assert.ok(later.pdu_ids.includes(topicEvent))
  })

  it('refuses a server with no member in a room it may not read (403), unknown rooms and events 404, a missing event_id 400', async () => {
    await refusedBy(ask(`/state_ids/${enc(privateRoom)}`, { event_id: privateMessage }), 403, 'M_FORBIDDEN')
    await refusedBy(ask(`/state/${enc(privateRoom)}`, { event_id: privateMessage }), 403, 'M_FORBIDDEN')
    await refusedBy(ask(`/state_ids/${enc(`!unknown:${nameB}`)}`, { event_id: privateMessage }), 404, 'M_NOT_FOUND')
    await refusedBy(ask(`/state_ids/${enc(world)}`, { event_id: privateMessage }), 404, 'M_NOT_FOUND')
    await refusedBy(ask(`/state_ids/${enc(world)}`), 400, 'M_MISSING_PARAM')
  })

  it('answers a server whose user is joined now, even at an event it may not see', async () => {
    const answer = await ask(`/state_ids/${enc(joinedOnly)}`, { event_id: beforeJoin[0] as string })
    assert.ok(answer.pdu_ids.length > 0)
    assert.ok(!answer.pdu_ids.includes(aliceJoin), 'the state before the join')
  })
})

describe('GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}', () => {
  it("gives the event's full auth chain", async () => {
    const answer = await ask(`/event_auth/${enc(joinedOnly)}/${enc(afterJoin)}`)
    const expected = await expectedAuthChain(joinedOnly, [afterJoin])
    assert.ok(expected.size >= 3)
    assert.deepEqual(canonical(answer.auth_chain), canonical(await Promise.all([...expected].map((id) => stored(joinedOnly, id)))))
  })

  it('refuses a server not in the room, and answers 404 for an unknown event', async () => {
    await refusedBy(ask(`/event_auth/${enc(privateRoom)}/${enc(privateMessage)}`), 403, 'M_FORBIDDEN')
    await refusedBy(ask(`/event_auth/${enc(world)}/${enc('$nothing-here')}`), 404, 'M_NOT_FOUND')
  })
})

describe('GET /_matrix/federation/v1/backfill/{roomId}', () => {
  it('gives the given event and those before it, deepest first, up to the limit', async () => {
    const answer = await ask(`/backfill/${enc(world)}`, { v: afterTopic, limit: 4 })
    assert.equal(answer.origin, nameB)
    const expected = [afterTopic, topicEvent, worldMessages[4], worldMessages[3]] as string[]
    assert.deepEqual(answer.pdus, await Promise.all(expected.map((id) => stored(world, id))))
    const depths = answer.pdus.map((p: any) => p.depth)
    assert.deepEqual(depths, [...depths].sort((x: number, y: number) => y - x))
  })

  it('walks back to the create event and stops there', async () => {
    const answer = await ask(`/backfill/${enc(world)}`, { v: worldMessages[0] as string, limit: 50 })
    const last = answer.pdus[answer.pdus.length - 1]
    assert.equal(last.type, 'm.room.create')
    assert.equal(answer.pdus[0].content.body, 'world 0')
    assert.equal(new Set(answer.pdus.map((p: unknown) => JSON.stringify(p))).size, answer.pdus.length, 'no event twice')
  })

  it('serves the events a server may not see redacted', async () => {
    const answer = await ask(`/backfill/${enc(joinedOnly)}`, { v: afterJoin, limit: 5 })
    assert.deepEqual(answer.pdus.slice(0, 2), [await stored(joinedOnly, afterJoin), await stored(joinedOnly, aliceJoin)])
    const hidden = answer.pdus.slice(2)
    assert.equal(hidden.length, 3)
    for (const pdu of hidden) {
      assert.equal(pdu.type, 'm.room.message')
      assert.deepEqual(pdu.content, {}, 'history from before the join is redacted')
    }
  })

  it('caps the limit at 100', async () => {
    for (let i = 0; i < 110; i++) await bob.send(world, `filler ${i}`)
    const newest = await bob.send(world, 'newest')
    const answer = await ask(`/backfill/${enc(world)}`, { v: newest, limit: 10_000 })
    assert.equal(answer.pdus.length, 100)
    assert.equal(answer.pdus[0].content.body, 'newest')
  })

  it('refuses bad parameters (400), unknown rooms (404) and servers not in the room (403)', async () => {
    await refusedBy(ask(`/backfill/${enc(world)}`, { limit: 10 }), 400, 'M_MISSING_PARAM')
    await refusedBy(ask(`/backfill/${enc(world)}`, { v: afterTopic }), 400, 'M_MISSING_PARAM')
    await refusedBy(ask(`/backfill/${enc(world)}`, { v: afterTopic, limit: 0 }), 400, 'M_INVALID_PARAM')
    await refusedBy(ask(`/backfill/${enc(world)}`, { v: afterTopic, limit: 'many' }), 400, 'M_INVALID_PARAM')
    await refusedBy(ask(`/backfill/${enc(`!unknown:${nameB}`)}`, { v: afterTopic, limit: 10 }), 404, 'M_NOT_FOUND')
    await refusedBy(ask(`/backfill/${enc(privateRoom)}`, { v: privateMessage, limit: 10 }), 403, 'M_FORBIDDEN')
  })
})

describe('POST /_matrix/federation/v1/get_missing_events/{roomId}', () => {
  it('gives the events between earliest and latest, oldest first, without either end', async () => {
    const answer = await askPost(`/get_missing_events/${enc(world)}`, { earliest_events: [worldMessages[0]], latest_events: [worldMessages[4]], limit: 10 })
    assert.deepEqual(answer.events, await Promise.all([1, 2, 3].map((i) => stored(world, worldMessages[i] as string))))
  })

  it('keeps to the limit (the nearest events) and min_depth, and caps the limit at 20', async () => {
    const three = await askPost(`/get_missing_events/${enc(world)}`, { earliest_events: [], latest_events: [worldMessages[4]], limit: 2 })
    assert.deepEqual(three.events, await Promise.all([2, 3].map((i) => stored(world, worldMessages[i] as string))))
    const depth4 = (await stored(world, worldMessages[4] as string)).depth
    const shallow = await askPost(`/get_missing_events/${enc(world)}`, { earliest_events: [], latest_events: [worldMessages[4]], limit: 10, min_depth: depth4 - 2 })
    assert.deepEqual(shallow.events.map((e: any) => e.depth), [depth4 - 2, depth4 - 1])
    const newest = await bob.send(world, 'newest again')
    const capped = await askPost(`/get_missing_events/${enc(world)}`, { earliest_events: [], latest_events: [newest], limit: 500 })
    assert.equal(capped.events.length, 20)
    const depths = capped.events.map((e: any) => e.depth)
    assert.deepEqual(depths, [...depths].sort((x: number, y: number) => x - y))
  })

  it('takes a missing earliest_events as an empty one', async () => {
    const noEarliest = await askPost(`/get_missing_events/${enc(world)}`, { latest_events: [worldMessages[4]] })
    assert.ok(noEarliest.events.length > 0)
  })

  it('refuses bad bodies (400), unknown rooms (404) and servers not in the room (403)', async () => {
    await refusedBy(askPost(`/get_missing_events/${enc(world)}`, { earliest_events: 'x', latest_events: [worldMessages[4]] }), 400, 'M_BAD_JSON')
    await refusedBy(askPost(`/get_missing_events/${enc(world)}`, { earliest_events: [], latest_events: Array.from({ length: 101 }, (_, i) => `$e${i}`) }), 400, 'M_BAD_JSON')
    await refusedBy(askPost(`/get_missing_events/${enc(`!unknown:${nameB}`)}`, { earliest_events: [], latest_events: [worldMessages[4]] }), 404, 'M_NOT_FOUND')
    await refusedBy(askPost(`/get_missing_events/${enc(privateRoom)}`, { earliest_events: [], latest_events: [privateMessage] }), 403, 'M_FORBIDDEN')
  })
})

describe('Server ACLs on federation reads', () => {
  it('refuses a server the room ACL denies with 403 M_FORBIDDEN, although its user is joined', async () => {
    await refusedBy(ask(`/event/${enc(aclMessage)}`), 403, 'M_FORBIDDEN')
    await refusedBy(ask(`/state_ids/${enc(aclRoom)}`, { event_id: aclMessage }), 403, 'M_FORBIDDEN')
    await refusedBy(ask(`/state/${enc(aclRoom)}`, { event_id: aclMessage }), 403, 'M_FORBIDDEN')
    await refusedBy(ask(`/event_auth/${enc(aclRoom)}/${enc(aclMessage)}`), 403, 'M_FORBIDDEN')
    await refusedBy(ask(`/backfill/${enc(aclRoom)}`, { v: aclMessage, limit: 5 }), 403, 'M_FORBIDDEN')
    await refusedBy(askPost(`/get_missing_events/${enc(aclRoom)}`, { earliest_events: [], latest_events: [aclMessage] }), 403, 'M_FORBIDDEN')
  })

  it('lets the same server read once the ACL allows it again', async () => {
    const room = await bob.createRoom({ preset: 'public_chat' })
    await joinFromA(room, 'dave')
    const message = await bob.send(room, 'hello')
    await bob.putState(room, 'm.room.server_acl', '', { allow: ['*'], deny: ['*.evil.example'] })
    assert.equal((await ask(`/event/${enc(message)}`)).pdus[0].content.body, 'hello')
  })
})

describe('GET and POST /_matrix/federation/v1/publicRooms', () => {
  it("lists B's published rooms, filtered and paginated", async () => {
    const listed = await ask('/publicRooms', { limit: 10 })
    assert.ok(listed.chunk.some((r: any) => r.room_id === world && r.name === 'The world room' && r.world_readable === true))
    assert.equal(typeof listed.total_room_count_estimate, 'number')
    const searched = await askPost('/publicRooms', { filter: { generic_search_term: 'world room' }, limit: 5 })
    assert.deepEqual(searched.chunk.map((r: any) => r.room_id), [world])
    const none = await askPost('/publicRooms', { filter: { generic_search_term: 'no such room anywhere' } })
    assert.deepEqual(none.chunk, [])
    const all = await ask('/publicRooms', { include_all_networks: 'true' })
    assert.ok(all.chunk.some((r: any) => r.room_id === world))
    await bob.createRoom({ preset: 'public_chat', visibility: 'public', name: 'Another room' })
    const first = await ask('/publicRooms', { limit: 1 })
    assert.equal(first.chunk.length, 1)
    assert.ok(first.next_batch)
    const second = await askPost('/publicRooms', { limit: 1, since: first.next_batch })
    assert.equal(second.chunk.length, 1)
    assert.notEqual(second.chunk[0].room_id, first.chunk[0].room_id)
    await refusedBy(ask('/publicRooms', { limit: 0 }), 400, 'M_INVALID_PARAM')
  })
})

describe('GET /_matrix/federation/v1/hierarchy/{roomId}', () => {
  it('gives the space, its accessible children and the IDs of the others', async () => {
    const space = await bob.createRoom({ preset: 'public_chat', name: 'Family space', creation_content: { type: 'm.space' } })
    const via = { via: [nameB] }
    await bob.putState(space, 'm.space.child', world, { ...via, suggested: true })
    await bob.putState(space, 'm.space.child', privateRoom, via)
    await bob.putState(space, 'm.space.child', joinedOnly, via)
    await bob.putState(space, 'm.space.child', `!elsewhere:${nameA}`, via)
    const answer = await ask(`/hierarchy/${enc(space)}`)
    assert.equal(answer.room.room_id, space)
    assert.equal(answer.room.name, 'Family space')
    assert.equal(answer.room.room_type, 'm.space')
    assert.equal(answer.room.children_state.length, 4)
    assert.ok(answer.room.children_state.every((c: any) => c.type === 'm.space.child' && typeof c.origin_server_ts === 'number'))
    assert.deepEqual(sorted(answer.children.map((c: any) => c.room_id)), sorted([world, joinedOnly]), 'world-readable, and joined by a user of A')
    assert.deepEqual(answer.inaccessible_children, [privateRoom])
    const suggested = await ask(`/hierarchy/${enc(space)}`, { suggested_only: 'true' })
    assert.deepEqual(suggested.children.map((c: any) => c.room_id), [world])
    assert.deepEqual(suggested.inaccessible_children, [])
  })

  it('answers 404 for a room A may not reach, an unknown room, or a room whose ACL denies A', async () => {
    await refusedBy(ask(`/hierarchy/${enc(privateRoom)}`), 404, 'M_NOT_FOUND')
    await refusedBy(ask(`/hierarchy/${enc(`!unknown:${nameB}`)}`), 404, 'M_NOT_FOUND')
    await refusedBy(ask(`/hierarchy/${enc(aclRoom)}`), 404, 'M_NOT_FOUND')
    await refusedBy(ask(`/hierarchy/${enc(world)}`, { suggested_only: 'maybe' }), 400, 'M_INVALID_PARAM')
  })
})
