// Rate limiting with token buckets stored in PostgreSQL, so limits hold across every instance.
import type { Config } from '../config/schema.ts'
import { limitExceeded, type MatrixError } from '../shared/errors.ts'
import type { Clock } from '../shared/clock.ts'
import { RATE_LIMITED, type Repositories } from '../storage/index.ts'

export type LimitName = 'login_address' | 'login_account' | 'login_failed_attempts' | 'registration' | 'shared_secret_nonce' | 'message' | 'room_creation' | 'threepid_validation'

export class RateLimiter {
  private readonly config: Config['rate_limits']
  private readonly repos: Repositories
  private readonly clock: Clock

  constructor(config: Config['rate_limits'], repos: Repositories, clock: Clock) {
    this.config = config
    this.repos = repos
    this.clock = clock
  }

  get enabled(): boolean {
    return this.config.enabled
  }

  /** Takes one request from the bucket (name, key); throws M_LIMIT_EXCEEDED with retry_after_ms when empty. */
  async take(name: LimitName, key: string, cost = 1): Promise<void> {
    if (!this.config.enabled) return
    const { per_second: perSecond, burst } = this.config[name]
    const result = await this.repos.rateLimits.take(`${name}:${key}`, perSecond, burst, cost, this.clock.now())
    if (!result.allowed) throw limitExceeded(((cost - result.tokens) / perSecond) * 1000)
  }

  /**
   * A guard for a write's transaction taking one token from each bucket (takeIn): a refusal by any fails
   * the transaction, so the write and every token are rolled back together (createRoom and upgrades take
   * room_creation and message, as Synapse); refusal() turns that failure into M_LIMIT_EXCEEDED.
   */
  guardEach(names: LimitName[], key: string): (repos: Repositories) => Promise<void> {
    return async (repos) => {
      for (const name of names) await this.takeIn(repos, name, key)
    }
  }

  /**
   * take() inside the caller's transaction (`repos` of it): nothing is waited for, and a refusal fails the
   * transaction; refusal() turns that failure into M_LIMIT_EXCEEDED.
   */
  async takeIn(repos: Repositories, name: LimitName, key: string, cost = 1): Promise<void> {
    if (!this.config.enabled) return
    const { per_second: perSecond, burst } = this.config[name]
    await repos.rateLimits.takeOrFail(`${name}:${key}`, perSecond, burst, cost, this.clock.now())
  }

  /** The M_LIMIT_EXCEEDED a transaction failed by takeIn's refusal answers with; null for any other error. */
  refusal(err: unknown): MatrixError | null {
    const { code, detail } = err as { code?: unknown; detail?: unknown }
    return code === RATE_LIMITED ? limitExceeded(Number(detail) || 1000) : null
  }

  /** Refuses, without taking anything, unless the bucket holds one whole token (used to check failed-attempt budgets). */
  async check(name: LimitName, key: string): Promise<void> {
    if (!this.config.enabled) return
    const { per_second: perSecond, burst } = this.config[name]
    // A cost of 0 only brings the bucket up to date. Testing with a tiny cost instead would pass on the fraction
    // refilled since the last failure, so a spent budget would still let every password guess be checked.
    const result = await this.repos.rateLimits.take(`${name}:${key}`, perSecond, burst, 0, this.clock.now())
    if (result.tokens < 1) throw limitExceeded(((1 - result.tokens) / perSecond) * 1000)
  }
}
