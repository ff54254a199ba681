// `npm run bench:ab`: an alternating A/B run of two Homestead checkouts on one machine, for changes smaller
// than the machine's drift (a shared VM's speed changes by 2× within minutes; runs minutes apart cannot tell
// a 10 % change). Both servers run side by side, each in a process of its own on a fresh database of the
// same PostgreSQL, and every measurement alternates between them, so a change in the machine's load falls
// on both alike. Prints one JSON document: the base's and this checkout's results.
//
//   BENCH_AB_BASE          the other checkout (required), e.g. `git worktree add ../homestead-base <commit>`
//                          and `ln -s "$PWD/node_modules" ../homestead-base/node_modules`
//   BENCH_DATABASE_URL     the PostgreSQL both run on (default postgres://postgres@127.0.0.1:5432/test)
//   BENCH_AB_DELIVERIES    send → long-poll deliveries per server, alternating (default 150)
//   BENCH_AB_ROUNDS        3 s bursts of 20 concurrent senders per server, alternating (default 6; 0 skips)
//   BENCH_AB_SYNCS         initial /syncs of a user in 50 rooms × 40 messages, each way (default 20; 0 skips)
//   BENCH_AB_DB_DELAY_MS   > 0 puts a TCP proxy between each server and PostgreSQL that holds every chunk
//                          this long each way (a database across a network; default 0)
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, connect, type Server } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { HttpClient, envInt, pool, progress, sleep, summarize } from './lib.ts'
import { LAZY_FILTER, awaitMessage, createRoom, joinRoom, seedInitialSync, sendText, sync } from './rooms.ts'
import { ServerProcess, benchOverrides, externalDatabase, type BenchDatabase } from './servers.ts'
import { PASSWORD, login, register, type Target, type User } from './targets.ts'

const BASE = process.env.BENCH_AB_BASE?.trim()
const DATABASE_URL = process.env.BENCH_DATABASE_URL?.trim() || 'postgres://postgres@127.0.0.1:5432/test'
const DELIVERIES = envInt('BENCH_AB_DELIVERIES', 150, 0)
const ROUNDS = envInt('BENCH_AB_ROUNDS', 6, 0)
const SYNCS = envInt('BENCH_AB_SYNCS', 20, 0)
const DELAY_MS = envInt('BENCH_AB_DB_DELAY_MS', 0, 0)
const SENDERS = 20
const BURST_MS = 3000

interface Side {
  name: 'base' | 'head'
  server: ServerProcess
  database: BenchDatabase
  dataDir: string
  target: Target
  delivery: { alice: User; bob: User; room: string; since: string; deliveries: number[]; sends: number[] }
  senders: Array<{ user: User; room: string }>
  rates: number[]
  syncUser: string
  syncs: { full: number[]; lazy: number[] }
}

/** A TCP proxy to PostgreSQL that holds every chunk `delayMs` in each direction. */
function delayingProxy(target: URL, delayMs: number): Promise<{ server: Server; port: number }> {
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname)
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    client.on('data', (chunk) => setTimeout(() => upstream.write(chunk), delayMs))
    upstream.on('data', (chunk) => setTimeout(() => client.write(chunk), delayMs))
    const close = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('close', close).on('error', close)
    upstream.on('close', close).on('error', close)
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })))
}

async function start(name: Side['name'], checkout: string, proxyPort: number | null): Promise<Side> {
  const database = await externalDatabase(DATABASE_URL)
  const url = new URL(String(database.overrides['database.url']))
  if (proxyPort !== null) {
    url.hostname = '127.0.0.1'
    url.port = String(proxyPort)
  }
  const dataDir = await mkdtemp(join(tmpdir(), `homestead-ab-${name}-`))
  const server = new ServerProcess(join(checkout, 'bench', 'server-process.ts'))
  const ready = await server.call({ type: 'start', overrides: benchOverrides(dataDir, { 'database.url': url.toString() }) }, 'ready')
  progress(`${name} (${checkout}) ready at ${ready.url}`)
  const target: Target = { name, url: ready.url, http: new HttpClient(ready.url, SENDERS + 4), cpuMs: () => server.cpuMs(), info: { checkout } }
  const id = Math.random().toString(36).slice(2, 8)
  const [alice, bob] = [await register(target, `ab_${id}_alice`), await register(target, `ab_${id}_bob`)]
  const room = await createRoom(target, alice.access_token, { invite: [bob.user_id] })
  await joinRoom(target, bob.access_token, room)
  const since = (await sync(target, bob.access_token, { timeout: 0, filter: LAZY_FILTER })).next_batch
  const side: Side = {
    name,
    server,
    database,
    dataDir,
    target,
    delivery: { alice, bob, room, since, deliveries: [], sends: [] },
    senders: [],
    rates: [],
    syncUser: `ab_${id}_u0`,
    syncs: { full: [], lazy: [] },
  }
  if (ROUNDS > 0) {
    side.senders = await pool(Array.from({ length: SENDERS }, (_, i) => i), 4, async (i) => {
      const user = await register(target, `ab_${id}_s${i}`)
      return { user, room: await createRoom(target, user.access_token) }
    })
  }
  if (SYNCS > 0) {
    // The shape of bench/rooms.ts's initial /sync: 50 rooms of 10 members, 40 messages each.
    const users = await pool(Array.from({ length: 10 }, (_, i) => `ab_${id}_u${i}`), 4, (n) => register(target, n))
    await seedInitialSync(target, users[0] as User, users.slice(1), 50, 40, 8)
  }
  return side
}

