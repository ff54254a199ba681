// Remote events appended to a room of a real Homestead (ctx.remoteEvents, src/rooms/ingest.ts): events built
// and signed by hand with a second server's key, as its /send would deliver them after the signature checks.
// What the local users see goes through the Client-Server API: /sync, /messages, /event, room state.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { startInstanceOn, startTestServer } from '../support/server.ts'
import { RoomClient, enc, ids } from '../support/rooms.ts'
import { signingKeyFromSeed } from '../../src/protocol/signing.ts'
import { buildEvent } from '../../src/protocol/events/index.ts'
import { selectAuthEvents } from '../../src/protocol/auth/index.ts'
import { stateKey, type JsonObject, type RoomEvent, type StateKey } from '../../src/protocol/events/types.ts'
import { roomVersion, type RoomVersion } from '../../src/protocol/room-versions.ts'
import { parseStored } from '../../src/rooms/writer.ts'
import type { AppContext } from '../../src/context.ts'

const server = await startTestServer()
const ctx: AppContext = server.server.ctx
const REMOTE = 'remote.test'
const remoteKey = signingKeyFromSeed('ed25519:r1', randomBytes(32))
const bob = `@bob:${REMOTE}`
const charlie = `@charlie:${REMOTE}`
const dave = `@dave:${REMOTE}`

const alice = await RoomClient.register(server.api)
const carol = await RoomClient.register(server.api)

/** The room as stored: its current state and forward extremities, as events. */
async function roomNow(roomId: string): Promise<{ version: RoomVersion; state: Map<StateKey, RoomEvent>; extremities: RoomEvent[] }> {
  const repos = ctx.storage.repos
  const row = await repos.rooms.get(roomId)
  const version = roomVersion(row!.room_version)!
  const state = new Map((await repos.state.currentStateEvents(roomId)).map((r) => [stateKey(r.type, r.state_key), parseStored(r.json, version, r.event_id)]))
  const xs = await repos.rooms.extremities(roomId)
  const extremities = (await repos.events.pdus(roomId, xs.map((x) => x.event_id))).map((r) => parseStored(r.json, version, r.event_id))
  return { version, state, extremities }
}

/** An event of the remote server, on `prev` (default: the room's extremities), its auth events chosen from `state`. */
async function remote(roomId: string, template: { type: string; sender: string; content: JsonObject; state_key?: string }, at?: { prev: RoomEvent[]; state: Map<StateKey, RoomEvent> }, claimedDepth?: number): Promise<RoomEvent> {
  const now = await roomNow(roomId)
  const prev = at?.prev ?? now.extremities
  const state = at?.state ?? now.state
  const built = buildEvent(
    { ...template, room_id: roomId, origin_server_ts: Date.now(), depth: claimedDepth ?? Math.max(...prev.map((e) => e.depth)) + 1 },
    {
      version: now.version,
      serverName: REMOTE,
      signingKey: remoteKey,
      prevEventRefs: prev.map((e) => ({ event_id: e.event_id })),
      authEventRefs: selectAuthEvents(template, state, now.version).map((e) => ({ event_id: e.event_id })),
    },
  )
  return built.event
}

/** A remote user joins through a join event appended on the room's current state. */
async function remoteJoin(roomId: string, userId: string): Promise<RoomEvent> {
  const now = await roomNow(roomId)
  const join = await remote(roomId, { type: 'm.room.member', state_key: userId, sender: userId, content: { membership: 'join' } })
  assert.deepEqual(await ctx.remoteEvents.ingest(join, { origin: REMOTE, stateBefore: [...now.state.values()] }), { outcome: 'accepted' })
  return join
}

async function storedRow(roomId: string, eventId: string) {
  const { rows } = await ctx.storage.db.query<{ stream_ordering: number | null; soft_failed: boolean; outlier: boolean; rejected_reason: string | null; json: string }>(
    'SELECT stream_ordering, soft_failed, outlier, rejected_reason, json FROM events WHERE room_id = $1 AND event_id = $2',
    [roomId, eventId],
  )
  return rows[0]
}

const timelineIds = (sync: any, roomId: string): string[] => ids(sync.rooms?.join?.[roomId]?.timeline?.events ?? [])

