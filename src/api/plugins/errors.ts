// Error rendering: MatrixError → {errcode, error, ...}; Fastify's own errors mapped to their Matrix codes;
// anything else is a 500 M_UNKNOWN, logged with the request id. Unknown paths: 404, known path with the
// wrong method: 405, both M_UNRECOGNIZED.
import type { FastifyError, FastifyInstance } from 'fastify'
import { MatrixError } from '../../shared/errors.ts'
import type { RouteTable } from '../route.ts'

/** PostgreSQL's data exceptions (SQLSTATE class 22) come from values a client sent, e.g. a NUL character. */
function isDataException(err: unknown): boolean {
  const e = err as { code?: unknown; severity?: unknown }
  return typeof e.code === 'string' && e.code.startsWith('22') && typeof e.severity === 'string'
}

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', '57P01', '57P02', '57P03'])

/**
 * The database cannot be reached right now (restarting, failing over, network): not this request's fault
 * and worth retrying, so 503 rather than 500. SQLSTATE class 08 is "connection exception"; pg reports a
 * dropped connection or a pool that cannot connect in time by message only.
 */
function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; syscall?: unknown }
  // A socket that cannot connect (ENOENT for a Unix socket whose server is down, ECONNREFUSED over TCP).
  if (e.syscall === 'connect' || e.syscall === 'getaddrinfo') return true
  if (typeof e.code === 'string' && (UNAVAILABLE_CODES.has(e.code) || e.code.startsWith('08'))) return true
  return typeof e.message === 'string' && /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/.test(e.message)
}

function fromFastify(err: FastifyError): MatrixError | null {
  if (isDataException(err)) return new MatrixError('M_INVALID_PARAM', 'The request holds a value that cannot be stored (such as a NUL character)', 400)
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new MatrixError('M_TOO_LARGE', 'Request body too large', 413)
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new MatrixError('M_UNKNOWN', 'Invalid Content-Length', 400)
    case 'FST_ERR_BAD_URL':
    case 'FST_ERR_ASYNC_CONSTRAINT':
      return new MatrixError('M_UNRECOGNIZED', 'Unrecognized request', 400)
    default:
      if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return new MatrixError('M_UNKNOWN', err.message, err.statusCode)
      return null
  }
}

export function installErrorHandling(app: FastifyInstance, table: RouteTable): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const matrixError = err instanceof MatrixError ? err : fromFastify(err)
    if (matrixError) {
      if (matrixError.status === 429 && typeof matrixError.extra.retry_after_ms === 'number') {
        void reply.header('Retry-After', Math.ceil(matrixError.extra.retry_after_ms / 1000))
      }
      return reply.code(matrixError.status).send(matrixError.toJSON())
    }
    if (isDatabaseUnavailable(err)) {
      request.log.warn({ err: (err as Error).message }, 'database unavailable')
      return reply.code(503).send({ errcode: 'M_UNKNOWN', error: 'The server cannot reach its database right now; try again shortly' })
    }
    request.log.error({ err }, 'unhandled error')
    return reply.code(500).send({ errcode: 'M_UNKNOWN', error: 'Internal server error' })
  })

  app.setNotFoundHandler((request, reply) => {
    // Normalised as the router does (ignoreTrailingSlash, ignoreDuplicateSlashes), so /versions/ is known too.
    const path = (request.url.split('?')[0] ?? '').replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1')
    const known = table.patterns.some((p) => p.test(path))
    return reply
      .code(known ? 405 : 404)
      .send({ errcode: 'M_UNRECOGNIZED', error: known ? 'Unsupported method' : 'Unrecognized request' })
  })
}
