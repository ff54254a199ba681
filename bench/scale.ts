// Scale cases, Homestead only: does the cost of /sync and send stay flat for a user in many rooms and for a
// room with many members? The data is set up fast through src/ (accounts without argon2, rooms and joins
// through the room engine, in this process over the same database); every measurement is over HTTP.
//
//   BENCH_SCALE                 0 skips the scale cases (default on)
//   BENCH_SCALE_ROOMS           rooms of the "many rooms" user (default 1000)
//   BENCH_SCALE_MEMBERS         members of the "big room" (default 10000)
//   BENCH_SCALE_ITERATIONS      sends, deliveries and incremental syncs measured per case (default 30)
//   BENCH_SCALE_SYNC_ITERATIONS initial syncs measured per variant (default 3)
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { loadConfig } from '../src/config/load.ts'
import { createContext, type AppContext } from '../src/context.ts'
import { refreshRoomSummaries } from '../src/directory/index.ts'
import { createMetrics } from '../src/metrics.ts'
import { openDatabase } from '../src/server.ts'
import { createLogger } from '../src/shared/logger.ts'
import type { UserId } from '../src/shared/ids.ts'
import { Rooms } from '../src/rooms/rooms.ts'
import { RoomWriter } from '../src/rooms/writer.ts'
import type { Requester } from '../src/users/index.ts'
import { envInt, expectOk, pool, progress, sequential, summarize, type LatencySummary } from './lib.ts'
import { LAZY_FILTER, awaitMessage, measureDelivery, measureInitialSyncs, sendText, sync, type DeliveryResult, type InitialSyncResult } from './rooms.ts'
import { PASSWORD, type Target } from './targets.ts'

export const scaleSettings = {
  enabled: process.env.BENCH_SCALE !== '0',
  rooms: envInt('BENCH_SCALE_ROOMS', 1000),
  members: envInt('BENCH_SCALE_MEMBERS', 10000, 2),
  iterations: envInt('BENCH_SCALE_ITERATIONS', 30),
  syncIterations: envInt('BENCH_SCALE_SYNC_ITERATIONS', 3),
}

/** What one case measures over HTTP. */
export interface CaseResult {
  send: LatencySummary & { iterations: number }
  delivery: DeliveryResult
  /** /sync from the previous token after one new message in one of the user's rooms. */
  incremental_sync: LatencySummary & { iterations: number }
  initial_sync?: { full: InitialSyncResult; lazy_load_members: InitialSyncResult }
  /** Reads a client makes all the time, each of which should cost the same whatever the room's size (p50 ms). */
  reads: Record<ReadName, number>
  setup_ms?: number
}

type ReadName = 'state_event' | 'member_event' | 'event' | 'context_lazy' | 'receipt'