describe('RemoteEvents.ingest', () => {
  it("orders a remote event after its predecessors, whatever depth its sender claims", async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    const join = await remoteJoin(roomId, bob)
    const at = { prev: [join], state: (await roomNow(roomId)).state }
    const m1 = await alice.send(roomId, { msgtype: 'm.text', body: 'one' })
    const m2 = await alice.send(roomId, { msgtype: 'm.text', body: 'two' })
    // On the join, concurrent with Alice's two messages, claiming to be far newer than anything.
    const boastful = await remote(roomId, { type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'always last?' } }, at, 2 ** 50)
    assert.deepEqual(await ctx.remoteEvents.ingest(boastful, { origin: REMOTE }), { outcome: 'accepted' })
    const page = await alice.messages(roomId, { dir: 'b', limit: 3 })
    assert.deepEqual(ids(page.chunk), [m2, boastful.event_id, m1], 'ordered right after the join it follows, not first')
    // What this server builds next claims the depth every server orders it by (its prev events' highest,
    // plus one: the claim is part of the DAG), while here it is ordered right after them.
    const m3 = await alice.send(roomId, { msgtype: 'm.text', body: 'three' })
    assert.equal((JSON.parse((await storedRow(roomId, m3))!.json) as { depth: number }).depth, 2 ** 50 + 1)
    assert.deepEqual(ids((await alice.messages(roomId, { dir: 'b', limit: 4 })).chunk), [m3, m2, boastful.event_id, m1])
    const template = await ctx.federationMemberships.make(REMOTE, roomId, charlie, 'join', [roomVersion('12')!.id, (await roomNow(roomId)).version.id])
    assert.equal(template.event.depth, 2 ** 50 + 2)
  })

  it("appends a remote user's join and message as local events are: /sync, /messages and the member list see them", async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    const since = (await alice.sync()).next_batch
    const join = await remoteJoin(roomId, bob)
    const message = await remote(roomId, { type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'hello from afar' } })
    assert.deepEqual(await ctx.remoteEvents.ingest(message, { origin: REMOTE }), { outcome: 'accepted' })

    const sync = await alice.sync({ since, timeout: 0 })
    assert.deepEqual(timelineIds(sync, roomId), [join.event_id, message.event_id])
    const page = await alice.messages(roomId, { dir: 'b', limit: 2 })
    assert.deepEqual(ids(page.chunk), [message.event_id, join.event_id])
    assert.equal(page.chunk[0]?.content.body, 'hello from afar')
    const members = await alice.get(`/rooms/${enc(roomId)}/joined_members`)
    assert.deepEqual(Object.keys(members.body.joined).sort(), [alice.userId, bob].sort())
    // The same event again is a duplicate and changes nothing.
    assert.deepEqual(await ctx.remoteEvents.ingest(message, { origin: REMOTE }), { outcome: 'duplicate' })
    assert.deepEqual(ids((await alice.messages(roomId, { dir: 'b', limit: 3 })).chunk).slice(0, 2), [message.event_id, join.event_id])
  })

  it('builds a local event on the deepest extremities when a remote server left many, and merges them', async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    const join = await remoteJoin(roomId, bob)
    const state = (await roomNow(roomId)).state
    // 25 sibling messages on bob's join: each is a forward extremity.
    const forks: RoomEvent[] = []
    for (let i = 0; i < 25; i++) {
      const fork = await remote(roomId, { type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: `fork ${i}` } }, { prev: [join], state })
      assert.deepEqual(await ctx.remoteEvents.ingest(fork, { origin: REMOTE }), { outcome: 'accepted' })
      forks.push(fork)
    }
    assert.equal((await roomNow(roomId)).extremities.length, 25)
    const sent = await alice.send(roomId, { msgtype: 'm.text', body: 'after the forks' })
    const built = parseStored((await storedRow(roomId, sent))!.json, (await roomNow(roomId)).version, sent)
    assert.equal(built.prev_events.length, 10, 'a local event names at most 10 prev_events')
    assert.ok(built.prev_events.every((id) => forks.some((f) => f.event_id === id)))
    // The ten it named are merged; the others are still extremities, with the new event.
    const after = (await roomNow(roomId)).extremities.map((e) => e.event_id)
    assert.equal(after.length, 16)
    assert.ok(after.includes(sent) && !after.some((id) => built.prev_events.includes(id)))
    // And the next local events go on merging them, ten at a time.
    await alice.send(roomId, { msgtype: 'm.text', body: 'merging' })
    await alice.send(roomId, { msgtype: 'm.text', body: 'merged' })
    assert.equal((await roomNow(roomId)).extremities.length, 1)
  })

  it('rejects an event its own auth events refuse: stored as rejected, never in a timeline, never served', async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    const since = (await alice.sync()).next_batch
    // Charlie never joined: his message cites only the power levels.
    const intruder = await remote(roomId, { type: 'm.room.message', sender: charlie, content: { msgtype: 'm.text', body: 'let me in' } })
    const result = await ctx.remoteEvents.ingest(intruder, { origin: REMOTE })
    assert.equal(result.outcome, 'rejected')
    assert.match(result.reason ?? '', /not joined/)
    const row = await storedRow(roomId, intruder.event_id)
    assert.equal(row?.stream_ordering, null)
    assert.ok(row?.rejected_reason)
    assert.deepEqual(timelineIds(await alice.sync({ since, timeout: 0 }), roomId), [])
    assert.ok(!ids((await alice.messages(roomId, { dir: 'b', limit: 50 })).chunk).includes(intruder.event_id))
    assert.equal((await alice.get(`/rooms/${enc(roomId)}/event/${enc(intruder.event_id)}`)).status, 404)
    // Nothing builds on it: the room's extremity is still alice's last event.
    const next = await alice.send(roomId, 'still here')
    const json = JSON.parse((await storedRow(roomId, next))!.json)
    assert.ok(!json.prev_events.includes(intruder.event_id))
    assert.deepEqual(await ctx.remoteEvents.ingest(intruder, { origin: REMOTE }), { outcome: 'duplicate' })
  })

  it('reports prev_events it does not have, and stores nothing', async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await remoteJoin(roomId, bob)
    const now = await roomNow(roomId)
    const unknown = await remote(roomId, { type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'gap' } })
    // The same event on a prev event this server never saw (its ID alone is enough to be missing).
    const orphan = buildEvent(
      { type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'after a gap' }, room_id: roomId, origin_server_ts: Date.now(), depth: 99 },
      {
        version: now.version,
        serverName: REMOTE,
        signingKey: remoteKey,
        prevEventRefs: [{ event_id: '$neverseen' }, ...now.extremities.map((e) => ({ event_id: e.event_id }))],
        authEventRefs: unknown.auth_events.map((id) => ({ event_id: id })),
      },
    ).event
    assert.deepEqual(await ctx.remoteEvents.ingest(orphan, { origin: REMOTE }), { outcome: 'missing', missing: ['$neverseen'] })
    assert.equal(await storedRow(roomId, orphan.event_id), undefined)
  })

  it("rejects a redaction of another room's event, and an event whose auth events belong to another room", async () => {
    const first = await alice.createRoom({ preset: 'public_chat' })
    const second = await alice.createRoom({ preset: 'public_chat' })
    await remoteJoin(first, bob)
    await remoteJoin(second, bob)
    const target = await alice.send(first, { msgtype: 'm.text', body: 'keep me' })
    // In the second room, a redaction naming the first room's message.
    const redaction = await remote(second, { type: 'm.room.redaction', sender: bob, content: { redacts: target } })
    const result = await ctx.remoteEvents.ingest(redaction, { origin: REMOTE })
    assert.equal(result.outcome, 'rejected')
    assert.match((await storedRow(second, redaction.event_id))?.rejected_reason ?? '', /another room/)
    assert.equal(((await alice.event(first, target)).content as { body?: string }).body, 'keep me')

    // In the second room, a message whose auth events are the first room's.
    const firstState = (await roomNow(first)).state
    const crossed = await remote(second, { type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'crossed' } }, { prev: (await roomNow(second)).extremities, state: firstState })
    const crossedResult = await ctx.remoteEvents.ingest(crossed, { origin: REMOTE })
    assert.equal(crossedResult.outcome, 'rejected')
    assert.match((await storedRow(second, crossed.event_id))?.rejected_reason ?? '', /another room/)
    const page = await alice.messages(second, { dir: 'b', limit: 5 })
    assert.ok(!ids(page.chunk).includes(crossed.event_id) && !ids(page.chunk).includes(redaction.event_id))
  })

  it('soft-fails an event of a user banned in the current state whose prev_events are before the ban', async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await remoteJoin(roomId, charlie)
    const before = await roomNow(roomId)
    assert.equal((await alice.membershipRaw('ban', roomId, charlie)).status, 200)
    const since = (await alice.sync()).next_batch
    const extremitiesBefore = ids((await roomNow(roomId)).extremities)
    const late = await remote(roomId, { type: 'm.room.message', sender: charlie, content: { msgtype: 'm.text', body: 'before my ban, I say' } }, { prev: before.extremities, state: before.state })
    const result = await ctx.remoteEvents.ingest(late, { origin: REMOTE })
    assert.equal(result.outcome, 'soft-failed')
    const row = await storedRow(roomId, late.event_id)
    assert.deepEqual([row?.stream_ordering, row?.soft_failed, row?.rejected_reason], [null, true, null])
    assert.deepEqual(timelineIds(await alice.sync({ since, timeout: 0 }), roomId), [])
    assert.ok(!ids((await alice.messages(roomId, { dir: 'b', limit: 50 })).chunk).includes(late.event_id))
    // Not a forward extremity: the room still ends with the ban.
    assert.deepEqual(ids((await roomNow(roomId)).extremities), extremitiesBefore)
  })

  it('merges a fork by state resolution: a remote ban concurrent with a local power-level change both hold', async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await remoteJoin(roomId, bob)
    await remoteJoin(roomId, dave)
    const levels = (await alice.getState(roomId, 'm.room.power_levels')) as JsonObject
    await alice.putState(roomId, 'm.room.power_levels', '', { ...levels, users: { ...(levels.users as JsonObject), [bob]: 100 } })
    const fork = await roomNow(roomId)
    // Alice raises the topic's level; at the same time bob, who has not seen it, bans dave.
    const change = await alice.putState(roomId, 'm.room.power_levels', '', { ...levels, users: { ...(levels.users as JsonObject), [bob]: 100 }, events: { 'm.room.topic': 77 } })
    const since = (await alice.sync()).next_batch
    const ban = await remote(roomId, { type: 'm.room.member', state_key: dave, sender: bob, content: { membership: 'ban' } }, { prev: fork.extremities, state: fork.state })
    assert.deepEqual(await ctx.remoteEvents.ingest(ban, { origin: REMOTE }), { outcome: 'accepted' })

    // Two forward extremities, and a current state holding both branches' changes.
    assert.deepEqual(ids((await roomNow(roomId)).extremities).sort(), [change, ban.event_id].sort())
    const current = (await alice.getState(roomId, 'm.room.power_levels')) as JsonObject
    assert.deepEqual(current.events, { 'm.room.topic': 77 })
    assert.equal((await alice.getState(roomId, 'm.room.member', dave)).membership, 'ban')
    const members = await alice.get(`/rooms/${enc(roomId)}/joined_members`)
    assert.deepEqual(Object.keys(members.body.joined).sort(), [alice.userId, bob].sort())
    assert.deepEqual(timelineIds(await alice.sync({ since, timeout: 0 }), roomId), [ban.event_id])
    // The next local event closes the fork.
    const next = await alice.send(roomId, 'both branches')
    assert.deepEqual(JSON.parse((await storedRow(roomId, next))!.json).prev_events.sort(), [change, ban.event_id].sort())
    assert.deepEqual(ids((await roomNow(roomId)).extremities), [next])
  })

  it("changes local users' memberships: a remote invite reaches the invitee's /sync", async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await remoteJoin(roomId, bob)
    const levels = (await alice.getState(roomId, 'm.room.power_levels')) as JsonObject
    await alice.putState(roomId, 'm.room.power_levels', '', { ...levels, users: { ...(levels.users as JsonObject), [bob]: 100 } })
    const since = (await carol.sync()).next_batch
    const invite = await remote(roomId, { type: 'm.room.member', state_key: carol.userId, sender: bob, content: { membership: 'invite' } })
    assert.deepEqual(await ctx.remoteEvents.ingest(invite, { origin: REMOTE }), { outcome: 'accepted' })
    const sync = await carol.sync({ since, timeout: 0 })
    const stripped = sync.rooms?.invite?.[roomId]?.invite_state?.events ?? []
    assert.ok(stripped.some((e: any) => e.type === 'm.room.member' && e.state_key === carol.userId && e.content.membership === 'invite'), JSON.stringify(sync.rooms))
    await carol.join(roomId)
    const members = await alice.get(`/rooms/${enc(roomId)}/joined_members`)
    assert.ok(carol.userId in members.body.joined)
  })

  it('keeps what an instance kept of a room honest: a local send after a remote event on another instance builds on it', async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await remoteJoin(roomId, bob)
    const other = await startInstanceOn(server.database)
    try {
      const otherCtx: AppContext = other.server.ctx
      // Two sends: the second is built on what this instance kept of the room.
      await alice.send(roomId, 'one')
      const two = await alice.send(roomId, 'two')
      const fromBob = await remote(roomId, { type: 'm.room.message', sender: bob, content: { msgtype: 'm.text', body: 'between' } })
      assert.deepEqual(fromBob.prev_events, [two])
      assert.deepEqual(await otherCtx.remoteEvents.ingest(fromBob, { origin: REMOTE }), { outcome: 'accepted' })
      const three = await alice.send(roomId, 'three')
      assert.deepEqual(JSON.parse((await storedRow(roomId, three))!.json).prev_events, [fromBob.event_id])
      assert.deepEqual(ids((await alice.messages(roomId, { dir: 'b', limit: 3 })).chunk), [three, fromBob.event_id, two])
    } finally {
      await other.close()
    }
  })
})

