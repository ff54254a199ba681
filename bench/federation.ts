// `npm run bench:federation`: two Homesteads against two Synapses, side by side in one run, on one machine
// and one PostgreSQL (the Synapse anchor's cluster, 127.0.0.1:5433). Needs root and the Synapse anchor kit
// (../shared/anchors/synapse, its chroot already built): it sets up and starts the kit's Synapse instances
// benchA and benchB, starts two Homesteads (hsa.test, hsb.test) that federate with them over loopback TLS
// with the kit's test CA, and measures:
//   1. delivery: a user on server X sends, a user on server Y waits in a /sync long-poll; from the send
//      request's start until Y's long-poll has returned the event (Homestead→Homestead, Synapse→Synapse,
//      and the mixed pairs);
//   2. joining a small remote room (5 members, 20 messages) by room ID with `via`: the time of POST /join;
//   3. joining a room of 1,000 members and 10,000 events built on the other server of the same kind: the
//      time of POST /join, the time until the joining server lists every member, and both servers' memory.
// Prints one JSON document on stdout; progress on stderr. See docs/benchmarks.md, "Federation".
//
//   BENCH_FED_DELIVERIES     measured deliveries per pair (default 100), after BENCH_FED_WARMUP (default 10)
//   BENCH_FED_MIXED          0 skips the mixed pairs (Homestead↔Synapse) in deliveries and small joins
//   BENCH_FED_SMALL_JOINS    small-room joins measured per pair (default 6, after one warm-up)
//   BENCH_FED_BIG_MEMBERS    members of the big room (default 1000; 0 skips the big rooms)
//   BENCH_FED_BIG_EVENTS     events of the big room (default 10000: its state, the joins, then messages)
//   BENCH_FED_RESET          0 keeps the Synapse instances' databases (default: dropped and made afresh)
//   BENCH_FED_LOG_LEVEL      the Homesteads' log level (default error; their output goes to stderr)
//   BENCH_ANCHOR_DIR         the kit's scripts (default ../shared/anchors/synapse from the repository)
//   ANCHOR_ROOT              the kit's working area (default /var/tmp/synapse-anchor)
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { Cleanups, HttpClient, machineInfo, envInt, expectOk, percentile, pool, printReport, progress, settle, sleep, summarize } from './lib.ts'
import { createRoom, sendText, sync } from './rooms.ts'
import { ANCHOR_DIR, ANCHOR_PG_URL, ANCHOR_ROOT, kit, registerAdmin, stopSynapse, synapsePid, synapseSecret } from './anchor-kit.ts'
import { ServerProcess, benchOverrides, externalDatabase, type BenchDatabase } from './servers.ts'
import { CS, processCpuMs, register, type Target, type User } from './targets.ts'

const settings = {
  deliveries: envInt('BENCH_FED_DELIVERIES', 100),
  warmup: envInt('BENCH_FED_WARMUP', 10, 0),
  mixed: process.env.BENCH_FED_MIXED !== '0',
  smallJoins: envInt('BENCH_FED_SMALL_JOINS', 6),
  smallMembers: 5,
  smallMessages: 20,
  bigMembers: envInt('BENCH_FED_BIG_MEMBERS', 1000, 0),
  bigEvents: envInt('BENCH_FED_BIG_EVENTS', 10000, 0),
  reset: process.env.BENCH_FED_RESET !== '0',
  logLevel: process.env.BENCH_FED_LOG_LEVEL?.trim() || 'error',
}
/** Concurrent requests while building rooms. */
const BUILD_CONCURRENCY = 8
/** How long the receiver's long-poll is given to reach its server before the send starts (as bench/rooms.ts). */
const LONG_POLL_SETTLE_MS = 50
/** Keeps a long-poll to the room's events: presence, receipts, typing and account data would wake it early. */
const DELIVERY_FILTER = JSON.stringify({
  presence: { types: [] },
  account_data: { types: [] },
  room: { state: { lazy_load_members: true }, ephemeral: { types: [] }, account_data: { types: [] } },
})
/** How long the joining server may take to list every member of the big room. */
const BIG_COMPLETE_TIMEOUT_MS = 5 * 60_000

