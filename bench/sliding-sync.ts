// `npm run bench:sliding`: simplified sliding sync (MSC4186, POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync,
// `pos` and `timeout` in the query as matrix-js-sdk and Element X send them) of Homestead and Synapse side by
// side in one run. Needs root and the Synapse anchor kit (../shared/anchors/synapse, its chroot built) for the
// Synapse side: it sets up and starts the kit's instance benchSliding (benchSliding.test, client API on
// 127.0.0.1:8027, no federation listener) on a fresh database, and one Homestead on a fresh database of the same
// PostgreSQL (the kit's, 127.0.0.1:5433). Synapse 1.160 serves the endpoint without any setting
// (experimental_features.msc3575_enabled defaults to true).
//
// On each server a user is in BENCH_SLIDING_ROOMS rooms, each with a second member (the sender) and a few
// messages of history. The request is Element X's room list (matrix-rust-sdk's RoomListService): connection
// `room-list`, list `all_rooms` with ranges [[0, 19]], timeline_limit 1 and its required_state. Measures:
//   1. first response: a new connection (no pos, timeout=0), from the request's start until its answer is read;
//      the servers take turns;
//   2. next response: the connection long-polls (pos, timeout=30000), the sender sends a message into one of the
//      rooms (the one with the oldest activity, so it enters the window); from the send's start until the
//      long-poll's answer carrying the message has been read; the servers take turns;
//   3. memory per connection: BENCH_SLIDING_CONNECTIONS devices of the user (password logins) each open a
//      connection (first response, then long-polls with its pos), 4 at a time; the server process's RSS (VmRSS)
//      growth divided by their number (Homestead's read after a full garbage collection, with its V8 heap beside it).
// Prints one JSON document on stdout; progress on stderr. See docs/benchmarks.md, "Sliding sync".
//
//   BENCH_SLIDING_SERVERS      which servers: homestead,synapse (default both; `synapse` alone needs no Homestead endpoint)
//   BENCH_SLIDING_ROOMS        rooms of the user (default 1000)
//   BENCH_SLIDING_MESSAGES     messages per room when built (default 3)
//   BENCH_SLIDING_SAMPLES      first responses measured per server (default 30), after BENCH_SLIDING_WARMUP (3)
//   BENCH_SLIDING_DELIVERIES   next responses measured per server (default 50), after BENCH_SLIDING_WARMUP
//   BENCH_SLIDING_CONNECTIONS  connections for the memory reading (default 100; 0 skips it)
//   BENCH_SLIDING_EXTENSIONS   1: also ask for the extensions Element X's room list asks for (account_data, receipts, typing)
//   BENCH_SLIDING_NOT_SPACES   1: the list filter not_room_types ["m.space"] (Element X before 2025) instead of {}
//   BENCH_DATABASE_URL         the PostgreSQL for Homestead's database (default the kit's, postgres://postgres@127.0.0.1:5433/postgres;
//                              set it to run Homestead alone without the kit, e.g. postgres://postgres@127.0.0.1:5432/test)
//   BENCH_ANCHOR_DIR, ANCHOR_ROOT   the kit's scripts and working area (see bench/anchor-kit.ts)
import { randomBytes } from 'node:crypto'
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { Cleanups, HttpClient, envInt, expectOk, machineInfo, pool, printReport, progress, settle, sleep, summarize } from './lib.ts'
import { createRoom, joinRoom, sendText } from './rooms.ts'
import { ANCHOR_PG_URL, startKitSynapse, synapsePid, type KitInstance } from './anchor-kit.ts'
import { startBenchHomestead, type ServerProcess } from './servers.ts'
import type { V8Memory } from './server-process.ts'
import { login, processRssKb, register, type Target, type User } from './targets.ts'

const SERVER_NAMES = ['homestead', 'synapse'] as const
type ServerName = (typeof SERVER_NAMES)[number]

