// Room benchmarks, server-agnostic (they only use a Target's HTTP API, so the same code measures Homestead
// and Synapse): createRoom latency, sequential send latency, concurrent send throughput (each sender in a
// room of its own), send → other user's long-poll /sync delivery latency, and the initial /sync of a user
// in many rooms with and without lazy-loaded members.
//
//   BENCH_CREATEROOM_ITERATIONS  sequential createRoom requests (default 50)
//   BENCH_SEND_ITERATIONS        sequential sends (default 200)
//   BENCH_DELIVERY_ITERATIONS    send → long-poll deliveries (default 100)
//   BENCH_SEND_CONCURRENCY       concurrent senders, one room each (default 20)
//   BENCH_DURATION_MS            length of the concurrent send run (default 10000, shared with run.ts)
//   BENCH_SYNC_ROOMS, BENCH_SYNC_MESSAGES, BENCH_SYNC_MEMBERS   the initial /sync user's rooms (50 × 40, 10 members)
//   BENCH_SYNC_ITERATIONS        initial syncs measured per variant, a fresh login each (default 10)
//   BENCH_ROOM_VERSION           create every room with this version (default: each server's own default)
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { closedLoop, envInt, expectOk, pool, progress, sequential, settle, sleep, summarize, type LatencySummary } from './lib.ts'
import { CS, PASSWORD, login, register, roomVersionOf, type Target, type User } from './targets.ts'

export const roomSettings = {
  createRoomIterations: envInt('BENCH_CREATEROOM_ITERATIONS', 50),
  sendIterations: envInt('BENCH_SEND_ITERATIONS', 200),
  deliveryIterations: envInt('BENCH_DELIVERY_ITERATIONS', 100),
  sendConcurrency: envInt('BENCH_SEND_CONCURRENCY', 20),
  durationMs: envInt('BENCH_DURATION_MS', 10000, 100),
  syncRooms: envInt('BENCH_SYNC_ROOMS', 50),
  syncMessages: envInt('BENCH_SYNC_MESSAGES', 40),
  syncMembers: envInt('BENCH_SYNC_MEMBERS', 10),
  syncIterations: envInt('BENCH_SYNC_ITERATIONS', 10),
  roomVersion: process.env.BENCH_ROOM_VERSION?.trim() || null,
}

/** How long a long-poll is given to reach the server before the measured send starts. */
const LONG_POLL_SETTLE_MS = 50
const LONG_POLL_TIMEOUT_MS = 30000
export const LAZY_FILTER = JSON.stringify({ room: { state: { lazy_load_members: true } } })

let txnCounter = 0
const txnPrefix = randomBytes(4).toString('hex')
const nextTxn = () => `${txnPrefix}-${++txnCounter}`
const room = (roomId: string) => encodeURIComponent(roomId)

// ---- client calls (shared with the scale benchmarks) --------------------------------------------

export async function createRoom(target: Target, token: string, body: Record<string, unknown> = {}): Promise<string> {
  if (roomSettings.roomVersion) body = { room_version: roomSettings.roomVersion, ...body }
  return expectOk('createRoom', await target.http.request('POST', `${CS}/createRoom`, body, token)).room_id
}

export async function joinRoom(target: Target, token: string, roomId: string): Promise<void> {
  expectOk('join', await target.http.request('POST', `${CS}/rooms/${room(roomId)}/join`, {}, token))
}

export async function sendText(target: Target, token: string, roomId: string, body: string): Promise<string> {
  const path = `${CS}/rooms/${room(roomId)}/send/m.room.message/${nextTxn()}`
  return expectOk('send', await target.http.request('PUT', path, { msgtype: 'm.text', body }, token)).event_id
}

export async function sync(target: Target, token: string, params: { since?: string; timeout?: number; filter?: string }): Promise<any> {
  const query = new URLSearchParams()
  if (params.since) query.set('since', params.since)
  if (params.timeout !== undefined) query.set('timeout', String(params.timeout))
  if (params.filter) query.set('filter', params.filter)
  const qs = query.toString()
  return expectOk('sync', await target.http.request('GET', `${CS}/sync${qs ? `?${qs}` : ''}`, undefined, token))
}

function hasMessage(body: any, roomId: string, text: string): boolean {
  const events: any[] = body?.rooms?.join?.[roomId]?.timeline?.events ?? []
  return events.some((e) => e?.content?.body === text)
}

