import type { Queryable } from '../db.ts'
import { RESERVED_POSITION } from './stream.ts'

export interface EventInsert {
  room_id: string
  event_id: string
  stream_ordering: number
  depth: number
  type: string
  state_key: string | null
  sender: string
  origin_server_ts: number
  json: string
  relates_to: string | null
  rel_type: string | null
  state_group: number | null
  replaces_state: string | null
}

/** An event stored outside every timeline (EventsRepository.insertUnordered). */
export interface UnorderedInsert extends Omit<EventInsert, 'stream_ordering' | 'relates_to' | 'rel_type' | 'replaces_state'> {
  /** The state after it (soft-failed events; rejected ones: the state before it); null for outliers. */
  state_group: number | null
  rejected_reason: string | null
  kind: 'outlier' | 'soft-failed' | 'rejected'
  /** Its prev_events and auth events (event_edges, event_auth_edges), as for EventsRepository.append. */
  edges: { prevEvents: string[]; authEvents: string[] }
}

/** What EventsRepository.statusOf tells of a stored event. */
export interface StoredEventStatus {
  event_id: string
  state_group: number | null
  /** Null: not in the timeline (outlier, soft-failed or rejected). */
  stream_ordering: number | null
  rejected_reason: string | null
  outlier: boolean
  soft_failed: boolean
  /** The depth it is ordered by here (see PersistPlan.orderDepth). */
  depth: number
}

export interface EventRow {
  room_id: string
  event_id: string
  stream_ordering: number
  depth: number
  type: string
  state_key: string | null
  sender: string
  json: string
  replaces_state: string | null
  /** The redaction applied to this event, if any. */
  redacted_by: string | null
  /** Whether any event relates to this one (read with TIMELINE_COLUMNS only; absent: unknown). */
  has_children?: boolean
  /** Set on a copy whose JSON was redacted for its viewer because its sender was erased (rooms/visibility.ts). */
  erased?: boolean
}

export const EVENT_COLUMNS = `e.room_id, e.event_id, e.stream_ordering, e.depth, e.type, e.state_key, e.sender, e.json, e.replaces_state,
  (SELECT r.redacted_by FROM redactions r WHERE r.room_id = e.room_id AND r.event_id = e.event_id LIMIT 1) AS redacted_by`
/** EVENT_COLUMNS and has_children: timelines skip the bundled-aggregation queries for events nothing relates to. */
export const TIMELINE_COLUMNS = `${EVENT_COLUMNS},
  EXISTS (SELECT 1 FROM events c WHERE c.room_id = e.room_id AND c.relates_to = e.event_id) AS has_children`
const SELECT_EVENT = `SELECT ${EVENT_COLUMNS} FROM events e`

/**
 * The append statement (EventsRepository.append): the stream position, the event, the new extremities, the
 * sender's transaction ID and the search row. A state event also moves the room's state group; a message
 * leaves the rooms row alone, and its statement has no such part at all (every part of a statement is set
 * up on each execution, whether or not its condition holds).
 */
function appendSql(stateEvent: boolean): string {
  const parts = [
    `pos AS (
         INSERT INTO stream_log (position, kind, room_id, user_id)
         VALUES (COALESCE($20::bigint, CASE WHEN $21::bool THEN ${RESERVED_POSITION} ELSE nextval('stream_seq') END), CASE WHEN $4::text = 'm.room.member' THEN 'member' ELSE 'event' END, $1, $14)
         RETURNING position
       )`,
    `ev AS (
         INSERT INTO events (room_id, event_id, stream_ordering, depth, type, state_key, sender, origin_server_ts, json,
                             relates_to, rel_type, state_group, replaces_state)
         SELECT $1, $2, pos.position, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM pos
       )`,
    `gone AS (
         DELETE FROM room_extremities WHERE room_id = $1 AND event_id = ANY($13::text[])
       )`,
    `ext AS (
         INSERT INTO room_extremities (room_id, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING
       )`,
    ...(stateEvent ? [`room AS (UPDATE rooms SET state_group = $11 WHERE room_id = $1)`] : []),
    `txn AS (
         INSERT INTO event_txns (room_id, user_id, device_id, txn_id, event_id, created_ts)
         SELECT $1, $15, $16, $17, $2, $18 WHERE $17::text IS NOT NULL
       )`,
    `search AS (
         INSERT INTO event_search (room_id, event_id, stream_ordering, vector)
         SELECT $1, $2, pos.position, to_tsvector('simple'::regconfig, $19) FROM pos WHERE $19::text IS NOT NULL
         ON CONFLICT (room_id, event_id) DO UPDATE SET vector = EXCLUDED.vector
       )`,
    // The DAG's edges (event-graph.ts reads them): prev_events, and auth_events with v12's implied create event.
    `prevs AS (
         INSERT INTO event_edges (room_id, event_id, prev_event_id) SELECT $1, $2, unnest($22::text[]) ON CONFLICT DO NOTHING
       )`,
    `auths AS (
         INSERT INTO event_auth_edges (room_id, event_id, auth_event_id) SELECT $1, $2, unnest($23::text[]) ON CONFLICT DO NOTHING
       )`,
  ]
  return `WITH ${parts.join(', ')}
       SELECT pos.position FROM pos`
}
const APPEND_SQL = appendSql(false)
const APPEND_STATE_SQL = appendSql(true)

