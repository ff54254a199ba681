// `npm run bench:push`: push latency of Homestead and Synapse side by side in one run, against one test push
// gateway (test/support/push-gateway.ts, loopback). Needs root and the Synapse anchor kit
// (../shared/anchors/synapse, its chroot built): it sets up and starts the kit's instance benchPush
// (benchPush.test:8456, client API on 127.0.0.1:8025; an instance with a federation port, because only those
// allow loopback in Synapse's ip_range_whitelist, which also guards push gateways) on a fresh database, and
// one Homestead on a fresh database of the same PostgreSQL (the kit's, 127.0.0.1:5433). Measures:
//   1. latency: in a room of two, the receiver has an http pusher; from the start of the send request until
//      the gateway has received the notification for that event (p50/p99), and the send's own latency;
//      the servers take turns, one message each;
//   2. fan-out: a room of BENCH_PUSH_MEMBERS members; first the owner's send latency while nobody has a
//      pusher, then every other member gets one: the owner sends, and the time until the gateway has received
//      the first and the last of the (members - 1) notifications, and the send's latency (pushes must leave
//      after the commit, not on the send's path: compare it with the latency without pushers).
// Prints one JSON document on stdout; progress on stderr. See docs/benchmarks.md, "Push".
//
//   BENCH_PUSH_SAMPLES          measured notifications per server in the room of two (default 100), after BENCH_PUSH_WARMUP (10)
//   BENCH_PUSH_MEMBERS          members of the fan-out room (default 1000; 0 skips the fan-out)
//   BENCH_PUSH_FANOUT_MESSAGES  messages measured per server in the fan-out room (default 5, after one warm-up)
//   BENCH_ANCHOR_DIR            the kit's scripts (default ../shared/anchors/synapse from the repository)
//   ANCHOR_ROOT                 the kit's working area (default /var/tmp/synapse-anchor)
import { randomBytes } from 'node:crypto'
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { startPushGateway, type Notification } from '../test/support/push-gateway.ts'
import { Cleanups, envInt, expectOk, machineInfo, pool, printReport, progress, settle, summarize } from './lib.ts'
import { createRoom, sendText } from './rooms.ts'
import { ANCHOR_PG_URL, registerAdmin, startKitSynapse, synapsePid, synapseSecret } from './anchor-kit.ts'
import { startBenchHomestead } from './servers.ts'
import { CS, register, type Target, type User } from './targets.ts'

const settings = {
  samples: envInt('BENCH_PUSH_SAMPLES', 100),
  warmup: envInt('BENCH_PUSH_WARMUP', 10, 0),
  members: envInt('BENCH_PUSH_MEMBERS', 1000, 0),
  fanoutMessages: envInt('BENCH_PUSH_FANOUT_MESSAGES', 5),
}
const SYNAPSE = { id: 'benchPush', serverName: 'benchPush.test:8456', clientPort: 8025, federationPort: 8456 }
const BUILD_CONCURRENCY = 8
/** The longest a notification may take before the run fails (a lost notification, not a slow one). */
const NOTIFY_TIMEOUT_MS = 120_000

const runId = randomBytes(3).toString('hex')
const room = (roomId: string) => encodeURIComponent(roomId)
const r1 = (n: number) => Number(n.toFixed(1))
const r3 = (n: number) => Number(n.toFixed(3))

// ---- the gateway: arrival times per event -------------------------------------------------------

interface Arrivals {
  url: string
  /** Resolves with the arrival times (performance.now()) once `count` notifications for `eventId` have arrived. */
  waitFor(eventId: string, count: number): Promise<number[]>
  /** Notifications for events (badge-only updates aside) received so far. */
  total(): number
  invalid: string[]
  close(): Promise<void>
}