/** Long-polls from `since` until the message with body `text` arrives in `roomId`; returns the next token. */
export async function awaitMessage(target: Target, token: string, since: string, roomId: string, text: string): Promise<string> {
  for (;;) {
    const body = await sync(target, token, { since, timeout: LONG_POLL_TIMEOUT_MS })
    since = body.next_batch
    if (hasMessage(body, roomId, text)) return since
  }
}

export interface DeliveryResult extends LatencySummary {
  iterations: number
  /** The sender's own request latency during the same runs. */
  send_p50_ms: number
}

/**
 * Delivery latency: the receiver's long-poll is waiting, then the sender sends; measured from the start of
 * the send request until the receiver's /sync answer carrying that message has been read.
 */
export async function measureDelivery(
  target: Target,
  sender: string,
  receiver: string,
  roomId: string,
  iterations: number,
  sendWarmup = 5,
): Promise<DeliveryResult> {
  let since = (await sync(target, receiver, { timeout: 0, filter: LAZY_FILTER })).next_batch
  const deliveries: number[] = []
  const sends: number[] = []
  for (let i = -sendWarmup; i < iterations; i++) {
    const text = `delivery ${txnPrefix} ${i}`
    const polled = awaitMessage(target, receiver, since, roomId, text)
    await sleep(LONG_POLL_SETTLE_MS)
    const t0 = performance.now()
    const sent = sendText(target, sender, roomId, text).then(() => performance.now() - t0)
    since = await polled
    const delivered = performance.now() - t0
    const sendMs = await sent
    if (i >= 0) {
      deliveries.push(delivered)
      sends.push(sendMs)
    }
  }
  return { iterations, ...summarize(deliveries), send_p50_ms: summarize(sends).p50_ms }
}

/**
 * The initial /sync's data: `owner` creates `rooms` rooms, every member joins each, and each room gets
 * `messages` messages from the owner and the first two members in turn.
 */
export async function seedInitialSync(target: Target, owner: User, members: User[], rooms: number, messages: number, concurrency: number): Promise<void> {
  // One at a time, as one client would (and because before commit 90297e7 Homestead gave identical v12
  // createRoom requests of one user in the same millisecond the same room ID, failing all but one).
  const roomIds = await pool(Array.from({ length: rooms }), 1, () => createRoom(target, owner.access_token, { preset: 'public_chat' }))
  await pool(roomIds.flatMap((roomId) => members.map((m) => [roomId, m] as const)), 10, ([roomId, m]) => joinRoom(target, m.access_token, roomId))
  const talkers = [owner, ...members.slice(0, 2)]
  await pool(roomIds, concurrency, async (roomId) => {
    for (let i = 0; i < messages; i++) {
      const who = talkers[i % talkers.length] as User
      await sendText(target, who.access_token, roomId, `history ${i} in a room with ${members.length + 1} members`)
    }
  })
}

export interface InitialSyncResult extends LatencySummary {
  iterations: number
  rooms_returned: number
  state_events: number
  response_kb: number
}

/** Initial /sync latency, each from a fresh login (a new device: Synapse caches identical /sync requests). */
export async function measureInitialSyncs(
  target: Target,
  username: string,
  password: string,
  iterations: number,
  warmup = 2,
): Promise<{ full: InitialSyncResult; lazy: InitialSyncResult }> {
  const samples = { full: [] as number[], lazy: [] as number[] }
  const shape = { full: { rooms: 0, state: 0, kb: 0 }, lazy: { rooms: 0, state: 0, kb: 0 } }
  for (let i = -warmup; i < iterations; i++) {
    // Alternating the variants keeps any drift (caches, autovacuum) from favouring one of them.
    for (const variant of ['full', 'lazy'] as const) {
      const token = await login(target, username, password)
      const t0 = performance.now()
      const body = await sync(target, token, { timeout: 0, ...(variant === 'lazy' ? { filter: LAZY_FILTER } : {}) })
      const ms = performance.now() - t0
      if (i < 0) continue
      samples[variant].push(ms)
      const joined = Object.values(body.rooms?.join ?? {}) as any[]
      shape[variant] = {
        rooms: joined.length,
        state: joined.reduce((n, r) => n + (r.state?.events?.length ?? 0), 0),
        kb: Math.round(JSON.stringify(body).length / 1024),
      }
    }
  }
  const result = (v: 'full' | 'lazy'): InitialSyncResult => ({
    iterations,
    ...summarize(samples[v]),
    rooms_returned: shape[v].rooms,
    state_events: shape[v].state,
    response_kb: shape[v].kb,
  })
  return { full: result('full'), lazy: result('lazy') }
}

