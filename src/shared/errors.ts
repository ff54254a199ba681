// The one error type of Homestead. Domain code throws MatrixError; the HTTP layer renders it as
// {errcode, error, ...extra} with the status from the table below unless one is given.

const DEFAULT_STATUS: Record<string, number> = {
  M_FORBIDDEN: 403,
  M_INVITE_BLOCKED: 403,
  M_UNKNOWN_TOKEN: 401,
  M_MISSING_TOKEN: 401,
  M_USER_LOCKED: 401,
  M_BAD_JSON: 400,
  M_NOT_JSON: 400,
  M_NOT_FOUND: 404,
  M_LIMIT_EXCEEDED: 429,
  M_UNRECOGNIZED: 404,
  M_UNKNOWN: 400,
  M_UNAUTHORIZED: 401,
  M_USER_DEACTIVATED: 403,
  M_USER_IN_USE: 400,
  M_INVALID_USERNAME: 400,
  M_ROOM_IN_USE: 400,
  M_INVALID_ROOM_STATE: 400,
  M_THREEPID_IN_USE: 400,
  M_SERVER_NOT_TRUSTED: 401,
  M_UNSUPPORTED_ROOM_VERSION: 400,
  M_INCOMPATIBLE_ROOM_VERSION: 400,
  M_BAD_STATE: 400,
  M_GUEST_ACCESS_FORBIDDEN: 403,
  M_MISSING_PARAM: 400,
  M_INVALID_PARAM: 400,
  M_TOO_LARGE: 413,
  M_EXCLUSIVE: 400,
  M_RESOURCE_LIMIT_EXCEEDED: 403,
  M_CANNOT_LEAVE_SERVER_NOTICE_ROOM: 403,
  M_WEAK_PASSWORD: 400,
  M_UNABLE_TO_AUTHORISE_JOIN: 400,
  M_UNABLE_TO_GRANT_JOIN: 400,
  M_THREEPID_DENIED: 403,
  M_THREEPID_NOT_FOUND: 400,
  M_THREEPID_AUTH_FAILED: 401,
  M_UNSUPPORTED: 400,
}

export class MatrixError extends Error {
  readonly errcode: string
  readonly status: number
  readonly extra: Record<string, unknown>

  constructor(errcode: string, message: string, status?: number, extra: Record<string, unknown> = {}) {
    super(message)
    this.name = 'MatrixError'
    this.errcode = errcode
    this.status = status ?? DEFAULT_STATUS[errcode] ?? 400
    this.extra = extra
  }

  toJSON(): Record<string, unknown> {
    return { errcode: this.errcode, error: this.message, ...this.extra }
  }
}

export const forbidden = (message: string) => new MatrixError('M_FORBIDDEN', message)
export const notFound = (message: string) => new MatrixError('M_NOT_FOUND', message)
export const badJson = (message: string) => new MatrixError('M_BAD_JSON', message)
export const invalidParam = (message: string) => new MatrixError('M_INVALID_PARAM', message)
export const missingParam = (message: string) => new MatrixError('M_MISSING_PARAM', message)

export function limitExceeded(retryAfterMs: number): MatrixError {
  return new MatrixError('M_LIMIT_EXCEEDED', 'Too many requests', 429, { retry_after_ms: Math.ceil(retryAfterMs) })
}

/**
 * A failure of what Homestead depends on at start (database unreachable, port taken, data directory not
 * writable), as one line for the operator; `cause` keeps the original for a debug log.
 */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StartupError'
  }
}

const SYSTEM_REASONS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use (is another server running on it?)',
  EADDRNOTAVAIL: 'that address is not one of this machine\'s',
  EACCES: 'permission denied',
}

/**
 * `err` as a StartupError saying `what` failed and why in one line, unless it is a programming error (a bug
 * keeps its stack trace).
 */
export function asStartupError(what: string, err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof StartupError) return err
  if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError || err instanceof SyntaxError) return err
  const code = (err as { code?: unknown }).code
  // A connection refused on every address of a name is an AggregateError with an empty message.
  const inner = err instanceof AggregateError ? (err.errors[0] as Error | undefined)?.message : undefined
  const reason = (typeof code === 'string' ? SYSTEM_REASONS[code] : undefined) ?? (err.message || inner || String(code ?? err.name))
  return new StartupError(`${what}: ${reason.split('\n')[0]}`, { cause: err })
}
