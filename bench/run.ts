// `npm run bench`: starts a real Homestead (startServer, in a child process) over a fresh PostgreSQL and
// measures registration, login and whoami over loopback HTTP. Prints one JSON document on stdout.
//
//   BENCH_ITERATIONS          sequential requests for register and login (default 200)
//   BENCH_WHOAMI_ITERATIONS   sequential whoami requests (default 20 × BENCH_ITERATIONS)
//   BENCH_CONCURRENCY         concurrent clients in the throughput runs (default 16)
//   BENCH_DURATION_MS         length of each throughput run (default 10000)
//   BENCH_DATABASE_URL        an external PostgreSQL: a fresh database is created on it and dropped after
//   BENCH_AUTH                0 skips register/login/whoami (default on, off with BENCH_COMPARE=1)
//   BENCH_ROOMS               0 skips the room benchmarks (bench/rooms.ts: createRoom, send, delivery, initial sync)
//   BENCH_SCALE               0 skips the scale cases (bench/scale.ts: a user in 1,000 rooms, a room of 10,000)
//   BENCH_MEDIA               0 skips the media benchmarks (bench/media.ts: upload/download MB/s, thumbnails)
//   BENCH_COMPARE             1 also runs the room benchmarks on the Synapse anchor, pgbench, and the target
//                             ratios (bench/compare.ts); Homestead then defaults to the machine's PostgreSQL 15
// See docs/benchmarks.md for results and the commands to reproduce them.
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { EmbeddedPostgres } from '../src/storage/index.ts'
import { Cleanups, HttpClient, machineInfo, closedLoop, envInt, expectOk, printReport, progress, sequential, summarize, type ThroughputResult } from './lib.ts'
import { ServerProcess, benchOverrides, externalDatabase, type BenchDatabase } from './servers.ts'
import { COMPARE_DATABASE_URL, compareSettings, runComparison } from './compare.ts'
import { roomSettings, runRoomBenchmarks } from './rooms.ts'
import { runScaleBenchmarks, scaleSettings } from './scale.ts'
import { mediaSettings, runMediaBenchmarks } from './media.ts'
import { backendCpu, synapseTarget, type Target } from './targets.ts'

const ITERATIONS = envInt('BENCH_ITERATIONS', 200)
const WHOAMI_ITERATIONS = envInt('BENCH_WHOAMI_ITERATIONS', ITERATIONS * 20)
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 16)
const DURATION_MS = envInt('BENCH_DURATION_MS', 10000, 100)
const EXTERNAL_URL = process.env.BENCH_DATABASE_URL?.trim() || (compareSettings.enabled ? COMPARE_DATABASE_URL : null)
const AUTH = process.env.BENCH_AUTH ? process.env.BENCH_AUTH !== '0' : !compareSettings.enabled
const ROOMS = process.env.BENCH_ROOMS !== '0' || compareSettings.enabled
/** Sockets for the room benchmarks: the concurrent senders plus long-polls. */
const ROOM_SOCKETS = roomSettings.sendConcurrency + 8
const PASSWORD = 'correct horse battery staple'
const CS = '/_matrix/client/v3'

/** If the server process died without stopping its embedded PostgreSQL, stop it through the same class. */
async function stopLeftoverEmbedded(dataDir: string): Promise<void> {
  if (!existsSync(join(dataDir, 'postgres', 'postmaster.pid'))) return
  progress('stopping an embedded PostgreSQL left running by the server process')
  const embedded = new EmbeddedPostgres(dataDir, { info: () => {}, warn: (m) => progress(m) })
  await embedded.start() // reuses the running server, which lets stop() find it
  await embedded.stop()
}

// ---- the benchmarks -----------------------------------------------------------------------------

interface Session {
  username: string
  user_id: string
  access_token: string
}

interface BenchResult {
  iterations: number
  concurrency: number
  p50_ms: number
  p90_ms: number
  p99_ms: number
  mean_ms: number
  throughput_rps: number
  throughput_requests: number
  throughput_duration_ms: number
  /** Latency seen by each of the concurrent clients during the throughput run. */
  loaded_p50_ms: number
  loaded_p99_ms: number
  /** CPU of the Homestead process (all its threads, argon2 included; not PostgreSQL's) per request. */
  server_cpu_ms_per_request: number
}

async function bench(
  name: string,
  server: ServerProcess,
  iterations: number,
  sequentialCall: (i: number) => Promise<unknown>,
  concurrentCall: (worker: number, seq: number) => Promise<unknown>,
): Promise<BenchResult> {
  const warmup = Math.min(20, Math.ceil(iterations / 10))
  progress(`${name}: ${warmup} warm-up, ${iterations} sequential`)
  for (let i = 0; i < warmup; i++) await sequentialCall(-1 - i)
  const latencies = await sequential(iterations, sequentialCall)
  progress(`${name}: ${CONCURRENCY} concurrent clients for ${DURATION_MS} ms`)
  const cpuBefore = await server.cpuMs()
  const load: ThroughputResult = await closedLoop(CONCURRENCY, DURATION_MS, concurrentCall)
  const cpuAfter = await server.cpuMs()
  const loaded = summarize(load.latencies)
  const result: BenchResult = {
    iterations,
    concurrency: CONCURRENCY,
    ...summarize(latencies),
    throughput_rps: load.rps,
    throughput_requests: load.requests,
    throughput_duration_ms: load.elapsed_ms,
    loaded_p50_ms: loaded.p50_ms,
    loaded_p99_ms: loaded.p99_ms,
    server_cpu_ms_per_request: Number(((cpuAfter - cpuBefore) / (load.requests || 1)).toFixed(3)),
  }
  progress(`${name}: p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms, ${result.throughput_rps} req/s`)
  return result
}

