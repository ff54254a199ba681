// For the hostile-input suites: runs a piece of hostile work while another client keeps asking /health, and
// says how long the slowest /health answer took. A request that stalls the event loop (a backtracking
// pattern, an unbounded list, a parser with no budget) shows up here as a slow health check; the tests
// bound it at a second, a limit that a server doing its work fairly never comes near.
import assert from 'node:assert/strict'
import type { Api } from './server.ts'

export const HEALTH_BOUND_MS = 1000

/** Polls GET /health every `everyMs` until `done` settles; resolves with the slowest answer's time. */
async function pollHealth(api: Api, done: Promise<unknown>, everyMs: number): Promise<number> {
  let finished = false
  void done.finally(() => (finished = true)).catch(() => {})
  let slowest = 0
  do {
    const started = performance.now()
    const res = await fetch(`${api.baseUrl}/health`, { signal: AbortSignal.timeout(HEALTH_BOUND_MS * 10) })
    await res.arrayBuffer()
    assert.equal(res.status, 200, 'GET /health answered an error while the hostile work ran')
    slowest = Math.max(slowest, performance.now() - started)
    if (!finished) await new Promise((resolve) => setTimeout(resolve, everyMs))
  } while (!finished)
  return slowest
}

/**
 * Runs `work` while /health is polled, and asserts every health answer came within HEALTH_BOUND_MS.
 * Returns what `work` returned.
 */
export async function whileHealthy<T>(api: Api, work: () => Promise<T>, everyMs = 50): Promise<T> {
  const running = work()
  const slowest = await pollHealth(api, running, everyMs)
  assert.ok(slowest < HEALTH_BOUND_MS, `GET /health took ${Math.round(slowest)} ms while the hostile work ran`)
  return running
}