async function startGateway(): Promise<Arrivals> {
  const gateway = await startPushGateway()
  const times = new Map<string, number[]>()
  const waiters = new Map<string, { count: number; resolve: (t: number[]) => void }>()
  let total = 0
  gateway.answer = (n: Notification) => {
    const at = performance.now()
    if (typeof n.event_id === 'string') {
      total++
      const list = times.get(n.event_id) ?? []
      list.push(at)
      times.set(n.event_id, list)
      const w = waiters.get(n.event_id)
      if (w && list.length >= w.count) {
        waiters.delete(n.event_id)
        w.resolve(list)
      }
    }
    return { status: 200, body: { rejected: [] } }
  }
  return {
    url: gateway.url,
    invalid: gateway.invalid,
    total: () => total,
    waitFor(eventId, count) {
      const list = times.get(eventId) ?? []
      if (list.length >= count) return Promise.resolve(list)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(eventId)
          reject(new Error(`the gateway received ${times.get(eventId)?.length ?? 0} of ${count} notifications for ${eventId} in ${NOTIFY_TIMEOUT_MS} ms`))
        }, NOTIFY_TIMEOUT_MS)
        waiters.set(eventId, { count, resolve: (t) => (clearTimeout(timer), resolve(t)) })
      })
    },
    close: () => gateway.close(),
  }
}

// ---- the servers --------------------------------------------------------------------------------

// ---- client calls -------------------------------------------------------------------------------

async function setPusher(target: Target, user: User, gatewayUrl: string): Promise<void> {
  const body = {
    kind: 'http',
    app_id: 'org.homestead.bench',
    pushkey: `${target.name}-${user.username}`,
    app_display_name: 'bench',
    device_display_name: 'bench',
    lang: 'en',
    data: { url: gatewayUrl },
  }
  expectOk(`set pusher on ${target.name}`, await target.http.request('POST', `${CS}/pushers/set`, body, user.access_token))
}

/** A member of the fan-out room with an access token: no password to hash on either server. */
async function member(target: Target, admin: User, roomId: string, i: number): Promise<User> {
  const username = `push_${runId}_${i}`
  if (target.name === 'homestead') {
    const path = `${CS}/register`
    let res = await target.http.request('POST', path, { username })
    if (res.status === 401 && typeof res.body?.session === 'string') res = await target.http.request('POST', path, { username, auth: { type: 'm.login.dummy', session: res.body.session } })
    const body = expectOk(`register ${username}`, res)
    expectOk('join', await target.http.request('POST', `${CS}/rooms/${room(roomId)}/join`, {}, body.access_token))
    return { username, user_id: body.user_id, access_token: body.access_token }
  }
  // Synapse: the admin API creates the user (no password), joins it and logs in as it.
  const userId = `@${username}:${SYNAPSE.serverName}`
  const created = await target.http.request('PUT', `/_synapse/admin/v2/users/${encodeURIComponent(userId)}`, { displayname: username }, admin.access_token)
  if (created.status !== 201) expectOk('create user', created)
  expectOk('admin join', await target.http.request('POST', `/_synapse/admin/v1/join/${room(roomId)}`, { user_id: userId }, admin.access_token))
  const login = expectOk('admin login as user', await target.http.request('POST', `/_synapse/admin/v1/users/${encodeURIComponent(userId)}/login`, {}, admin.access_token))
  return { username, user_id: userId, access_token: login.access_token }
}

// ---- 1. latency in a room of two ------------------------------------------------------------------

interface Pair {
  target: Target
  sender: User
  roomId: string
  push: number[]
  send: number[]
}

async function setUpPair(target: Target, gatewayUrl: string): Promise<Pair> {
  const sender = await register(target, `push_sender_${runId}`)
  const receiver = await register(target, `push_receiver_${runId}`)
  const roomId = await createRoom(target, sender.access_token, { preset: 'private_chat', invite: [receiver.user_id], is_direct: true })
  expectOk('join', await target.http.request('POST', `${CS}/rooms/${room(roomId)}/join`, {}, receiver.access_token))
  await setPusher(target, receiver, gatewayUrl)
  return { target, sender, roomId, push: [], send: [] }
}