function serversFromEnv(): ServerName[] {
  const raw = process.env.BENCH_SLIDING_SERVERS?.trim() || SERVER_NAMES.join(',')
  const names = raw.split(',').map((s) => s.trim())
  for (const n of names) if (!(SERVER_NAMES as readonly string[]).includes(n)) throw new Error(`BENCH_SLIDING_SERVERS: unknown server "${n}" (homestead, synapse)`)
  return SERVER_NAMES.filter((n) => names.includes(n))
}

const flag = (name: string) => ['1', 'true', 'yes'].includes(process.env[name]?.trim().toLowerCase() ?? '')

const settings = {
  servers: serversFromEnv(),
  rooms: envInt('BENCH_SLIDING_ROOMS', 1000),
  messages_per_room: envInt('BENCH_SLIDING_MESSAGES', 3, 0),
  samples: envInt('BENCH_SLIDING_SAMPLES', 30),
  deliveries: envInt('BENCH_SLIDING_DELIVERIES', 50),
  warmup: envInt('BENCH_SLIDING_WARMUP', 3, 0),
  connections: envInt('BENCH_SLIDING_CONNECTIONS', 100, 0),
  extensions: flag('BENCH_SLIDING_EXTENSIONS'),
  not_spaces: flag('BENCH_SLIDING_NOT_SPACES'),
}
const DATABASE_URL = process.env.BENCH_DATABASE_URL?.trim() || ANCHOR_PG_URL
const SYNAPSE: KitInstance = { id: 'benchSliding', serverName: 'benchSliding.test', clientPort: 8027 }
const BUILD_CONCURRENCY = 8
const LOGIN_CONCURRENCY = 4
/** First responses in flight at once while the memory reading's connections open. */
const OPEN_CONCURRENCY = 4
const WINDOW = 20
/** How long a long-poll is given to reach the server before the measured send starts. */
const LONG_POLL_SETTLE_MS = 50
const LONG_POLL_TIMEOUT_MS = 30_000
/** The longest a delivery may take before the run fails (a lost message, not a slow one). */
const DELIVERY_DEADLINE_MS = 120_000

export const SLIDING_SYNC_PATH = '/_matrix/client/unstable/org.matrix.simplified_msc3575/sync'
const runId = randomBytes(3).toString('hex')
const r1 = (n: number) => Number(n.toFixed(1))
const r3 = (n: number) => Number(n.toFixed(3))

// ---- the request: Element X's room list ----------------------------------------------------------

/** matrix-rust-sdk's RoomListService: DEFAULT_REQUIRED_STATE of its `all_rooms` list. */
const REQUIRED_STATE = [
  ['m.room.name', ''],
  ['m.room.encryption', ''],
  ['m.room.member', '$LAZY'],
  ['m.room.member', '$ME'],
  ['m.room.topic', ''],
  ['m.room.avatar', ''],
  ['m.room.canonical_alias', ''],
  ['m.room.power_levels', ''],
  ['org.matrix.msc3401.call.member', '*'],
  ['m.room.join_rules', ''],
  ['m.room.tombstone', ''],
  ['m.room.create', ''],
  ['m.room.history_visibility', ''],
  ['io.element.functional_members', ''],
  ['m.space.parent', '*'],
  ['m.space.child', '*'],
  ['org.matrix.msc3672.beacon_info', '*'],
]
const CONN_ID = 'room-list'
const LIST = 'all_rooms'

function roomListRequest(): Record<string, unknown> {
  const body: Record<string, unknown> = {
    conn_id: CONN_ID,
    lists: {
      [LIST]: {
        ranges: [[0, WINDOW - 1]],
        timeline_limit: 1,
        required_state: REQUIRED_STATE,
        filters: settings.not_spaces ? { not_room_types: ['m.space'] } : {},
      },
    },
  }
  if (settings.extensions) {
    body.extensions = { account_data: { enabled: true }, receipts: { enabled: true, rooms: ['*'] }, typing: { enabled: true } }
  }
  return body
}

