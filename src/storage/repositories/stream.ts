import pg from 'pg'
import type { Queryable } from '../db.ts'
import type { EventRow } from './events.ts'
import type { EventRecord } from './push.ts'
import type { RoomExpectation } from './rooms.ts'

/** The advisory lock key of the stream fence (see migrations 0002 and 0013). */
export const STREAM_FENCE_KEY = 7_386_051_113

export interface StreamChange {
  position: number
  kind: string
  room_id: string | null
  user_id: string | null
}

/** The channel instances LISTEN on; writers NOTIFY it in the transaction, so it is delivered on commit. */
export const STREAM_CHANNEL = 'homestead_stream'

/**
 * Joins the fence as a writer, the statement after BEGIN in the first message of every transaction that
 * takes positions (migration 0025's enter_stream_fence): the room's write lock first when the transaction
 * writes to a room (a writer waiting for a room holds no position back from readers meanwhile), the fence
 * lock, shared, then a lock named after a first position, so every position this transaction takes is at or
 * above one the fence can see held (migration 0013). That first position is the statement's row: the
 * transaction's first write takes it (StreamRepository.reserve), so a single write knows its position
 * before it is sent.
 */
export function enterStreamFenceSql(roomId: string | null, expect: RoomExpectation | null = null): string {
  if (roomId === null) return 'SELECT enter_stream_fence(NULL) AS position'
  const room = pg.escapeLiteral(roomId)
  if (expect === null) return `SELECT enter_stream_fence(${room}) AS position`
  // And, under the room's lock, the check of what the writer kept (migration 0026).
  const extremities = `ARRAY[${expect.extremities.map((id) => pg.escapeLiteral(id)).join(', ')}]::text[]`
  return `SELECT enter_stream_fence(${room}, ${extremities}, ${Math.trunc(expect.pushRulesVersion)}) AS position`
}
/**
 * The stream transaction's reserved position (enter_stream_fence's nextval, the session's last one) as SQL
 * reads it: how the first event of a transaction is written without waiting for its BEGIN round trip
 * (AppendedEvent.streamOrdering null). Only before anything else in the transaction takes a position.
 */
export const RESERVED_POSITION = "currval('stream_seq')"

/**
 * Wakes every instance's listener, sent after writers commit and not inside their transactions: a
 * transaction that NOTIFYs holds PostgreSQL's notification lock (one per database) from its commit until
 * the commit is flushed to disk, so writers that notified committed one at a time, with no group commit.
 * This transaction writes nothing else, so it need not wait for its own flush.
 */
export const NOTIFY_STREAM = `BEGIN; SET LOCAL synchronous_commit = off; SELECT pg_notify('${STREAM_CHANNEL}', ''); COMMIT`

export type StreamChangeRow = { safe: number; position: number | null; kind: string; room_id: string | null; user_id: string | null }

/** The statement that reads the fence and the changes after `after`, to ride on a COMMIT (no parameters). */
export function fenceAndChangesSql(after: number): string {
  if (!Number.isSafeInteger(after) || after < 0) throw new Error(`not a stream position: ${after}`)
  return `SELECT * FROM stream_changes_after(${after}, true)`
}

/** The fence and the changes from fenceAndChangesSql's (or fenceAndChanges') rows. */
export function fenceAndChangesOf(rows: StreamChangeRow[]): { safe: number; changes: StreamChange[] } {
  const safe = Number((rows[0] as StreamChangeRow).safe)
  const changes: StreamChange[] = []
  for (const r of rows) if (r.position !== null) changes.push({ position: Number(r.position), kind: r.kind, room_id: r.room_id, user_id: r.user_id })
  return { safe, changes }
}

/**
 * A room event this process appended, as /sync would read it back: handed to the notifier when its
 * transaction commits, so a long-poll it wakes need not read it (SyncService, local delivery).
 */
export interface CommittedEvent {
  /** Its row as the timeline reads it; has_children false (what relates to it is found among later events). */
  row: EventRow
  relatesTo: string | null
  /** The sending device's transaction ID (unsigned.transaction_id for that device). */
  txn: { userId: string; deviceId: string; txnId: string } | null
  /** Whom it notifies (PushRepository.recordEvent's record); null: nobody. */
  notifications: EventRecord | null
}

/** One stream change of kind $1 for each user of $2, each at a position of its own. */
const FOR_USERS_SQL = `INSERT INTO stream_log (position, kind, room_id, user_id) SELECT nextval('stream_seq'), $1, NULL, u FROM unnest($2::text[]) u`

export class StreamRepository {
  private readonly db: Queryable
  /** Whether this transaction has taken a position (and so must notify). */
  tookPosition = false
  /** The room events this transaction appended, for the notifier once it commits (stream_ordering 0: the reserved position). */
  readonly appended: CommittedEvent[] = []
  /** Called once the transaction has committed (e.g. to wake a sender for what it queued); never on a rollback. */
  readonly onCommitted: Array<() => void> = []
  /** The reserved position once BEGIN's answer came (see reserve). */
  private reservedPosition: number | null = null
  constructor(db: Queryable) {
    this.db = db
  }

