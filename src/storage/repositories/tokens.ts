import type { Queryable } from '../db.ts'

export interface AccessTokenLookup {
  user_id: string
  device_id: string
  expires_ts: number | null
  used: boolean
  refresh_token_id: number | null
  admin: boolean
  is_guest: boolean
  deactivated: boolean
  last_seen_ts: number | null
}

/** Migration 0015's triggers NOTIFY this channel with a user ID when that user's tokens or account row change. */
export const TOKENS_CHANNEL = 'homestead_tokens'

export interface RefreshTokenRow {
  id: number
  user_id: string
  device_id: string
  next_token_id: number | null
  expires_ts: number | null
}

export class TokensRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async insertAccessToken(t: {
    hash: Buffer
    userId: string
    deviceId: string
    refreshTokenId: number | null
    expiresTs: number | null
    now: number
  }): Promise<void> {
    await this.db.query(
      `INSERT INTO access_tokens (token_hash, user_id, device_id, refresh_token_id, expires_ts, created_ts)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [t.hash, t.userId, t.deviceId, t.refreshTokenId, t.expiresTs, t.now],
    )
  }

  async insertRefreshToken(t: { hash: Buffer; userId: string; deviceId: string; expiresTs: number | null; now: number }): Promise<number> {
    const { rows } = await this.db.query<{ id: number }>(
      `INSERT INTO refresh_tokens (token_hash, user_id, device_id, expires_ts, created_ts) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
      [t.hash, t.userId, t.deviceId, t.expiresTs, t.now],
    )
    return (rows[0] as { id: number }).id
  }

  /** The hot path of every authenticated request: one primary-key lookup joined with its user and device. */
  async lookupAccessToken(hash: Buffer): Promise<AccessTokenLookup | null> {
    const { rows } = await this.db.query<AccessTokenLookup>(
      `SELECT t.user_id, t.device_id, t.expires_ts, t.used, t.refresh_token_id, u.admin, u.is_guest, u.deactivated, d.last_seen_ts
         FROM access_tokens t
         JOIN users u ON u.user_id = t.user_id
         JOIN devices d ON d.user_id = t.user_id AND d.device_id = t.device_id
        WHERE t.token_hash = $1`,
      [hash],
    )
    return rows[0] ?? null
  }

  /** Marks a refreshed access token as used and revokes the refresh token it was exchanged for. */
  async markUsedAndRevokePredecessor(hash: Buffer, refreshTokenId: number): Promise<void> {
    await this.db.query('UPDATE access_tokens SET used = true WHERE token_hash = $1', [hash])
    await this.revokePredecessor(refreshTokenId)
  }

  async revokePredecessor(refreshTokenId: number): Promise<void> {
    await this.db.query('DELETE FROM refresh_tokens WHERE next_token_id = $1', [refreshTokenId])
  }

  async lockRefreshToken(hash: Buffer): Promise<RefreshTokenRow | null> {
    const { rows } = await this.db.query<RefreshTokenRow>(
      'SELECT id, user_id, device_id, next_token_id, expires_ts FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE',
      [hash],
    )
    return rows[0] ?? null
  }

  async setNextRefreshToken(id: number, nextId: number): Promise<void> {
    await this.db.query('UPDATE refresh_tokens SET next_token_id = $2 WHERE id = $1', [id, nextId])
  }

  async deleteRefreshToken(id: number): Promise<void> {
    await this.db.query('DELETE FROM refresh_tokens WHERE id = $1', [id])
  }

  async deleteAccessToken(hash: Buffer): Promise<void> {
    await this.db.query('DELETE FROM access_tokens WHERE token_hash = $1', [hash])
  }

  /** Revokes every token of the user except the one presented with the current request. */
  async deleteAllForUserExcept(userId: string, keepHash: Buffer | null): Promise<void> {
    await this.db.query('DELETE FROM access_tokens WHERE user_id = $1 AND ($2::bytea IS NULL OR token_hash <> $2)', [userId, keepHash])
    await this.db.query(
      `DELETE FROM refresh_tokens WHERE user_id = $1
         AND ($2::bytea IS NULL OR id IS DISTINCT FROM (SELECT refresh_token_id FROM access_tokens WHERE token_hash = $2))`,
      [userId, keepHash],
    )
  }
}
