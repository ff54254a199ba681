import type { Queryable } from '../db.ts'

/** How a purge stands, as the status API answers ('active' until its transaction commits or fails). */
export interface PurgeJob {
  room_id: string
  status: 'active' | 'complete' | 'failed'
  error: string | null
  created_ts: number
  /** Whether a transaction holds the job (it is running now). */
  running: boolean
}

/** What a purge did: events deleted, and this server's events taken out of the timeline but kept. */
export interface PurgeOutcome {
  deleted: number
  hidden: number
}

/**
 * Owns purge_history_jobs (migration 0046), and purges a room's history: the events below a depth leave the
 * timeline. Non-state events are deleted or become outliers; state events are only marked purged (the room's
 * state, and who was in it when, is read from them in stream order); forward extremities stay (new events
 * name them).
 */
export class PurgeHistoryRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async insertJob(purgeId: string, roomId: string, now: number): Promise<void> {
    await this.db.query(`INSERT INTO purge_history_jobs (purge_id, room_id, status, created_ts) VALUES ($1, $2, 'active', $3)`, [purgeId, roomId, now])
  }

  /** Locks the job's row until the transaction ends (what tells the status API it is running). */
  async holdJob(purgeId: string): Promise<void> {
    await this.db.query('SELECT 1 FROM purge_history_jobs WHERE purge_id = $1 FOR UPDATE', [purgeId])
  }

  async finishJob(purgeId: string, status: 'complete' | 'failed', error: string | null): Promise<void> {
    await this.db.query('UPDATE purge_history_jobs SET status = $2, error = $3 WHERE purge_id = $1', [purgeId, status, error])
  }

  async job(purgeId: string): Promise<PurgeJob | null> {
    const { rows } = await this.db.query<PurgeJob & { created_ts: string }>(
      `SELECT j.room_id, j.status, j.error, j.created_ts,
              j.status = 'active' AND NOT EXISTS (SELECT 1 FROM purge_history_jobs k WHERE k.purge_id = j.purge_id FOR UPDATE SKIP LOCKED) AS running
         FROM purge_history_jobs j WHERE j.purge_id = $1`,
      [purgeId],
    )
    const row = rows[0]
    return row ? { ...row, created_ts: Number(row.created_ts) } : null
  }

  /**
   * The timeline event a purge up to `ts` keeps first: the lowest (depth, stream position) sent at or after
   * `ts`, or null when none was.
   */
  async firstAtOrAfter(roomId: string, ts: number): Promise<{ event_id: string; depth: number } | null> {
    const { rows } = await this.db.query<{ event_id: string; depth: string }>(
      `SELECT event_id, depth FROM events
        WHERE room_id = $1 AND stream_ordering IS NOT NULL AND origin_server_ts >= $2
        ORDER BY depth, stream_ordering LIMIT 1`,
      [roomId, ts],
    )
    const row = rows[0]
    return row ? { event_id: row.event_id, depth: Number(row.depth) } : null
  }

  /** The room's timeline event with this ID (its depth), or null. */
  async timelineEvent(roomId: string, eventId: string): Promise<{ depth: number } | null> {
    const { rows } = await this.db.query<{ depth: string }>('SELECT depth FROM events WHERE room_id = $1 AND event_id = $2 AND stream_ordering IS NOT NULL', [
      roomId,
      eventId,
    ])
    return rows[0] ? { depth: Number(rows[0].depth) } : null
  }

  /**
   * Takes the room's non-state timeline events below `depth` out of its history (call in a transaction that
   * holds the room's write lock): events of other servers, and this server's own with `deleteLocal`, are
   * deleted with what hangs on them (edges, search entries, notifications, queued sends and pushes, threads
   * they root); this server's own otherwise become outliers, kept but in no timeline (they may be the only
   * copy left). Their prev_events the timeline no longer holds become backward extremities, so a client
   * paginating back has the history fetched from the room's other servers.
   */
  async purgeBelow(roomId: string, depth: number, localSuffix: string, deleteLocal: boolean): Promise<PurgeOutcome> {
    await this.db.query('CREATE TEMP TABLE purged (event_id text PRIMARY KEY, kept boolean NOT NULL) ON COMMIT DROP')
    await this.db.query(
      `INSERT INTO purged (event_id, kept)
       SELECT e.event_id, NOT $4::bool AND right(e.sender, length($3)) = $3 FROM events e
        WHERE e.room_id = $1 AND e.depth < $2 AND e.stream_ordering IS NOT NULL AND e.state_key IS NULL
          AND NOT EXISTS (SELECT 1 FROM room_extremities x WHERE x.room_id = e.room_id AND x.event_id = e.event_id)`,
      [roomId, depth, localSuffix, deleteLocal],
    )
    const gone = `(SELECT event_id FROM purged)`
    const deletedOnly = `(SELECT event_id FROM purged WHERE NOT kept)`
    for (const sql of [
      `DELETE FROM event_search WHERE room_id = $1 AND event_id IN ${gone}`,
      `DELETE FROM event_push_actions WHERE room_id = $1 AND event_id IN ${gone}`,
      `DELETE FROM event_push_summary WHERE room_id = $1 AND event_id IN ${gone}`,
      // Unread counts kept part-way counted purged events: counted again from the start.
      `DELETE FROM push_unread_checkpoints WHERE room_id = $1`,
      `DELETE FROM push_queue WHERE room_id = $1 AND event_id IN ${gone}`,
      `DELETE FROM push_fanout WHERE room_id = $1 AND event_id IN ${gone}`,
      `DELETE FROM threads WHERE room_id = $1 AND root_event_id IN ${gone}`,
      `DELETE FROM event_expiry WHERE room_id = $1 AND event_id IN ${gone}`,
      `DELETE FROM federation_pdu_queue WHERE room_id = $1 AND event_id IN ${deletedOnly}`,
      `DELETE FROM event_auth_edges WHERE room_id = $1 AND event_id IN ${deletedOnly}`,
      // A redaction row of a deleted redaction stays: what it redacted is served redacted still.
      `DELETE FROM redactions WHERE room_id = $1 AND event_id IN ${deletedOnly}`,
    ]) {
      await this.db.query(sql, [roomId])
    }
    const hidden = await this.db.query(`UPDATE events SET stream_ordering = NULL, outlier = true WHERE room_id = $1 AND event_id IN (SELECT event_id FROM purged WHERE kept)`, [roomId])
    // State events stay in the stream (the room's state history is read from it) but leave every timeline.
    await this.db.query(
      `WITH state AS (
         UPDATE events e SET purged = true
          WHERE e.room_id = $1 AND e.depth < $2 AND e.stream_ordering IS NOT NULL AND e.state_key IS NOT NULL AND NOT e.purged
            AND NOT EXISTS (SELECT 1 FROM room_extremities x WHERE x.room_id = e.room_id AND x.event_id = e.event_id)
         RETURNING e.event_id
       )
       DELETE FROM event_search s USING state WHERE s.room_id = $1 AND s.event_id = state.event_id`,
      [roomId, depth],
    )
    // The edges of the deleted events go after the backward extremities are found through them.
    await this.db.query(
      `INSERT INTO room_backward_extremities (room_id, event_id)
       SELECT DISTINCT ee.room_id, ee.prev_event_id FROM event_edges ee
         JOIN events e ON e.room_id = ee.room_id AND e.event_id = ee.event_id AND e.stream_ordering IS NOT NULL
        WHERE ee.room_id = $1 AND ee.prev_event_id IN ${gone} AND ee.event_id NOT IN ${gone}
       ON CONFLICT DO NOTHING`,
      [roomId],
    )
    await this.db.query(`DELETE FROM event_edges WHERE room_id = $1 AND event_id IN ${deletedOnly}`, [roomId])
    const deleted = await this.db.query(`DELETE FROM events WHERE room_id = $1 AND event_id IN ${deletedOnly}`, [roomId])
    return { deleted: deleted.rowCount ?? 0, hidden: hidden.rowCount ?? 0 }
  }
}
