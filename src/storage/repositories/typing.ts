import type { Queryable } from '../db.ts'

export interface TypingRow {
  room_id: string
  user_id: string
}

/** Owns `typing` and `typing_rooms` (migration 0003). */
export class TypingRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** The user's typing expiry, row-locked for the rest of the transaction (null when not typing). */
  async lock(roomId: string, userId: string): Promise<number | null> {
    const { rows } = await this.db.query<{ expires_ts: number }>(
      'SELECT expires_ts FROM typing WHERE room_id = $1 AND user_id = $2 FOR UPDATE',
      [roomId, userId],
    )
    return rows[0]?.expires_ts ?? null
  }

  /** Starts (or restarts) typing at a new stream position. */
  async start(roomId: string, userId: string, expiresTs: number, position: number): Promise<void> {
    await this.db.query(
      `INSERT INTO typing (room_id, user_id, expires_ts, stream_position) VALUES ($1, $2, $3, $4)
       ON CONFLICT (room_id, user_id) DO UPDATE SET expires_ts = EXCLUDED.expires_ts, stream_position = EXCLUDED.stream_position`,
      [roomId, userId, expiresTs, position],
    )
  }

  /** Extends typing that is still visible; no stream change. */
  async extend(roomId: string, userId: string, expiresTs: number): Promise<void> {
    await this.db.query('UPDATE typing SET expires_ts = $3 WHERE room_id = $1 AND user_id = $2', [roomId, userId, expiresTs])
  }

  /**
   * Stops the user's typing; with `expiredBy`, only if it expired by then (the expiry timer, which must not
   * undo a refresh). Whether a row was removed, i.e. whether clients must be told.
   */
  async stop(roomId: string, userId: string, expiredBy: number | null = null): Promise<boolean> {
    const { rowCount } = await this.db.query(
      'DELETE FROM typing WHERE room_id = $1 AND user_id = $2 AND ($3::bigint IS NULL OR expires_ts <= $3)',
      [roomId, userId, expiredBy],
    )
    return (rowCount ?? 0) > 0
  }

  /**
   * Claims and removes up to `limit` expired rows. SKIP LOCKED lets several instances sweep at once without
   * waiting for each other, and each expired row is removed (and so announced) exactly once.
   */
  async claimExpired(now: number, limit: number): Promise<TypingRow[]> {
    const { rows } = await this.db.query<TypingRow>(
      `DELETE FROM typing t USING (
         SELECT room_id, user_id FROM typing WHERE expires_ts <= $1 ORDER BY expires_ts LIMIT $2 FOR UPDATE SKIP LOCKED
       ) x
       WHERE t.room_id = x.room_id AND t.user_id = x.user_id
       RETURNING t.room_id, t.user_id`,
      [now, limit],
    )
    return rows
  }

  /** Records the rooms' latest typing change positions (rooms sorted by the caller, so locks never cross). */
  async markRooms(roomIds: string[], positions: number[]): Promise<void> {
    if (roomIds.length === 0) return
    await this.db.query(
      `INSERT INTO typing_rooms (room_id, stream_position) SELECT * FROM unnest($1::text[], $2::bigint[])
       ON CONFLICT (room_id) DO UPDATE SET stream_position = GREATEST(typing_rooms.stream_position, EXCLUDED.stream_position)`,
      [roomIds, positions],
    )
  }

  /** Of these rooms, those whose typing changed in the stream range (after, upTo]. */
  async roomsChanged(roomIds: string[], after: number, upTo: number): Promise<string[]> {
    if (roomIds.length === 0) return []
    const { rows } = await this.db.query<{ room_id: string }>(
      'SELECT room_id FROM typing_rooms WHERE room_id = ANY($1::text[]) AND stream_position > $2 AND stream_position <= $3',
      [roomIds, after, upTo],
    )
    return rows.map((r) => r.room_id)
  }

  /** Who is typing in these rooms now (expired rows not yet swept are left out). */
  async typingIn(roomIds: string[], now: number): Promise<TypingRow[]> {
    if (roomIds.length === 0) return []
    const { rows } = await this.db.query<TypingRow>(
      'SELECT room_id, user_id FROM typing WHERE room_id = ANY($1::text[]) AND expires_ts > $2 ORDER BY room_id, user_id',
      [roomIds, now],
    )
    return rows
  }
}