// ---- the suite ----------------------------------------------------------------------------------

export interface RoomResults {
  target: string
  room_version: string
  create_room: LatencySummary & { iterations: number }
  send_sequential: LatencySummary & { iterations: number }
  send_concurrent: {
    senders: number
    duration_ms: number
    events: number
    events_per_s: number
    loaded_p50_ms: number
    loaded_p99_ms: number
    /** CPU per event of the server process, of its PostgreSQL backends, and of this load generator. */
    server_cpu_ms_per_event: number | null
    postgres_cpu_ms_per_event: number | null
    client_cpu_ms_per_event: number
  }
  delivery: DeliveryResult
  initial_sync: {
    rooms: number
    messages_per_room: number
    members_per_room: number
    setup_ms: number
    full: InitialSyncResult
    lazy_load_members: InitialSyncResult
  }
  total_ms: number
}

/** One target's state through the phases; each phase runs on every target before the next one starts. */
class RoomSuite {
  private readonly target: Target
  private readonly s: typeof roomSettings
  private users: User[] = []
  private shared = ''
  private ownRooms: string[] = []
  private readonly r: Partial<RoomResults> & { target: string }
  private syncShape = { members: 0, setupMs: 0 }
  private elapsed = 0

  constructor(target: Target, s: typeof roomSettings) {
    this.target = target
    this.s = s
    this.r = { target: target.name }
  }

  private get alice(): User {
    return this.users[0] as User
  }
  private get bob(): User {
    return this.users[1] as User
  }
  private get carol(): User {
    return this.users[2] as User
  }
  private get senders(): User[] {
    return this.users.slice(3)
  }
  private say(message: string): void {
    progress(`${this.target.name} rooms: ${message}`)
  }

  async run(phase: (typeof PHASES)[number]): Promise<void> {
    const t0 = performance.now()
    await this[phase]()
    this.elapsed += performance.now() - t0
  }

  private async setup(): Promise<void> {
    const { target, s } = this
    const runId = randomBytes(3).toString('hex')
    this.say(`registering ${s.sendConcurrency + 3} users`)
    const roles = ['alice', 'bob', 'carol', ...Array.from({ length: s.sendConcurrency }, (_, i) => `sender${i}`)]
    this.users = await pool(roles, 4, (role) => register(target, `bench_${runId}_${role}`))
    // A room alice shares with bob, for sequential sends and deliveries; one room of its own per sender.
    this.shared = await createRoom(target, this.alice.access_token, { invite: [this.bob.user_id] })
    await joinRoom(target, this.bob.access_token, this.shared)
    this.r.room_version = await roomVersionOf(target, this.alice.access_token, this.shared)
    this.ownRooms = await pool(this.senders, 5, (u) => createRoom(target, u.access_token))
  }

  /** createRoom with the server's defaults (private_chat), as a client creating a room with no options. */
  private async createRoom(): Promise<void> {
    const { target, s } = this
    this.say(`createRoom × ${s.createRoomIterations}`)
    for (let i = 0; i < 3; i++) await createRoom(target, this.alice.access_token)
    const latencies = await sequential(s.createRoomIterations, () => createRoom(target, this.alice.access_token))
    this.r.create_room = { iterations: s.createRoomIterations, ...summarize(latencies) }
  }

  /** Sequential sends in the room alice shares with bob (bob is not polling). */
  private async sendSequential(): Promise<void> {
    const { target, s } = this
    this.say(`sequential send × ${s.sendIterations}`)
    for (let i = 0; i < 10; i++) await sendText(target, this.alice.access_token, this.shared, `warm-up ${i}`)
    const latencies = await sequential(s.sendIterations, (i) => sendText(target, this.alice.access_token, this.shared, `message ${i}`))
    this.r.send_sequential = { iterations: s.sendIterations, ...summarize(latencies) }
  }

  private async delivery(): Promise<void> {
    this.say(`delivery to a long-poll × ${this.s.deliveryIterations}`)
    this.r.delivery = await measureDelivery(this.target, this.alice.access_token, this.bob.access_token, this.shared, this.s.deliveryIterations)
  }

