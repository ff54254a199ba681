// `homestead start`: runs one server process, or a primary that owns the embedded database and the
// metrics listener plus N workers sharing one port (node:cluster). Signal handling lives here only.
import cluster, { type Worker } from 'node:cluster'
import client from 'prom-client'
import type { Config } from './config/schema.ts'
import { serveMetrics } from './metrics.ts'
import { startServer, openDatabase } from './server.ts'
import { createLogger, type Logger } from './shared/logger.ts'
import type { EmbeddedConnection } from './storage/index.ts'

const EMBEDDED_ENV = 'HOMESTEAD_INTERNAL_EMBEDDED'

/** Calls handler on the first SIGTERM/SIGINT; later ones (a supervisor and a shell both signalling) are ignored
 * rather than left to the default action, which would kill the process halfway through draining. */
function onShutdownSignal(handler: (signal: string) => void): void {
  let received = false
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (received) return
      received = true
      handler(signal)
    })
  }
}

/** Runs until SIGTERM/SIGINT, then drains: stop accepting, finish requests in flight, close the database. */
export async function runServerProcess(config: Config, options: { embedded?: EmbeddedConnection | null; worker?: boolean } = {}): Promise<void> {
  const logger = createLogger(config.log.level, options.worker ? { worker: cluster.worker?.id } : {})
  const server = await startServer(config, {
    logger,
    embedded: options.embedded ?? null,
    ownsEmbedded: !options.worker,
    metricsListener: !options.worker,
    waitForDatabase: true,
  })
  if (options.worker) {
    client.AggregatorRegistry.setRegistries([server.ctx.metrics.registry])
    // prom-client installs a worker's answer to the primary's metrics requests only when an
    // AggregatorRegistry is constructed in that worker; without it /metrics times out.
    new client.AggregatorRegistry()
  }
  onShutdownSignal((signal) => {
    logger.info({ signal }, 'shutting down: finishing requests in flight')
    const force = setTimeout(() => {
      logger.warn('requests still in flight after the grace period; exiting')
      process.exit(1)
    }, config.http.shutdown_grace_ms + 5000)
    force.unref()
    server.close().then(
      () => {
        logger.info('stopped')
        process.exit(0)
      },
      (err: unknown) => {
        logger.error({ err }, 'error during shutdown')
        process.exit(1)
      },
    )
  })
}

/** The primary of `--workers N`: owns the embedded database and migrations, forks and supervises workers. */
async function runPrimary(config: Config, workers: number, logger: Logger): Promise<void> {
  const database = await openDatabase(config, logger, { waitOn: { host: config.listen.host, port: config.listen.port } })
  await database.db.close() // workers open their own pools; the primary keeps only the embedded server
  const embedded = database.embedded?.connection ?? null
  let stopping = false
  const fork = (): Worker => cluster.fork({ [EMBEDDED_ENV]: embedded ? JSON.stringify(embedded) : '' })
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return
    logger.warn({ worker: worker.id, code, signal }, 'worker exited; starting a replacement')
    fork()
  })
  for (let i = 0; i < workers; i++) fork()

  let metricsServer: Awaited<ReturnType<typeof serveMetrics>> | null = null
  if (config.metrics.enabled) {
    const aggregator = new client.AggregatorRegistry()
    metricsServer = await serveMetrics(config.metrics.host, config.metrics.port, async () => ({
      body: await aggregator.clusterMetrics(),
      contentType: aggregator.contentType,
    }))
  }
  logger.info({ workers, port: config.listen.port }, 'Homestead primary started')

  onShutdownSignal((signal) => {
    stopWorkers(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'error during shutdown')
        process.exit(1)
      },
    )
  })

  async function stopWorkers(signal: string): Promise<void> {
    stopping = true
    logger.info({ signal }, 'shutting down workers')
    const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined)
    await Promise.all(
      alive.map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once('exit', () => resolve())
            w.process.kill('SIGTERM')
          }),
      ),
    )
    metricsServer?.close()
    // The pool was already closed after migrating; only the embedded server is left to stop.
    await database.embedded?.stop()
    logger.info('stopped')
  }
}

export async function start(config: Config, workers: number): Promise<void> {
  if (cluster.isWorker) {
    const raw = process.env[EMBEDDED_ENV]
    await runServerProcess(config, { embedded: raw ? (JSON.parse(raw) as EmbeddedConnection) : null, worker: true })
    return
  }
  if (workers <= 1) {
    await runServerProcess(config)
    return
  }
  await runPrimary(config, workers, createLogger(config.log.level, { role: 'primary' }))
}
