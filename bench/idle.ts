// `npm run bench:idle`: what one hop costs when the processes involved have been idle, against the same hop
// back to back. The delivery benchmark pauses 50 ms before each send (the receiver's long-poll must be
// waiting), and on a VM whose idle vCPUs halt, every process woken after such a pause answers later: a
// delivery is a chain of such wake-ups (client, server, PostgreSQL and its WAL flush, server, client),
// whichever server it is. Prints one JSON document: p50 of each hop, back to back and after 50 ms idle.
//
//   BENCH_DATABASE_URL   the PostgreSQL to measure and to run Homestead on (default postgres://postgres@127.0.0.1:5432/test)
//   BENCH_IDLE_SAMPLES   samples of each kind (default 80)
//   BENCH_SYNAPSE_URL    also measure a running Synapse (e.g. the anchor's http://127.0.0.1:8008)
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { HttpClient, envInt, progress, sleep, summarize } from './lib.ts'
import { createRoom, sendText } from './rooms.ts'
import { ServerProcess, benchOverrides, externalDatabase } from './servers.ts'
import { register, type Target } from './targets.ts'

const DATABASE_URL = process.env.BENCH_DATABASE_URL?.trim() || 'postgres://postgres@127.0.0.1:5432/test'
const SAMPLES = envInt('BENCH_IDLE_SAMPLES', 80)
const SYNAPSE_URL = process.env.BENCH_SYNAPSE_URL?.trim()
const PAUSE_MS = 50

interface HopResult {
  back_to_back_p50_ms: number
  after_idle_p50_ms: number
}

/** Alternates one operation back to back and one after a pause, so drift in the machine falls on both. */
async function hop(name: string, op: () => Promise<unknown>): Promise<HopResult> {
  progress(`${name} × ${SAMPLES}`)
  const hot: number[] = []
  const idle: number[] = []
  for (let i = 0; i < 5; i++) await op()
  for (let i = 0; i < SAMPLES; i++) {
    let t0 = performance.now()
    await op()
    hot.push(performance.now() - t0)
    await sleep(PAUSE_MS)
    t0 = performance.now()
    await op()
    idle.push(performance.now() - t0)
  }
  return { back_to_back_p50_ms: summarize(hot).p50_ms, after_idle_p50_ms: summarize(idle).p50_ms }
}

async function serverHops(target: Target): Promise<Record<string, HopResult>> {
  const versions = await hop(`${target.name} GET /versions`, () => target.http.request('GET', '/_matrix/client/versions'))
  const user = await register(target, `idle_${Math.random().toString(36).slice(2, 8)}`)
  const room = await createRoom(target, user.access_token)
  const send = await hop(`${target.name} send`, () => sendText(target, user.access_token, room, 'hello'))
  return { get_versions: versions, send }
}

const database = await externalDatabase(DATABASE_URL)
const dataDir = await mkdtemp(join(tmpdir(), 'homestead-idle-'))
const server = new ServerProcess()
const client = new pg.Client({ connectionString: String(database.overrides['database.url']) })
try {
  await client.connect()
  await client.query('CREATE TABLE idle_hops (id serial PRIMARY KEY, v text)')
  const postgres = {
    select_1: await hop('PostgreSQL SELECT 1', () => client.query('SELECT 1')),
    insert_commit: await hop('PostgreSQL one-row INSERT (commit)', () => client.query("INSERT INTO idle_hops (v) VALUES ('x')")),
  }
  const ready = await server.call({ type: 'start', overrides: benchOverrides(dataDir, { 'database.url': database.overrides['database.url'] }) }, 'ready')
  const homestead = await serverHops({ name: 'homestead', url: ready.url, http: new HttpClient(ready.url, 2), cpuMs: async () => null, info: {} })
  const synapse = SYNAPSE_URL ? await serverHops({ name: 'synapse', url: SYNAPSE_URL, http: new HttpClient(SYNAPSE_URL, 2), cpuMs: async () => null, info: {} }) : null
  process.stdout.write(`${JSON.stringify({ benchmark: 'idle', timestamp: new Date().toISOString(), pause_ms: PAUSE_MS, samples: SAMPLES, postgres, homestead, synapse }, null, 2)}\n`)
} finally {
  await client.end().catch(() => {})
  await server.stop()
  await database.drop()
  await rm(dataDir, { recursive: true, force: true })
}