type Kind = 'homestead' | 'synapse'

interface Server {
  /** hsa, hsb (Homestead), benchA, benchB (the kit's Synapse instances). */
  id: string
  kind: Kind
  serverName: string
  clientPort: number
  federationPort: number
  target: Target
  pid(): number | null
}

const SERVER_PORTS = {
  benchA: { kind: 'synapse', serverName: 'benchA.test:8453', clientPort: 8020, federationPort: 8453 },
  benchB: { kind: 'synapse', serverName: 'benchB.test:8454', clientPort: 8021, federationPort: 8454 },
  hsa: { kind: 'homestead', serverName: 'hsa.test:8463', clientPort: 8022, federationPort: 8463 },
  hsb: { kind: 'homestead', serverName: 'hsb.test:8464', clientPort: 8023, federationPort: 8464 },
} as const
const SYNAPSES = ['benchA', 'benchB'] as const
const HOMESTEADS = ['hsa', 'hsb'] as const
const hostOf = (serverName: string) => serverName.replace(/:\d+$/, '')

const runId = randomBytes(3).toString('hex')
const room = (roomId: string) => encodeURIComponent(roomId)
const r1 = (n: number) => Number(n.toFixed(1))

// ---- the kit ------------------------------------------------------------------------------------

function setupEnv(id: (typeof SYNAPSES)[number]): Record<string, string> {
  const s = SERVER_PORTS[id]
  const peers = Object.values(SERVER_PORTS).map((p) => hostOf(p.serverName)).filter((h) => h !== hostOf(s.serverName))
  return { ANCHOR_SERVER_NAME: s.serverName, ANCHOR_HTTP_PORT: String(s.clientPort), ANCHOR_FED_PORT: String(s.federationPort), ANCHOR_PEERS: peers.join(' ') }
}

async function withAnchorPg<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ANCHOR_PG_URL })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/**
 * Synapse builds a room of 1,000 members and 10,000 events in many minutes (~10 on a quiet machine of
 * 2 cores): the first run keeps benchA's database with the big room, built before any federation traffic,
 * as a template database named after the room's size, and later runs start benchA from a copy of it.
 * The room's ID and build times are the template's comment. Drop the template to build the room again.
 */
const snapshotName = () => `fedbench_snapshot_bencha_${settings.bigMembers}_${settings.bigEvents}`

interface SavedBigRoom {
  room_id: string
  members: number
  messages: number
  setup_ms: { members: number; messages: number }
  built_at: string
}

/**
 * Sets up (idempotent) and starts both Synapse instances; with `reset`, on fresh databases, benchA's from the
 * big-room snapshot when there is one (returned).
 */
