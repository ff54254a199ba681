// Login tokens (client-server API, "Token-based login", m.login.token): after a sign-on the browser goes
// back to the client with a short-lived, single-use loginToken, which POST /login exchanges for an access
// token. Only a SHA-256 of each token is stored, in PostgreSQL, so any instance can take the exchange.
import type { RateLimiter } from '../ratelimit/index.ts'
import type { Clock } from '../shared/clock.ts'
import { MatrixError, forbidden } from '../shared/errors.ts'
import type { UserId } from '../shared/ids.ts'
import { randomToken } from '../shared/random.ts'
import type { Repositories, Storage } from '../storage/index.ts'
import type { Accounts } from './accounts.ts'
import { hashToken, type IssuedSession } from './sessions.ts'

/** Expired tokens removed with each token issued. */
const SWEEP = 100
/** Longer than any token issued here: a longer one is refused without a lookup. */
const MAX_TOKEN_LENGTH = 255

export interface TokenLoginRequest {
  token: string | undefined
  deviceId?: string | undefined
  initialDeviceDisplayName?: string | undefined
  refreshToken?: boolean | undefined
  ip: string
}

export class LoginTokens {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly accounts: Accounts
  private readonly limiter: RateLimiter
  private readonly lifetimeMs: number

  constructor(deps: { storage: Storage; clock: Clock; accounts: Accounts; rateLimiter: RateLimiter; lifetimeMs: number }) {
    this.storage = deps.storage
    this.clock = deps.clock
    this.accounts = deps.accounts
    this.limiter = deps.rateLimiter
    this.lifetimeMs = deps.lifetimeMs
  }

  /** A new token for `userId`, stored in the caller's transaction. */
  async issue(repos: Repositories, userId: UserId, authProvider: string | null): Promise<string> {
    const token = randomToken('hsl_')
    const now = this.clock.now()
    await repos.loginTokens.insert({ hash: hashToken(token), userId, authProvider, expiresTs: now + this.lifetimeMs, now, sweep: SWEEP })
    return token
  }

  /** POST /login with m.login.token: the token is used up whether or not the login then succeeds. */
  async login(request: TokenLoginRequest): Promise<IssuedSession & { home_server: string }> {
    await this.limiter.take('login_address', request.ip)
    if (typeof request.token !== 'string' || request.token === '') throw new MatrixError('M_MISSING_PARAM', 'Missing "token"')
    const found = request.token.length > MAX_TOKEN_LENGTH ? null : await this.storage.repos.loginTokens.consume(hashToken(request.token), this.clock.now())
    if (!found) throw forbidden('Invalid login token')
    const userId = found.user_id as UserId
    const row = await this.storage.repos.users.get(userId)
    if (!row) throw forbidden('Invalid login token')
    return this.accounts.signIn(userId, row.deactivated, request)
  }
}
