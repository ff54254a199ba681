import type { Queryable } from '../db.ts'

export interface UserThreepidRow {
  medium: string
  address: string
  user_id: string
  validated_ts: number
  added_ts: number
}

export interface ValidationSessionRow {
  session_id: string
  client_secret: string
  medium: string
  address: string
  purpose: string
  last_send_attempt: number
  next_link: string | null
  token_hash: Buffer
  token_expires_ts: number
  validated_ts: number | null
  created_ts: number
}

/** Accounts' third-party identifiers (e-mail addresses) and their validation sessions. */
export class ThreepidsRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async listFor(userId: string): Promise<UserThreepidRow[]> {
    const { rows } = await this.db.query<UserThreepidRow>('SELECT * FROM user_threepids WHERE user_id = $1 ORDER BY added_ts, address', [userId])
    return rows
  }

  async ownerOf(medium: string, address: string): Promise<string | null> {
    const { rows } = await this.db.query<{ user_id: string }>('SELECT user_id FROM user_threepids WHERE medium = $1 AND address = $2', [medium, address])
    return rows[0]?.user_id ?? null
  }

  /** Binds an address to a user; false when it already belongs to someone (this user included). */
  async add(row: UserThreepidRow): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `INSERT INTO user_threepids (medium, address, user_id, validated_ts, added_ts) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (medium, address) DO NOTHING`,
      [row.medium, row.address, row.user_id, row.validated_ts, row.added_ts],
    )
    return (rowCount ?? 0) > 0
  }

  async remove(userId: string, medium: string, address: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM user_threepids WHERE user_id = $1 AND medium = $2 AND address = $3', [userId, medium, address])
    return (rowCount ?? 0) > 0
  }

  async removeAllFor(userId: string): Promise<void> {
    await this.db.query('DELETE FROM user_threepids WHERE user_id = $1', [userId])
  }

  /** The session a requestToken with these parameters opened before, locked until the transaction ends. */
  async lockSession(clientSecret: string, medium: string, address: string, purpose: string): Promise<ValidationSessionRow | null> {
    const { rows } = await this.db.query<ValidationSessionRow>(
      'SELECT * FROM threepid_validation_sessions WHERE client_secret = $1 AND medium = $2 AND address = $3 AND purpose = $4 FOR UPDATE',
      [clientSecret, medium, address, purpose],
    )
    return rows[0] ?? null
  }

  async getSession(sessionId: string): Promise<ValidationSessionRow | null> {
    const { rows } = await this.db.query<ValidationSessionRow>('SELECT * FROM threepid_validation_sessions WHERE session_id = $1', [sessionId])
    return rows[0] ?? null
  }

  /**
   * Opens a session, after removing up to `sweep` sessions created before `expiredBefore`; false when a
   * concurrent request opened the same one first.
   */
  async createSession(row: ValidationSessionRow, expiredBefore: number, sweep: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `WITH expired AS (
         DELETE FROM threepid_validation_sessions WHERE session_id IN (
           SELECT session_id FROM threepid_validation_sessions WHERE created_ts < $12 ORDER BY created_ts LIMIT $13))
       INSERT INTO threepid_validation_sessions
         (session_id, client_secret, medium, address, purpose, last_send_attempt, next_link, token_hash, token_expires_ts, validated_ts, created_ts)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (client_secret, medium, address, purpose) DO NOTHING`,
      [row.session_id, row.client_secret, row.medium, row.address, row.purpose, row.last_send_attempt, row.next_link, row.token_hash,
        row.token_expires_ts, row.validated_ts, row.created_ts, expiredBefore, sweep],
    )
    return (rowCount ?? 0) > 0
  }

  /** A new token for a session (a requestToken with a higher send_attempt). */
  async renewToken(sessionId: string, sendAttempt: number, nextLink: string | null, tokenHash: Buffer, expiresTs: number): Promise<void> {
    await this.db.query(
      'UPDATE threepid_validation_sessions SET last_send_attempt = $2, next_link = $3, token_hash = $4, token_expires_ts = $5 WHERE session_id = $1',
      [sessionId, sendAttempt, nextLink, tokenHash, expiresTs],
    )
  }

  async markValidated(sessionId: string, now: number): Promise<void> {
    await this.db.query('UPDATE threepid_validation_sessions SET validated_ts = COALESCE(validated_ts, $2) WHERE session_id = $1', [sessionId, now])
  }

  /** Ends a session once its address was used (added, registered, password reset). */
  async deleteSession(sessionId: string): Promise<void> {
    await this.db.query('DELETE FROM threepid_validation_sessions WHERE session_id = $1', [sessionId])
  }
}