async function startSynapses(): Promise<SavedBigRoom | null> {
  for (const id of SYNAPSES) await stopSynapse(id, true)
  for (const id of SYNAPSES) {
    progress(`setting up Synapse ${id}`)
    await kit('setup.sh', id, setupEnv(id))
  }
  let saved: SavedBigRoom | null = null
  if (settings.reset) {
    // setup.sh stops the cluster again if it started it: start.sh leaves it running (a Synapse that does not
    // start on its old database does not matter here, the database is about to go).
    await kit('start.sh', SYNAPSES[0]).catch(async (err) => {
      if (!(await withAnchorPg(async () => true).catch(() => false))) throw err
    })
    await stopSynapse(SYNAPSES[0], true)
    saved = await withAnchorPg(async (admin) => {
      for (const id of SYNAPSES) await admin.query(`DROP DATABASE IF EXISTS "synapse_${id}" WITH (FORCE)`)
      if (settings.bigMembers === 0) return null
      const { rows } = await admin.query<{ comment: string | null }>("SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1", [snapshotName()])
      const comment = rows[0]?.comment
      if (!comment) return null
      await admin.query(`CREATE DATABASE "synapse_benchA" OWNER synapse TEMPLATE ${snapshotName()}`)
      return JSON.parse(comment) as SavedBigRoom
    })
    progress(`fresh databases for the Synapse instances${saved ? `, benchA's from ${snapshotName()} (big room built ${saved.built_at})` : ''}`)
    for (const id of SYNAPSES) await kit('setup.sh', id, setupEnv(id))
  }
  for (const id of SYNAPSES) await startSynapse(id)
  return saved
}

async function startSynapse(id: string): Promise<void> {
  const started = performance.now()
  await kit('start.sh', id)
  progress(`Synapse ${id} ready in ${Math.round(performance.now() - started)} ms (pid ${synapsePid(id)})`)
}

/** Keeps benchA's database, with its freshly built big room, as the template later runs start from. */
async function saveSnapshot(big: BigRoom): Promise<void> {
  await stopSynapse('benchA', true)
  const saved: SavedBigRoom = { room_id: big.roomId, members: big.members, messages: big.messages, setup_ms: big.setup_ms, built_at: new Date().toISOString() }
  await withAnchorPg(async (admin) => {
    await admin.query(`DROP DATABASE IF EXISTS ${snapshotName()}`)
    await admin.query(`CREATE DATABASE ${snapshotName()} TEMPLATE "synapse_benchA"`)
    await admin.query(`COMMENT ON DATABASE ${snapshotName()} IS '${JSON.stringify(saved).replaceAll("'", "''")}'`)
  })
  progress(`kept benchA's database with the big room as ${snapshotName()}`)
  await startSynapse('benchA')
}

// ---- memory and the servers ---------------------------------------------------------------------

interface Memory {
  rss_mb: number
  /** The process's peak resident set so far. */
  peak_rss_mb: number
}

function memoryOf(pid: number | null): Memory | null {
  if (!pid) return null
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN)
    return { rss_mb: Math.round(kb('VmRSS') / 1024), peak_rss_mb: Math.round(kb('VmHWM') / 1024) }
  } catch {
    return null
  }
}

function homesteadOverrides(id: (typeof HOMESTEADS)[number], dataDir: string, database: BenchDatabase): Record<string, unknown> {
  const s = SERVER_PORTS[id]
  const host = hostOf(s.serverName)
  return benchOverrides(dataDir, {
    ...database.overrides,
    server_name: s.serverName,
    public_baseurl: `http://127.0.0.1:${s.clientPort}`,
    'listen.port': s.clientPort,
    'federation.listen.host': '127.0.0.1',
    'federation.listen.port': s.federationPort,
    'federation.tls_certificate_file': join(ANCHOR_ROOT, 'ca', `${host}.crt`),
    'federation.tls_private_key_file': join(ANCHOR_ROOT, 'ca', `${host}.key`),
    'federation.ca_file': join(ANCHOR_ROOT, 'ca', 'ca.crt'),
    'federation.trusted_key_servers': [],
    'outbound.ip_range_allowlist': ['127.0.0.0/8', '::1/128'],
    'log.level': settings.logLevel,
  })
}

function makeServer(id: keyof typeof SERVER_PORTS, pid: () => number | null): Server {
  const s = SERVER_PORTS[id]
  const url = `http://127.0.0.1:${s.clientPort}`
  const target: Target = {
    name: id,
    url,
    http: new HttpClient(url, BUILD_CONCURRENCY + 8),
    cpuMs: async () => {
      const p = pid()
      return p ? processCpuMs(p) : null
    },
    info: { server_name: s.serverName },
  }
  return { id, kind: s.kind, serverName: s.serverName, clientPort: s.clientPort, federationPort: s.federationPort, target, pid }
}

async function serverVersion(server: Server): Promise<string> {
  const res = await server.target.http.request('GET', '/_matrix/federation/v1/version')
  return res.status === 200 ? `${res.body?.server?.name ?? server.kind} ${res.body?.server?.version ?? ''}`.trim() : 'unknown'
}

// ---- client calls -------------------------------------------------------------------------------

/** Open registration without a password (no password hash to compute): Homestead's fast path for many users. */
async function registerWithoutPassword(target: Target, username: string): Promise<User> {
  const path = `${CS}/register`
  let res = await target.http.request('POST', path, { username })
  if (res.status === 401 && typeof res.body?.session === 'string') {
    res = await target.http.request('POST', path, { username, auth: { type: 'm.login.dummy', session: res.body.session } })
  }
  const body = expectOk(`register ${username} on ${target.name}`, res)
  return { username, user_id: body.user_id, access_token: body.access_token }
}

