import type { Queryable } from '../db.ts'
import { STATE_BY_KEYS } from './state.ts'

export interface RoomRow {
  room_id: string
  room_version: string
  creator: string
  created_ts: number
  is_public: boolean
  state_group: number | null
}

/** The rooms row's columns as RoomRow has them. */
const ROOM_COLUMNS = 'r.room_id, r.room_version, r.creator, r.created_ts, r.is_public, r.state_group'

export interface ExtremityRow {
  event_id: string
  depth: number
  /** Null past the first `withJson` extremities (see lockForWrite). */
  json: string | null
}

/** What lockForWrite reads for a writer. */
export interface WriteLoad {
  room: RoomRow
  extremities: ExtremityRow[]
  state: Array<{ type: string; state_key: string; event_id: string; json: string }>
  /**
   * The push rules version (migration 0023), read before any push context the same transaction reads in a
   * later statement: a rule change committing in between leaves the version older than the rules, which
   * only makes a later expectWriteState fail.
   */
  pushRulesVersion: number
}

/** The SQLSTATE of expect_room_write_state's failure: what a writer kept of a room is out of date. */
export const ROOM_WRITE_STATE_CHANGED = 'HS409'

/** What a writer that kept a room expects of it: its forward extremities and the push rules version. */
export interface RoomExpectation {
  roomId: string
  extremities: string[]
  pushRulesVersion: number
}