/** Edges of several events as three columns for unnest: room, event, the event each points to. */
function edgeColumns(rows: UnorderedInsert[], targets: (row: UnorderedInsert) => string[]): [string[], string[], string[]] {
  const columns: [string[], string[], string[]] = [[], [], []]
  for (const r of rows) {
    for (const target of targets(r)) {
      columns[0].push(r.room_id)
      columns[1].push(r.event_id)
      columns[2].push(target)
    }
  }
  return columns
}

/** A row's columns as the insert statements list them as parameters $1–$12 (room_id … replaces_state; no stream position). */
export function eventValues(row: Omit<EventInsert, 'stream_ordering'>): unknown[] {
  return [row.room_id, row.event_id, row.depth, row.type, row.state_key, row.sender, row.origin_server_ts, row.json, row.relates_to, row.rel_type, row.state_group, row.replaces_state]
}

export class EventsRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /**
   * Appends an event at a stream position in one statement: the stream log row (what the position touched;
   * kind 'member' for membership events, which /sync's device lists care about, else 'event'), the event,
   * the room's new forward extremities and state group and, for a send with a transaction ID, the txn row
   * (a transaction ID recorded before fails the statement with a unique violation), its full-text
   * search row and its DAG edges (prev_events, auth_events). With a position already taken (StreamRepository.takeReserved) the statement is a write
   * nobody waits for; without one it takes the next position and waits to learn it.
   */
  async append(
    row: Omit<EventInsert, 'stream_ordering'>,
    options: {
      /** The event's stream position: known, 'reserved' (the transaction's, RESERVED_POSITION), or null (the next one). */
      position: number | 'reserved' | null
      memberTarget: string | null
      replacedExtremities: string[]
      txn: { userId: string; deviceId: string; txnId: string; now: number } | null
      /** The event's full-text search row (search's table, written here so a send is one round trip shorter). */
      searchText?: string | null
      /**
       * Whether the room's current state group becomes the event's (default: for state events). Not when a
       * remote event's state lost to state resolution or a merge set the room's group apart from it.
       */
      movesRoomState?: boolean
      /** The event's prev_events and its auth events as the auth rules read them (state-res/store.ts authEventIds). */
      edges: { prevEvents: string[]; authEvents: string[] }
    },
  ): Promise<number | null> {
    const txn = options.txn
    const sql = (options.movesRoomState ?? row.state_key !== null) ? APPEND_STATE_SQL : APPEND_SQL
    const values = [
      ...eventValues(row),
      options.replacedExtremities,
      options.memberTarget,
      txn?.userId ?? null,
      txn?.deviceId ?? null,
      txn?.txnId ?? null,
      txn?.now ?? null,
      options.searchText ?? null,
      typeof options.position === 'number' ? options.position : null,
      options.position === 'reserved',
      options.edges.prevEvents,
      options.edges.authEvents,
    ]
    if (options.position !== null) {
      // The position is known (or SQL's): nothing to wait for.
      await this.db.write(sql, values)
      return options.position === 'reserved' ? null : options.position
    }
    const { rows } = await this.db.query<{ position: number }>(sql, values)
    return (rows[0] as { position: number }).position
  }

  /** A timeline event (not an outlier, soft-failed or rejected one: migration 0030). */
  async get(roomId: string, eventId: string): Promise<EventRow | null> {
    const { rows } = await this.db.query<EventRow>(`${SELECT_EVENT} WHERE e.room_id = $1 AND e.event_id = $2 AND e.stream_ordering IS NOT NULL`, [roomId, eventId])
    return rows[0] ?? null
  }

  async getMany(roomId: string, eventIds: string[]): Promise<EventRow[]> {
    if (eventIds.length === 0) return []
    const { rows } = await this.db.query<EventRow>(`${SELECT_EVENT} WHERE e.room_id = $1 AND e.event_id = ANY($2::text[])`, [roomId, eventIds])
    return rows
  }

  /** Events by ID in any room (for references such as prev_content and redacted_because). */
  async getByIds(eventIds: string[]): Promise<EventRow[]> {
    if (eventIds.length === 0) return []
    const { rows } = await this.db.query<EventRow>(`${SELECT_EVENT} WHERE e.event_id = ANY($1::text[])`, [eventIds])
    return rows
  }

  /** The transaction IDs a device used for some of its events. */
  async txnIds(userId: string, deviceId: string, eventIds: string[]): Promise<Map<string, string>> {
    if (eventIds.length === 0) return new Map()
    const { rows } = await this.db.query<{ event_id: string; txn_id: string }>(
      `SELECT event_id, txn_id FROM event_txns t
        WHERE t.user_id = $1 AND t.device_id = $2 AND t.event_id = ANY($3::text[])`,
      [userId, deviceId, eventIds],
    )
    return new Map(rows.map((r) => [r.event_id, r.txn_id]))
  }

  /** A room's events of one state type (and optionally key) in stream order: the history of that state. */
  async stateHistory(roomId: string, type: string, stateKey: string | null): Promise<Array<{ stream_ordering: number; state_key: string; json: string }>> {
    // One SQL text with the key and one without: `$3 IS NULL OR state_key = $3` would leave the key out of
    // the generic plan's index condition (every member's history read to find one member's).
    const { rows } = await this.db.query<{ stream_ordering: number; state_key: string; json: string }>(
      `SELECT stream_ordering, state_key, json FROM events
        WHERE room_id = $1 AND type = $2 AND state_key IS NOT NULL ${stateKey === null ? '' : 'AND state_key = $3'} AND stream_ordering IS NOT NULL
        ORDER BY stream_ordering`,
      stateKey === null ? [roomId, type] : [roomId, type, stateKey],
    )
    return rows
  }

  /** The same history for several rooms in one query (state_key fixed), with each row's room. */
  async stateHistoryInRooms(roomIds: string[], type: string, stateKey: string): Promise<Array<{ room_id: string; stream_ordering: number; json: string }>> {
    if (roomIds.length === 0) return []
    const { rows } = await this.db.query<{ room_id: string; stream_ordering: number; json: string }>(
      `SELECT room_id, stream_ordering, json FROM events
        WHERE room_id = ANY($1::text[]) AND type = $2 AND state_key = $3 AND stream_ordering IS NOT NULL
        ORDER BY room_id, stream_ordering`,
      [roomIds, type, stateKey],
    )
    return rows
  }

  /** The state group after the room's last event at or before a stream position. */
  async stateGroupAt(roomId: string, stream: number): Promise<number | null> {
    const { rows } = await this.db.query<{ state_group: number | null }>(
      `SELECT state_group FROM events WHERE room_id = $1 AND stream_ordering <= $2 AND state_group IS NOT NULL
        ORDER BY stream_ordering DESC LIMIT 1`,
      [roomId, stream],
    )
    return rows[0]?.state_group ?? null
  }

  /** Replaces an event's stored JSON (with its redacted form) and records the redaction. */
  async redact(roomId: string, eventId: string, redactedBy: string, redactedJson: string): Promise<void> {
    await this.db.query('INSERT INTO redactions (room_id, event_id, redacted_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
      roomId,
      eventId,
      redactedBy,
    ])
    await this.db.query('UPDATE events SET json = $3 WHERE room_id = $1 AND event_id = $2', [roomId, eventId, redactedJson])
  }

  /**
   * Stores events outside every timeline, without a stream position (migration 0030): outliers, soft-failed
   * and rejected events. One statement for all of them; events stored already are left as they are.
   */
  async insertUnordered(rows: UnorderedInsert[]): Promise<void> {
    if (rows.length === 0) return
    await this.db.query(
      `WITH ev AS (
         INSERT INTO events (room_id, event_id, stream_ordering, depth, type, state_key, sender, origin_server_ts, json, state_group,
                             rejected_reason, outlier, soft_failed)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[],
                              $10::bigint[], $11::text[], $12::bool[], $13::bool[])
         ON CONFLICT (room_id, event_id) DO NOTHING
       ), prevs AS (
         INSERT INTO event_edges (room_id, event_id, prev_event_id) SELECT * FROM unnest($14::text[], $15::text[], $16::text[]) ON CONFLICT DO NOTHING
       ), auths AS (
         INSERT INTO event_auth_edges (room_id, event_id, auth_event_id) SELECT * FROM unnest($17::text[], $18::text[], $19::text[]) ON CONFLICT DO NOTHING
       )
       SELECT 1`,
      [
        rows.map((r) => r.room_id),
        rows.map((r) => r.event_id),
        rows.map(() => null),
        rows.map((r) => r.depth),
        rows.map((r) => r.type),
        rows.map((r) => r.state_key),
        rows.map((r) => r.sender),
        rows.map((r) => r.origin_server_ts),
        rows.map((r) => r.json),
        rows.map((r) => r.state_group),
        rows.map((r) => r.rejected_reason),
        rows.map((r) => r.kind === 'outlier'),
        rows.map((r) => r.kind === 'soft-failed'),
        ...edgeColumns(rows, (r) => r.edges.prevEvents),
        ...edgeColumns(rows, (r) => r.edges.authEvents),
      ],
    )
  }

  /**
   * The room's timeline event with the greatest depth here, with the depth its sender claimed (null when
   * the timeline is empty), through the (room_id, depth) index.
   */
  async deepest(roomId: string): Promise<{ depth: number; claimed: number } | null> {
    const { rows } = await this.db.query<{ depth: string | number; json: string }>(
      'SELECT depth, json FROM events WHERE room_id = $1 AND stream_ordering IS NOT NULL ORDER BY depth DESC LIMIT 1',
      [roomId],
    )
    const row = rows[0]
    if (!row) return null
    const claimed = (JSON.parse(row.json) as { depth?: unknown }).depth
    return { depth: Number(row.depth), claimed: typeof claimed === 'number' ? claimed : Number(row.depth) }
  }

  /** What is stored of these events of a room, whatever they are (timeline, outlier, soft-failed, rejected). */
  async statusOf(roomId: string, eventIds: string[]): Promise<Map<string, StoredEventStatus>> {
    if (eventIds.length === 0) return new Map()
    const { rows } = await this.db.query<StoredEventStatus>(
      `SELECT e.event_id, e.state_group, e.stream_ordering, e.rejected_reason, e.outlier, e.soft_failed, e.depth FROM events e
        WHERE e.room_id = $1 AND e.event_id = ANY($2::text[])`,
      [roomId, eventIds],
    )
    return new Map(rows.map((r) => [r.event_id, r]))
  }

  /** These events' stored JSON, whatever they are, and whether they were rejected (for the auth rules and state resolution). */
  async pdus(roomId: string, eventIds: string[]): Promise<Array<{ event_id: string; json: string; rejected: boolean }>> {
    if (eventIds.length === 0) return []
    const { rows } = await this.db.query<{ event_id: string; json: string; rejected: boolean }>(
      `SELECT e.event_id, e.json, e.rejected_reason IS NOT NULL AS rejected FROM events e WHERE e.room_id = $1 AND e.event_id = ANY($2::text[])`,
      [roomId, eventIds],
    )
    return rows
  }

  async findTxn(roomId: string, userId: string, deviceId: string, txnId: string): Promise<string | null> {
    const { rows } = await this.db.query<{ event_id: string }>(
      'SELECT event_id FROM event_txns WHERE room_id = $1 AND user_id = $2 AND device_id = $3 AND txn_id = $4',
      [roomId, userId, deviceId, txnId],
    )
    return rows[0]?.event_id ?? null
  }
}