/** The first side of each pair alternates, so neither always runs right after the other. */
const order = (sides: Side[], i: number) => (i % 2 === 0 ? sides : [...sides].reverse())

async function deliveries(sides: Side[]): Promise<void> {
  for (let i = -10; i < DELIVERIES; i++) {
    for (const side of order(sides, i)) {
      const d = side.delivery
      const text = `ab delivery ${i}`
      const polled = awaitMessage(side.target, d.bob.access_token, d.since, d.room, text)
      await sleep(50)
      const t0 = performance.now()
      const sent = sendText(side.target, d.alice.access_token, d.room, text).then(() => performance.now() - t0)
      d.since = await polled
      const delivered = performance.now() - t0
      const sendMs = await sent
      if (i >= 0) {
        d.deliveries.push(delivered)
        d.sends.push(sendMs)
      }
    }
  }
}

async function bursts(sides: Side[]): Promise<void> {
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of order(sides, round)) {
      let events = 0
      const end = performance.now() + BURST_MS
      await Promise.all(
        side.senders.map(async ({ user, room }) => {
          while (performance.now() < end) {
            await sendText(side.target, user.access_token, room, 'ab burst')
            events++
          }
        }),
      )
      side.rates.push(Math.round((events / BURST_MS) * 1000))
    }
  }
}

async function initialSyncs(sides: Side[]): Promise<void> {
  for (let i = -2; i < SYNCS; i++) {
    for (const side of order(sides, i)) {
      for (const variant of ['full', 'lazy'] as const) {
        const token = await login(side.target, side.syncUser, PASSWORD)
        const t0 = performance.now()
        await sync(side.target, token, { timeout: 0, ...(variant === 'lazy' ? { filter: LAZY_FILTER } : {}) })
        if (i >= 0) side.syncs[variant].push(performance.now() - t0)
      }
    }
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? null

async function main(): Promise<void> {
  if (!BASE || !existsSync(join(BASE, 'bench', 'server-process.ts'))) {
    throw new Error('BENCH_AB_BASE must name another Homestead checkout (with its node_modules)')
  }
  const proxy = DELAY_MS > 0 ? await delayingProxy(new URL(DATABASE_URL), DELAY_MS) : null
  const sides: Side[] = []
  try {
    const load = loadavg()[0]
    sides.push(await start('base', BASE, proxy?.port ?? null))
    sides.push(await start('head', process.cwd(), proxy?.port ?? null))
    if (DELIVERIES > 0) {
      progress(`deliveries × ${DELIVERIES} each, alternating`)
      await deliveries(sides)
    }
    if (ROUNDS > 0) {
      progress(`${ROUNDS} bursts of ${SENDERS} senders × ${BURST_MS / 1000} s each, alternating`)
      await bursts(sides)
    }
    if (SYNCS > 0) {
      progress(`initial /sync × ${SYNCS} each (full and lazy), alternating`)
      await initialSyncs(sides)
    }
    const result = (s: Side) => ({
      delivery: DELIVERIES > 0 ? { ...summarize(s.delivery.deliveries), send_p50_ms: summarize(s.delivery.sends).p50_ms } : null,
      send_concurrent: ROUNDS > 0 ? { events_per_s: s.rates, median: median(s.rates) } : null,
      initial_sync: SYNCS > 0 ? { full_p50_ms: summarize(s.syncs.full).p50_ms, lazy_p50_ms: summarize(s.syncs.lazy).p50_ms } : null,
    })
    const doc = {
      benchmark: 'homestead-ab',
      timestamp: new Date().toISOString(),
      cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
      load_average_1m: { start: load, end: loadavg()[0] },
      settings: { base: BASE, deliveries: DELIVERIES, rounds: ROUNDS, syncs: SYNCS, db_delay_ms: DELAY_MS },
      base: result(sides[0] as Side),
      head: result(sides[1] as Side),
    }
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`)
  } finally {
    for (const side of sides) {
      side.target.http.close()
      await side.server.stop()
      await side.database.drop()
      await rm(side.dataDir, { recursive: true, force: true })
    }
    proxy?.server.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
