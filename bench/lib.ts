// Small helpers shared by the benchmarks: a keep-alive HTTP client, latency statistics and load loops.
import { readFileSync } from 'node:fs'
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os'
import { Agent, request } from 'node:http'
import { performance } from 'node:perf_hooks'

/** Progress goes to stderr so stdout holds only the JSON document. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`)
}

export function envInt(name: string, fallback: number, min = 1): number {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, not "${raw}"`)
  return n
}

/** Linear interpolation between closest ranks; `sorted` must be ascending. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = (p / 100) * (sorted.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  const a = sorted[lo] as number
  const b = sorted[hi] as number
  return a + (b - a) * (rank - lo)
}

const round = (n: number, digits = 3) => Number(n.toFixed(digits))

export interface LatencySummary {
  p50_ms: number
  p90_ms: number
  p99_ms: number
  mean_ms: number
}

export function summarize(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b)
  const mean = sorted.reduce((sum, x) => sum + x, 0) / (sorted.length || 1)
  return {
    p50_ms: round(percentile(sorted, 50)),
    p90_ms: round(percentile(sorted, 90)),
    p99_ms: round(percentile(sorted, 99)),
    mean_ms: round(mean),
  }
}

export interface HttpResponse {
  status: number
  body: any
  /** The response body's length in bytes. */
  bytes: number
}

/** A JSON client over node:http with a keep-alive agent (one socket per concurrent caller). */
export class HttpClient {
  private readonly agent: Agent
  private readonly host: string
  private readonly port: number

  constructor(baseUrl: string, maxSockets: number) {
    const url = new URL(baseUrl)
    this.host = url.hostname
    this.port = Number(url.port)
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets })
  }

  request(method: string, path: string, body?: unknown, token?: string): Promise<HttpResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const headers: Record<string, string | number> = {}
    if (payload !== undefined) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = Buffer.byteLength(payload)
    }
    if (token) headers.authorization = `Bearer ${token}`
    return new Promise((resolve, reject) => {
      const req = request({ host: this.host, port: this.port, method, path, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => {
          const raw = Buffer.concat(chunks)
          const text = raw.toString('utf8')
          let parsed: unknown = text
          try {
            parsed = text === '' ? undefined : JSON.parse(text)
          } catch {}
          resolve({ status: res.statusCode ?? 0, body: parsed, bytes: raw.length })
        })
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(payload)
    })
  }

  close(): void {
    this.agent.destroy()
  }
}

/** Throws unless the response is a 200: numbers for failing requests would be meaningless. */
export function expectOk(what: string, res: HttpResponse): any {
  if (res.status !== 200) throw new Error(`${what} answered ${res.status}: ${JSON.stringify(res.body)}`)
  return res.body
}

/** Runs `fn` n times one after another; returns each call's latency in ms. */
export async function sequential(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const latencies: number[] = []
  for (let i = 0; i < n; i++) {
    const start = performance.now()
    await fn(i)
    latencies.push(performance.now() - start)
  }
  return latencies
}

export interface ThroughputResult {
  requests: number
  elapsed_ms: number
  rps: number
  latencies: number[]
}

/**
 * `concurrency` callers loop on `fn` until `durationMs` has passed (a call started before the deadline
 * finishes and counts). `fn` receives the caller's index and a global sequence number.
 */
