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
   * Stores several receipts (distinct keys) at one stream position, each only where it moves the current
   * receipt forward (one statement).
   */
  async upsertMany(rows: ReceiptRow[], position: number): Promise<void> {
    if (rows.length === 0) return
    const column = <K extends keyof ReceiptRow>(k: K) => rows.map((r) => r[k])
    await this.db.query(
      `INSERT INTO receipts (${COLUMNS}, stream_position)
       SELECT *, $8::bigint FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])
       ON CONFLICT ON CONSTRAINT receipts_key DO UPDATE SET event_id = EXCLUDED.event_id,
         event_stream_ordering = EXCLUDED.event_stream_ordering, ts = EXCLUDED.ts, stream_position = EXCLUDED.stream_position
       WHERE receipts.event_stream_ordering < EXCLUDED.event_stream_ordering`,
      [column('room_id'), column('receipt_type'), column('user_id'), column('thread_id'), column('event_id'), column('event_stream_ordering'), column('ts'), position],
    )
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
}