/** One sliding sync request; a 404 from a Homestead means this checkout has no endpoint yet. */
async function slidingSync(target: Target, http: HttpClient, token: string, params: { pos?: string; timeout: number }) {
  const query = new URLSearchParams()
  if (params.pos !== undefined) query.set('pos', params.pos)
  query.set('timeout', String(params.timeout))
  const res = await http.request('POST', `${SLIDING_SYNC_PATH}?${query}`, roomListRequest(), token)
  if (res.status === 404 && target.name === 'homestead') {
    throw new Error(
      `Homestead answered 404 ${JSON.stringify(res.body)} to POST ${SLIDING_SYNC_PATH}: this checkout does not serve simplified sliding sync yet ` +
        '(merge main once it has the endpoint, or measure Synapse alone with BENCH_SLIDING_SERVERS=synapse)',
    )
  }
  const body = expectOk(`sliding sync on ${target.name}`, res)
  if (typeof body?.pos !== 'string') throw new Error(`sliding sync on ${target.name} answered without pos: ${JSON.stringify(body).slice(0, 300)}`)
  return { body, bytes: res.bytes }
}

// ---- the servers and their rooms ------------------------------------------------------------------

interface Server {
  target: Target
  pid: () => number | null
  /** Homestead: a full garbage collection before each memory reading (a Node process's RSS also holds garbage); its V8 memory after it. */
  collectGarbage: () => Promise<V8Memory | null>
  /** The measured user (in every room) and the sender (in every room too). */
  user: User
  sender: User
  roomIds: string[]
  buildMs: number
}

async function startServers(cleanups: Cleanups): Promise<{ targets: Target[]; homestead: ServerProcess | null }> {
  const targets: Target[] = []
  let homestead: ServerProcess | null = null
  // Synapse first: the kit's start.sh also starts the PostgreSQL that Homestead's database is made on.
  if (settings.servers.includes('synapse')) targets.push(await startKitSynapse(cleanups, SYNAPSE, BUILD_CONCURRENCY + 4))
  if (settings.servers.includes('homestead')) {
    const started = await startBenchHomestead(cleanups, { adminUrl: DATABASE_URL, name: 'sliding', maxSockets: BUILD_CONCURRENCY + 4 })
    homestead = started.server
    targets.unshift(started.target)
  }
  return { targets, homestead }
}

/** Registers the two users and checks the endpoint before spending minutes on rooms. */
async function prepare(target: Target, pid: () => number | null, collectGarbage: () => Promise<V8Memory | null>): Promise<Server> {
  const user = await register(target, `sliding_user_${runId}`)
  const sender = await register(target, `sliding_sender_${runId}`)
  await slidingSync(target, target.http, user.access_token, { timeout: 0 })
  return { target, pid, collectGarbage, user, sender, roomIds: [], buildMs: 0 }
}

/** The user creates each room (public, named), the sender joins it, and both send its history in turn. */
async function buildRooms(s: Server): Promise<void> {
  const t0 = performance.now()
  let done = 0
  s.roomIds = await pool(Array.from({ length: settings.rooms }), BUILD_CONCURRENCY, async (_, i) => {
    const roomId = await createRoom(s.target, s.user.access_token, { preset: 'public_chat', name: `Sliding ${runId} ${i}` })
    await joinRoom(s.target, s.sender.access_token, roomId)
    for (let m = 0; m < settings.messages_per_room; m++) {
      const who = m % 2 === 0 ? s.sender : s.user
      await sendText(s.target, who.access_token, roomId, `history ${m} of room ${i}`)
    }
    if (++done % 100 === 0) progress(`${s.target.name}: ${done}/${settings.rooms} rooms`)
    return roomId
  })
  s.buildMs = Math.round(performance.now() - t0)
  progress(`${s.target.name}: ${settings.rooms} rooms with ${settings.messages_per_room} messages each built in ${s.buildMs} ms`)
}

// ---- 1. the first response of a new connection -----------------------------------------------------

interface Shape {
  list_count: number
  rooms_returned: number
  timeline_events: number
  required_state_events: number
  response_bytes: number
}

