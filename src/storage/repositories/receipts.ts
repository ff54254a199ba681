import type { Queryable } from '../db.ts'

export interface ReceiptRow {
  room_id: string
  receipt_type: string
  user_id: string
  /** null: unthreaded; 'main' or a thread root's event ID otherwise. */
  thread_id: string | null
  event_id: string
  event_stream_ordering: number
  ts: number
}

export interface ReceiptWrite extends ReceiptRow {
  stream_position: number
}

/** Where an event sits among threads (client-server API, "Threading"), as Synapse computes it for receipts. */
export interface EventThread {
  /** The thread the event is directly or indirectly (via a relation, up to 3 hops) in, or 'main'. */
  thread: string
  /**
   * The thread a receipt on the event may name: as `thread`, except that a thread root and the events
   * related to it also belong to the root's thread.
   */
  receiptThread: string
}

const COLUMNS = 'room_id, receipt_type, user_id, thread_id, event_id, event_stream_ordering, ts'

/** Owns `receipts` (migration 0003). */
export class ReceiptsRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** The stream ordering of the event the user's current receipt points at, row-locked (null: none yet). */
  async lockCurrent(roomId: string, receiptType: string, userId: string, threadId: string | null): Promise<number | null> {
    const { rows } = await this.db.query<{ event_stream_ordering: number }>(
      `SELECT event_stream_ordering FROM receipts
        WHERE room_id = $1 AND receipt_type = $2 AND user_id = $3 AND thread_id IS NOT DISTINCT FROM $4 FOR UPDATE`,
      [roomId, receiptType, userId, threadId],
    )
    return rows[0]?.event_stream_ordering ?? null
  }

  /** Stores the receipt unless the current one already points at the same or a later event. Whether it was stored. */
  async upsert(r: ReceiptWrite): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `INSERT INTO receipts (${COLUMNS}, stream_position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT ON CONSTRAINT receipts_key DO UPDATE SET event_id = EXCLUDED.event_id,
         event_stream_ordering = EXCLUDED.event_stream_ordering, ts = EXCLUDED.ts, stream_position = EXCLUDED.stream_position
       WHERE receipts.event_stream_ordering < EXCLUDED.event_stream_ordering`,
      [r.room_id, r.receipt_type, r.user_id, r.thread_id, r.event_id, r.event_stream_ordering, r.ts, r.stream_position],
    )
    return (rowCount ?? 0) > 0
  }

  /**
   * Receipts of these rooms whose last change is in the stream range (after, upTo], for `viewer`:
   * m.read.private receipts only when they are the viewer's own.
   */
  async changed(roomIds: string[], after: number, upTo: number, viewer: string): Promise<ReceiptRow[]> {
    if (roomIds.length === 0) return []
    const { rows } = await this.db.query<ReceiptRow>(
      `SELECT ${COLUMNS} FROM receipts
        WHERE room_id = ANY($1::text[]) AND stream_position > $2 AND stream_position <= $3
          AND (receipt_type <> 'm.read.private' OR user_id = $4)
        ORDER BY room_id, stream_position`,
      [roomIds, after, upTo, viewer],
    )
    return rows
  }

  /** One user's m.read and m.read.private receipts in these rooms (notification counts). */
  async readBy(userId: string, roomIds: string[]): Promise<ReceiptRow[]> {
    if (roomIds.length === 0) return []
    const { rows } = await this.db.query<ReceiptRow>(
      `SELECT ${COLUMNS} FROM receipts
        WHERE user_id = $1 AND room_id = ANY($2::text[]) AND receipt_type IN ('m.read', 'm.read.private')`,
      [userId, roomIds],
    )
    return rows
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
