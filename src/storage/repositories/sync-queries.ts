import type { Queryable } from '../db.ts'
import { EVENT_COLUMNS, type EventRow } from './events.ts'
import { stateTypeCondition } from './state.ts'
import type { MembershipRow } from './memberships.ts'

export interface MemberCount {
  room_id: string
  joined: number
  invited: number
}

/** Batched reads /sync needs across many rooms at once (one query per kind, never one per room). */
export class SyncQueriesRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** Current state of several rooms with the events (optionally only some types, or without member events). */
  async currentState(roomIds: string[], types: string[] | null = null, withoutMembers = false): Promise<EventRow[]> {
    if (roomIds.length === 0) return []
    // Each state row's event through the events index (OFFSET 0 keeps the lookup lateral): a hash join over
    // all events, which stale statistics after a burst of writes can make the planner pick, read every event
    // of the server (40 ms instead of 10 for 50 rooms' state in the benchmark).
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM current_state c
        CROSS JOIN LATERAL (SELECT * FROM events x WHERE x.room_id = c.room_id AND x.event_id = c.event_id OFFSET 0) e
        WHERE c.room_id = ANY($1::text[]) AND ${stateTypeCondition(types, withoutMembers, 2)}`,
      types === null ? [roomIds] : [roomIds, types],
    )
    return rows
  }

  /**
   * The state of each room as of a stream position in it (a former member's room as they left it): the state
   * group of the room's latest event at or before the position, resolved along its delta chain, with the
   * events. One query for all the rooms.
   */
  async stateAt(positions: Array<{ roomId: string; at: number }>): Promise<EventRow[]> {
    if (positions.length === 0) return []
    const { rows } = await this.db.query<EventRow>(
      `WITH RECURSIVE start AS (
         SELECT r.room_id, g.state_group AS id FROM unnest($1::text[], $2::bigint[]) AS r(room_id, at)
          CROSS JOIN LATERAL (
            SELECT e.state_group FROM events e
             WHERE e.room_id = r.room_id AND e.stream_ordering <= r.at AND e.state_group IS NOT NULL
             ORDER BY e.stream_ordering DESC LIMIT 1
          ) g
       ), chain(room_id, id, prev_group, n) AS (
         SELECT g.room_id, g.id, g.prev_group, 0 FROM start s JOIN state_groups g ON g.room_id = s.room_id AND g.id = s.id
         UNION ALL
         SELECT g.room_id, g.id, g.prev_group, chain.n + 1 FROM state_groups g JOIN chain ON g.room_id = chain.room_id AND g.id = chain.prev_group
       ), entries AS (
         SELECT DISTINCT ON (x.room_id, x.type, x.state_key) x.room_id, x.event_id
           FROM state_group_entries x JOIN chain ON x.room_id = chain.room_id AND x.group_id = chain.id
          ORDER BY x.room_id, x.type, x.state_key, chain.n
       )
       SELECT ${EVENT_COLUMNS} FROM entries s
        CROSS JOIN LATERAL (SELECT * FROM events x WHERE x.room_id = s.room_id AND x.event_id = s.event_id OFFSET 0) e`,
      [positions.map((p) => p.roomId), positions.map((p) => p.at)],
    )
    return rows
  }

  /** Current member events of given users in given rooms (lazy-loaded members). */
  async memberEvents(pairs: Array<[roomId: string, userId: string]>): Promise<EventRow[]> {
    if (pairs.length === 0) return []
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM unnest($1::text[], $2::text[]) AS k(room_id, user_id)
         JOIN current_state c ON c.room_id = k.room_id AND c.type = 'm.room.member' AND c.state_key = k.user_id
         JOIN events e ON e.room_id = c.room_id AND e.event_id = c.event_id`,
      [pairs.map((p) => p[0]), pairs.map((p) => p[1])],
    )
    return rows
  }

  /** Which of these state events (by room, type and state key) are their room's current state, by their primary key. */
  async currentOf(rows: Array<{ room_id: string; type: string; state_key: string | null; event_id: string }>): Promise<Set<string>> {
    const state = rows.filter((r) => r.state_key !== null)
    if (state.length === 0) return new Set()
    const { rows: found } = await this.db.query<{ event_id: string }>(
      `SELECT c.event_id FROM unnest($1::text[], $2::text[], $3::text[]) AS k(room_id, type, state_key)
         JOIN current_state c ON c.room_id = k.room_id AND c.type = k.type AND c.state_key = k.state_key`,
      [state.map((r) => r.room_id), state.map((r) => r.type), state.map((r) => r.state_key)],
    )
    const ids = new Set(found.map((r) => r.event_id))
    return new Set(state.map((r) => r.event_id).filter((id) => ids.has(id)))
  }

  async memberCounts(roomIds: string[]): Promise<MemberCount[]> {
    if (roomIds.length === 0) return []
    const { rows } = await this.db.query<MemberCount>(
      `SELECT room_id, count(*) FILTER (WHERE membership = 'join')::int AS joined,
              count(*) FILTER (WHERE membership = 'invite')::int AS invited
         FROM room_memberships WHERE room_id = ANY($1::text[]) GROUP BY room_id`,
      [roomIds],
    )
    return rows
  }

  /** Up to `n` members per room other than `userId`, joined or invited first, in stream order (m.heroes). */
  async heroes(roomIds: string[], userId: string, n: number): Promise<Array<{ room_id: string; user_id: string }>> {
    if (roomIds.length === 0) return []
    // Per room, the first n of each kind through its partial index (migration 0018), then the first n of both.
    const { rows } = await this.db.query<{ room_id: string; user_id: string }>(
      `SELECT r.room_id, h.user_id FROM unnest($1::text[]) AS r(room_id)
       CROSS JOIN LATERAL (
         SELECT u.user_id FROM (
           (SELECT m.user_id, 0 AS kind, m.stream_ordering FROM room_memberships m
             WHERE m.room_id = r.room_id AND m.membership IN ('join', 'invite') AND m.user_id <> $2
             ORDER BY m.stream_ordering LIMIT $3)
           UNION ALL
           (SELECT m.user_id, 1, m.stream_ordering FROM room_memberships m
             WHERE m.room_id = r.room_id AND m.membership NOT IN ('join', 'invite') AND m.user_id <> $2
             ORDER BY m.stream_ordering LIMIT $3)
         ) u ORDER BY u.kind, u.stream_ordering LIMIT $3
       ) h`,
      [roomIds, userId, n],
    )
    return rows
  }

  /** The user's membership in each room as of a stream position (the newest member event at or before it). */
  async membershipsAt(userId: string, roomIds: string[], at: number): Promise<Map<string, string>> {
    if (roomIds.length === 0) return new Map()
    const { rows } = await this.db.query<{ room_id: string; membership: string }>(
      `SELECT DISTINCT ON (room_id) room_id, (json::jsonb -> 'content' ->> 'membership') AS membership
         FROM events
        WHERE room_id = ANY($1::text[]) AND type = 'm.room.member' AND state_key = $2 AND stream_ordering <= $3
        ORDER BY room_id, stream_ordering DESC`,
      [roomIds, userId, at],
    )
    return new Map(rows.map((r) => [r.room_id, r.membership]))
  }

  /** The user's membership rows as of a stream position (from the newest member event at or before it). */
  async membershipRowsAt(userId: string, roomIds: string[], at: number): Promise<MembershipRow[]> {
    if (roomIds.length === 0) return []
    const { rows } = await this.db.query<MembershipRow>(
      `SELECT DISTINCT ON (room_id) room_id, state_key AS user_id, (json::jsonb -> 'content' ->> 'membership') AS membership,
              event_id, stream_ordering, sender, false AS forgotten
         FROM events
        WHERE room_id = ANY($1::text[]) AND type = 'm.room.member' AND state_key = $2 AND stream_ordering <= $3
        ORDER BY room_id, stream_ordering DESC`,
      [roomIds, userId, at],
    )
    return rows
  }

  /** Events of each room in its own stream range (after, upTo], oldest first, at most `limit` per room (the newest). */
  rangesInRooms(ranges: Array<{ roomId: string; after: number; upTo: number }>, limit: number): Promise<EventRow[]> {
    return this.inRanges(ranges, limit, 'DESC', '')
  }

  /**
   * The first `limit` events, in stream order, of the rooms' ranges (after, upTo] taken together (the legacy
   * event stream): each room gives its first `limit` by its (room_id, stream_ordering) index, the union is cut.
   */
  firstInRanges(ranges: Array<{ roomId: string; after: number; upTo: number }>, limit: number): Promise<EventRow[]> {
    return this.inRanges(ranges, limit, 'ASC', 'LIMIT $4')
  }

  /** Up to `limit` events of each room's range, taken from its `perRoom` end, all in stream order (then `overall`). */
  private async inRanges(ranges: Array<{ roomId: string; after: number; upTo: number }>, limit: number, perRoom: 'ASC' | 'DESC', overall: string): Promise<EventRow[]> {
    if (ranges.length === 0) return []
    const { rows } = await this.db.query<EventRow>(
      `SELECT x.* FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS r(room_id, after, up_to)
         CROSS JOIN LATERAL (
           SELECT ${EVENT_COLUMNS} FROM events e
            WHERE e.room_id = r.room_id AND e.stream_ordering > r.after AND e.stream_ordering <= r.up_to AND NOT e.purged
            ORDER BY e.stream_ordering ${perRoom} LIMIT $4
         ) x
        ORDER BY x.stream_ordering ${overall}`,
      [ranges.map((r) => r.roomId), ranges.map((r) => r.after), ranges.map((r) => r.upTo), limit],
    )
    return rows
  }

  /** Events of one room in the stream range (after, upTo], oldest first, at most `limit` (the newest ones). */
  async rangeInRoom(roomId: string, after: number, upTo: number, limit: number): Promise<EventRow[]> {
    const { rows } = await this.db.query<EventRow>(
      `SELECT * FROM (
         SELECT ${EVENT_COLUMNS} FROM events e
          WHERE e.room_id = $1 AND e.stream_ordering > $2 AND e.stream_ordering <= $3 AND NOT e.purged
          ORDER BY e.stream_ordering DESC LIMIT $4
       ) x ORDER BY stream_ordering`,
      [roomId, after, upTo, limit],
    )
    return rows
  }
}