function shapeOf(body: any, bytes: number): Shape {
  const rooms = Object.values(body.rooms ?? {}) as any[]
  return {
    list_count: Number(body.lists?.[LIST]?.count ?? Number.NaN),
    rooms_returned: rooms.length,
    timeline_events: rooms.reduce((n, r) => n + (r.timeline?.length ?? 0), 0),
    required_state_events: rooms.reduce((n, r) => n + (r.required_state?.length ?? 0), 0),
    response_bytes: bytes,
  }
}

/** A first response must hold the whole list's count and a full window, each room with its latest event. */
function checkFirst(s: Server, shape: Shape): void {
  const window = Math.min(WINDOW, settings.rooms)
  if (shape.list_count !== settings.rooms || shape.rooms_returned !== window || shape.timeline_events < window) {
    throw new Error(`${s.target.name}: a first response counts ${shape.list_count} rooms (expected ${settings.rooms}) and returns ${shape.rooms_returned} (expected ${window}) with ${shape.timeline_events} timeline events`)
  }
}

async function measureFirstResponses(servers: Server[]) {
  const waited = await settle(30_000)
  progress(`first response: ${settings.warmup} warm-up and ${settings.samples} measured new connections per server, taking turns (settled after ${waited} ms)`)
  const samples = new Map<Server, number[]>(servers.map((s) => [s, []]))
  const cpu = new Map<Server, number | null>(servers.map((s) => [s, 0]))
  const shapes = new Map<Server, Shape>()
  for (let i = -settings.warmup; i < settings.samples; i++) {
    for (const s of servers) {
      const cpu0 = await s.target.cpuMs()
      const t0 = performance.now()
      const { body, bytes } = await slidingSync(s.target, s.target.http, s.user.access_token, { timeout: 0 })
      const ms = performance.now() - t0
      const cpu1 = await s.target.cpuMs()
      const shape = shapeOf(body, bytes)
      checkFirst(s, shape)
      if (i < 0) continue
      samples.get(s)?.push(ms)
      shapes.set(s, shape)
      const sum = cpu.get(s)
      cpu.set(s, sum === null || sum === undefined || cpu0 === null || cpu1 === null ? null : sum + (cpu1 - cpu0))
    }
  }
  const out: Record<string, unknown> = {}
  for (const s of servers) {
    const xs = samples.get(s) ?? []
    const summary = summarize(xs)
    const cpuSum = cpu.get(s)
    progress(`first response ${s.target.name}: p50 ${summary.p50_ms} ms, p90 ${summary.p90_ms} ms`)
    out[s.target.name] = {
      samples: xs.length,
      ...summary,
      min_ms: r1(Math.min(...xs)),
      max_ms: r1(Math.max(...xs)),
      server_cpu_ms_per_response: cpuSum === null || cpuSum === undefined ? null : r1(cpuSum / xs.length),
      ...shapes.get(s),
    }
  }
  return out
}

// ---- 2. the next response after a message arrives ------------------------------------------------------

function carries(body: any, roomId: string, text: string): boolean {
  const events: any[] = body?.rooms?.[roomId]?.timeline ?? []
  return events.some((e) => e?.content?.body === text)
}

/** Long-polls from `pos` until an answer carries the message `text` in `roomId`; returns the next pos. */
async function awaitMessage(s: Server, pos: string, roomId: string, text: string): Promise<string> {
  const deadline = performance.now() + DELIVERY_DEADLINE_MS
  while (performance.now() < deadline) {
    const { body } = await slidingSync(s.target, s.target.http, s.user.access_token, { pos, timeout: LONG_POLL_TIMEOUT_MS })
    pos = body.pos
    if (carries(body, roomId, text)) return pos
  }
  throw new Error(`${s.target.name}: no sliding sync answer carried "${text}" in ${DELIVERY_DEADLINE_MS} ms`)
}

