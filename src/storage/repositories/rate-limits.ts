import type { Queryable } from '../db.ts'

export interface TakeResult {
  allowed: boolean
  /** Tokens in the bucket after the request. */
  tokens: number
}

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
    const refilled = 'least($3::float8, r.tokens + greatest($5::bigint - r.updated_ms, 0) / 1000.0 * $2::float8)'
    const { rows } = await this.db.query<{ tokens: number; refused: boolean }>(
      `INSERT INTO rate_limits AS r (key, tokens, updated_ms, refused)
       VALUES ($1, greatest($3::float8 - $4::float8, $3::float8 * (($3::float8 < $4::float8)::int)), $5, $3::float8 < $4::float8)
       ON CONFLICT (key) DO UPDATE SET
         tokens = CASE WHEN ${refilled} >= $4::float8 THEN ${refilled} - $4::float8 ELSE ${refilled} END,
         -- Never moved backwards by an instance whose clock is behind: the refill would be counted twice.
         updated_ms = greatest(r.updated_ms, $5),
         refused = ${refilled} < $4::float8
       RETURNING tokens, refused`,
      [key, perSecond, burst, cost, nowMs],
    )
    const row = rows[0] as { tokens: number; refused: boolean }
    return { allowed: !row.refused, tokens: row.tokens }
  }

  /** Forgets buckets untouched since `olderThanMs` (they would be full again anyway). */
  async prune(olderThanMs: number): Promise<void> {
    await this.db.query('DELETE FROM rate_limits WHERE updated_ms < $1', [olderThanMs])
  }
}