  private reserved: Promise<number> | null = null

  /** The position the transaction took when it joined the fence (enterStreamFenceSql's row). */
  reserve(position: Promise<number>): void {
    position.then(
      (p) => (this.reservedPosition = p),
      () => {}, // the transaction sees the failure of its BEGIN message itself
    )
    this.reserved = position
  }

  /** The events appended, with their positions (after the transaction committed, when BEGIN has been answered). */
  committedEvents(): CommittedEvent[] {
    const reserved = this.reservedPosition
    const out: CommittedEvent[] = []
    for (const e of this.appended) {
      if (e.row.stream_ordering > 0) out.push(e)
      else if (reserved !== null) out.push({ ...e, row: { ...e.row, stream_ordering: reserved } })
    }
    return out
  }

  /** The reserved position, once: null when there was none or it has been taken. */
  async takeReserved(): Promise<number | null> {
    const reserved = this.reserved
    this.reserved = null
    return reserved === null ? null : await reserved
  }

  /**
   * Takes the reserved position without waiting for it: true when there was one, which SQL then reads as
   * RESERVED_POSITION (nothing may take a position before it is written).
   */
  takeReservedInSql(): boolean {
    const had = this.reserved !== null
    this.reserved = null
    return had
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

  /** Records a change of this kind for each user (one position each), without waiting for the positions. */
  async recordForUsers(kind: string, userIds: string[]): Promise<void> {
    if (userIds.length === 0) return
    this.tookPosition = true
    await this.db.write(FOR_USERS_SQL, [kind, userIds])
  }

  /** Takes one position per user for the same kind of change (one statement); returns the highest. */
  async nextForUsers(kind: string, userIds: string[]): Promise<number> {
    this.tookPosition = true
    const { rows } = await this.db.query<{ position: number }>(`${FOR_USERS_SQL} RETURNING position`, [kind, userIds])
    return Math.max(0, ...rows.map((r) => r.position))
  }

  /** Takes one position per user for the same kind of change (one statement); returns each user's. */
  async nextEachForUsers(kind: string, userIds: string[]): Promise<Map<string, number>> {
    if (userIds.length === 0) return new Map()
    this.tookPosition = true
    const { rows } = await this.db.query<{ user_id: string; position: number }>(`${FOR_USERS_SQL} RETURNING user_id, position`, [kind, userIds])
    return new Map(rows.map((r) => [r.user_id, r.position]))
  }

  /** Takes `count` positions for one user's changes of one kind (one statement); returns them in order. */
  async nextManyForUser(kind: string, userId: string, count: number): Promise<number[]> {
    this.tookPosition = true
    const { rows } = await this.db.query<{ position: string | number }>(`${FOR_USERS_SQL} RETURNING position`, [kind, new Array<string>(count).fill(userId)])
    return rows.map((r) => Number(r.position)).sort((a, b) => a - b)
  }

  /** The highest position below which every write has committed or rolled back. */
  async fence(): Promise<number> {
    const { rows } = await this.db.query<{ position: number }>('SELECT stream_fence() AS position')
    return (rows[0] as { position: number }).position
  }

  /**
   * The fence and what the positions in (after, fence] touched, in one round trip. Call it outside any
   * transaction (see migration 0016).
   */
  async fenceAndChanges(after: number, withChanges: boolean): Promise<{ safe: number; changes: StreamChange[] }> {
    const { rows } = await this.db.query<StreamChangeRow>('SELECT * FROM stream_changes_after($1, $2)', [after, withChanges])
    return fenceAndChangesOf(rows)
  }

  /**
   * The kinds of change in (after, upTo], and whether the log still covers that whole range (it is pruned
   * from below): with complete false, callers must assume anything may have changed.
   */
  async kindsInRange(after: number, upTo: number): Promise<{ kinds: Set<string>; complete: boolean }> {
    const { rows } = await this.db.query<{ kind: string | null; oldest: number | null }>(
      `SELECT k.kind, (SELECT min(position) FROM stream_log) AS oldest
         FROM (SELECT DISTINCT kind FROM stream_log WHERE position > $1 AND position <= $2) k
        RIGHT JOIN (SELECT 1) one ON true`,
      [after, upTo],
    )
    const oldest = rows[0]?.oldest ?? null
    return {
      kinds: new Set(rows.map((r) => r.kind).filter((k): k is string => k !== null)),
      // Positions are taken from 1 up; an empty log or one whose oldest row is after `after + 1` may miss some.
      complete: oldest === null ? after >= upTo : oldest <= after + 1,
    }
  }

  /** Removes log rows below a position, if this instance wins the advisory lock (one pruner at a time). */
  async prune(below: number): Promise<number> {
    const { rows } = await this.db.query<{ deleted: number }>(
      `WITH locked AS (SELECT pg_try_advisory_xact_lock(7386051114) AS ok),
            gone AS (DELETE FROM stream_log WHERE position < $1 AND (SELECT ok FROM locked) RETURNING 1)
       SELECT count(*)::int AS deleted FROM gone`,
      [below],
    )
    return rows[0]?.deleted ?? 0
  }
}