async function runBenchmarks(http: HttpClient, server: ServerProcess): Promise<Record<string, BenchResult>> {
  const runId = randomBytes(3).toString('hex')
  let counter = 0
  const sessions: Session[] = []

  const register = async (): Promise<Session> => {
    const username = `bench_${runId}_${++counter}`
    const res = await http.request('POST', `${CS}/register`, { username, password: PASSWORD, auth: { type: 'm.login.dummy' } })
    const body = expectOk('register', res)
    const session = { username, user_id: body.user_id, access_token: body.access_token }
    sessions.push(session)
    return session
  }
  const login = async (i: number) => {
    const user = sessions[Math.abs(i) % sessions.length] as Session
    const res = await http.request('POST', `${CS}/login`, {
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user: user.username },
      password: PASSWORD,
    })
    expectOk('login', res)
  }
  const whoami = (token: string) => async () => {
    expectOk('whoami', await http.request('GET', `${CS}/account/whoami`, undefined, token))
  }

  const results: Record<string, BenchResult> = {}
  results.register = await bench('register', server, ITERATIONS, register, register)
  results.login = await bench('login', server, ITERATIONS, login, (_w, seq) => login(seq))
  // Each concurrent client uses a session of its own, as real clients do.
  const tokens = sessions.slice(0, Math.max(CONCURRENCY, 1)).map((s) => s.access_token)
  results.whoami = await bench('whoami', server, WHOAMI_ITERATIONS, whoami(tokens[0] as string), (worker) =>
    whoami(tokens[worker % tokens.length] as string)(),
  )
  return results
}

// ---- main ---------------------------------------------------------------------------------------

async function main(cleanups: Cleanups): Promise<Record<string, unknown>> {
  const began = performance.now()
  const dataDir = await mkdtemp(join(tmpdir(), 'hs-bench-'))
  await chmod(dataDir, 0o755) // as root, the embedded PostgreSQL runs as the postgres user
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }))

  let database: BenchDatabase | null = null
  if (EXTERNAL_URL) {
    database = await externalDatabase(EXTERNAL_URL)
    cleanups.push(() => (database as BenchDatabase).drop())
  } else {
    cleanups.push(() => stopLeftoverEmbedded(dataDir))
  }

  progress(`starting Homestead on ${database ? 'the external PostgreSQL' : `an embedded PostgreSQL in ${dataDir}`}`)
  const server = new ServerProcess()
  cleanups.push(() => server.stop())
  const overrides = benchOverrides(dataDir, database?.overrides)
  const ready = await server.call({ type: 'start', overrides }, 'ready')
  progress(`Homestead ready at ${ready.url} in ${ready.startup_ms} ms (PostgreSQL ${ready.postgres_version})`)

  const http = new HttpClient(ready.url, CONCURRENCY)
  cleanups.push(async () => http.close())
  const load1mStart = loadavg()[0]
  if ((load1mStart ?? 0) > cpus().length / 2) progress(`warning: the machine is busy (load average ${load1mStart?.toFixed(2)}): expect noisy numbers`)
  const results = AUTH ? await runBenchmarks(http, server) : {}
  const homestead: Target = {
    name: 'homestead',
    url: ready.url,
    http: new HttpClient(ready.url, ROOM_SOCKETS),
    cpuMs: () => server.cpuMs(),
    ...(database && EXTERNAL_URL ? { dbCpuMs: backendCpu(EXTERNAL_URL, String(database.info.name)) } : {}),
    info: { url: ready.url },
  }
  cleanups.push(async () => homestead.http.close())
  const targets = [homestead]
  if (compareSettings.enabled) {
    const synapse = await synapseTarget(compareSettings.synapseUrl, ROOM_SOCKETS, compareSettings.synapsePgUrl)
    cleanups.push(async () => synapse.http.close())
    targets.push(synapse)
  }
  const [rooms, synapseRooms] = ROOMS ? await runRoomBenchmarks(targets) : []
  const scale = scaleSettings.enabled ? await runScaleBenchmarks(homestead, overrides) : undefined
  const media = mediaSettings.enabled ? await runMediaBenchmarks(homestead) : undefined
  const comparison =
    rooms && synapseRooms ? await runComparison(rooms, synapseRooms, (targets[1] as Target).info, EXTERNAL_URL as string) : undefined
  const usage = await server.call({ type: 'usage' }, 'usage')

  return {
    benchmark: 'homestead-http',
    ...machineInfo(load1mStart),
    database: { ...(database?.info ?? { kind: 'embedded' }), postgres_version: ready.postgres_version },
    server: {
      process: 'child process (startServer), load generator in the parent; same machine, loopback HTTP keep-alive',
      startup_ms: ready.startup_ms,
      rss_mb_at_end: usage.rss_mb,
    },
    settings: {
      iterations: ITERATIONS,
      whoami_iterations: WHOAMI_ITERATIONS,
      concurrency: CONCURRENCY,
      duration_ms: DURATION_MS,
      rooms: ROOMS ? roomSettings : null,
      scale: scaleSettings.enabled ? scaleSettings : null,
      media: mediaSettings.enabled ? mediaSettings : null,
      compare: compareSettings.enabled ? compareSettings : null,
    },
    notes: 'register and login hash/verify an argon2id password (m=19 MiB, t=2, p=1): they are CPU-bound by design.',
    benchmarks: results,
    ...(rooms ? { rooms } : {}),
    ...(scale ? { scale } : {}),
    ...(media ? { media } : {}),
    ...(comparison ? { compare: comparison } : {}),
    total_duration_ms: Math.round(performance.now() - began),
  }
}

await printReport(main)
