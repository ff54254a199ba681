// History behind a room's oldest stored events (migration 0035): the room's backward extremities, and
// backfilled events written into the timeline at negative stream positions.
import type { Queryable } from '../db.ts'
import { eventValues, type EventInsert } from './events.ts'

export interface BackwardExtremity {
  event_id: string
  /** The lowest depth, here, of the timeline events naming it as a prev_event (null: none is left). */
  child_depth: number | null
}

/** A backfilled event's row: a timeline event at a negative stream position, with its DAG edges. */
export interface BackfilledInsert extends EventInsert {
  edges: { prevEvents: string[]; authEvents: string[] }
  searchText: string | null
}

/** How long a backward extremity no server could fill waits, at most, before it is asked for again. */
const MAX_BACKOFF_MS = 60 * 60 * 1000

export class BackfillRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /**
   * A timeline event's prev_events become backward extremities unless they are in the timeline; the event
   * itself stops being one. One statement.
   */
  async joinedTimeline(roomId: string, eventId: string, prevEvents: string[]): Promise<void> {
    await this.db.query(
      `WITH gone AS (
         DELETE FROM room_backward_extremities WHERE room_id = $1 AND event_id = $2
       )
       INSERT INTO room_backward_extremities (room_id, event_id)
       SELECT $1, p FROM unnest($3::text[]) AS p
        WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.room_id = $1 AND e.event_id = p AND e.stream_ordering IS NOT NULL)
       ON CONFLICT DO NOTHING`,
      [roomId, eventId, prevEvents],
    )
  }

  /**
   * The room's backward extremities due for an attempt at `now`, with the depth of the timeline after
   * them, deepest first, at most `limit`.
   */
  async due(roomId: string, now: number, limit: number): Promise<BackwardExtremity[]> {
    const { rows } = await this.db.query<{ event_id: string; child_depth: string | number | null }>(
      `SELECT b.event_id,
              (SELECT min(c.depth) FROM event_edges ee JOIN events c ON c.room_id = ee.room_id AND c.event_id = ee.event_id
                WHERE ee.room_id = b.room_id AND ee.prev_event_id = b.event_id AND c.stream_ordering IS NOT NULL) AS child_depth
         FROM room_backward_extremities b
        WHERE b.room_id = $1 AND b.next_try_ts <= $2
        ORDER BY child_depth DESC NULLS LAST
        LIMIT $3`,
      [roomId, now, limit],
    )
    return rows.map((r) => ({ event_id: r.event_id, child_depth: r.child_depth === null ? null : Number(r.child_depth) }))
  }

  /** Whether the room has a backward extremity due at `now` whose timeline continues at `depth` or deeper. */
  async dueAtOrAbove(roomId: string, now: number, depth: number): Promise<boolean> {
    const { rows } = await this.db.query(
      `SELECT 1 FROM room_backward_extremities b
        WHERE b.room_id = $1 AND b.next_try_ts <= $2
          AND EXISTS (SELECT 1 FROM event_edges ee JOIN events c ON c.room_id = ee.room_id AND c.event_id = ee.event_id
                       WHERE ee.room_id = b.room_id AND ee.prev_event_id = b.event_id AND c.stream_ordering IS NOT NULL AND c.depth >= $3)
        LIMIT 1`,
      [roomId, now, depth],
    )
    return rows.length > 0
  }

  /** Backward extremities no server filled: asked for again after a backoff that doubles each time, capped. */
  async failed(roomId: string, eventIds: string[], now: number, baseMs: number): Promise<void> {
    if (eventIds.length === 0) return
    await this.db.query(
      `UPDATE room_backward_extremities
          SET failures = failures + 1, next_try_ts = $3::bigint + LEAST($4::bigint * power(2, LEAST(failures, 20))::bigint, $5::bigint)
        WHERE room_id = $1 AND event_id = ANY($2::text[])`,
      [roomId, eventIds, now, baseMs, MAX_BACKOFF_MS],
    )
  }

  /** `count` positions of the backfill sequence, highest first (each below every position taken before). */
  async positions(count: number): Promise<number[]> {
    const { rows } = await this.db.query<{ p: string | number }>(`SELECT nextval('backfill_seq') AS p FROM generate_series(1, $1::int)`, [count])
    return rows.map((r) => Number(r.p)).sort((a, b) => b - a)
  }

  /** For each of these events named as a prev_event by timeline events: the lowest depth of those. */
  async childDepths(roomId: string, eventIds: string[]): Promise<Map<string, number>> {
    if (eventIds.length === 0) return new Map()
    const { rows } = await this.db.query<{ event_id: string; d: string | number }>(
      `SELECT ee.prev_event_id AS event_id, min(c.depth) AS d FROM event_edges ee JOIN events c ON c.room_id = ee.room_id AND c.event_id = ee.event_id
        WHERE ee.room_id = $1 AND ee.prev_event_id = ANY($2::text[]) AND c.stream_ordering IS NOT NULL
        GROUP BY ee.prev_event_id`,
      [roomId, eventIds],
    )
    return new Map(rows.map((r) => [r.event_id, Number(r.d)]))
  }

  /** The lowest depth of the room's timeline (0 when it has none). */
  async minDepth(roomId: string): Promise<number> {
    const { rows } = await this.db.query<{ depth: string | number }>(
      'SELECT depth FROM events WHERE room_id = $1 AND stream_ordering IS NOT NULL ORDER BY depth ASC LIMIT 1',
      [roomId],
    )
    return rows[0] === undefined ? 0 : Number(rows[0].depth)
  }

  /**
   * Writes a backfilled event into the timeline: a new row, or an outlier of the same ID (an event known
   * only as state) taking its place in the timeline. With its edges and search row; false when the event
   * was stored already otherwise (in the timeline, soft-failed or rejected).
   */
  async insert(row: BackfilledInsert): Promise<boolean> {
    const { rows } = await this.db.query(
      `WITH ev AS (
         INSERT INTO events (room_id, event_id, depth, type, state_key, sender, origin_server_ts, json,
                             relates_to, rel_type, state_group, replaces_state, stream_ordering)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (room_id, event_id) DO UPDATE
            SET stream_ordering = EXCLUDED.stream_ordering, depth = EXCLUDED.depth, relates_to = EXCLUDED.relates_to,
                rel_type = EXCLUDED.rel_type, state_group = EXCLUDED.state_group, replaces_state = EXCLUDED.replaces_state, outlier = false
          WHERE events.outlier AND events.rejected_reason IS NULL
         RETURNING 1
       ), prevs AS (
         INSERT INTO event_edges (room_id, event_id, prev_event_id) SELECT $1, $2, unnest($14::text[]) FROM ev ON CONFLICT DO NOTHING
       ), auths AS (
         INSERT INTO event_auth_edges (room_id, event_id, auth_event_id) SELECT $1, $2, unnest($15::text[]) FROM ev ON CONFLICT DO NOTHING
       ), search AS (
         INSERT INTO event_search (room_id, event_id, stream_ordering, vector)
         SELECT $1, $2, $13, to_tsvector('simple'::regconfig, $16) FROM ev WHERE $16::text IS NOT NULL
         ON CONFLICT (room_id, event_id) DO UPDATE SET vector = EXCLUDED.vector, stream_ordering = EXCLUDED.stream_ordering
       )
       SELECT 1 FROM ev`,
      [...eventValues(row), row.stream_ordering, row.edges.prevEvents, row.edges.authEvents, row.searchText],
    )
    return rows.length > 0
  }
}
