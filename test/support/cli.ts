// Runs the real `homestead` CLI (node src/cli.ts) as child processes for the CLI suites: one-shot
// commands, long-running servers polled for readiness, and a clean-up that never leaves a Homestead
// or an embedded PostgreSQL behind, even when a test fails half-way.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CLI = join(ROOT, 'src', 'cli.ts')

const children = new Set<ChildProcess>()
const dataDirs = new Set<string>()

/** A port that was free a moment ago (the kernel picks it; we close it before Homestead binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

/** A fresh data_dir; the embedded PostgreSQL runs as the postgres user when we are root, so it must be traversable. */
export async function tempDataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hs-cli-'))
  await chmod(dir, 0o755)
  dataDirs.add(dir)
  return dir
}

/**
 * The environment of a CLI child: ours without anything that could point it at another database or
 * configuration (HOMESTEAD_*, libpq's PG*, the test runner's own markers), plus `extra`.
 */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('HOMESTEAD') || key.startsWith('PG') || key === 'NODE_TEST_CONTEXT') continue
    env[key] = value
  }
  return { ...env, ...extra }
}

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs one CLI command to completion; `input` is written to its stdin (which is then closed). */
export function runCli(args: string[], options: { env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] })
    children.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (d) => (stdout += d))
    child.stderr?.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`homestead ${args.join(' ')} did not finish in time\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, options.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      children.delete(child)
      resolve({ code, signal, stdout, stderr })
    })
    child.stdin?.end(options.input ?? '')
  })
}

/**
 * A long-running `homestead start …`, in a process group of its own so clean-up also reaches its workers.
 * Start it with HOMESTEAD_PORT=0 and HOMESTEAD_LOG_LEVEL=info: the port it bound is read from its log.
 */
export class CliServer {
  readonly child: ChildProcess
  private out = ''
  private err = ''
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>

  /** `launcher`: an executable to run instead of this checkout's CLI (a release artifact's bin/homestead). */
  constructor(args: string[], env: NodeJS.ProcessEnv, launcher?: string) {
    const [command, argv] = launcher ? [launcher, args] : [process.execPath, [CLI, ...args]]
    this.child = spawn(command, argv, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    children.add(this.child)
    this.child.stdout?.on('data', (d) => (this.out += d))
    this.child.stderr?.on('data', (d) => (this.err += d))
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        children.delete(this.child)
        resolve({ code, signal })
      })
    })
  }

  /** The port from its first "Homestead is listening" log line (workers of one primary share it). */
  get port(): number | null {
    const line = this.logs().find((l) => l.msg === 'Homestead is listening' && typeof l.port === 'number')
    return (line?.port as number | undefined) ?? null
  }

  get url(): string {
    const port = this.port
    if (port === null) throw new Error(`homestead has not logged its port yet\n${this.output}`)
    return `http://127.0.0.1:${port}`
  }

  get pid(): number {
    return this.child.pid as number
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** Everything it printed so far, for assertion messages. */
  get output(): string {
    return `--- stdout ---\n${this.out}\n--- stderr ---\n${this.err}`
  }

  /** Its JSON log lines (pino writes them to stdout). */
  logs(): Array<Record<string, unknown>> {
    return this.out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => {
        try {
          return JSON.parse(line) as Record<string, unknown>
        } catch {
          return {}
        }
      })
  }

  hasLog(msg: string | RegExp): boolean {
    return this.logs().some((l) => typeof l.msg === 'string' && (typeof msg === 'string' ? l.msg.includes(msg) : msg.test(l.msg)))
  }

  /** Polls GET /health until it answers 200; fails early if the process exits. */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    await waitFor(
      async () => {
        if (!this.running) throw new Error(`homestead exited before it was ready\n${this.output}`)
        if (this.port === null) return false
        try {
          const res = await fetch(`${this.url}/health`)
          return res.status === 200
        } catch {
          return false
        }
      },
      timeoutMs,
      () => `homestead was not ready in time\n${this.output}`,
    )
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal)
  }

  /** Waits for the process to exit; fails (leaving it for clean-up) if it does not in time. */
  async waitExit(timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`homestead did not exit in time\n${this.output}`)), timeoutMs)
    })
    try {
      return await Promise.race([this.exited, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** SIGTERM, then the exit status. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.signal('SIGTERM')
    return this.waitExit()
  }
}

/** Polls `check` until it returns true; throws `message()` after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, message: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(message())
    await new Promise((r) => setTimeout(r, 100))
  }
}

function commandLine(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
  } catch {
    return null
  }
}

function parentPid(pid: number): number | null {
  try {
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return null
  }
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
}

/** Live postmasters serving <dataDir>/postgres (found by their `postgres -D <cluster>` command line). */
export function postmasters(dataDir: string): number[] {
  const cluster = join(dataDir, 'postgres')
  return allPids().filter((pid) => {
    const argv = commandLine(pid)
    if (!argv || !argv[0]?.endsWith('/postgres')) return false
    const d = argv.indexOf('-D')
    return d >= 0 && argv[d + 1] === cluster
  })
}

/** Live child processes of `pid` (e.g. the workers of a `--workers N` primary). */
export function childPids(pid: number): number[] {
  return allPids().filter((p) => parentPid(p) === pid)
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export function postmasterPidFile(dataDir: string): string {
  return join(dataDir, 'postgres', 'postmaster.pid')
}

export function hasPostmasterPid(dataDir: string): boolean {
  return existsSync(postmasterPidFile(dataDir))
}

/** Stops a leftover embedded PostgreSQL the way `pg_ctl stop -m fast` does (SIGINT), then by force. */
async function stopPostgres(dataDir: string): Promise<void> {
  for (const pid of postmasters(dataDir)) {
    try {
      process.kill(pid, 'SIGINT')
    } catch {}
    const gone = await waitFor(() => !isAlive(pid), 15_000, () => 'postgres did not stop').then(
      () => true,
      () => false,
    )
    if (!gone) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
  }
}

/** Kills every CLI process this file started (and its workers), stops their PostgreSQL, removes the data dirs. */
export async function cleanupCli(): Promise<void> {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) continue
    try {
      process.kill(-child.pid, 'SIGKILL') // its process group: the primary and its workers
    } catch {
      child.kill('SIGKILL')
    }
  }
  children.clear()
  for (const dir of dataDirs) {
    await stopPostgres(dir)
    await rm(dir, { recursive: true, force: true })
  }
  dataDirs.clear()
}

/** POST /login with a password over HTTP; returns the status and body. */
export async function passwordLogin(url: string, user: string, password: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user }, password }),
  })
  return { status: res.status, body: await res.json() }
}
