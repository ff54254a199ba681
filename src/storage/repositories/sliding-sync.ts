// Simplified sliding sync connections, positions and what each has sent of each room (migration 0052).
import type { Queryable } from '../db.ts'
import type { MembershipRow } from './memberships.ts'
import { RESERVED_POSITION } from './stream.ts'

/** The event types whose arrival bumps a room (MSC4186 bump_stamp); migration 0053 lists the same. */
export const BUMP_TYPES: ReadonlySet<string> = new Set(['m.room.create', 'm.room.message', 'm.room.encrypted', 'm.sticker', 'm.call.invite', 'm.poll.start', 'm.beacon_info'])

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

/** A membership of the user with its room's bump stamp (null: no bump event yet). */
export interface BumpedMembership extends MembershipRow {
  bump: number | null
}

/** What room results and list filters read of a room's summary. */
export interface SlidingSummary {
  room_id: string
  room_type: string | null
  name: string | null
  avatar_url: string | null
  encryption: string | null
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
   * Starts a connection afresh (a request without pos) with its first position and the rooms its response
   * sent, in one statement: whatever the device had under this conn_id goes (its positions and rooms), and so
   * do the device's connections beyond `maxPerDevice` (the least recently used) and up to 100 connections
   * anywhere unused since `expiredBefore`. Returns the connection's and the position's IDs.
   */
  async startConnection(
    userId: string,
    deviceId: string,
    connId: string,
    now: number,
    limits: { maxPerDevice: number; expiredBefore: number },
    streamPosition: number,
    sticky: Record<string, unknown>,
    rooms: Map<string, SlidingRoomStatus>,
  ): Promise<{ connectionId: number; positionId: number }> {
    const { rows } = await this.db.query<{ connection_id: string; id: string }>(
      `WITH conn AS (
         INSERT INTO sliding_sync_connections (user_id, device_id, conn_id, created_ts, last_used_ts) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (user_id, device_id, conn_id) DO UPDATE SET created_ts = EXCLUDED.created_ts, last_used_ts = EXCLUDED.last_used_ts
         RETURNING id
       ), old_positions AS (
         DELETE FROM sliding_sync_positions WHERE connection_id = (SELECT id FROM conn)
       ), old_rooms AS (
         DELETE FROM sliding_sync_rooms WHERE connection_id = (SELECT id FROM conn)
       ), others AS (
         DELETE FROM sliding_sync_connections WHERE id <> (SELECT id FROM conn) AND (
           id IN (SELECT id FROM sliding_sync_connections WHERE user_id = $1 AND device_id = $2 AND conn_id <> $3 ORDER BY last_used_ts DESC OFFSET $5)
           OR id IN (SELECT id FROM sliding_sync_connections WHERE last_used_ts < $6 LIMIT 100))
       ), ${newPosition('conn', 7, 8, 4, 9)}
       SELECT connection_id, id FROM position`,
      [userId, deviceId, connId, now, Math.max(0, limits.maxPerDevice - 1), limits.expiredBefore, streamPosition, JSON.stringify(sticky), ...roomColumns(rooms)],
    )
    const row = rows[0] as { connection_id: string; id: string }
    return { connectionId: Number(row.connection_id), positionId: Number(row.id) }
  }

  /**
   * Records the response to a request that used `positionId` as a new position, in one statement (one round
   * trip, atomic): the connection row is locked and marked used, positions other than the one used go (older
   * ones are acknowledged, newer ones were never received) with the room rows of newer positions and those of
   * older ones a later row at or below it supersedes, and the new position and its rooms are written. Null when
   * the connection or the position is gone (another request reset it, or it expired).
   */
  async advance(connectionId: number, positionId: number, streamPosition: number, sticky: Record<string, unknown>, rooms: Map<string, SlidingRoomStatus>, now: number): Promise<number | null> {
    const { rows } = await this.db.query<{ id: string }>(
      `WITH used AS (
         UPDATE sliding_sync_connections SET last_used_ts = $3
          WHERE id = $1 AND EXISTS (SELECT 1 FROM sliding_sync_positions WHERE id = $2 AND connection_id = $1)
         RETURNING id
       ), old_positions AS (
         DELETE FROM sliding_sync_positions WHERE connection_id = (SELECT id FROM used) AND id <> $2
       ), old_rooms AS (
         DELETE FROM sliding_sync_rooms r WHERE r.connection_id = (SELECT id FROM used)
            AND (r.position_id > $2 OR (r.position_id < $2 AND EXISTS (
                  SELECT 1 FROM sliding_sync_rooms n WHERE n.connection_id = r.connection_id AND n.room_id = r.room_id AND n.position_id > r.position_id AND n.position_id <= $2)))
       ), ${newPosition('used', 4, 5, 3, 6)}
       SELECT id FROM position`,
      [
        connectionId,
        positionId,
        now,
        streamPosition,
        JSON.stringify(sticky),
        ...roomColumns(rooms),
      ],
    )
    return rows[0] === undefined ? null : Number(rows[0].id)
  }