async function sendAndTime(target: Target, sender: User, roomId: string, gateway: Arrivals, expected: number, text: string) {
  const t0 = performance.now()
  const eventId = await sendText(target, sender.access_token, roomId, text)
  const sent = performance.now()
  const arrivals = await gateway.waitFor(eventId, expected)
  return { send_ms: sent - t0, first_ms: Math.min(...arrivals) - t0, last_ms: Math.max(...arrivals) - t0, count: arrivals.length }
}

async function measureLatency(pairs: Pair[], gateway: Arrivals) {
  const waited = await settle(30_000)
  progress(`latency: ${settings.warmup} warm-up and ${settings.samples} measured messages per server, taking turns (settled after ${waited} ms)`)
  for (let i = -settings.warmup; i < settings.samples; i++) {
    for (const p of pairs) {
      const t = await sendAndTime(p.target, p.sender, p.roomId, gateway, 1, `push latency ${i} ${runId}`)
      if (i < 0) continue
      p.push.push(t.first_ms)
      p.send.push(t.send_ms)
    }
  }
  const out: Record<string, unknown> = {}
  for (const p of pairs) {
    const push = summarize(p.push)
    const send = summarize(p.send)
    progress(`latency ${p.target.name}: push p50 ${push.p50_ms} ms, p99 ${push.p99_ms} ms (send p50 ${send.p50_ms} ms)`)
    out[p.target.name] = { samples: p.push.length, push, send, min_ms: r1(Math.min(...p.push)), max_ms: r1(Math.max(...p.push)) }
  }
  return out
}

// ---- 2. fan-out to a room of many -----------------------------------------------------------------

async function buildFanoutRoom(target: Target) {
  const owner = target.name === 'synapse' ? await registerAdmin(target, synapseSecret(SYNAPSE.id), `push_owner_${runId}`) : await register(target, `push_owner_${runId}`)
  const roomId = await createRoom(target, owner.access_token, { preset: 'public_chat' })
  const t0 = performance.now()
  let done = 0
  const members = await pool(Array.from({ length: settings.members - 1 }), BUILD_CONCURRENCY, async (_, i) => {
    const user = await member(target, owner, roomId, i)
    if (++done % 100 === 0) progress(`${target.name}: ${done}/${settings.members - 1} members`)
    return user
  })
  const setupMs = Math.round(performance.now() - t0)
  progress(`${target.name}: fan-out room of ${settings.members} built in ${setupMs} ms`)
  return { target, owner, roomId, members, setupMs, sendWithoutPushers: [] as number[] }
}

type FanoutRoom = Awaited<ReturnType<typeof buildFanoutRoom>>

/** The owner's sends in the big room before anyone has a pusher: what a send costs without pushes to queue. */
async function measureSendsWithoutPushers(rooms: FanoutRoom[]): Promise<void> {
  for (let i = -1; i < settings.fanoutMessages; i++) {
    for (const r of rooms) {
      await settle(15_000)
      const t0 = performance.now()
      await sendText(r.target, r.owner.access_token, r.roomId, `no pushers yet ${i} ${runId}`)
      const ms = r1(performance.now() - t0)
      progress(`${r.target.name}: send without pushers ${i < 0 ? 'warm-up' : i}: ${ms} ms`)
      if (i >= 0) r.sendWithoutPushers.push(ms)
    }
  }
}

async function addPushers(r: FanoutRoom, gatewayUrl: string): Promise<void> {
  const t0 = performance.now()
  await pool(r.members, BUILD_CONCURRENCY, (user) => setPusher(r.target, user, gatewayUrl))
  progress(`${r.target.name}: ${r.members.length} pushers set in ${Math.round(performance.now() - t0)} ms`)
}