async function measureNextResponses(servers: Server[]) {
  const state = new Map<Server, { pos: string; next: number; delivery: number[]; send: number[] }>()
  for (const s of servers) {
    const { body } = await slidingSync(s.target, s.target.http, s.user.access_token, { timeout: 0 })
    state.set(s, { pos: body.pos, next: 0, delivery: [], send: [] })
  }
  const waited = await settle(30_000)
  progress(`next response: ${settings.warmup} warm-up and ${settings.deliveries} measured messages per server, taking turns (settled after ${waited} ms)`)
  for (let i = -settings.warmup; i < settings.deliveries; i++) {
    for (const s of servers) {
      const st = state.get(s)
      if (!st) continue
      // The room with the oldest activity: rooms were built in this order, and each message moves its room to the top.
      const roomId = s.roomIds[st.next++ % s.roomIds.length] as string
      const text = `sliding delivery ${runId} ${i}`
      const polled = awaitMessage(s, st.pos, roomId, text)
      await sleep(LONG_POLL_SETTLE_MS)
      const t0 = performance.now()
      const sent = sendText(s.target, s.sender.access_token, roomId, text).then(() => performance.now() - t0)
      st.pos = await polled
      const delivered = performance.now() - t0
      const sendMs = await sent
      if (i < 0) continue
      st.delivery.push(delivered)
      st.send.push(sendMs)
    }
  }
  const out: Record<string, unknown> = {}
  for (const s of servers) {
    const st = state.get(s)
    if (!st) continue
    const summary = summarize(st.delivery)
    progress(`next response ${s.target.name}: p50 ${summary.p50_ms} ms, p90 ${summary.p90_ms} ms`)
    out[s.target.name] = { samples: st.delivery.length, ...summary, min_ms: r1(Math.min(...st.delivery)), max_ms: r1(Math.max(...st.delivery)), send: summarize(st.send) }
  }
  return out
}

// ---- 3. memory per open connection -----------------------------------------------------------------------

/**
 * The median of three VmRSS readings a second apart, in KiB, after a full garbage collection in Homestead; and
 * Homestead's V8 memory after it (null for Synapse).
 */
async function memoryKb(s: Server): Promise<{ rss: number; v8: V8Memory | null }> {
  const pid = s.pid()
  if (!pid) throw new Error(`${s.target.name}: no process id to read the RSS of`)
  const v8 = await s.collectGarbage()
  const readings: number[] = []
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(1000)
    const kb = processRssKb(pid)
    if (kb === null) throw new Error(`${s.target.name}: cannot read /proc/${pid}/status`)
    readings.push(kb)
  }
  return { rss: readings.sort((a, b) => a - b)[1] as number, v8 }
}

async function measureMemory(s: Server) {
  const n = settings.connections
  progress(`memory ${s.target.name}: ${n} devices log in`)
  const tokens = await pool(Array.from({ length: n }), LOGIN_CONCURRENCY, () => login(s.target, s.user.username))
  await settle(30_000)
  const before = await memoryKb(s)
  // A client of its own, one socket per connection: each connection keeps one request in flight.
  const http = new HttpClient(s.target.url, n + 1)
  let stopping = false
  let failure: Error | null = null
  const longPolls: Promise<void>[] = []
  const longPoll = async (token: string, pos: string) => {
    try {
      while (!stopping) pos = (await slidingSync(s.target, http, token, { pos, timeout: LONG_POLL_TIMEOUT_MS })).body.pos
    } catch (err) {
      if (!stopping) failure ??= err as Error
    }
  }
  const stop = async () => {
    stopping = true
    http.close()
    await Promise.all(longPolls)
  }
  // Connections open a few at a time, as clients arriving one after another would (not all at once: the peak
  // of 100 first responses in flight would count in the RSS as if each connection held it).
  const t0 = performance.now()
  try {
    await pool(tokens, OPEN_CONCURRENCY, async (token) => {
      const { body } = await slidingSync(s.target, http, token, { timeout: 0 })
      longPolls.push(longPoll(token, body.pos))
    })
  } catch (err) {
    await stop()
    throw err
  }
  const establishMs = Math.round(performance.now() - t0)
  // Every connection is long-polling: let the first responses' work end, then read.
  await sleep(2000)
  await settle(30_000)
  const during = await memoryKb(s)
  await stop()
  if (failure) throw failure
  await settle(15_000)
  const after = await memoryKb(s)
  const perConnection = (during.rss - before.rss) / n
  const heap = before.v8 && during.v8 && after.v8 ? ` (V8 heap in use ${before.v8.heap_used_kb} → ${during.v8.heap_used_kb} → ${after.v8.heap_used_kb} KiB, reserved ${before.v8.heap_total_kb} → ${during.v8.heap_total_kb} → ${after.v8.heap_total_kb} KiB)` : ''
  progress(`memory ${s.target.name}: RSS ${before.rss} → ${during.rss} KiB with ${n} connections (${r1(perConnection)} KiB each), ${after.rss} KiB after they closed${heap}`)
  return {
    connections: n,
    established_ms: establishMs,
    rss_before_kb: before.rss,
    rss_with_connections_kb: during.rss,
    rss_after_close_kb: after.rss,
    per_connection_kb: r1(perConnection),
    v8: before.v8 ? { before: before.v8, with_connections: during.v8, after_close: after.v8 } : null,
    heap_used_per_connection_kb: before.v8 && during.v8 ? r1((during.v8.heap_used_kb - before.v8.heap_used_kb) / n) : null,
  }
}

