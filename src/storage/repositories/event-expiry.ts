// Events to prune at a time of their sender's choosing (migration 0036): written with the event, claimed
// and deleted by the instance that prunes them.
import type { Queryable } from '../db.ts'

export interface DueEvent {
  room_id: string
  event_id: string
  room_version: string
  json: string
}

export class EventExpiryRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async schedule(roomId: string, eventId: string, expiryTs: number): Promise<void> {
    await this.db.query('INSERT INTO event_expiry (room_id, event_id, expiry_ts) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [roomId, eventId, expiryTs])
  }

  /** The earliest expiry still to come (null: none). */
  async next(): Promise<number | null> {
    const { rows } = await this.db.query<{ ts: string | null }>('SELECT min(expiry_ts) AS ts FROM event_expiry')
    return rows[0]?.ts == null ? null : Number(rows[0].ts)
  }

  /**
   * Claims up to `limit` events due at `now` (rows another transaction holds are skipped) and deletes their
   * rows, in the caller's transaction: their JSON and room version, to prune them in the same transaction.
   */
  async claimDue(now: number, limit: number): Promise<DueEvent[]> {
    const { rows } = await this.db.query<DueEvent>(
      `WITH due AS (
         DELETE FROM event_expiry x
          WHERE (x.room_id, x.event_id) IN (SELECT room_id, event_id FROM event_expiry WHERE expiry_ts <= $1 ORDER BY expiry_ts LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING x.room_id, x.event_id)
       SELECT d.room_id, d.event_id, r.room_version, e.json
         FROM due d JOIN events e ON e.room_id = d.room_id AND e.event_id = d.event_id JOIN rooms r ON r.room_id = d.room_id`,
      [now, limit],
    )
    return rows
  }

  /** Replaces the events' JSON with their pruned forms and drops their search rows. One statement. */
  async prune(pruned: Array<{ room_id: string; event_id: string; json: string }>): Promise<void> {
    if (pruned.length === 0) return
    await this.db.query(
      `WITH p AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS p(room_id, event_id, json)),
            s AS (DELETE FROM event_search s USING p WHERE s.room_id = p.room_id AND s.event_id = p.event_id)
       UPDATE events e SET json = p.json FROM p WHERE e.room_id = p.room_id AND e.event_id = p.event_id`,
      [pruned.map((p) => p.room_id), pruned.map((p) => p.event_id), pruned.map((p) => p.json)],
    )
  }
}
