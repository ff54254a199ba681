// The benchmarked server process and its database, shared by `npm run bench` (run.ts) and the A/B runs (ab.ts).
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { HttpClient, progress, type Cleanups } from './lib.ts'
import type { ChildMessage, ParentMessage, V8Memory } from './server-process.ts'
import type { Target } from './targets.ts'

// ---- the server process -------------------------------------------------------------------------

/** The server settings every benchmark runs with: loopback, a random port, open registration, no rate limits, silent. */
export function benchOverrides(dataDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    server_name: 'bench.localhost',
    data_dir: dataDir,
    'listen.host': '127.0.0.1',
    'listen.port': 0,
    'registration.enabled': true,
    'rate_limits.enabled': false,
    'log.level': 'silent',
    ...extra,
  }
}

export class ServerProcess {
  private readonly child: ChildProcess
  private exited = false

  /** `script`: the server-process.ts to run (another checkout's, for A/B runs); this checkout's by default. */
  constructor(script: URL | string = new URL('./server-process.ts', import.meta.url)) {
    // The child's stdout goes to our stderr: stdout carries only the JSON document.
    this.child = fork(script, [], { stdio: ['ignore', 2, 2, 'ipc'], execArgv: [...process.execArgv, '--expose-gc'] })
    this.child.once('exit', () => (this.exited = true))
  }

  /** Sends a message and waits for the reply of the expected type (one request in flight at a time). */
  call<T extends ChildMessage['type']>(message: ParentMessage, reply: T): Promise<Extract<ChildMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: ChildMessage) => {
        if (m.type !== reply && m.type !== 'error') return
        cleanup()
        if (m.type === 'error') reject(new Error(`server process: ${m.message}`))
        else resolve(m as Extract<ChildMessage, { type: T }>)
      }
      const onExit = (code: number | null) => {
        cleanup()
        reject(new Error(`server process exited (code ${code}) before answering ${message.type}`))
      }
      const cleanup = () => {
        this.child.off('message', onMessage)
        this.child.off('exit', onExit)
      }
      if (this.exited) return reject(new Error('server process is not running'))
      this.child.on('message', onMessage)
      this.child.once('exit', onExit)
      this.child.send(message)
    })
  }

  /** The server process's id (for /proc readings). */
  get pid(): number | undefined {
    return this.child.pid
  }

  /** A full garbage collection in the server process (before a memory reading); its V8 memory after it. */
  async collectGarbage(): Promise<V8Memory> {
    return (await this.call({ type: 'gc' }, 'usage')).v8
  }

  async cpuMs(): Promise<number> {
    return (await this.call({ type: 'usage' }, 'usage')).cpu_ms
  }

  /** Asks the server to close (it stops its embedded PostgreSQL), then waits for the process to exit. */
  async stop(): Promise<void> {
    if (this.exited) return
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    try {
      await this.call({ type: 'stop' }, 'stopped')
    } catch (err) {
      progress(`server did not stop cleanly: ${(err as Error).message}`)
      if (!this.exited) this.child.kill('SIGTERM')
    }
    await exited
  }
}

// ---- the database -------------------------------------------------------------------------------

export interface BenchDatabase {
  overrides: Record<string, unknown>
  info: Record<string, unknown>
  drop(): Promise<void>
}

export async function externalDatabase(adminUrl: string): Promise<BenchDatabase> {
  const name = `homestead_bench_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  progress(`created database ${name} on ${url.host}`)
  return {
    overrides: { 'database.url': url.toString() },
    info: { kind: 'external', host: url.host, name },
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl })
      await client.connect()
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
        progress(`dropped database ${name}`)
      } finally {
        await client.end()
      }
    },
  }
}


// ---- a Homestead for the side-by-side benchmarks -------------------------------------------------

/**
 * A Homestead in a child process on a fresh database of the PostgreSQL at `adminUrl` and a fresh data
 * directory (`hs-bench-<name>-…`), with `benchOverrides` plus `overrides`; `cleanups` stops it and drops both.
 */
export async function startBenchHomestead(
  cleanups: Cleanups,
  options: { adminUrl: string; name: string; overrides?: Record<string, unknown>; maxSockets: number },
): Promise<{ target: Target; server: ServerProcess }> {
  const dataDir = await mkdtemp(join(tmpdir(), `hs-bench-${options.name}-`))
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
  const database = await externalDatabase(options.adminUrl)
  cleanups.push(() => database.drop())
  const server = new ServerProcess()
  cleanups.push(() => server.stop())
  const ready = await server.call({ type: 'start', overrides: benchOverrides(dataDir, { ...database.overrides, ...options.overrides }) }, 'ready')
  progress(`Homestead ready at ${ready.url} in ${ready.startup_ms} ms (pid ${server.pid})`)
  const http = new HttpClient(ready.url, options.maxSockets)
  cleanups.push(async () => http.close())
  const target: Target = { name: 'homestead', url: ready.url, http, cpuMs: () => server.cpuMs(), info: { url: ready.url, database: database.info } }
  return { target, server }
}