/** Joins by room ID through `via` (both the spec's `via` and the older `server_name`). */
async function joinVia(target: Target, token: string, roomId: string, via: string): Promise<void> {
  const qs = `?via=${encodeURIComponent(via)}&server_name=${encodeURIComponent(via)}`
  expectOk(`join ${roomId} on ${target.name}`, await target.http.request('POST', `${CS}/join/${room(roomId)}${qs}`, {}, token))
}

async function joinLocal(target: Target, token: string, roomId: string): Promise<void> {
  expectOk(`join ${roomId} on ${target.name}`, await target.http.request('POST', `${CS}/rooms/${room(roomId)}/join`, {}, token))
}

async function joinedMembers(target: Target, token: string, roomId: string): Promise<number> {
  const res = await target.http.request('GET', `${CS}/rooms/${room(roomId)}/joined_members`, undefined, token)
  return res.status === 200 ? Object.keys(res.body?.joined ?? {}).length : 0
}

function hasMessage(body: any, roomId: string, text: string): boolean {
  const events: any[] = body?.rooms?.join?.[roomId]?.timeline?.events ?? []
  return events.some((e) => e?.content?.body === text)
}

/** Long-polls from `since` until `text` arrives in `roomId` (or `deadline` passes); returns the next token. */
async function awaitMessage(target: Target, token: string, since: string, roomId: string, text: string, deadline: number): Promise<string> {
  for (;;) {
    const body = await sync(target, token, { since, timeout: 30_000, filter: DELIVERY_FILTER })
    since = body.next_batch
    if (hasMessage(body, roomId, text)) return since
    if (performance.now() > deadline) throw new Error(`"${text}" did not reach ${target.name} in time`)
  }
}

// ---- 1. delivery --------------------------------------------------------------------------------

interface Pair {
  label: string
  from: Server
  to: Server
  sender: User
  receiver: User
  roomId: string
  since: string
  deliveries: number[]
  sends: number[]
}

const pairLabel = (from: Server, to: Server) => `${from.kind}→${to.kind}`

async function setUpPair(from: Server, to: Server): Promise<Pair> {
  const label = pairLabel(from, to)
  progress(`delivery ${label} (${from.id} → ${to.id}): users, a room on ${from.id}, ${to.id} joins`)
  const sender = await register(from.target, `fd_s_${runId}_${to.id.toLowerCase()}`)
  const receiver = await register(to.target, `fd_r_${runId}_${from.id.toLowerCase()}`)
  const roomId = await createRoom(from.target, sender.access_token, { preset: 'public_chat' })
  await joinVia(to.target, receiver.access_token, roomId, from.serverName)
  const since = (await sync(to.target, receiver.access_token, { timeout: 0, filter: DELIVERY_FILTER })).next_batch
  return { label, from, to, sender, receiver, roomId, since, deliveries: [], sends: [] }
}

let deliveryCounter = 0

async function deliverOnce(p: Pair, measured: boolean): Promise<void> {
  const text = `delivery ${runId} ${++deliveryCounter}`
  const t0 = performance.now()
  const polled = awaitMessage(p.to.target, p.receiver.access_token, p.since, p.roomId, text, t0 + 60_000)
  await sleep(LONG_POLL_SETTLE_MS)
  const start = performance.now()
  const sent = sendText(p.from.target, p.sender.access_token, p.roomId, text).then(() => performance.now() - start)
  p.since = await polled
  const delivered = performance.now() - start
  const sendMs = await sent
  if (measured) {
    p.deliveries.push(delivered)
    p.sends.push(sendMs)
  }
}

const round3 = (n: number) => Number(n.toFixed(3))

function latency(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b)
  const s = summarize(samples)
  return { samples: samples.length, p50_ms: s.p50_ms, p95_ms: round3(percentile(sorted, 95)), p99_ms: s.p99_ms, mean_ms: s.mean_ms, min_ms: round3(sorted[0] ?? Number.NaN), max_ms: round3(sorted.at(-1) ?? Number.NaN) }
}