export async function closedLoop(
  concurrency: number,
  durationMs: number,
  fn: (worker: number, seq: number) => Promise<unknown>,
): Promise<ThroughputResult> {
  const latencies: number[] = []
  let seq = 0
  let failed = false
  const start = performance.now()
  const deadline = start + durationMs
  const workers = Array.from({ length: concurrency }, async (_, worker) => {
    while (!failed && performance.now() < deadline) {
      const t0 = performance.now()
      try {
        await fn(worker, seq++)
      } catch (err) {
        failed = true // the other callers stop too
        throw err
      }
      latencies.push(performance.now() - t0)
    }
  })
  await Promise.all(workers)
  const elapsed = performance.now() - start
  return { requests: latencies.length, elapsed_ms: round(elapsed, 1), rps: round((latencies.length / elapsed) * 1000, 1), latencies }
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight; results keep the items' order. */
export async function pool<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      try {
        results[i] = await fn(items[i] as T, i)
      } catch (err) {
        next = items.length // the other workers stop too
        throw err
      }
    }
  })
  await Promise.all(workers)
  return results
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Busy and total CPU time of the whole machine so far (/proc/stat), or null where there is none. */
function machineCpu(): { busy: number; total: number } | null {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0) // idle + iowait
    const total = fields.reduce((a, b) => a + b, 0)
    return { busy: total - idle, total }
  } catch {
    return null
  }
}

/**
 * Waits until the machine is quiet (under `busyShare` of its CPUs busy over the last second) or `maxMs` has
 * passed: a server's background work after a set-up (its own, or the other server's) would otherwise fall
 * on whichever measurement comes next. Returns how long it waited.
 */
export async function settle(maxMs = 20_000, busyShare = 0.2): Promise<number> {
  const start = performance.now()
  const window: Array<{ busy: number; total: number }> = []
  for (;;) {
    const now = machineCpu()
    if (!now) return 0
    window.push(now)
    if (window.length > 5) window.shift()
    const first = window[0] as { busy: number; total: number }
    if (window.length === 5 && now.total > first.total && (now.busy - first.busy) / (now.total - first.total) < busyShare) break
    if (performance.now() - start >= maxMs) break
    await sleep(250)
  }
  return Math.round(performance.now() - start)
}

/**
 * Clean-up steps of a benchmark run, run last-in first-out by `finish()` or on Ctrl-C / SIGTERM (the process
 * then exits 130). After an interruption, failures of requests in flight are not worth reporting.
 */
export class Cleanups {
  private readonly steps: Array<() => Promise<void>> = []
  interrupted = false
  private readonly onSignal = () => {
    if (this.interrupted) return
    this.interrupted = true
    progress('interrupted: cleaning up')
    this.runAll().finally(() => process.exit(130))
  }

  constructor() {
    process.once('SIGINT', this.onSignal)
    process.once('SIGTERM', this.onSignal)
  }

  push(step: () => Promise<void>): void {
    this.steps.push(step)
  }

  private async runAll(): Promise<void> {
    while (this.steps.length > 0) {
      try {
        await this.steps.pop()?.()
      } catch (err) {
        progress(`clean-up step failed: ${(err as Error).message}`)
      }
    }
  }

  async finish(): Promise<void> {
    if (!this.interrupted) await this.runAll()
    process.off('SIGINT', this.onSignal)
    process.off('SIGTERM', this.onSignal)
  }
}

/** Runs a benchmark's main and prints its JSON document on stdout, or the failure on stderr (exit code 1). */
export async function printReport(main: (cleanups: Cleanups) => Promise<Record<string, unknown>>): Promise<void> {
  const cleanups = new Cleanups()
  try {
    const report = await main(cleanups)
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  } catch (err) {
    if (!cleanups.interrupted) progress(`failed: ${(err as Error).stack ?? String(err)}`)
    process.exitCode = 1
  } finally {
    await cleanups.finish()
  }
}

/** The head of every result document: when, on what, and the machine's 1-minute load average at the start and now. */
export function machineInfo(load1mStart: number | undefined): Record<string, unknown> {
  const cpuList = cpus()
  return {
    timestamp: new Date().toISOString(),
    node: process.version,
    platform: `${platform()} ${release()} ${arch()}`,
    cpu: { model: cpuList[0]?.model.trim() ?? 'unknown', count: cpuList.length },
    memory_total_mb: Math.round(totalmem() / 2 ** 20),
    // Other work on the machine skews every number: the 1-minute load average before and after the measurements.
    load_average_1m: { start: Number(load1mStart?.toFixed(2)), end: Number(loadavg()[0]?.toFixed(2)) },
  }
}
