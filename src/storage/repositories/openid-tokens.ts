import type { Queryable } from '../db.ts'

export class OpenIdTokensRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /**
   * Stores a token and, in the same statement, removes up to `sweep` expired tokens of any user and this
   * user's live tokens beyond the newest `perUser - 1`: every issue cleans up after the ones before it, so
   * the table holds little more than the live tokens, a bounded number per user.
   */
  async insert(t: { hash: Buffer; userId: string; expiresTs: number; now: number; perUser: number; sweep: number }): Promise<void> {
    await this.db.query(
      `WITH expired AS (
              DELETE FROM openid_tokens WHERE token_hash IN (
                SELECT token_hash FROM openid_tokens WHERE expires_ts <= $4 ORDER BY expires_ts LIMIT $6)),
            surplus AS (
              DELETE FROM openid_tokens WHERE token_hash IN (
                SELECT token_hash FROM openid_tokens WHERE user_id = $2 ORDER BY created_ts DESC, token_hash OFFSET $5))
       INSERT INTO openid_tokens (token_hash, user_id, expires_ts, created_ts) VALUES ($1, $2, $3, $4)`,
      [t.hash, t.userId, t.expiresTs, t.now, t.perUser - 1, t.sweep],
    )
  }

  /** The user a token was issued to, while it has not expired. */
  async userOf(hash: Buffer, now: number): Promise<string | null> {
    const { rows } = await this.db.query<{ user_id: string }>('SELECT user_id FROM openid_tokens WHERE token_hash = $1 AND expires_ts > $2', [hash, now])
    return rows[0]?.user_id ?? null
  }

  async deleteAllFor(userId: string): Promise<void> {
    await this.db.query('DELETE FROM openid_tokens WHERE user_id = $1', [userId])
  }
}
