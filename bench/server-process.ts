// The benchmarked Homestead, in a process of its own so the load generator does not share its event loop.
// bench/run.ts forks this file and drives it over IPC: start → (usage)* → stop.
import { performance } from 'node:perf_hooks'
import { loadConfig } from '../src/config/load.ts'
import { startServer, type RunningServer } from '../src/server.ts'
import { createLogger } from '../src/shared/logger.ts'
import { anchorDns } from '../scripts/anchor-dns.ts'

/** `anchorRoot`: resolve the Synapse anchor's host names (its `hosts` file), for the federation benchmark. */
/** `gc`: a full garbage collection first (the process runs with --expose-gc), then the usage, for memory readings. */
export type ParentMessage = { type: 'start'; overrides: Record<string, unknown>; anchorRoot?: string } | { type: 'usage' } | { type: 'gc' } | { type: 'stop' }
export type ChildMessage =
  | { type: 'ready'; url: string; startup_ms: number; postgres_version: string }
  | { type: 'usage'; cpu_ms: number; rss_mb: number; v8: V8Memory }
  | { type: 'stopped' }
  | { type: 'error'; message: string }

/** The V8 heap in use and reserved, and the memory outside it that JS objects hold (Buffers), in KiB. */
export interface V8Memory {
  heap_used_kb: number
  heap_total_kb: number
  external_kb: number
}

let server: RunningServer | null = null
let stopping: Promise<void> | null = null

function send(message: ChildMessage): void {
  process.send?.(message)
}

function stop(): Promise<void> {
  stopping ??= (async () => {
    const running = server
    server = null
    await running?.close()
  })()
  return stopping
}

// Ctrl-C reaches the whole process group: the parent decides when to stop, so the embedded PostgreSQL
// is always shut down through server.close().
process.on('SIGINT', () => {})
// Likewise for a SIGTERM sent to the whole group (e.g. by `timeout`): the parent stops us, then drops its database.
process.on('SIGTERM', () => {})
// The parent died without saying stop: clean up and leave.
process.on('disconnect', () => {
  stop().finally(() => process.exit(0))
})

process.on('message', async (message: ParentMessage) => {
  try {
    if (message.type === 'start') {
      const started = performance.now()
      const config = loadConfig({ env: {}, overrides: message.overrides })
      server = await startServer(config, { logger: createLogger(config.log.level), ...(message.anchorRoot ? { dns: anchorDns(message.anchorRoot) } : {}) })
      const version = await server.ctx.storage.db.query<{ server_version: string }>('SHOW server_version')
      send({
        type: 'ready',
        url: server.url,
        startup_ms: Math.round(performance.now() - started),
        postgres_version: version.rows[0]?.server_version ?? 'unknown',
      })
    } else if (message.type === 'usage' || message.type === 'gc') {
      if (message.type === 'gc') (globalThis as { gc?: () => void }).gc?.()
      const cpu = process.cpuUsage()
      const memory = process.memoryUsage()
      const v8 = { heap_used_kb: Math.round(memory.heapUsed / 1024), heap_total_kb: Math.round(memory.heapTotal / 1024), external_kb: Math.round(memory.external / 1024) }
      send({ type: 'usage', cpu_ms: (cpu.user + cpu.system) / 1000, rss_mb: Math.round(memory.rss / 2 ** 20), v8 })
    } else if (message.type === 'stop') {
      await stop()
      send({ type: 'stopped' })
      process.disconnect()
    }
  } catch (err) {
    send({ type: 'error', message: (err as Error).stack ?? String(err) })
  }
})