/** Every pair in rounds (which goes first rotates), so drift in the machine's load falls on all pairs alike. */
async function measureDeliveries(pairs: Pair[]) {
  for (const p of pairs) for (let i = 0; i < settings.warmup; i++) await deliverOnce(p, false)
  const rounds = 5
  const perRound = Math.ceil(settings.deliveries / rounds)
  for (let r = 0; r < rounds; r++) {
    await settle(5000)
    for (let k = 0; k < pairs.length; k++) {
      const p = pairs[(k + r) % pairs.length] as Pair
      const n = Math.min(perRound, settings.deliveries - p.deliveries.length)
      for (let i = 0; i < n; i++) await deliverOnce(p, true)
    }
    progress(`delivery round ${r + 1}/${rounds}: ${pairs.map((p) => `${p.label} p50 ${summarize(p.deliveries).p50_ms.toFixed(1)} ms`).join(', ')}`)
  }
  return Object.fromEntries(pairs.map((p) => [p.label, { from: p.from.id, to: p.to.id, ...latency(p.deliveries), send_p50_ms: summarize(p.sends).p50_ms }]))
}

// ---- 2. joining a small remote room -------------------------------------------------------------

interface JoinPair {
  label: string
  host: Server
  joiner: Server
  owner: User
  members: User[]
  joinerUser: User
  joins: number[]
}

async function setUpJoinPair(host: Server, joiner: Server): Promise<JoinPair> {
  const owner = await register(host.target, `fj_o_${runId}_${joiner.id.toLowerCase()}`)
  const members = await pool(Array.from({ length: settings.smallMembers - 1 }), 2, (_, i) => register(host.target, `fj_m${i}_${runId}_${joiner.id.toLowerCase()}`))
  const joinerUser = await register(joiner.target, `fj_j_${runId}_${host.id.toLowerCase()}`)
  return { label: pairLabel(host, joiner), host, joiner, owner, members, joinerUser, joins: [] }
}

/** A fresh public room on the host: `smallMembers` members, `smallMessages` messages from them in turn. */
async function smallRoom(p: JoinPair): Promise<string> {
  const roomId = await createRoom(p.host.target, p.owner.access_token, { preset: 'public_chat' })
  for (const m of p.members) await joinLocal(p.host.target, m.access_token, roomId)
  const talkers = [p.owner, ...p.members]
  for (let i = 0; i < settings.smallMessages; i++) {
    await sendText(p.host.target, (talkers[i % talkers.length] as User).access_token, roomId, `small room message ${i}`)
  }
  return roomId
}

async function measureSmallJoins(pairs: JoinPair[]) {
  for (let rep = -1; rep < settings.smallJoins; rep++) {
    const rooms = await Promise.all(pairs.map((p) => smallRoom(p)))
    await settle(10_000)
    for (let k = 0; k < pairs.length; k++) {
      const i = (k + Math.max(rep, 0)) % pairs.length
      const p = pairs[i] as JoinPair
      const t0 = performance.now()
      await joinVia(p.joiner.target, p.joinerUser.access_token, rooms[i] as string, p.host.serverName)
      if (rep >= 0) p.joins.push(performance.now() - t0)
    }
    if (rep >= 0) progress(`small joins ${rep + 1}/${settings.smallJoins}: ${pairs.map((p) => `${p.label} ${(p.joins.at(-1) ?? 0).toFixed(0)} ms`).join(', ')}`)
  }
  return Object.fromEntries(
    pairs.map((p) => {
      const sorted = [...p.joins].sort((a, b) => a - b)
      return [p.label, { host: p.host.id, joiner: p.joiner.id, joins: p.joins.length, p50_ms: r1(percentile(sorted, 50)), min_ms: r1(sorted[0] ?? Number.NaN), max_ms: r1(sorted.at(-1) ?? Number.NaN), samples_ms: p.joins.map(r1) }]
    }),
  )
}

// ---- 3. joining a big room ----------------------------------------------------------------------

interface BigRoom {
  host: Server
  roomId: string
  members: number
  messages: number
  setup_ms: { members: number; messages: number }
  /** Synapse's room, built by an earlier run (see snapshotName). */
  from_snapshot: boolean
}

