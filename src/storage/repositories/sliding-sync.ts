// Simplified sliding sync connections, positions and what each has sent of each room (migration 0052).
import type { Queryable } from '../db.ts'

/** The event types whose arrival bumps a room (MSC4186 bump_stamp); the partial index events_room_bump lists the same. */
export const BUMP_TYPES = ['m.room.create', 'm.room.message', 'm.room.encrypted', 'm.sticker', 'm.call.invite', 'm.poll.start', 'm.beacon_info']
const BUMP_TYPES_SQL = `(${BUMP_TYPES.map((t) => `'${t}'`).join(', ')})`

/** A position of a connection, as a request's pos names it. */
export interface SlidingPosition {
  connectionId: number
  positionId: number
  streamPosition: number
  sticky: Record<string, unknown>
}

/** What a connection has sent of a room (as of some position). */
export interface SlidingRoomStatus {
  streamPosition: number
  membership: string
  config: Record<string, unknown>
  lazyMembers: Record<string, string>
}

/** A room's activity: its latest bump event and latest event at or below a stream position (null: none). */
export interface RoomActivity {
  bump: number | null
  latest: number | null
}

export class SlidingSyncRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** The position `positionId` of the device's connection `connId`, if it still exists and was used since `usedAfter`. */
  async position(userId: string, deviceId: string, connId: string, positionId: number, usedAfter: number): Promise<SlidingPosition | null> {
    const { rows } = await this.db.query<{ connection_id: string; id: string; stream_position: string; sticky: Record<string, unknown> }>(
      `SELECT p.connection_id, p.id, p.stream_position, p.sticky FROM sliding_sync_positions p
         JOIN sliding_sync_connections c ON c.id = p.connection_id
        WHERE p.id = $4 AND c.user_id = $1 AND c.device_id = $2 AND c.conn_id = $3 AND c.last_used_ts > $5`,
      [userId, deviceId, connId, positionId, usedAfter],
    )
    const row = rows[0]
    return row ? { connectionId: Number(row.connection_id), positionId: Number(row.id), streamPosition: Number(row.stream_position), sticky: row.sticky } : null
  }

  /** What the connection had sent of each room as of the position (the latest row at or below it per room). */
  async roomStatuses(connectionId: number, positionId: number): Promise<Map<string, SlidingRoomStatus>> {
    const { rows } = await this.db.query<{ room_id: string; stream_position: string; membership: string; config: Record<string, unknown>; lazy_members: Record<string, string> }>(
      `SELECT DISTINCT ON (room_id) room_id, stream_position, membership, config, lazy_members FROM sliding_sync_rooms
        WHERE connection_id = $1 AND position_id <= $2 ORDER BY room_id, position_id DESC`,
      [connectionId, positionId],
    )
    return new Map(rows.map((r) => [r.room_id, { streamPosition: Number(r.stream_position), membership: r.membership, config: r.config, lazyMembers: r.lazy_members }]))
  }

  /**
   * Starts a connection afresh (a request without pos): whatever the device had under this conn_id goes. The
   * device's connections beyond `maxPerDevice` (the least recently used) go too, and up to 100 connections
   * anywhere unused since `expiredBefore`. Returns the new connection's ID.
   */
  async startConnection(userId: string, deviceId: string, connId: string, now: number, maxPerDevice: number, expiredBefore: number): Promise<number> {
    await this.db.query('DELETE FROM sliding_sync_connections WHERE user_id = $1 AND device_id = $2 AND conn_id = $3', [userId, deviceId, connId])
    await this.db.query(
      `DELETE FROM sliding_sync_connections WHERE id IN (
         SELECT id FROM sliding_sync_connections WHERE user_id = $1 AND device_id = $2 ORDER BY last_used_ts DESC OFFSET $3)
          OR id IN (SELECT id FROM sliding_sync_connections WHERE last_used_ts < $4 LIMIT 100)`,
      [userId, deviceId, Math.max(0, maxPerDevice - 1), expiredBefore],
    )
    const { rows } = await this.db.query<{ id: string }>(
      'INSERT INTO sliding_sync_connections (user_id, device_id, conn_id, created_ts, last_used_ts) VALUES ($1, $2, $3, $4, $4) RETURNING id',
      [userId, deviceId, connId, now],
    )
    return Number((rows[0] as { id: string }).id)
  }

  /**
   * A request used `positionId` (in the caller's transaction, after locking the connection): positions other
   * than it go (older ones are acknowledged, newer ones were never received), and so do the room rows of newer
   * positions and those of older ones a later row at or below it supersedes. False when the connection or the
   * position is gone (another request reset it).
   */
  async usePosition(connectionId: number, positionId: number, now: number): Promise<boolean> {
    const { rowCount } = await this.db.query('UPDATE sliding_sync_connections SET last_used_ts = $2 WHERE id = $1 AND EXISTS (SELECT 1 FROM sliding_sync_positions WHERE id = $3 AND connection_id = $1)', [connectionId, now, positionId])
    if (rowCount !== 1) return false
    await this.db.query('DELETE FROM sliding_sync_positions WHERE connection_id = $1 AND id <> $2', [connectionId, positionId])
    await this.db.query(
      `DELETE FROM sliding_sync_rooms r WHERE r.connection_id = $1
          AND (r.position_id > $2 OR (r.position_id < $2 AND EXISTS (
                SELECT 1 FROM sliding_sync_rooms n WHERE n.connection_id = r.connection_id AND n.room_id = r.room_id AND n.position_id > r.position_id AND n.position_id <= $2)))`,
      [connectionId, positionId],
    )
    return true
  }

  /** Locks the connection row until the transaction ends (requests of one connection write one at a time). */
  async lockConnection(connectionId: number): Promise<boolean> {
    const { rowCount } = await this.db.query('SELECT 1 FROM sliding_sync_connections WHERE id = $1 FOR UPDATE', [connectionId])
    return rowCount === 1
  }

  /** A new position of the connection with the rooms its response sent; returns its ID. */
  async addPosition(connectionId: number, streamPosition: number, sticky: Record<string, unknown>, rooms: Map<string, SlidingRoomStatus>, now: number): Promise<number> {
    const { rows } = await this.db.query<{ id: string }>(
      'INSERT INTO sliding_sync_positions (connection_id, stream_position, sticky, created_ts) VALUES ($1, $2, $3::jsonb, $4) RETURNING id',
      [connectionId, streamPosition, JSON.stringify(sticky), now],
    )
    const positionId = Number((rows[0] as { id: string }).id)
    if (rooms.size > 0) {
      const list = [...rooms]
      await this.db.query(
        `INSERT INTO sliding_sync_rooms (connection_id, room_id, position_id, stream_position, membership, config, lazy_members)
         SELECT $1, r.room_id, $2, r.stream_position, r.membership, r.config, r.lazy_members
           FROM unnest($3::text[], $4::bigint[], $5::text[], $6::jsonb[], $7::jsonb[]) AS r(room_id, stream_position, membership, config, lazy_members)`,
        [
          connectionId,
          positionId,
          list.map(([roomId]) => roomId),
          list.map(([, s]) => s.streamPosition),
          list.map(([, s]) => s.membership),
          list.map(([, s]) => JSON.stringify(s.config)),
          list.map(([, s]) => JSON.stringify(s.lazyMembers)),
        ],
      )
    }
    return positionId
  }

  /**
   * Each room's activity up to `upTo`: its latest bump event (MSC4186's kinds of activity) and its latest event
   * of any kind, one index probe each per room.
   */
  async activity(roomIds: string[], upTo: number): Promise<Map<string, RoomActivity>> {
    if (roomIds.length === 0) return new Map()
    const { rows } = await this.db.query<{ room_id: string; bump: string | null; latest: string | null }>(
      `SELECT r.room_id,
              (SELECT e.stream_ordering FROM events e WHERE e.room_id = r.room_id AND e.type IN ${BUMP_TYPES_SQL} AND e.stream_ordering <= $2
                ORDER BY e.stream_ordering DESC LIMIT 1) AS bump,
              (SELECT e.stream_ordering FROM events e WHERE e.room_id = r.room_id AND e.stream_ordering <= $2
                ORDER BY e.stream_ordering DESC LIMIT 1) AS latest
         FROM unnest($1::text[]) AS r(room_id)`,
      [roomIds, upTo],
    )
    return new Map(rows.map((r) => [r.room_id, { bump: r.bump === null ? null : Number(r.bump), latest: r.latest === null ? null : Number(r.latest) }]))
  }

  /** The rooms among these with any of the user's m.tag tags (room account data), by room. */
  async tags(userId: string, roomIds: string[]): Promise<Map<string, string[]>> {
    if (roomIds.length === 0) return new Map()
    const { rows } = await this.db.query<{ room_id: string; content: Record<string, unknown> }>(
      `SELECT room_id, content FROM account_data WHERE user_id = $1 AND type = 'm.tag' AND room_id = ANY($2::text[])`,
      [userId, roomIds],
    )
    const out = new Map<string, string[]>()
    for (const r of rows) {
      const tags = r.content.tags
      if (typeof tags === 'object' && tags !== null && !Array.isArray(tags)) out.set(r.room_id, Object.keys(tags))
    }
    return out
  }
}
