import type { Queryable } from '../db.ts'

/** The advisory lock key of the stream fence (see migration 0002). */
export const STREAM_FENCE_KEY = 7_386_051_113

export interface StreamChange {
  position: number
  kind: string
  room_id: string | null
  user_id: string | null
}

/** The channel instances LISTEN on; writers NOTIFY it in the transaction, so it is delivered on commit. */
export const STREAM_CHANNEL = 'homestead_stream'

export class StreamRepository {
  private readonly db: Queryable
  /** Whether this transaction has taken a position (and so must notify). */
  tookPosition = false
  constructor(db: Queryable) {
    this.db = db
  }

  /** Joins the fence as a writer; must be the first statement of a transaction that takes positions. */
  async enterFence(): Promise<void> {
    await this.db.query('SELECT pg_advisory_xact_lock_shared($1)', [STREAM_FENCE_KEY])
  }

  /** Takes the next stream position and records what it touches (same transaction). */
  async next(kind: string, roomId: string | null, userId: string | null): Promise<number> {
    this.tookPosition = true
    const { rows } = await this.db.query<{ position: number }>(
      `INSERT INTO stream_log (position, kind, room_id, user_id) VALUES (nextval('stream_seq'), $1, $2, $3) RETURNING position`,
      [kind, roomId, userId],
    )
    return (rows[0] as { position: number }).position
  }

  /** Wakes every instance's listeners once this transaction commits (PostgreSQL folds repeats into one). */
  async notify(): Promise<void> {
    await this.db.query(`SELECT pg_notify('${STREAM_CHANNEL}', '')`)
  }

  /** The highest position below which every write has committed or rolled back. */
  async fence(): Promise<number> {
    const { rows } = await this.db.query<{ position: number }>('SELECT stream_fence() AS position')
    return (rows[0] as { position: number }).position
  }

  async changes(after: number, upTo: number): Promise<StreamChange[]> {
    const { rows } = await this.db.query<StreamChange>(
      'SELECT position, kind, room_id, user_id FROM stream_log WHERE position > $1 AND position <= $2 ORDER BY position',
      [after, upTo],
    )
    return rows
  }

  async prune(below: number): Promise<void> {
    await this.db.query('DELETE FROM stream_log WHERE position < $1', [below])
  }
}