export class RoomsRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** False when a room with this ID exists already (or is being created by a transaction that then commits). */
  async insert(row: Omit<RoomRow, 'state_group' | 'is_public'>): Promise<boolean> {
    const { rowCount } = await this.db.query(
      'INSERT INTO rooms (room_id, room_version, creator, created_ts) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
      [row.room_id, row.room_version, row.creator, row.created_ts],
    )
    return rowCount === 1
  }

  async get(roomId: string): Promise<RoomRow | null> {
    const { rows } = await this.db.query<RoomRow>(`SELECT ${ROOM_COLUMNS} FROM rooms r WHERE r.room_id = $1`, [roomId])
    return rows[0] ?? null
  }

  /** Those of these rooms that are published in the room directory. */
  async publicAmong(roomIds: string[]): Promise<Set<string>> {
    if (roomIds.length === 0) return new Set()
    const { rows } = await this.db.query<{ room_id: string }>('SELECT room_id FROM rooms WHERE room_id = ANY($1::text[]) AND is_public', [roomIds])
    return new Set(rows.map((r) => r.room_id))
  }

  /** The room versions of those of these rooms that exist here, by room ID. */
  async versionsOf(roomIds: string[]): Promise<Map<string, string>> {
    if (roomIds.length === 0) return new Map()
    const { rows } = await this.db.query<{ room_id: string; room_version: string }>(
      'SELECT room_id, room_version FROM rooms WHERE room_id = ANY($1::text[])',
      [roomIds],
    )
    return new Map(rows.map((r) => [r.room_id, r.room_version]))
  }

  /** Set when the transaction took the room's write lock together with BEGIN (enterStreamFenceSql). */
  preLocked: string | null = null
  /** Set when the transaction's BEGIN also checked a room's write state (enterStreamFenceSql with an expectation). */
  preChecked: RoomExpectation | null = null

  /**
   * Takes the room's write lock (every write to a room's DAG holds it, so a room's events are built one at a
   * time) and reads the room. The lock is an advisory lock on the room ID's hash, so it can also be taken in
   * the transaction's first round trip (enterStreamFenceSql); reads made after it see every earlier writer's commit.
   */
  async lock(roomId: string): Promise<RoomRow | null> {
    if (this.preLocked !== roomId) await this.db.query('SELECT pg_advisory_xact_lock(1, hashtext($1))', [roomId])
    return this.get(roomId)
  }

  /**
   * Everything appending to a room needs: locks the room row (every write to a room's DAG holds it, so a
   * room's events are built one at a time), then reads its forward extremities and the current state events
   * of the given (type, state_key) pairs. Two statements, on purpose: a statement that waited for the lock
   * still reads with the snapshot it started with, so extremities read in the locking statement could be
   * those from before the previous writer committed.
   */
  async lockForWrite(roomId: string, keys: Array<[string, string]>, withJson: number): Promise<WriteLoad | null> {
    if (this.preLocked !== roomId) await this.db.query('SELECT pg_advisory_xact_lock(1, hashtext($1))', [roomId])
    // Deepest first; only the first `withJson` (those a new event names as prev_events) carry their JSON, so
    // the many extremities a hostile server can leave in a room cost an ID each, not an event.
    const { rows } = await this.db.query<RoomRow & { extremities: ExtremityRow[] | null; state: Array<{ type: string; state_key: string; event_id: string; json: string }> | null; push_rules_version: number }>(
      `SELECT ${ROOM_COLUMNS}, (SELECT version FROM push_rules_version) AS push_rules_version,
         (SELECT json_agg(json_build_object('event_id', t.event_id, 'depth', t.depth, 'json', CASE WHEN t.n <= $4 THEN t.json END) ORDER BY t.n)
            FROM (SELECT e.event_id, e.depth, e.json, row_number() OVER (ORDER BY e.depth DESC, e.stream_ordering DESC) AS n
                    FROM room_extremities x JOIN events e ON e.room_id = x.room_id AND e.event_id = x.event_id
                   WHERE x.room_id = $1) t) AS extremities,
         (SELECT json_agg(json_build_object('type', c.type, 'state_key', c.state_key, 'event_id', e.event_id, 'json', e.json)) FROM ${STATE_BY_KEYS}) AS state
         FROM rooms r WHERE r.room_id = $1`,
      [roomId, keys.map((k) => k[0]), keys.map((k) => k[1]), withJson],
    )
    const row = rows[0]
    if (!row) return null
    const { extremities, state, push_rules_version: pushRulesVersion, ...room } = row
    return { room, extremities: extremities ?? [], state: state ?? [], pushRulesVersion }
  }

  /**
   * Fails the transaction (SQLSTATE HS409, ROOM_WRITE_STATE_CHANGED) unless the room's forward extremities
   * are exactly `extremities` and the push rules version is `pushRulesVersion`: sent under the room's write
   * lock instead of lockForWrite's reads, by a writer that kept what those reads returned. A write: the
   * transaction's outcome carries the failure. Nothing is sent when the transaction's BEGIN checked this
   * very expectation (preChecked).
   */
  async expectWriteState(expect: RoomExpectation): Promise<void> {
    if (this.preChecked === expect) return
    await this.db.write('SELECT expect_room_write_state($1, $2::text[], $3)', [expect.roomId, expect.extremities, expect.pushRulesVersion])
  }

  /** Sets the state group of the room's current state (a merge of forward extremities moved it). */
  async setStateGroup(roomId: string, group: number | null): Promise<void> {
    await this.db.write('UPDATE rooms SET state_group = $2 WHERE room_id = $1', [roomId, group])
  }

  /** The room's forward extremities with the state group after each and the depth it is ordered by. */
  async extremities(roomId: string): Promise<Array<{ event_id: string; state_group: number | null; depth: number }>> {
    const { rows } = await this.db.query<{ event_id: string; state_group: string | number | null; depth: string | number }>(
      `SELECT x.event_id, e.state_group, e.depth FROM room_extremities x JOIN events e ON e.room_id = x.room_id AND e.event_id = x.event_id WHERE x.room_id = $1`,
      [roomId],
    )
    return rows.map((r) => ({ event_id: r.event_id, state_group: r.state_group === null ? null : Number(r.state_group), depth: Number(r.depth) }))
  }

  /**
   * Forgets the room's forward extremities (this server rejoining a room it had left: those it kept are
   * events from before, the room moved on without them).
   */
  async forgetExtremities(roomId: string): Promise<void> {
    await this.db.query('DELETE FROM room_extremities WHERE room_id = $1', [roomId])
  }

  async setPublic(roomId: string, isPublic: boolean): Promise<boolean> {
    const { rowCount } = await this.db.query('UPDATE rooms SET is_public = $2 WHERE room_id = $1', [roomId, isPublic])
    return rowCount === 1
  }

  /** Whether an admin blocked the room (migration 0045). */
  async isBlocked(roomId: string): Promise<boolean> {
    const { rows } = await this.db.query('SELECT 1 FROM blocked_rooms WHERE room_id = $1', [roomId])
    return rows.length > 0
  }

  /** Blocks the room (kept as first blocked when it already is). */
  async block(roomId: string, by: string, now: number): Promise<void> {
    await this.db.query('INSERT INTO blocked_rooms (room_id, blocked_by, blocked_ts) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [roomId, by, now])
  }

  /**
   * Deletes everything this server holds of a room: the rows of every table with a room_id column, found in
   * the schema so that a table added later is not forgotten, except what outlives the room on purpose (its
   * block, the reports about it, users' key backups, the stream's own log). Call inside a transaction.
   */
  async purge(roomId: string): Promise<void> {
    const { rows } = await this.db.query<{ table_name: string }>(
      `SELECT c.table_name FROM information_schema.columns c
         JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
        WHERE c.table_schema = current_schema() AND c.column_name = 'room_id' AND NOT (c.table_name = ANY($1::text[]))
        ORDER BY c.table_name`,
      [KEPT_WHEN_PURGED],
    )
    for (const { table_name } of rows) await this.db.query(`DELETE FROM "${table_name.replaceAll('"', '""')}" WHERE room_id = $1`, [roomId])
  }
}

/** The tables with a room_id whose rows a room's purge keeps (RoomsRepository.purge). */
const KEPT_WHEN_PURGED = ['blocked_rooms', 'content_reports', 'key_backup_sessions', 'stream_log']
