// Relations between events (events.relates_to / rel_type) and the threads table: the batched reads behind
// bundled aggregations, GET /relations and GET /threads, and the thread bookkeeping of the room writer.
import type { Queryable } from '../db.ts'
import { EVENT_COLUMNS, type EventRow } from './events.ts'
import { RESERVED_POSITION } from './stream.ts'
import type { TimelineToken } from './timeline.ts'

/** An event that child events may point at. */
export interface ParentRef {
  room_id: string
  event_id: string
}

/** The original of a possible edit: edits must share its type and sender. */
export interface EditableRef extends ParentRef {
  type: string
  sender: string
}

export type ChildRow = EventRow & { parent_id: string }

export interface ThreadSummaryRow extends ChildRow {
  thread_count: number
  participated: boolean
}

export interface ChildrenQuery {
  relType?: string | undefined
  eventType?: string | undefined
  from: TimelineToken | null
  to: TimelineToken | null
  dir: 'b' | 'f'
  limit: number
  /** Levels of relations followed: 1 = direct children only. */
  depth: number
  /** Senders left out (the viewer's ignored users). */
  notSenders: string[]
}

// A child counts while it is not rejected and not redacted: redacting a child breaks its relation.
const LIVE = `e.stream_ordering IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM redactions r WHERE r.room_id = e.room_id AND r.event_id = e.event_id)`

const PARENTS = 'unnest($1::text[], $2::text[]) AS p(parent_room, parent_id)'

function columns(parents: ParentRef[]): [string[], string[]] {
  return [parents.map((p) => p.room_id), parents.map((p) => p.event_id)]
}

export interface EventThread {
  /** The thread the event is directly or indirectly (via a relation, up to 3 hops) in, or 'main'. */
  thread: string
  /**
   * The thread a receipt on the event may name: as `thread`, except that a thread root and the events
   * related to it also belong to the root's thread.
   */
  receiptThread: string
}

