// A benchmark target is any homeserver reachable over HTTP: a base URL plus open registration
// (m.login.dummy) and password login. The room benchmarks only talk to targets, so the same code
// measures Homestead and the Synapse anchor. Also here: the Synapse anchor target and pgbench.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { HttpClient, expectOk, progress, type HttpResponse } from './lib.ts'

export const CS = '/_matrix/client/v3'
export const PASSWORD = 'correct horse battery staple'

export interface Target {
  name: string
  url: string
  /** Enough sockets for the concurrent senders plus the long-polls. */
  http: HttpClient
  /** CPU time the server process has used so far, in ms (null when unknown). Not PostgreSQL's. */
  cpuMs(): Promise<number | null>
  /** CPU time of the PostgreSQL backends serving the target's database so far, in ms (null when unknown). */
  dbCpuMs?: () => Promise<number | null>
  info: Record<string, unknown>
}

export interface User {
  username: string
  user_id: string
  access_token: string
}

/** Open registration: a first request to learn the UIA session, a second completing m.login.dummy. */
export async function register(target: Target, username: string, password = PASSWORD): Promise<User> {
  const path = `${CS}/register`
  const first = await target.http.request('POST', path, { username, password })
  let res: HttpResponse = first
  if (first.status === 401 && typeof first.body?.session === 'string') {
    res = await target.http.request('POST', path, { username, password, auth: { type: 'm.login.dummy', session: first.body.session } })
  }
  const body = expectOk(`register ${username} on ${target.name}`, res)
  return { username, user_id: body.user_id, access_token: body.access_token }
}

/** A password login: a new device and access token each time. */
export async function login(target: Target, username: string, password = PASSWORD): Promise<string> {
  const res = await target.http.request('POST', `${CS}/login`, {
    type: 'm.login.password',
    identifier: { type: 'm.id.user', user: username },
    password,
  })
  return expectOk(`login ${username} on ${target.name}`, res).access_token
}

/** The version of a room, from its create event (each server creates rooms with its own default). */
export async function roomVersionOf(target: Target, token: string, roomId: string): Promise<string> {
  const res = await target.http.request('GET', `${CS}/rooms/${encodeURIComponent(roomId)}/state/m.room.create/`, undefined, token)
  return String(expectOk('create event', res).room_version ?? '1')
}

/** utime + stime of a process from /proc, in ms. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Fields 14 and 15 of stat (utime, stime), counted after the command name: indexes 11 and 12.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 // CLK_TCK is 100 on Linux
  } catch {
    return null
  }
}

/** The resident set size of a process (VmRSS in /proc/<pid>/status), in KiB; null when it cannot be read. */
export function processRssKb(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) : null
  } catch {
    return null
  }
}

/**
 * The CPU used so far by the PostgreSQL backends connected to `database` (from pg_stat_activity and /proc): only
 * meaningful over an interval in which the server keeps its connections open, as a busy pool does.
 */
export function backendCpu(adminUrl: string, database: string): () => Promise<number | null> {
  return async () => {
    const client = new pg.Client({ connectionString: adminUrl })
    try {
      await client.connect()
      const { rows } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [database])
      let total = 0
      for (const { pid } of rows) total += processCpuMs(pid) ?? 0
      return total
    } catch {
      return null
    } finally {
      await client.end().catch(() => {})
    }
  }
}

/** The Synapse anchor (see docs/benchmarks.md, "Synapse side by side"): already started with its start.sh. */
export async function synapseTarget(url: string, maxSockets: number, pgAdminUrl: string): Promise<Target> {
  const http = new HttpClient(url, maxSockets)
  const versions = await http.request('GET', '/_matrix/client/versions')
  if (versions.status !== 200) throw new Error(`no homeserver answers at ${url} (start the Synapse anchor with its start.sh, or set BENCH_SYNAPSE_URL)`)
  const root = process.env.ANCHOR_ROOT || '/var/tmp/synapse-anchor'
  const pidFile = join(root, 'run', 'synapse.pid')
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : null
  const server = await http.request('GET', '/_matrix/federation/v1/version')
  const version = server.status === 200 ? `${server.body?.server?.name ?? 'Synapse'} ${server.body?.server?.version ?? ''}`.trim() : 'unknown'
  progress(`Synapse at ${url}: ${version}${pid ? `, pid ${pid}` : ''}`)
  return {
    name: 'synapse',
    url,
    http,
    cpuMs: async () => (pid ? processCpuMs(pid) : null),
    dbCpuMs: backendCpu(pgAdminUrl, 'synapse'),
    info: { url, version, pid, database: 'PostgreSQL 15 of the anchor (127.0.0.1:5433, stock settings)' },
  }
}

// ---- pgbench: PostgreSQL's own ceiling for single-row autocommit inserts ------------------------

const execFileAsync = promisify(execFile)

function pgbenchBinary(): string {
  const candidates = ['/usr/lib/postgresql/15/bin/pgbench', '/usr/bin/pgbench']
  return candidates.find((c) => existsSync(c)) ?? 'pgbench'
}

export interface PgbenchResult {
  clients: number
  seconds: number
  inserts_per_s: number
  latency_avg_ms: number
}

/**
 * Creates a scratch database on the server of `adminUrl`, runs a one-row INSERT script for `seconds` at each
 * concurrency (one transaction per insert, as an autocommit client does), then drops the database.
 */
export async function pgbench(adminUrl: string, clientCounts: number[], seconds: number): Promise<PgbenchResult[]> {
  const name = `homestead_pgbench_${randomBytes(5).toString('hex')}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  const dir = await mkdtemp(join(tmpdir(), 'hs-pgbench-'))
  try {
    await admin.query(`CREATE DATABASE ${name}`)
    const url = new URL(adminUrl)
    url.pathname = `/${name}`
    const db = new pg.Client({ connectionString: url.toString() })
    await db.connect()
    await db.query('CREATE TABLE bench_insert (id bigserial PRIMARY KEY, room_id text NOT NULL, body text NOT NULL)')
    await db.end()
    const script = join(dir, 'insert.sql')
    await writeFile(script, "INSERT INTO bench_insert (room_id, body) VALUES ('!room:bench', 'a message of some forty bytes, roughly');\n")
    const results: PgbenchResult[] = []
    for (const clients of clientCounts) {
      progress(`pgbench on ${url.host}: ${clients} client(s) for ${seconds} s`)
      const threads = Math.min(clients, 2)
      const { stdout } = await execFileAsync(pgbenchBinary(), ['-n', '-c', String(clients), '-j', String(threads), '-T', String(seconds), '-f', script, url.toString()], {
        env: { ...process.env, PGAPPNAME: 'homestead-bench' },
      })
      const tps = /tps = ([\d.]+)/.exec(stdout)
      const latency = /latency average = ([\d.]+) ms/.exec(stdout)
      if (!tps) throw new Error(`pgbench printed no tps: ${stdout}`)
      results.push({ clients, seconds, inserts_per_s: Math.round(Number(tps[1])), latency_avg_ms: Number(latency?.[1] ?? Number.NaN) })
    }
    return results
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((err) => progress(`dropping ${name} failed: ${err.message}`))
    await admin.end()
    await rm(dir, { recursive: true, force: true })
  }
}