async function measureFanout(rooms: FanoutRoom[], gateway: Arrivals) {
  const expected = settings.members - 1
  const results = new Map<string, Array<{ send_ms: number; first_ms: number; last_ms: number; count: number; cpu_ms: number | null }>>()
  for (let i = -1; i < settings.fanoutMessages; i++) {
    for (const r of rooms) {
      const waited = await settle(15_000)
      const cpu0 = await r.target.cpuMs()
      const t = await sendAndTime(r.target, r.owner, r.roomId, gateway, expected, `push fan-out ${i} ${runId}`)
      const cpu1 = await r.target.cpuMs()
      const cpu_ms = cpu0 !== null && cpu1 !== null ? r1(cpu1 - cpu0) : null
      progress(`fan-out ${r.target.name} ${i < 0 ? 'warm-up' : i}: send ${r1(t.send_ms)} ms, first ${r1(t.first_ms)} ms, last of ${t.count} ${r1(t.last_ms)} ms (settled ${waited} ms)`)
      if (i < 0) continue
      const list = results.get(r.target.name) ?? []
      list.push({ ...t, send_ms: r1(t.send_ms), first_ms: r1(t.first_ms), last_ms: r1(t.last_ms), cpu_ms })
      results.set(r.target.name, list)
    }
  }
  const out: Record<string, unknown> = {}
  for (const r of rooms) {
    const runs = results.get(r.target.name) ?? []
    const median = (xs: number[]) => summarize(xs).p50_ms
    out[r.target.name] = {
      members: settings.members,
      notifications_per_message: expected,
      setup_ms: r.setupMs,
      last_notification_p50_ms: median(runs.map((x) => x.last_ms)),
      first_notification_p50_ms: median(runs.map((x) => x.first_ms)),
      send_p50_ms: median(runs.map((x) => x.send_ms)),
      send_without_pushers_p50_ms: median(r.sendWithoutPushers),
      send_without_pushers_ms: r.sendWithoutPushers,
      runs,
    }
  }
  return out
}

// ---- main ---------------------------------------------------------------------------------------

async function main(cleanups: Cleanups): Promise<Record<string, unknown>> {
  const began = performance.now()
  const load1mStart = loadavg()[0]
  const gateway = await startGateway()
  cleanups.push(() => gateway.close())
  const synapse = await startKitSynapse(cleanups, SYNAPSE, BUILD_CONCURRENCY + 4)
  const { target: homestead, server } = await startBenchHomestead(cleanups, {
    adminUrl: ANCHOR_PG_URL,
    name: 'push',
    overrides: { 'outbound.ip_range_allowlist': ['127.0.0.0/8', '::1/128'] },
    maxSockets: BUILD_CONCURRENCY + 4,
  })
  const targets = [homestead, synapse]

  const pairs: Pair[] = []
  for (const t of targets) pairs.push(await setUpPair(t, gateway.url))
  const latency = await measureLatency(pairs, gateway)

  let fanout: Record<string, unknown> | null = null
  if (settings.members > 1) {
    const rooms = []
    for (const t of targets) rooms.push(await buildFanoutRoom(t))
    await measureSendsWithoutPushers(rooms)
    for (const r of rooms) await addPushers(r, gateway.url)
    fanout = await measureFanout(rooms, gateway)
  }
  if (gateway.invalid.length > 0) throw new Error(`the gateway received requests that do not match the spec's schema: ${gateway.invalid.slice(0, 3).join('; ')}`)
  const usage = await server.call({ type: 'usage' }, 'usage')
  const hs = latency.homestead as { push: { p50_ms: number; p99_ms: number } }
  const syn = latency.synapse as { push: { p50_ms: number; p99_ms: number } }
  return {
    benchmark: 'homestead-push',
    ...machineInfo(load1mStart),
    database: "the Synapse kit's PostgreSQL 15 (127.0.0.1:5433, stock settings) for both servers, a database each",
    servers: { homestead: { ...homestead.info, rss_mb_at_end: usage.rss_mb }, synapse: { ...synapse.info, pid: synapsePid(SYNAPSE.id) } },
    gateway: 'test/support/push-gateway.ts on 127.0.0.1, one for both servers; answers 200 {"rejected": []} at once',
    settings,
    latency,
    ratios: { push_p50: r3(hs.push.p50_ms / syn.push.p50_ms), push_p99: r3(hs.push.p99_ms / syn.push.p99_ms) },
    fanout,
    notifications_received: gateway.total(),
    total_duration_ms: Math.round(performance.now() - began),
  }
}

await printReport(main)
