// `homestead start` when the external database cannot be reached yet (an Aurora cluster still being created,
// a failover, an outage): rather than exit, and be restarted by systemd and replaced by the autoscaling
// group in a loop, the process keeps trying with backoff while a small listener on its port answers
// GET /health/live 200 (the process is fine) and everything else 503 (not ready: the balancer routes
// elsewhere). Once the database answers, the listener makes way for the real one on the same port.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from './shared/logger.ts'
import type { Database } from './storage/index.ts'

const FIRST_RETRY_MS = 1000
const LONGEST_RETRY_MS = 15_000

// TLS set up wrong (a certificate that does not verify, a server without TLS): retrying cannot help.
const TLS_MISCONFIGURED = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS/
const AUTHENTICATION = /^28/

/** Whether a failure to reach the database may pass by itself (the server is down, starting, or overloaded). */
export function mayPass(err: unknown, passwordFromSource: boolean): boolean {
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string') {
    if (TLS_MISCONFIGURED.test(code)) return false
    // Refused credentials: a password from the URL stays wrong; one from a secret may be in rotation, and
    // the role may not exist yet while another instance bootstraps it.
    if (AUTHENTICATION.test(code)) return passwordFromSource
  }
  return !/does not support SSL/.test((err as Error).message ?? '')
}

/** Answers /health/live while the process waits for its database; 503 to everything else. */
async function listenWhileWaiting(host: string, port: number): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const live = req.method === 'GET' && (req.url === '/health/live' || req.url?.startsWith('/health/live?'))
    if (live) {
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' }).end('OK')
      return
    }
    if (req.url?.startsWith('/_matrix/')) {
      res.writeHead(503, { 'content-type': 'application/json', connection: 'close', 'retry-after': '5' })
      res.end(JSON.stringify({ errcode: 'M_UNKNOWN', error: 'The server is starting: its database is not reachable yet' }))
      return
    }
    res.writeHead(503, { 'content-type': 'text/plain', connection: 'close', 'retry-after': '5' }).end('database unavailable')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host, port }, () => resolve())
  })
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

export interface WaitOptions {
  host: string
  port: number
  /** Whether the password comes from a secret or IAM (see mayPass). */
  passwordFromSource: boolean
}

/**
 * Returns once db answers; meanwhile (after a first failure) serves liveness on host:port. Resolves to the
 * port the waiting listener bound (so a port 0 stays the same for the real listener), or null if it never
 * had to wait. Failures that cannot pass by themselves are thrown.
 */
export async function untilReachable(db: Database, logger: Logger, options: WaitOptions): Promise<number | null> {
  let listener: Awaited<ReturnType<typeof listenWhileWaiting>> | null = null
  try {
    for (let delay = FIRST_RETRY_MS; ; delay = Math.min(delay * 2, LONGEST_RETRY_MS)) {
      try {
        await db.ping()
        return listener?.port ?? null
      } catch (err) {
        if (!mayPass(err, options.passwordFromSource)) throw err
        listener ??= await listenWhileWaiting(options.host, options.port)
        // Jitter, so a fleet that lost its database together does not come back in lockstep.
        const wait = Math.round(delay * (0.75 + Math.random() * 0.5))
        logger.warn({ err: (err as Error).message, retry_in_ms: wait, port: listener.port }, 'database unreachable at start; /health/live answers meanwhile')
        await new Promise((resolve) => setTimeout(resolve, wait))
      }
    }
  } finally {
    await listener?.close()
  }
}
