import type { Queryable } from '../db.ts'

export interface UiaSessionRow {
  session_id: string
  purpose: string
  user_id: string | null
  completed: string[]
  data: Record<string, unknown>
  created_ts: number
}

export class UiaSessionsRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async create(row: Omit<UiaSessionRow, 'completed'>): Promise<void> {
    await this.db.query('INSERT INTO uia_sessions (session_id, purpose, user_id, created_ts, data) VALUES ($1, $2, $3, $4, $5)', [
      row.session_id,
      row.purpose,
      row.user_id,
      row.created_ts,
      row.data,
    ])
  }

  /** Reads a session created at or after notBefore. */
  async getLive(sessionId: string, notBefore: number): Promise<UiaSessionRow | null> {
    const { rows } = await this.db.query<UiaSessionRow>(
      'SELECT * FROM uia_sessions WHERE session_id = $1 AND created_ts >= $2',
      [sessionId, notBefore],
    )
    return rows[0] ?? null
  }

  /**
   * A user's newest sessions (at most `limit`) for one purpose created at or after notBefore, newest first.
   * Bounded: a user who opens many sessions must not make each of their reads that looks here longer.
   */
  async liveFor(purpose: string, userId: string, notBefore: number, limit = 20): Promise<UiaSessionRow[]> {
    const { rows } = await this.db.query<UiaSessionRow>(
      'SELECT * FROM uia_sessions WHERE user_id = $2 AND purpose = $1 AND created_ts >= $3 ORDER BY created_ts DESC LIMIT $4',
      [purpose, userId, notBefore, limit],
    )
    return rows
  }

  /** Reads a session and locks its row until the caller's transaction ends. */
  async lock(sessionId: string): Promise<UiaSessionRow | null> {
    const { rows } = await this.db.query<UiaSessionRow>('SELECT * FROM uia_sessions WHERE session_id = $1 FOR UPDATE', [sessionId])
    return rows[0] ?? null
  }

  async complete(sessionId: string, stage: string, data: Record<string, unknown>): Promise<void> {
    await this.db.query(
      `UPDATE uia_sessions SET completed = array_append(array_remove(completed, $2::text), $2::text), data = data || $3::jsonb
        WHERE session_id = $1`,
      [sessionId, stage, data],
    )
  }

  async mergeData(sessionId: string, data: Record<string, unknown>): Promise<void> {
    await this.db.query('UPDATE uia_sessions SET data = data || $2::jsonb WHERE session_id = $1', [sessionId, data])
  }

  async delete(sessionId: string): Promise<void> {
    await this.db.query('DELETE FROM uia_sessions WHERE session_id = $1', [sessionId])
  }

  /** Removes expired sessions; returns their rows so stages can release what they held (e.g. token uses). */
  async deleteExpired(before: number): Promise<UiaSessionRow[]> {
    const { rows } = await this.db.query<UiaSessionRow>('DELETE FROM uia_sessions WHERE created_ts < $1 RETURNING *', [before])
    return rows
  }
}
