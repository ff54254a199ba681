import type { Queryable } from '../db.ts'

export class AccountDataRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async get(userId: string, roomId: string, type: string): Promise<Record<string, unknown> | null> {
    const { rows } = await this.db.query<{ content: Record<string, unknown> }>(
      'SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3',
      [userId, roomId, type],
    )
    return rows[0]?.content ?? null
  }

  /** Global account data of one type for several users, in one query (users without it are absent). */
  async globalOf(userIds: string[], type: string): Promise<Map<string, Record<string, unknown>>> {
    if (userIds.length === 0) return new Map()
    const { rows } = await this.db.query<{ user_id: string; content: Record<string, unknown> }>(
      "SELECT user_id, content FROM account_data WHERE user_id = ANY($1::text[]) AND room_id = '' AND type = $2",
      [userIds, type],
    )
    return new Map(rows.map((r) => [r.user_id, r.content]))
  }

  /** One room's account data of one type for several users, in one query (users without it are absent). */
  async ofUsersInRoom(userIds: string[], roomId: string, type: string): Promise<Map<string, Record<string, unknown>>> {
    if (userIds.length === 0) return new Map()
    const { rows } = await this.db.query<{ user_id: string; content: Record<string, unknown> }>(
      'SELECT user_id, content FROM account_data WHERE user_id = ANY($1::text[]) AND room_id = $2 AND type = $3',
      [userIds, roomId, type],
    )
    return new Map(rows.map((r) => [r.user_id, r.content]))
  }

  /** Several users' account data written in one statement ('' room_id: global). */
  async putMany(rows: Array<{ userId: string; roomId: string; type: string; content: Record<string, unknown>; position: number }>, now: number): Promise<void> {
    if (rows.length === 0) return
    await this.db.query(
      `INSERT INTO account_data (user_id, room_id, type, content, updated_ts, stream_position)
       SELECT u, r, t, c, $5, p FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $6::bigint[]) AS x(u, r, t, c, p)
       ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = EXCLUDED.content, updated_ts = EXCLUDED.updated_ts,
         stream_position = EXCLUDED.stream_position`,
      [rows.map((r) => r.userId), rows.map((r) => r.roomId), rows.map((r) => r.type), rows.map((r) => JSON.stringify(r.content)), now, rows.map((r) => r.position)],
    )
  }

  async put(userId: string, roomId: string, type: string, content: Record<string, unknown>, now: number, position: number): Promise<void> {
    await this.db.query(
      `INSERT INTO account_data (user_id, room_id, type, content, updated_ts, stream_position) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = EXCLUDED.content, updated_ts = EXCLUDED.updated_ts,
         stream_position = EXCLUDED.stream_position`,
      [userId, roomId, type, content, now, position],
    )
  }

  /** A user's account data for one room (its m.tag included), oldest change first. */
  async ofRoom(userId: string, roomId: string): Promise<Array<{ type: string; content: Record<string, unknown> }>> {
    const { rows } = await this.db.query<{ type: string; content: Record<string, unknown> }>(
      'SELECT type, content FROM account_data WHERE user_id = $1 AND room_id = $2 ORDER BY stream_position',
      [userId, roomId],
    )
    return rows
  }

  /** Account data changed in the stream range (after, upTo] ('' room_id: global). */
  async changed(userId: string, after: number, upTo: number): Promise<Array<{ room_id: string; type: string; content: Record<string, unknown> }>> {
    const { rows } = await this.db.query<{ room_id: string; type: string; content: Record<string, unknown> }>(
      `SELECT room_id, type, content FROM account_data
        WHERE user_id = $1 AND stream_position > $2 AND stream_position <= $3 ORDER BY stream_position`,
      [userId, after, upTo],
    )
    return rows
  }

  /** Removes all of a user's account data (an erased account's). */
  async deleteAllFor(userId: string): Promise<void> {
    await this.db.query('DELETE FROM account_data WHERE user_id = $1', [userId])
  }
}