/** Events of a public_chat room before anyone else joins (create, owner's join, power levels, join rules, history visibility, guest access): the rest are joins and messages. */
const INITIAL_EVENTS = 6

function every(n: number, total: number, what: string) {
  const step = Math.max(1, Math.round(total / 5))
  return () => {
    if (++n % step === 0) progress(`${what}: ${n}/${total}`)
  }
}

/** Homestead: members by open registration without a password, each joining over the client API. */
async function buildHomesteadBigRoom(host: Server): Promise<BigRoom> {
  const owner = await register(host.target, `big_owner_${runId}`)
  const roomId = await createRoom(host.target, owner.access_token, { preset: 'public_chat' })
  const others = settings.bigMembers - 1
  const t0 = performance.now()
  const tick = every(0, others, `${host.id}: members`)
  await pool(Array.from({ length: others }), BUILD_CONCURRENCY, async (_, i) => {
    const user = await registerWithoutPassword(host.target, `big_${runId}_${i}`)
    await joinLocal(host.target, user.access_token, roomId)
    tick()
  })
  const membersMs = performance.now() - t0
  return fillWithMessages(host, owner, roomId, membersMs)
}

/** Synapse: an admin by shared secret, members by the admin API (no password hash), each joined by the admin join API. */
async function buildSynapseBigRoom(host: Server): Promise<BigRoom> {
  const admin = await registerAdmin(host.target, synapseSecret(host.id), `big_admin_${runId}`)
  const roomId = await createRoom(host.target, admin.access_token, { preset: 'public_chat' })
  const others = settings.bigMembers - 1
  const t0 = performance.now()
  const tick = every(0, others, `${host.id}: members`)
  await pool(Array.from({ length: others }), BUILD_CONCURRENCY, async (_, i) => {
    const userId = `@big_${runId}_${i}:${host.serverName}`
    const created = await host.target.http.request('PUT', `/_synapse/admin/v2/users/${encodeURIComponent(userId)}`, { displayname: `big ${i}` }, admin.access_token)
    if (created.status !== 201) expectOk('create user', created) // 201 Created, or 200 for an existing user
    expectOk('admin join', await host.target.http.request('POST', `/_synapse/admin/v1/join/${room(roomId)}`, { user_id: userId }, admin.access_token))
    tick()
  })
  const membersMs = performance.now() - t0
  return fillWithMessages(host, admin, roomId, membersMs)
}

async function fillWithMessages(host: Server, sender: User, roomId: string, membersMs: number): Promise<BigRoom> {
  const messages = Math.max(0, settings.bigEvents - INITIAL_EVENTS - (settings.bigMembers - 1))
  const t0 = performance.now()
  const tick = every(0, messages, `${host.id}: messages`)
  await pool(Array.from({ length: messages }), BUILD_CONCURRENCY, async (_, i) => {
    await sendText(host.target, sender.access_token, roomId, `history ${i} of the big room`)
    tick()
  })
  return { host, roomId, members: settings.bigMembers, messages, setup_ms: { members: Math.round(membersMs), messages: Math.round(performance.now() - t0) }, from_snapshot: false }
}

