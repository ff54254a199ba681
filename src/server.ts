// One Homestead process: database (embedded or external) → migrations → context → HTTP listener.
// Used by main.ts and by the tests, so both exercise the same start-up path.
import type { FastifyInstance } from 'fastify'
import { readFile } from 'node:fs/promises'
import type { Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Config } from './config/schema.ts'
import { createContext, type AppContext } from './context.ts'
import type { DnsResolver } from './federation/index.ts'
import { buildApp } from './app.ts'
import { createMetrics, serveMetrics } from './metrics.ts'
import { asStartupError } from './shared/errors.ts'
import { createLogger, type Logger } from './shared/logger.ts'
import { untilReachable, type WaitingListener } from './startup-wait.ts'
import { Database, EmbeddedPostgres, connectionConfig, migrate, passwordSource, type EmbeddedConnection } from './storage/index.ts'

export const EMBEDDED_DATABASE = 'homestead'

export interface DatabaseHandle {
  db: Database
  embedded: EmbeddedPostgres | null
  /**
   * The listener that answered /health/live while the database was unreachable, still open so that the
   * real listener can take over its port without a gap (see startup-wait.ts); null if there was no wait.
   */
  waiting: WaitingListener | null
  /** Closes the pool; stops the embedded server when `stopEmbedded` (the server process owns it). */
  close(stopEmbedded: boolean): Promise<void>
}

export interface OpenOptions {
  embedded?: EmbeddedConnection | null
  migrate?: boolean
  /**
   * An external database that cannot be reached yet is waited for (with backoff) instead of failing the
   * start, while this listener address answers /health/live (`homestead start`; commands fail at once).
   */
  waitOn?: { host: string; port: number } | null
}

/** Opens the configured database: starts (or reuses) the embedded server unless database.url is set, then migrates. */
export async function openDatabase(config: Config, logger: Logger, options: OpenOptions = {}): Promise<DatabaseHandle> {
  try {
    return await openDatabaseOrThrow(config, logger, options)
  } catch (err) {
    throw asStartupError(config.database.url ? 'cannot use the database at database.url' : 'cannot start the embedded PostgreSQL', err)
  }
}

async function openDatabaseOrThrow(config: Config, logger: Logger, options: OpenOptions): Promise<DatabaseHandle> {
  let embedded: EmbeddedPostgres | null = null
  let connection = options.embedded ?? null
  if (!config.database.url && !connection) {
    embedded = new EmbeddedPostgres(config.data_dir, {
      info: (msg) => logger.info(msg),
      warn: (msg) => logger.warn(msg),
    })
    connection = await embedded.start()
    await embedded.ensureDatabase(EMBEDDED_DATABASE)
  }
  const credentials = connection ? null : passwordSource(config.database)
  const db = new Database(connectionConfig(config, connection, EMBEDDED_DATABASE, credentials), {
    poolSize: config.database.pool_size,
    statementTimeoutMs: config.database.statement_timeout_ms,
    onError: (err) => logger.warn({ err: err.message }, 'database connection lost or background statement failed'),
    credentials,
  })
  let waiting: WaitingListener | null = null
  try {
    if (options.waitOn && !connection) waiting = await untilReachable(db, logger, { ...options.waitOn, passwordFromSource: credentials !== null })
    if (options.migrate !== false) {
      const result = await migrate(db)
      if (result.applied.length > 0) logger.info({ applied: result.applied }, 'database migrations applied')
    }
  } catch (err) {
    await waiting?.close()
    await db.close()
    credentials?.close?.()
    if (embedded?.ownsServer) await embedded.stop()
    throw err
  }
  return {
    db,
    embedded,
    waiting,
    async close(stopEmbedded: boolean) {
      await waiting?.close()
      await db.close()
      credentials?.close?.()
      if (embedded && (stopEmbedded || embedded.ownsServer)) await embedded.stop()
    },
  }
}

export interface RunningServer {
  app: FastifyInstance
  ctx: AppContext
  /** The port actually bound (useful with port 0). */
  port: number
  url: string
  /** The federation TLS listener (federation.listen), when configured. */
  federation: { app: FastifyInstance; port: number } | null
  /** Stops accepting, finishes requests in flight, closes the database (and the embedded server if ours). */
  close(): Promise<void>
}

