import type { Queryable } from '../db.ts'

export interface TakeResult {
  allowed: boolean
  /** Tokens in the bucket after the request. */
  tokens: number
}

/** The SQLSTATE of takeOrFail's refusal (migration 0024). */
export const RATE_LIMITED = 'HS429'

const REFILLED = 'least($3::float8, r.tokens + greatest($5::bigint - r.updated_ms, 0) / 1000.0 * $2::float8)'
/** Takes $4 tokens from bucket $1 (refilled at $2 per second, capped at $3) at $5 ms; returns tokens and refused. */
const TAKE_SQL = `INSERT INTO rate_limits AS r (key, tokens, updated_ms, refused)
       VALUES ($1, greatest($3::float8 - $4::float8, $3::float8 * (($3::float8 < $4::float8)::int)), $5, $3::float8 < $4::float8)
       ON CONFLICT (key) DO UPDATE SET
         tokens = CASE WHEN ${REFILLED} >= $4::float8 THEN ${REFILLED} - $4::float8 ELSE ${REFILLED} END,
         -- Never moved backwards by an instance whose clock is behind: the refill would be counted twice.
         updated_ms = greatest(r.updated_ms, $5),
         refused = ${REFILLED} < $4::float8
       RETURNING tokens, refused`

export class RateLimitsRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /**
   * Takes `cost` tokens from the bucket `key` (refilled at perSecond, capped at burst) in one atomic
   * statement on the row, so every instance shares the same bucket. A refused request takes nothing.
   */
  async take(key: string, perSecond: number, burst: number, cost: number, nowMs: number): Promise<TakeResult> {
    const { rows } = await this.db.query<{ tokens: number; refused: boolean }>(TAKE_SQL, [key, perSecond, burst, cost, nowMs])
    const row = rows[0] as { tokens: number; refused: boolean }
    return { allowed: !row.refused, tokens: row.tokens }
  }

  /**
   * take() as a write inside the caller's transaction: a refusal fails the statement (SQLSTATE HS429,
   * RATE_LIMITED; its detail is the milliseconds until the request would be allowed) and with it the
   * transaction, so the work it guards costs no round trip of its own.
   */
  async takeOrFail(key: string, perSecond: number, burst: number, cost: number, nowMs: number): Promise<void> {
    await this.db.write(`WITH t AS (${TAKE_SQL}) SELECT refuse_rate_limited(t.refused, t.tokens, $4::float8, $2::float8) FROM t`, [key, perSecond, burst, cost, nowMs])
  }

  /** Forgets buckets untouched since `olderThanMs` (they would be full again anyway). */
  async prune(olderThanMs: number): Promise<void> {
    await this.db.query('DELETE FROM rate_limits WHERE updated_ms < $1', [olderThanMs])
  }
}