  /** A bump event was appended to the room (in its transaction; null: the transaction's reserved position). */
  bump(roomId: string, streamOrdering: number | null): Promise<unknown> {
    return this.db.query(
      `INSERT INTO room_bumps (room_id, stream_ordering) VALUES ($1, COALESCE($2::bigint, ${RESERVED_POSITION}))
       ON CONFLICT (room_id) DO UPDATE SET stream_ordering = GREATEST(room_bumps.stream_ordering, EXCLUDED.stream_ordering)`,
      [roomId, streamOrdering],
    )
  }

  /** The user's memberships of these kinds (forgotten rooms left out), each with its room's bump stamp. */
  async membershipsWithBumps(userId: string, memberships: string[]): Promise<BumpedMembership[]> {
    const { rows } = await this.db.query<MembershipRow & { stream_ordering: string; bump: string | null }>(
      `SELECT m.room_id, m.user_id, m.membership, m.event_id, m.stream_ordering, m.sender, m.forgotten, b.stream_ordering AS bump
         FROM room_memberships m LEFT JOIN room_bumps b ON b.room_id = m.room_id
        WHERE m.user_id = $1 AND m.membership = ANY($2::text[]) AND NOT m.forgotten`,
      [userId, memberships],
    )
    return rows.map((r) => ({ ...r, stream_ordering: Number(r.stream_ordering), bump: r.bump === null ? null : Number(r.bump) }))
  }

  /** The bump stamps of these rooms (rooms without one left out). */
  async bumps(roomIds: string[]): Promise<Map<string, number>> {
    if (roomIds.length === 0) return new Map()
    const { rows } = await this.db.query<{ room_id: string; stream_ordering: string }>('SELECT room_id, stream_ordering FROM room_bumps WHERE room_id = ANY($1::text[])', [roomIds])
    return new Map(rows.map((r) => [r.room_id, Number(r.stream_ordering)]))
  }

  /** Each room's latest event at or below `upTo` (rooms without one left out), one index probe per room. */
  async latest(roomIds: string[], upTo: number): Promise<Map<string, number>> {
    if (roomIds.length === 0) return new Map()
    const { rows } = await this.db.query<{ room_id: string; latest: string | null }>(
      `SELECT r.room_id, (SELECT e.stream_ordering FROM events e WHERE e.room_id = r.room_id AND e.stream_ordering <= $2 ORDER BY e.stream_ordering DESC LIMIT 1) AS latest
         FROM unnest($1::text[]) AS r(room_id)`,
      [roomIds, upTo],
    )
    return new Map(rows.filter((r) => r.latest !== null).map((r) => [r.room_id, Number(r.latest)]))
  }

  /** The summaries' fields room results and list filters read. */
  async summaries(roomIds: string[]): Promise<Map<string, SlidingSummary>> {
    if (roomIds.length === 0) return new Map()
    const { rows } = await this.db.query<SlidingSummary>('SELECT room_id, room_type, name, avatar_url, encryption FROM room_summaries WHERE room_id = ANY($1::text[])', [roomIds])
    return new Map(rows.map((r) => [r.room_id, r]))
  }

  /** Those of these rooms where the user's own read receipt (public or private) changed in (after, upTo]. */
  async ownReceiptRooms(userId: string, roomIds: string[], after: number, upTo: number): Promise<string[]> {
    const { rows } = await this.db.query<{ room_id: string }>(
      `SELECT DISTINCT room_id FROM receipts WHERE room_id = ANY($2::text[]) AND user_id = $1 AND receipt_type IN ('m.read', 'm.read.private')
          AND stream_position > $3 AND stream_position <= $4`,
      [userId, roomIds, after, upTo],
    )
    return rows.map((r) => r.room_id)
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

/** A position's room rows as the columns of an unnest (room_id, stream_position, membership, config, lazy_members). */
function roomColumns(rooms: Map<string, SlidingRoomStatus>): [string[], number[], string[], string[], string[]] {
  const list = [...rooms]
  return [list.map(([roomId]) => roomId), list.map(([, s]) => s.streamPosition), list.map(([, s]) => s.membership), list.map(([, s]) => JSON.stringify(s.config)), list.map(([, s]) => JSON.stringify(s.lazyMembers))]
}

/**
 * The CTEs `position` and `new_rooms` that write a position of the connection row in CTE `from` and its rooms:
 * the statement's parameters numbered `stream`, `sticky`, `now`, and five from `rooms` on (roomColumns).
 */
function newPosition(from: string, stream: number, sticky: number, now: number, rooms: number): string {
  const r = (i: number) => `$${rooms + i}`
  return `position AS (
         INSERT INTO sliding_sync_positions (connection_id, stream_position, sticky, created_ts)
         SELECT id, $${stream}, $${sticky}::jsonb, $${now} FROM ${from} RETURNING id, connection_id
       ), new_rooms AS (
         INSERT INTO sliding_sync_rooms (connection_id, room_id, position_id, stream_position, membership, config, lazy_members)
         SELECT p.connection_id, r.room_id, p.id, r.stream_position, r.membership, r.config, r.lazy_members
           FROM position p, unnest(${r(0)}::text[], ${r(1)}::bigint[], ${r(2)}::text[], ${r(3)}::jsonb[], ${r(4)}::jsonb[]) AS r(room_id, stream_position, membership, config, lazy_members)
       )`
}