export class RelationsRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /**
   * The newest valid replacements (client-server API, "Validity of replacement events") of each original,
   * at most `perParent` each, newest first by (origin_server_ts, event_id).
   */
  async edits(originals: EditableRef[], perParent: number): Promise<ChildRow[]> {
    if (originals.length === 0) return []
    const { rows } = await this.db.query<ChildRow>(
      `SELECT p.parent_id, x.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS p(parent_room, parent_id, parent_type, parent_sender)
       CROSS JOIN LATERAL (
         SELECT ${EVENT_COLUMNS}, e.origin_server_ts AS ts FROM events e
          WHERE e.room_id = p.parent_room AND e.relates_to = p.parent_id AND e.rel_type = 'm.replace'
            AND e.type = p.parent_type AND e.sender = p.parent_sender AND e.state_key IS NULL AND ${LIVE}
            -- m.new_content is inside the ciphertext of encrypted edits, so only cleartext ones are checked.
            AND (e.type = 'm.room.encrypted' OR jsonb_typeof(e.json::jsonb -> 'content' -> 'm.new_content') = 'object')
          ORDER BY e.origin_server_ts DESC, e.event_id DESC LIMIT $5
       ) x
       ORDER BY p.parent_id, x.ts DESC, x.event_id DESC`,
      [...columns(originals), originals.map((o) => o.type), originals.map((o) => o.sender), perParent],
    )
    return rows
  }

  /** Per thread root: the number of replies, whether `userId` replied, and the latest reply (topologically). */
  async threadSummaries(parents: ParentRef[], userId: string, notSenders: string[]): Promise<ThreadSummaryRow[]> {
    if (parents.length === 0) return []
    const where = `e.room_id = p.parent_room AND e.relates_to = p.parent_id AND e.rel_type = 'm.thread' AND ${LIVE}
            AND NOT (e.sender = ANY($4::text[]))`
    const { rows } = await this.db.query<ThreadSummaryRow>(
      `SELECT p.parent_id, s.thread_count, s.participated, x.* FROM ${PARENTS}
       CROSS JOIN LATERAL (
         SELECT count(*)::int AS thread_count, COALESCE(bool_or(e.sender = $3), false) AS participated FROM events e WHERE ${where}
       ) s
       CROSS JOIN LATERAL (
         SELECT ${EVENT_COLUMNS} FROM events e WHERE ${where} ORDER BY e.depth DESC, e.stream_ordering DESC LIMIT 1
       ) x`,
      [...columns(parents), userId, notSenders],
    )
    return rows
  }

  /** The latest thread replies of each root, at most `perParent` each, newest first. */
  async threadReplies(parents: ParentRef[], notSenders: string[], perParent: number): Promise<ChildRow[]> {
    if (parents.length === 0) return []
    const { rows } = await this.db.query<ChildRow>(
      `SELECT p.parent_id, x.* FROM ${PARENTS}
       CROSS JOIN LATERAL (
         SELECT ${EVENT_COLUMNS} FROM events e
          WHERE e.room_id = p.parent_room AND e.relates_to = p.parent_id AND e.rel_type = 'm.thread' AND ${LIVE}
            AND NOT (e.sender = ANY($3::text[]))
          ORDER BY e.depth DESC, e.stream_ordering DESC LIMIT $4
       ) x
       ORDER BY p.parent_id, x.depth DESC, x.stream_ordering DESC`,
      [...columns(parents), notSenders, perParent],
    )
    return rows
  }

  /** The events that m.reference each parent, oldest first. */
  async references(parents: ParentRef[], notSenders: string[]): Promise<Array<{ parent_id: string; event_id: string }>> {
    if (parents.length === 0) return []
    const { rows } = await this.db.query<{ parent_id: string; event_id: string }>(
      `SELECT p.parent_id, x.event_id FROM ${PARENTS}
       CROSS JOIN LATERAL (
         SELECT e.event_id, e.depth, e.stream_ordering FROM events e
          WHERE e.room_id = p.parent_room AND e.relates_to = p.parent_id AND e.rel_type = 'm.reference' AND ${LIVE}
            AND NOT (e.sender = ANY($3::text[]))
       ) x
       ORDER BY x.depth, x.stream_ordering`,
      [...columns(parents), notSenders],
    )
    return rows
  }

  /**
   * A page of the events relating to a parent, directly or (depth > 1) through other relations; the
   * rel_type and type filters apply at every level. Ordered topologically (depth, stream) in `dir`.
   */
  async children(roomId: string, parentId: string, q: ChildrenQuery): Promise<EventRow[]> {
    const params: unknown[] = [roomId, parentId, q.depth, q.notSenders]
    const match: string[] = []
    if (q.relType !== undefined) {
      params.push(q.relType)
      match.push(`e.rel_type = $${params.length}`)
    }
    if (q.eventType !== undefined) {
      params.push(q.eventType)
      match.push(`e.type = $${params.length}`)
    }
    const matchSql = match.map((m) => ` AND ${m}`).join('')
    const where = ['e.room_id = $1', 'e.event_id IN (SELECT event_id FROM related)', 'NOT (e.sender = ANY($4::text[]))']
    const bound = (token: TimelineToken, side: 'from' | 'to') => {
      // Backwards `from` is an upper bound and `to` a lower one; forwards the other way round.
      const upper = (q.dir === 'b') === (side === 'from')
      if (token.kind === 's') {
        params.push(token.stream)
        where.push(upper ? `e.stream_ordering <= $${params.length}` : `e.stream_ordering > $${params.length}`)
      } else {
        // A `t` token is an event's position: `from` is after it (it was the end of the previous page),
        // `to` includes it (the end of the page being re-read).
        params.push(token.depth, token.stream)
        const op = (upper ? '<' : '>') + (side === 'to' ? '=' : '')
        where.push(`(e.depth, e.stream_ordering) ${op} ($${params.length - 1}, $${params.length})`)
      }
    }
    if (q.from) bound(q.from, 'from')
    if (q.to) bound(q.to, 'to')
    params.push(q.limit)
    const order = q.dir === 'b' ? 'DESC' : 'ASC'
    const { rows } = await this.db.query<EventRow>(
      `WITH RECURSIVE related(event_id, level) AS (
         SELECT e.event_id, 1 FROM events e
          WHERE e.room_id = $1 AND e.relates_to = $2 AND e.rel_type IS NOT NULL AND ${LIVE}${matchSql}
         UNION
         SELECT e.event_id, r.level + 1 FROM related r
           JOIN events e ON e.room_id = $1 AND e.relates_to = r.event_id AND e.rel_type IS NOT NULL
          WHERE r.level < $3 AND ${LIVE}${matchSql}
       )
       SELECT ${EVENT_COLUMNS} FROM events e WHERE ${where.join(' AND ')}
        ORDER BY e.depth ${order}, e.stream_ordering ${order} LIMIT $${params.length}`,
      params,
    )
    return rows
  }

  /**
   * Thread roots of a room by latest activity, newest first, below `before` (a latest_stream) if given;
   * with `participant`, only threads that user started or replied in.
   */
  async threadRoots(roomId: string, before: number | null, limit: number, participant: string | null): Promise<Array<EventRow & { latest_stream: number }>> {
    const { rows } = await this.db.query<EventRow & { latest_stream: number }>(
      `SELECT t.latest_stream, ${EVENT_COLUMNS} FROM threads t
         JOIN events e ON e.room_id = t.room_id AND e.event_id = t.root_event_id
        WHERE t.room_id = $1 AND ($2::bigint IS NULL OR t.latest_stream < $2)
          AND ($3::text IS NULL OR e.sender = $3 OR EXISTS (
            SELECT 1 FROM events c WHERE c.room_id = t.room_id AND c.relates_to = t.root_event_id AND c.rel_type = 'm.thread'
               AND c.sender = $3 AND c.stream_ordering IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM redactions r WHERE r.room_id = c.room_id AND r.event_id = c.event_id)))
        ORDER BY t.latest_stream DESC LIMIT $4`,
      [roomId, before, participant, limit],
    )
    return rows
  }

  /** The relation of an event (nulls when it has none or its relation was redacted away); null if unknown. */
  async relationOf(roomId: string, eventId: string): Promise<{ rel_type: string | null; relates_to: string | null } | null> {
    const { rows } = await this.db.query<{ rel_type: string | null; relates_to: string | null; redacted: boolean }>(
      `SELECT e.rel_type, e.relates_to,
              EXISTS (SELECT 1 FROM redactions r WHERE r.room_id = e.room_id AND r.event_id = e.event_id) AS redacted
         FROM events e WHERE e.room_id = $1 AND e.event_id = $2`,
      [roomId, eventId],
    )
    const row = rows[0]
    if (!row) return null
    return row.redacted ? { rel_type: null, relates_to: null } : { rel_type: row.rel_type, relates_to: row.relates_to }
  }

  /** Whether `sender` already has a live annotation of this type and key on the parent (other than `except`). */
  async hasAnnotation(roomId: string, parentId: string, sender: string, type: string, key: string, except: string): Promise<boolean> {
    const { rows } = await this.db.query(
      `SELECT 1 FROM events e
        WHERE e.room_id = $1 AND e.relates_to = $2 AND e.rel_type = 'm.annotation' AND e.sender = $3 AND e.type = $4
          AND e.event_id <> $6 AND ${LIVE} AND e.json::jsonb -> 'content' -> 'm.relates_to' ->> 'key' = $5
        LIMIT 1`,
      [roomId, parentId, sender, type, key, except],
    )
    return rows.length > 0
  }

  /**
   * Records a reply as its thread's latest (threads only move forward: stream positions grow); `stream` null:
   * the transaction's reserved position (RESERVED_POSITION).
   */
  async threadReply(roomId: string, rootId: string, eventId: string, stream: number | null): Promise<void> {
    await this.db.query(
      `INSERT INTO threads (room_id, root_event_id, latest_event_id, latest_stream) VALUES ($1, $2, $3, COALESCE($4::bigint, ${RESERVED_POSITION}))
       ON CONFLICT (room_id, root_event_id) DO UPDATE SET latest_event_id = EXCLUDED.latest_event_id, latest_stream = EXCLUDED.latest_stream
        WHERE threads.latest_stream < EXCLUDED.latest_stream`,
      [roomId, rootId, eventId, stream],
    )
  }

  /** Recomputes a thread's latest reply leaving `removed` out (being redacted); drops the thread if none remain. */
  async recomputeThread(roomId: string, rootId: string, removed: string): Promise<void> {
    const { rows } = await this.db.query<{ event_id: string; stream_ordering: number }>(
      `SELECT e.event_id, e.stream_ordering FROM events e
        WHERE e.room_id = $1 AND e.relates_to = $2 AND e.rel_type = 'm.thread' AND e.event_id <> $3 AND ${LIVE}
        ORDER BY e.stream_ordering DESC LIMIT 1`,
      [roomId, rootId, removed],
    )
    const latest = rows[0]
    if (!latest) {
      await this.db.query('DELETE FROM threads WHERE room_id = $1 AND root_event_id = $2', [roomId, rootId])
      return
    }
    await this.db.query('UPDATE threads SET latest_event_id = $3, latest_stream = $4 WHERE room_id = $1 AND root_event_id = $2', [
      roomId,
      rootId,
      latest.event_id,
      latest.stream_ordering,
    ])
  }

  /**
   * The thread of an event, following its relations up to 3 hops (reads `events`). Synapse's rules: an
   * event is in thread T when a relation on its chain is an m.thread relation to T; for receipts, the top of
   * the chain is also the thread when some event has an m.thread relation to it.
   */
  async threadOf(roomId: string, eventId: string): Promise<EventThread> {
    const { rows } = await this.db.query<{ thread: string | null; top: string | null; root_has_thread: boolean }>(
      `WITH RECURSIVE chain AS (
         SELECT event_id, relates_to, rel_type, 0 AS hops FROM events WHERE room_id = $1 AND event_id = $2
         UNION ALL
         SELECT e.event_id, e.relates_to, e.rel_type, c.hops + 1 FROM events e
           JOIN chain c ON e.room_id = $1 AND e.event_id = c.relates_to
          WHERE c.hops < 3
       ),
       summary AS (
         SELECT (SELECT relates_to FROM chain WHERE rel_type = 'm.thread' ORDER BY hops DESC LIMIT 1) AS thread,
                (SELECT COALESCE(relates_to, event_id) FROM chain ORDER BY hops DESC LIMIT 1) AS top
       )
       SELECT thread, top, EXISTS (
           SELECT 1 FROM events t WHERE t.room_id = $1 AND t.relates_to = summary.top AND t.rel_type = 'm.thread'
         ) AS root_has_thread
         FROM summary`,
      [roomId, eventId],
    )
    const row = rows[0]
    const thread = row?.thread ?? 'main'
    const receiptThread = row?.top && row.root_has_thread ? row.top : thread
    return { thread, receiptThread }
  }
}