async function measureBigJoin(big: BigRoom, joiner: Server) {
  const user = await register(joiner.target, `big_joiner_${runId}`)
  const waited = await settle(30_000)
  const before = { joiner: memoryOf(joiner.pid()), host: memoryOf(big.host.pid()) }
  const cpuBefore = { joiner: await joiner.target.cpuMs(), host: await big.host.target.cpuMs() }
  progress(`${joiner.id} joins the big room on ${big.host.id} (settled after ${waited} ms)`)
  const t0 = performance.now()
  await joinVia(joiner.target, user.access_token, big.roomId, big.host.serverName)
  const joinMs = performance.now() - t0
  const atJoin = { joiner: memoryOf(joiner.pid()), host: memoryOf(big.host.pid()) }
  progress(`${joiner.id}: POST /join answered in ${joinMs.toFixed(0)} ms; waiting for all ${big.members + 1} members`)
  // Complete: the joining server lists every member (a server that joined with partial state lists them
  // once it has fetched the whole state).
  let completeMs: number | null = null
  let listed = 0
  while (performance.now() - t0 < BIG_COMPLETE_TIMEOUT_MS) {
    listed = await joinedMembers(joiner.target, user.access_token, big.roomId)
    if (listed >= big.members + 1) {
      completeMs = performance.now() - t0
      break
    }
    await sleep(100)
  }
  const cpuAfter = { joiner: await joiner.target.cpuMs(), host: await big.host.target.cpuMs() }
  const cpu = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.round(b - a))
  progress(`${joiner.id}: ${listed} members listed after ${completeMs === null ? 'the time limit' : `${completeMs.toFixed(0)} ms`}`)
  return {
    host: big.host.id,
    joiner: joiner.id,
    members: big.members,
    messages: big.messages,
    events: INITIAL_EVENTS + big.members - 1 + big.messages,
    setup_ms: big.setup_ms,
    built_by_an_earlier_run: big.from_snapshot,
    join_ms: Math.round(joinMs),
    complete_ms: completeMs === null ? null : Math.round(completeMs),
    members_listed: listed,
    cpu_ms_until_complete: { joiner: cpu(cpuBefore.joiner, cpuAfter.joiner), host: cpu(cpuBefore.host, cpuAfter.host) },
    memory: { before: before, after_join: atJoin, after_complete: { joiner: memoryOf(joiner.pid()), host: memoryOf(big.host.pid()) } },
  }
}

// ---- targets ------------------------------------------------------------------------------------

function targetRow(metric: string, homestead: number | null | undefined, synapse: number | null | undefined, limit: number) {
  const ratio = homestead != null && synapse != null ? homestead / synapse : null
  return { metric, homestead: homestead ?? null, synapse: synapse ?? null, ratio: ratio === null ? null : round3(ratio), target: `<= ${round3(limit)}`, met: ratio !== null && ratio <= limit }
}

// ---- main ---------------------------------------------------------------------------------------