export interface StartOptions {
  logger?: Logger
  /** Connection to an embedded server started by a parent process (workers). */
  embedded?: EmbeddedConnection | null
  /** Whether this process owns the embedded server and stops it on close (default true). */
  ownsEmbedded?: boolean
  /** Serve metrics from this process (false in workers: the primary aggregates them). */
  metricsListener?: boolean
  /** Wait for an unreachable external database, answering /health/live meanwhile (see OpenOptions.waitOn). */
  waitForDatabase?: boolean
  /** The DNS behind federation and the outbound guard (default: the system's). */
  dns?: DnsResolver
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config.log.level)
  const waitOn = options.waitForDatabase ? { host: config.listen.host, port: config.listen.port } : null
  const database = await openDatabase(config, logger, { embedded: options.embedded, waitOn })
  // The port the waiting listener had (the same unless listen.port is 0), taken over without a gap where
  // the system allows two listeners on one port.
  const waiting = database.waiting
  const listenPort = waiting?.port ?? config.listen.port
  if (waiting && !waiting.sharesPort) await waiting.close()
  let metricsServer: Server | null = null
  let federation: RunningServer['federation'] = null
  try {
    const metrics = createMetrics()
    const ctx = await createContext({ config, db: database.db, logger, metrics, dns: options.dns })
    await ctx.notifier.start()
    const app = await buildApp(ctx)
    const unanswered = new Set<ServerResponse>() // requests in flight, for close()
    app.server.on('request', (_request, res: ServerResponse) => {
      unanswered.add(res)
      res.once('close', () => unanswered.delete(res))
    })
    // reusePort is passed on to node:http's listen (Fastify's types do not name it).
    const reuse = waiting?.sharesPort ? ({ reusePort: true } as object) : {}
    await app.listen({ host: config.listen.host, port: listenPort, ...reuse }).catch((err: unknown) => {
      throw asStartupError(`cannot listen on ${config.listen.host}:${config.listen.port}`, err)
    })
    await waiting?.close()
    const port = (app.server.address() as AddressInfo).port
    federation = await listenForFederation(config, ctx)
    if (config.metrics.enabled && options.metricsListener !== false) {
      metricsServer = await serveMetrics(config.metrics.host, config.metrics.port, async () => ({
        body: await metrics.registry.metrics(),
        contentType: metrics.registry.contentType,
      })).catch((err: unknown) => {
        throw asStartupError(`cannot listen for metrics on ${config.metrics.host}:${config.metrics.port}`, err)
      })
    }
    ctx.ephemeral.start()
    ctx.presence.start()
    ctx.toDevice.start()
    ctx.federationInbound.start()
    ctx.media.sweeper.start()
    ctx.eventExpiry?.start()
    ctx.federationSender.start()
    ctx.pushSender.start()
    logger.info({ port, federation_port: federation?.port, server_name: config.server_name }, 'Homestead is listening')
    let closing: Promise<void> | null = null
    async function closeOnce(): Promise<void> {
      // Long-polls answer now rather than at their timeout, so closing waits only for real work.
      ctx.sync.drain()
      // Node closes the connections idle when close() starts; one whose request finishes later stayed open
      // for the keep-alive timeout (72 s in Fastify), holding SIGTERM past its grace period, and a balancer
      // could send it one more request to be refused (found by the cluster rig). Responses not yet written
      // tell their client to close; any connection still left is closed as soon as it falls idle.
      for (const res of unanswered) if (!res.headersSent) res.setHeader('Connection', 'close')
      const closeIdle = setInterval(() => {
        app.server.closeIdleConnections()
        federation?.app.server.closeIdleConnections()
      }, 50)
      try {
        await Promise.all([app.close(), federation?.app.close()])
      } finally {
        clearInterval(closeIdle)
      }
      await ctx.ephemeral.stop()
      await ctx.presence.stop()
      ctx.toDevice.stop()
      ctx.federationInbound.stop()
      await ctx.media.sweeper.stop()
      await ctx.eventExpiry?.stop()
      await ctx.media.media.store.close()
      await ctx.federationSender.stop()
      await ctx.pushSender.stop()
      ctx.federation.client.close()
      await ctx.notifier.stop()
      if (metricsServer) await new Promise((resolve) => metricsServer?.close(resolve))
      await database.close(options.ownsEmbedded !== false)
    }
    return {
      app,
      ctx,
      port,
      url: `http://127.0.0.1:${port}`,
      federation,
      // Once: a second call (a second signal, a test's clean-up after a stop) waits for the first.
      close: () => (closing ??= closeOnce()),
    }
  } catch (err) {
    await federation?.app.close()
    await database.close(options.ownsEmbedded !== false)
    throw err
  }
}

/** The optional TLS listener for inbound federation (federation.listen); null when not configured. */
async function listenForFederation(config: Config, ctx: AppContext): Promise<RunningServer['federation']> {
  const { listen, tls_certificate_file: certFile, tls_private_key_file: keyFile } = config.federation
  if (listen.port === null || !certFile || !keyFile) return null
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]).catch((err: unknown) => {
    throw asStartupError('cannot read federation.tls_certificate_file or federation.tls_private_key_file', err)
  })
  const app = await buildApp(ctx, { listener: 'federation', https: { cert, key } }).catch((err: unknown) => {
    throw asStartupError('cannot use the federation TLS certificate and key', err)
  })
  await app.listen({ host: listen.host, port: listen.port }).catch(async (err: unknown) => {
    await app.close()
    throw asStartupError(`cannot listen for federation on ${listen.host}:${listen.port}`, err)
  })
  return { app, port: (app.server.address() as AddressInfo).port }
}