describe('RemoteEvents.ingestJoinedRoom', () => {
  it("creates a room this server did not have from a join's state and auth chain; the joiner's /sync shows it", async () => {
    // A room that lives on the remote server: built by hand, then joined by carol through it.
    const version = roomVersion('12')!
    const sign = (template: { type: string; sender: string; content: JsonObject; state_key?: string }, prev: RoomEvent[], state: Map<StateKey, RoomEvent>, roomId?: string) =>
      buildEvent(
        { ...template, ...(roomId ? { room_id: roomId } : {}), origin_server_ts: Date.now(), depth: prev.length === 0 ? 1 : Math.max(...prev.map((e) => e.depth)) + 1 },
        { version, serverName: REMOTE, signingKey: remoteKey, prevEventRefs: prev.map((e) => ({ event_id: e.event_id })), authEventRefs: selectAuthEvents(template, state, version).map((e) => ({ event_id: e.event_id })) },
      ).event
    const state = new Map<StateKey, RoomEvent>()
    const put = (e: RoomEvent) => state.set(stateKey(e.type, e.state_key as string), e)
    const create = sign({ type: 'm.room.create', state_key: '', sender: bob, content: { room_version: '12' } }, [], state)
    put(create)
    const roomId = create.room_id
    let last = create
    for (const t of [
      { type: 'm.room.member', state_key: bob, sender: bob, content: { membership: 'join' } },
      { type: 'm.room.power_levels', state_key: '', sender: bob, content: { users: {}, users_default: 0 } },
      { type: 'm.room.join_rules', state_key: '', sender: bob, content: { join_rule: 'public' } },
      { type: 'm.room.name', state_key: '', sender: bob, content: { name: 'Over there' } },
    ]) {
      last = sign(t, [last], state, roomId)
      put(last)
    }
    const join = sign({ type: 'm.room.member', state_key: carol.userId, sender: carol.userId, content: { membership: 'join' } }, [last], state, roomId)
    const since = (await carol.sync()).next_batch
    const result = await ctx.remoteEvents.ingestJoinedRoom(roomId, version, { state: [...state.values()], authChain: [], join, origin: REMOTE })
    assert.deepEqual(result, { outcome: 'accepted' })

    const sync = await carol.sync({ since, timeout: 0 })
    const room = sync.rooms?.join?.[roomId]
    assert.ok(room, JSON.stringify(sync.rooms))
    assert.deepEqual(ids(room.timeline.events), [join.event_id])
    const stateTypes = (room.state.events as Array<{ type: string }>).map((e) => e.type).sort()
    assert.deepEqual(stateTypes, ['m.room.create', 'm.room.join_rules', 'm.room.member', 'm.room.name', 'm.room.power_levels'])
    assert.equal((await carol.getState(roomId, 'm.room.name')).name, 'Over there')
    // The state arrived as outliers: in no timeline.
    assert.deepEqual(ids((await carol.messages(roomId, { dir: 'b', limit: 10 })).chunk), [join.event_id])
    const row = await storedRow(roomId, create.event_id)
    assert.deepEqual([row?.stream_ordering, row?.outlier], [null, true])
    // Carol can talk there: her event builds on her join.
    const hello = await carol.send(roomId, 'hi')
    assert.deepEqual(JSON.parse((await storedRow(roomId, hello))!.json).prev_events, [join.event_id])
  })

  it('stores nothing when the join is refused', async () => {
    const version = roomVersion('12')!
    const create = buildEvent(
      { type: 'm.room.create', state_key: '', sender: bob, content: { room_version: '12' }, origin_server_ts: Date.now(), depth: 1 },
      { version, serverName: REMOTE, signingKey: remoteKey, prevEventRefs: [], authEventRefs: [] },
    ).event
    // No join rules, bob never joined: carol may not join.
    const join = buildEvent(
      { type: 'm.room.member', state_key: carol.userId, sender: carol.userId, content: { membership: 'join' }, room_id: create.room_id, origin_server_ts: Date.now(), depth: 2 },
      { version, serverName: REMOTE, signingKey: remoteKey, prevEventRefs: [{ event_id: create.event_id }], authEventRefs: [] },
    ).event
    const result = await ctx.remoteEvents.ingestJoinedRoom(create.room_id, version, { state: [create], authChain: [], join, origin: REMOTE })
    assert.equal(result.outcome, 'rejected')
    assert.equal(await ctx.storage.repos.rooms.get(create.room_id), null)
    assert.equal(await storedRow(create.room_id, create.event_id), undefined)
  })
})