// ---- main ---------------------------------------------------------------------------------------

const ratio = (a: unknown, b: unknown) => (typeof a === 'number' && typeof b === 'number' && b > 0 ? r3(a / b) : null)

async function main(cleanups: Cleanups): Promise<Record<string, unknown>> {
  const began = performance.now()
  const load1mStart = loadavg()[0]
  const { targets, homestead } = await startServers(cleanups)
  const servers: Server[] = []
  for (const t of targets) {
    if (t.name === 'homestead') servers.push(await prepare(t, () => homestead?.pid ?? null, async () => (homestead ? homestead.collectGarbage() : null)))
    else servers.push(await prepare(t, () => synapsePid(SYNAPSE.id), async () => null))
  }
  for (const s of servers) await buildRooms(s)

  const first = await measureFirstResponses(servers)
  const next = await measureNextResponses(servers)
  const memory: Record<string, unknown> = {}
  if (settings.connections > 0) for (const s of servers) memory[s.target.name] = await measureMemory(s)

  const get = (o: Record<string, any>, server: string, key: string) => o[server]?.[key]
  const both = servers.length === 2
  return {
    benchmark: 'homestead-sliding-sync',
    ...machineInfo(load1mStart),
    database:
      DATABASE_URL === ANCHOR_PG_URL
        ? "the Synapse kit's PostgreSQL 15 (127.0.0.1:5433, stock settings) for both servers, a database each"
        : `Homestead on ${new URL(DATABASE_URL).host}; Synapse on the kit's PostgreSQL 15 (127.0.0.1:5433)`,
    servers: Object.fromEntries(servers.map((s) => [s.target.name, { ...s.target.info, pid: s.pid() }])),
    settings,
    request: { path: SLIDING_SYNC_PATH, body: roomListRequest() },
    build: Object.fromEntries(servers.map((s) => [s.target.name, { rooms: s.roomIds.length, messages_per_room: settings.messages_per_room, build_ms: s.buildMs }])),
    first_response: first,
    next_response: next,
    memory: settings.connections > 0 ? memory : null,
    ratios: both
      ? {
          first_response_p50: ratio(get(first, 'homestead', 'p50_ms'), get(first, 'synapse', 'p50_ms')),
          first_response_p90: ratio(get(first, 'homestead', 'p90_ms'), get(first, 'synapse', 'p90_ms')),
          next_response_p50: ratio(get(next, 'homestead', 'p50_ms'), get(next, 'synapse', 'p50_ms')),
          next_response_p90: ratio(get(next, 'homestead', 'p90_ms'), get(next, 'synapse', 'p90_ms')),
          memory_per_connection: ratio(get(memory, 'homestead', 'per_connection_kb'), get(memory, 'synapse', 'per_connection_kb')),
        }
      : null,
    goals: { first_response_p50: '<= 0.2', next_response_p50: '<= 0.1' },
    total_duration_ms: Math.round(performance.now() - began),
  }
}

await printReport(main)
