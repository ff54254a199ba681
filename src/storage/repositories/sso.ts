import type { Queryable } from '../db.ts'

/** Identity providers' users mapped to local users (user_external_ids). */
export class ExternalIdsRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async userOf(authProvider: string, externalId: string): Promise<string | null> {
    const { rows } = await this.db.query<{ user_id: string }>(
      'SELECT user_id FROM user_external_ids WHERE auth_provider = $1 AND external_id = $2',
      [authProvider, externalId],
    )
    return rows[0]?.user_id ?? null
  }

  /** Records the mapping unless the external user is already mapped; returns the user it maps to now. */
  async link(authProvider: string, externalId: string, userId: string, now: number): Promise<string> {
    const { rows } = await this.db.query<{ user_id: string }>(
      `INSERT INTO user_external_ids (auth_provider, external_id, user_id, created_ts) VALUES ($1, $2, $3, $4)
       ON CONFLICT (auth_provider, external_id) DO UPDATE SET auth_provider = EXCLUDED.auth_provider
       RETURNING user_id`,
      [authProvider, externalId, userId, now],
    )
    return (rows[0] as { user_id: string }).user_id
  }

  /** The identity providers a user has signed in with. */
  async providersOf(userId: string): Promise<string[]> {
    const { rows } = await this.db.query<{ auth_provider: string }>(
      'SELECT DISTINCT auth_provider FROM user_external_ids WHERE user_id = $1',
      [userId],
    )
    return rows.map((r) => r.auth_provider)
  }
}

/** Single-use login tokens handed out after a sign-on (login_tokens). */
export class LoginTokensRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** Stores a token and, in the same statement, removes up to `sweep` expired tokens. */
  async insert(t: { hash: Buffer; userId: string; authProvider: string | null; expiresTs: number; now: number; sweep: number }): Promise<void> {
    await this.db.query(
      `WITH expired AS (
              DELETE FROM login_tokens WHERE token_hash IN (
                SELECT token_hash FROM login_tokens WHERE expires_ts <= $5 ORDER BY expires_ts LIMIT $6))
       INSERT INTO login_tokens (token_hash, user_id, auth_provider, expires_ts, created_ts) VALUES ($1, $2, $3, $4, $5)`,
      [t.hash, t.userId, t.authProvider, t.expiresTs, t.now, t.sweep],
    )
  }

  /** Removes the token and returns its user, if it existed and had not expired: one use, on any instance. */
  async consume(hash: Buffer, now: number): Promise<{ user_id: string; auth_provider: string | null } | null> {
    const { rows } = await this.db.query<{ user_id: string; auth_provider: string | null; expires_ts: string }>(
      'DELETE FROM login_tokens WHERE token_hash = $1 RETURNING user_id, auth_provider, expires_ts',
      [hash],
    )
    const row = rows[0]
    if (!row || Number(row.expires_ts) <= now) return null
    return { user_id: row.user_id, auth_provider: row.auth_provider }
  }

  async deleteAllFor(userId: string): Promise<void> {
    await this.db.query('DELETE FROM login_tokens WHERE user_id = $1', [userId])
  }
}