  /** Concurrent senders, each in a room of its own. */
  private async sendConcurrent(): Promise<void> {
    const { target, s, senders, ownRooms } = this
    const send = (worker: number) => {
      const u = senders[worker % senders.length] as User
      return sendText(target, u.access_token, ownRooms[worker % senders.length] as string, `concurrent from ${u.username}`)
    }
    this.say(`${s.sendConcurrency} concurrent senders, warm-up 1 s then ${s.durationMs} ms`)
    await closedLoop(s.sendConcurrency, 1000, send)
    const cpuBefore = await target.cpuMs()
    const dbBefore = (await target.dbCpuMs?.()) ?? null
    const clientBefore = process.cpuUsage()
    const load = await closedLoop(s.sendConcurrency, s.durationMs, send)
    const client = process.cpuUsage(clientBefore)
    const cpuAfter = await target.cpuMs()
    const dbAfter = (await target.dbCpuMs?.()) ?? null
    const loaded = summarize(load.latencies)
    const perEvent = (before: number | null, after: number | null) =>
      before === null || after === null ? null : Number(((after - before) / (load.requests || 1)).toFixed(3))
    this.r.send_concurrent = {
      senders: s.sendConcurrency,
      duration_ms: load.elapsed_ms,
      events: load.requests,
      events_per_s: load.rps,
      loaded_p50_ms: loaded.p50_ms,
      loaded_p99_ms: loaded.p99_ms,
      server_cpu_ms_per_event: perEvent(cpuBefore, cpuAfter),
      postgres_cpu_ms_per_event: perEvent(dbBefore, dbAfter),
      client_cpu_ms_per_event: Number(((client.user + client.system) / 1000 / (load.requests || 1)).toFixed(3)),
    }
  }

  /** The initial /sync user: carol in N rooms of M members, K messages each from three senders. */
  /** The initial /sync's data, for every target before any measures (see runRoomBenchmarks). */
  private async syncSetup(): Promise<void> {
    const { target, s, carol } = this
    this.say(`setting up ${s.syncRooms} rooms × ${s.syncMessages} messages, ${s.syncMembers} members`)
    const setupStart = performance.now()
    const members = this.senders.slice(0, Math.max(0, s.syncMembers - 1))
    await seedInitialSync(target, carol, members, s.syncRooms, s.syncMessages, s.sendConcurrency)
    this.syncShape = { members: members.length + 1, setupMs: Math.round(performance.now() - setupStart) }
  }

  private async initialSync(): Promise<void> {
    const { target, s, carol } = this
    this.say(`initial /sync × ${s.syncIterations} (full and lazy-loaded members)`)
    const initial = await measureInitialSyncs(target, carol.username, PASSWORD, s.syncIterations)
    this.r.initial_sync = {
      rooms: s.syncRooms,
      messages_per_room: s.syncMessages,
      members_per_room: this.syncShape.members,
      setup_ms: this.syncShape.setupMs,
      full: initial.full,
      lazy_load_members: initial.lazy,
    }
  }

  result(): RoomResults {
    const r = { ...this.r, total_ms: Math.round(this.elapsed) } as RoomResults
    this.say(
      `createRoom p50 ${r.create_room.p50_ms} ms, send p50 ${r.send_sequential.p50_ms} ms, ${r.send_concurrent.events_per_s} events/s, ` +
        `delivery p50 ${r.delivery.p50_ms} ms, initial sync p50 ${r.initial_sync.full.p50_ms} ms (lazy ${r.initial_sync.lazy_load_members.p50_ms} ms)`,
    )
    return r
  }
}

const PHASES = ['setup', 'createRoom', 'sendSequential', 'delivery', 'sendConcurrent', 'syncSetup', 'initialSync'] as const
/** Phases that only prepare data: the others measure, each after the machine has settled. */
const SETUP_PHASES: ReadonlySet<string> = new Set(['setup', 'syncSetup'])

/**
 * Runs every phase on each target in turn (alternating which goes first), so that when several targets are
 * compared, any change in the machine's load during the run falls on all of them alike.
 */
export async function runRoomBenchmarks(targets: Target[], s = roomSettings): Promise<RoomResults[]> {
  const suites = targets.map((t) => new RoomSuite(t, s))
  for (const [i, phase] of PHASES.entries()) {
    const order = i % 2 === 0 ? suites : [...suites].reverse()
    for (const suite of order) {
      if (!SETUP_PHASES.has(phase)) {
        const waited = await settle()
        if (waited > 1500) progress(`waited ${waited} ms for the machine to settle before ${phase}`)
      }
      await suite.run(phase)
    }
  }
  return suites.map((suite) => suite.result())
}