async function main(cleanups: Cleanups): Promise<Record<string, unknown>> {
  if (process.getuid?.() !== 0) throw new Error('bench:federation runs as root (the Synapse kit chroots and mounts)')
  if (!existsSync(join(ANCHOR_DIR, 'start.sh'))) throw new Error(`no Synapse kit at ${ANCHOR_DIR} (set BENCH_ANCHOR_DIR)`)
  if (!existsSync(join(ANCHOR_ROOT, 'sid', '.anchor-debootstrap-done'))) progress(`warning: no built chroot under ${ANCHOR_ROOT}: the kit's setup.sh will build it (takes minutes)`)
  const began = performance.now()
  const load1mStart = loadavg()[0] ?? 0
  // Registered first, so it runs last: the Synapses stop after the Homesteads' databases are dropped.
  cleanups.push(async () => {
    for (const id of SYNAPSES) await stopSynapse(id, false)
  })
  const savedBigRoom = await startSynapses()

  const homesteads = new Map<string, ServerProcess>()
  for (const id of HOMESTEADS) {
    const dataDir = await mkdtemp(join(tmpdir(), `hs-fedbench-${id}-`))
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
    const database = await externalDatabase(ANCHOR_PG_URL)
    cleanups.push(() => database.drop())
    const server = new ServerProcess()
    cleanups.push(() => server.stop())
    const ready = await server.call({ type: 'start', overrides: homesteadOverrides(id, dataDir, database), anchorRoot: ANCHOR_ROOT }, 'ready')
    progress(`Homestead ${id} (${SERVER_PORTS[id].serverName}) ready at ${ready.url} in ${ready.startup_ms} ms`)
    homesteads.set(id, server)
  }
  const servers = {
    hsa: makeServer('hsa', () => homesteads.get('hsa')?.pid ?? null),
    hsb: makeServer('hsb', () => homesteads.get('hsb')?.pid ?? null),
    benchA: makeServer('benchA', () => synapsePid('benchA')),
    benchB: makeServer('benchB', () => synapsePid('benchB')),
  }
  cleanups.push(async () => {
    for (const s of Object.values(servers)) s.target.http.close()
  })
  const { hsa, hsb, benchA, benchB } = servers
  const versions = Object.fromEntries(await Promise.all(Object.values(servers).map(async (s) => [s.id, await serverVersion(s)] as const)))
  const memoryAtStart = Object.fromEntries(Object.values(servers).map((s) => [s.id, memoryOf(s.pid())]))

  // Synapse's big room first, from the snapshot or built (and kept) before any federation traffic.
  let synBig: BigRoom | null = null
  if (settings.bigMembers > 0 && settings.reset) {
    if (savedBigRoom) {
      synBig = { host: benchA, roomId: savedBigRoom.room_id, members: savedBigRoom.members, messages: savedBigRoom.messages, setup_ms: savedBigRoom.setup_ms, from_snapshot: true }
    } else {
      synBig = await buildSynapseBigRoom(benchA)
      progress(`${benchA.id}: big room built (members ${synBig.setup_ms.members} ms, messages ${synBig.setup_ms.messages} ms)`)
      await saveSnapshot(synBig)
    }
  }

  // 1. delivery (the rooms set up here are also every pair's first contact: keys fetched, connections open)
  const pairSpecs: Array<[Server, Server]> = [[hsa, hsb], [benchA, benchB], ...(settings.mixed ? ([[hsa, benchB], [benchA, hsb]] as Array<[Server, Server]>) : [])]
  const pairs: Pair[] = []
  for (const [from, to] of pairSpecs) pairs.push(await setUpPair(from, to))
  const delivery = await measureDeliveries(pairs)

  // 2. small rooms
  progress(`small-room joins: ${settings.smallMembers} members, ${settings.smallMessages} messages, ${settings.smallJoins} joins per pair`)
  const joinPairs: JoinPair[] = []
  for (const [host, joiner] of pairSpecs) joinPairs.push(await setUpJoinPair(host, joiner))
  const smallJoins = await measureSmallJoins(joinPairs)

  // 3. big rooms: both built before either is joined
  let bigJoins: Record<string, unknown> | null = null
  if (settings.bigMembers > 0) {
    progress(`big rooms: ${settings.bigMembers} members, ${settings.bigEvents} events, on ${hsa.id} and ${benchA.id}`)
    const hsBig = await buildHomesteadBigRoom(hsa)
    progress(`${hsa.id}: big room built (members ${hsBig.setup_ms.members} ms, messages ${hsBig.setup_ms.messages} ms)`)
    synBig ??= await buildSynapseBigRoom(benchA)
    bigJoins = {
      homestead: await measureBigJoin(hsBig, hsb),
      synapse: await measureBigJoin(synBig, benchB),
    }
  }

  const hh = 'homestead→homestead'
  const ss = 'synapse→synapse'
  const big = bigJoins as { homestead: { join_ms: number; complete_ms: number | null }; synapse: { join_ms: number; complete_ms: number | null } } | null
  const targets = [
    targetRow('delivery_p50_ms', delivery[hh]?.p50_ms, delivery[ss]?.p50_ms, 1 / 5),
    targetRow('small_join_p50_ms', smallJoins[hh]?.p50_ms, smallJoins[ss]?.p50_ms, 1 / 3),
  ]
  for (const t of targets) progress(`target ${t.metric}: ${t.homestead} vs ${t.synapse} → ${t.ratio} (${t.target}) ${t.met ? 'met' : 'MISSED'}`)
  return {
    benchmark: 'homestead-federation',
    ...machineInfo(load1mStart),
    database: 'the Synapse kit\'s PostgreSQL 15 (127.0.0.1:5433, stock settings) for all four servers, a database each',
    servers: Object.fromEntries(Object.values(servers).map((s) => [s.id, { server_name: s.serverName, version: versions[s.id], client_port: s.clientPort, federation_port: s.federationPort }])),
    settings: { ...settings, long_poll_settle_ms: LONG_POLL_SETTLE_MS, build_concurrency: BUILD_CONCURRENCY },
    memory_at_start: memoryAtStart,
    delivery,
    join_small: smallJoins,
    join_big: big,
    memory_at_end: Object.fromEntries(Object.values(servers).map((s) => [s.id, memoryOf(s.pid())])),
    targets,
    total_duration_ms: Math.round(performance.now() - began),
  }
}

await printReport(main)