/** The reads of CaseResult.reads, by the receiver, about the sender's latest message. */
async function measureReads(target: Target, sender: Account, receiver: Account, roomId: string, iterations: number): Promise<Record<ReadName, number>> {
  const eventId = await sendText(target, sender.token, roomId, 'read me')
  const room = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`
  const event = encodeURIComponent(eventId)
  const get = (path: string) => async () => expectOk(path, await target.http.request('GET', path, undefined, receiver.token))
  const reads: Record<ReadName, () => Promise<unknown>> = {
    state_event: get(`${room}/state/m.room.power_levels/`),
    member_event: get(`${room}/state/m.room.member/${encodeURIComponent(sender.userId)}`),
    event: get(`${room}/event/${event}`),
    context_lazy: get(`${room}/context/${event}?limit=10&filter=${encodeURIComponent(JSON.stringify({ lazy_load_members: true }))}`),
    receipt: async () => expectOk('receipt', await target.http.request('POST', `${room}/receipt/m.read/${event}`, {}, receiver.token)),
  }
  const out = {} as Record<ReadName, number>
  for (const [name, read] of Object.entries(reads) as Array<[ReadName, () => Promise<unknown>]>) {
    await read()
    out[name] = summarize(await sequential(iterations, read)).p50_ms
  }
  return out
}

export interface ScaleResults {
  baseline: CaseResult & { description: string }
  many_rooms: CaseResult & { description: string; rooms: number }
  big_room: CaseResult & { description: string; members: number }
  total_ms: number
}

const setupRequester = (userId: string): Requester => ({ userId: userId as UserId, deviceId: 'BENCHSETUP', isAdmin: false, tokenHash: Buffer.alloc(32) })

interface Account {
  username: string
  userId: string
  token: string
  requester: Requester
}

async function account(ctx: AppContext, username: string, withPassword: boolean): Promise<Account> {
  const created = await ctx.accounts.createAccount({ username, password: withPassword ? PASSWORD : null, admin: false, login: {} })
  return { username, userId: created.user_id, token: created.access_token as string, requester: setupRequester(created.user_id) }
}

/**
 * Incremental /sync after one new message: `writer` sends a message (not timed), then `reader` asks /sync from
 * its last token. The request long-polls, so it also covers the moment the write becomes visible.
 */
async function measureIncremental(target: Target, writer: string, reader: string, rooms: string[], iterations: number): Promise<LatencySummary & { iterations: number }> {
  let since = (await sync(target, reader, { timeout: 0, filter: LAZY_FILTER })).next_batch
  const samples: number[] = []
  for (let i = -3; i < iterations; i++) {
    const roomId = rooms[Math.abs(i * 7919) % rooms.length] as string
    const text = `incremental ${randomBytes(4).toString('hex')}`
    await sendText(target, writer, roomId, text)
    const t0 = performance.now()
    since = await awaitMessage(target, reader, since, roomId, text)
    if (i >= 0) samples.push(performance.now() - t0)
  }
  return { iterations, ...summarize(samples) }
}

async function measureCase(
  target: Target,
  options: { sender: Account; receiver: Account; rooms: string[]; iterations: number; initialSyncs: number },
): Promise<CaseResult> {
  const { sender, receiver, rooms, iterations } = options
  const sendRoom = rooms[0] as string
  for (let i = 0; i < 5; i++) await sendText(target, sender.token, sendRoom, `warm-up ${i}`)
  const send = await sequential(iterations, (i) => sendText(target, sender.token, sendRoom, `scale message ${i}`))
  const delivery = await measureDelivery(target, sender.token, receiver.token, sendRoom, iterations)
  const incremental = await measureIncremental(target, sender.token, receiver.token, rooms, iterations)
  const reads = await measureReads(target, sender, receiver, sendRoom, iterations)
  const result: CaseResult = { send: { iterations, ...summarize(send) }, delivery, incremental_sync: incremental, reads }
  if (options.initialSyncs > 0) {
    const initial = await measureInitialSyncs(target, receiver.username, PASSWORD, options.initialSyncs, 1)
    result.initial_sync = { full: initial.full, lazy_load_members: initial.lazy }
  }
  return result
}

function every(n: number, label: string): (done: number) => void {
  const step = Math.max(1, Math.round(n / 5))
  return (done) => {
    if (done % step === 0) progress(`  ${label}: ${done}/${n}`)
  }
}

export async function runScaleBenchmarks(target: Target, overrides: Record<string, unknown>, s = scaleSettings): Promise<ScaleResults> {
  const began = performance.now()
  const config = loadConfig({ env: {}, overrides })
  const logger = createLogger('silent')
  // The same database as the server (an external URL, or the embedded server, which this reuses, not owns).
  const database = await openDatabase(config, logger, { migrate: false })
  try {
    const ctx = await createContext({ config, db: database.db, logger, metrics: createMetrics() })
    const runId = randomBytes(3).toString('hex')
    const name = (role: string) => `scale_${runId}_${role}`

    // Baseline: the same measurements for a user in one room with one other member.
    progress('scale: baseline (one room, two members)')
    const [a, b] = await Promise.all([account(ctx, name('a'), false), account(ctx, name('b'), true)])
    const small = await ctx.rooms.createRoom(a.requester, { preset: 'public_chat' })
    await ctx.rooms.join(b.requester, small)
    const baseline = await measureCase(target, { sender: a, receiver: b, rooms: [small], iterations: s.iterations, initialSyncs: 0 })

    // A user in many rooms: each room created by a peer, joined by the user, one message from the peer.
    progress(`scale: a user in ${s.rooms} rooms (setting up)`)
    let setupStart = performance.now()
    const [peer, many] = await Promise.all([account(ctx, name('peer'), false), account(ctx, name('many'), true)])
    const tick = every(s.rooms, 'rooms')
    let done = 0
    // Rooms are created one at a time (see rooms.ts); joins and messages go in parallel.
    const created: string[] = []
    for (let i = 0; i < s.rooms; i++) created.push(await ctx.rooms.createRoom(peer.requester, { preset: 'public_chat', name: `scale room ${i}` }))
    const rooms = await pool(created, 6, async (roomId, i) => {
      await ctx.rooms.join(many.requester, roomId)
      await ctx.rooms.send(peer.requester, roomId, 'm.room.message', { msgtype: 'm.text', body: `hello room ${i}` }, `setup-${i}`)
      tick(++done)
      return roomId
    })
    const manySetup = Math.round(performance.now() - setupStart)
    progress(`scale: a user in ${s.rooms} rooms (set up in ${manySetup} ms), measuring`)
    await ctx.storage.db.simple('ANALYZE')
    const manyRooms = await measureCase(target, { sender: peer, receiver: many, rooms, iterations: s.iterations, initialSyncs: s.syncIterations })

    // A room of many members: the owner sends, one member long-polls.
    progress(`scale: a room of ${s.members} members (setting up)`)
    setupStart = performance.now()
    const [owner, member] = await Promise.all([account(ctx, name('owner'), false), account(ctx, name('member'), true)])
    const big = await ctx.rooms.createRoom(owner.requester, { preset: 'public_chat', name: 'the big room' })
    await ctx.rooms.join(member.requester, big)
    const memberTick = every(s.members, 'members')
    done = 2
    // The other members join through a room engine without the append hooks (push rules, search index, room
    // summary). Each join evaluates push rules for every member, which makes 10,000 joins O(n²) (13+ minutes);
    // join events notify nobody and are not searched, so the room ends up as it would have, and the summary is
    // refreshed below. The measured requests run through the server with all its hooks.
    const plainWriter = new RoomWriter(config.server_name, ctx.clock, () => ctx.serverKeys.signingKey)
    const plainRooms = new Rooms({ storage: ctx.storage, writer: plainWriter, clock: ctx.clock, serverName: config.server_name, defaultRoomVersion: config.rooms.default_room_version })
    await pool(Array.from({ length: s.members - 2 }), 8, async (_, i) => {
      const created = await ctx.accounts.createAccount({ username: name(`m${i}`), password: null, admin: false })
      await plainRooms.join(setupRequester(created.user_id), big)
      memberTick(++done)
    })
    await refreshRoomSummaries(ctx.storage.repos, [big])
    // Statistics as autovacuum would have them a minute later: the server's prepared statements were planned
    // while the tables were small, and a burst of 10,000 joins in a few seconds outruns autovacuum's analyse.
    await ctx.storage.db.simple('ANALYZE')
    const bigSetup = Math.round(performance.now() - setupStart)
    progress(`scale: a room of ${s.members} members (set up in ${bigSetup} ms), measuring`)
    const bigRoom = await measureCase(target, { sender: owner, receiver: member, rooms: [big], iterations: s.iterations, initialSyncs: s.syncIterations })

    const results: ScaleResults = {
      baseline: { description: 'one room, two members (same measurements, same run)', ...baseline },
      many_rooms: { description: `a user in ${s.rooms} rooms, each with the creator, the user and one message`, rooms: s.rooms, setup_ms: manySetup, ...manyRooms },
      big_room: { description: `a room of ${s.members} members; one sends, one long-polls`, members: s.members, setup_ms: bigSetup, ...bigRoom },
      total_ms: Math.round(performance.now() - began),
    }
    for (const key of ['baseline', 'many_rooms', 'big_room'] as const) {
      const r = results[key]
      progress(
        `scale ${key}: send p50 ${r.send.p50_ms} ms, delivery p50 ${r.delivery.p50_ms} ms, incremental sync p50 ${r.incremental_sync.p50_ms} ms` +
          (r.initial_sync ? `, initial sync p50 ${r.initial_sync.full.p50_ms} ms (lazy ${r.initial_sync.lazy_load_members.p50_ms} ms)` : ''),
      )
    }
    return results
  } finally {
    await database.close(false)
  }
}
