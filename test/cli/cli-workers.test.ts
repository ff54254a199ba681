// `homestead start --workers 2` as a real process tree: a primary owning the embedded PostgreSQL and the
// metrics listener, two workers sharing one port, a replacement for a worker that dies, and SIGTERM
// stopping all of it.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { get } from 'node:http'
import {
  CliServer,
  childPids,
  cleanupCli,
  cliEnv,
  freePort,
  hasPostmasterPid,
  isAlive,
  postmasters,
  tempDataDir,
  waitFor,
} from '../support/cli.ts'

let dataDir: string
let metricsPort: number
let primary: CliServer

before(async () => {
  dataDir = await tempDataDir()
  metricsPort = await freePort()
  const env = cliEnv({
    HOMESTEAD_DATA_DIR: dataDir,
    HOMESTEAD_PORT: '0', // the kernel picks a free port once and the workers share it; read from the log
    HOMESTEAD_HOST: '127.0.0.1',
    HOMESTEAD_LOG_LEVEL: 'info',
    HOMESTEAD__METRICS__ENABLED: 'true',
    HOMESTEAD_METRICS_PORT: String(metricsPort),
  })
  primary = new CliServer(['start', '--workers', '2'], env)
  await primary.waitReady()
})

after(cleanupCli)

/** GET on a connection of its own (no keep-alive), so the primary hands each request to a worker afresh. */
function freshGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port: primary.port as number, path, agent: false }, (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    }).on('error', reject)
  })
}

function sorted(pids: Iterable<unknown>): number[] {
  return [...pids].map(Number).sort((a, b) => a - b)
}

function workerPids(): number[] {
  return sorted(childPids(primary.pid))
}

/** Worker pids that logged "Homestead is listening". */
function listeningWorkers(): Set<unknown> {
  return new Set(primary.logs().filter((l) => l.msg === 'Homestead is listening' && l.worker !== undefined).map((l) => l.pid))
}

/** Pids that logged a request for `url`. */
function servingPids(url: string): Set<unknown> {
  return new Set(primary.logs().filter((l) => l.msg === 'request' && l.url === url).map((l) => l.pid))
}

describe('homestead start --workers 2', () => {
  it('runs two worker processes under the primary, both listening on the one port', async () => {
    await waitFor(() => listeningWorkers().size === 2, 30_000, () => `two workers did not start\n${primary.output}`)
    const workers = workerPids()
    assert.equal(workers.length, 2, `children of the primary: ${workers}\n${primary.output}`)
    assert.deepEqual(sorted(listeningWorkers()), workers)
    const ports = new Set(primary.logs().filter((l) => l.msg === 'Homestead is listening').map((l) => l.port))
    assert.deepEqual([...ports], [primary.port], 'the workers listen on different ports')
    assert.equal(postmasters(dataDir).length, 1, 'one embedded PostgreSQL for all processes')
  })

  it('serves requests on that port from both workers', async () => {
    const url = '/_matrix/client/versions?probe=spread'
    await waitFor(
      async () => {
        const res = await freshGet(url)
        assert.equal(res.status, 200)
        return servingPids(url).size === 2
      },
      30_000,
      () => `requests were not served by two processes: ${[...servingPids(url)]}\n${primary.output}`,
    )
    const pids = sorted(servingPids(url))
    assert.deepEqual(pids, workerPids())
    assert.ok(!pids.includes(primary.pid), 'the primary served a request itself')
  })

  it('GET /metrics on the metrics port returns Prometheus text aggregated over the workers', async () => {
    const url = '/health?probe=metrics'
    for (let i = 0; i < 10; i++) assert.equal((await freshGet(url)).status, 200)
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
    const text = await res.text()
    assert.equal(res.status, 200, text)
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/)
    assert.match(text, /^# HELP homestead_http_request_duration_seconds /m)
    assert.match(text, /^# TYPE homestead_http_request_duration_seconds histogram$/m)
    const count = text.match(/^homestead_http_request_duration_seconds_count\{method="GET",route="\/health",status="200"\} (\d+)$/m)
    assert.ok(count, text)
    // At least our 10 (plus readiness polls), summed over both workers' registries.
    assert.ok(Number(count[1]) >= 10, `count ${count[1]}`)
    // The metrics are not served on the public port.
    assert.equal((await freshGet('/metrics')).status, 404)
  })

  it('replaces a worker that dies', async () => {
    const [victim, survivor] = workerPids() as [number, number]
    process.kill(victim, 'SIGKILL')
    await waitFor(
      () => {
        const now = workerPids()
        return now.length === 2 && !now.includes(victim) && now.includes(survivor)
      },
      30_000,
      () => `no replacement worker: ${workerPids()}\n${primary.output}`,
    )
    // The primary forks the replacement before its log line reaches our pipe.
    await waitFor(() => primary.hasLog('worker exited; starting a replacement'), 10_000, () => primary.output)
    await waitFor(() => listeningWorkers().size === 3, 30_000, () => `the replacement did not listen\n${primary.output}`)
    assert.equal((await freshGet('/health')).status, 200)
  })

  it('SIGTERM stops the primary (exit 0), every worker and the embedded PostgreSQL', async () => {
    const workers = workerPids()
    assert.equal(workers.length, 2)
    const exit = await primary.stop()
    assert.deepEqual(exit, { code: 0, signal: null }, primary.output)
    for (const pid of workers) assert.equal(isAlive(pid), false, `worker ${pid} is still running`)
    assert.equal(hasPostmasterPid(dataDir), false, 'postmaster.pid is left behind')
    assert.deepEqual(postmasters(dataDir), [], 'the embedded PostgreSQL is still running')
    const stoppedWorkers = new Set(primary.logs().filter((l) => l.msg === 'stopped' && l.worker !== undefined).map((l) => l.pid))
    assert.deepEqual(sorted(stoppedWorkers), workers, 'each worker finished its own graceful shutdown')
  })
})
