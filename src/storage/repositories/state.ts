import type { Queryable } from '../db.ts'

/**
 * The current state rows of the (type, state_key) pairs in $2 and $3 of room $1, with their events' JSON
 * (aliases c and e). The pairs are matched through the index with arrays of types and of keys (every
 * combination is probed, the exact pairs kept): a join with the unnested pairs lets the generic plan of a
 * prepared statement hash-join them with every state row of the room (10,000 rows for a handful of keys in
 * a room of 10,000 members), and a lateral lookup per pair costs more than that in a small room.
 */
export const STATE_BY_KEYS = `current_state c JOIN events e ON e.room_id = c.room_id AND e.event_id = c.event_id
   WHERE c.room_id = $1 AND c.type = ANY($2::text[]) AND c.state_key = ANY($3::text[])
     AND (c.type, c.state_key) IN (SELECT * FROM unnest($2::text[], $3::text[]))`

/**
 * The condition on current_state.type (alias c) for "these types", "all but member events" or everything,
 * as a different SQL text for each: written as one (`$2 IS NULL OR c.type = ANY($2)`), the generic plan of
 * the prepared statement cannot use the type in the index and reads every state row of the room, which in
 * a room of 10,000 members means 10,000 rows for the one power-levels event. `typesParam` is the number of
 * the parameter holding the types, present only when types are given.
 */
export function stateTypeCondition(types: string[] | null, withoutMembers: boolean, typesParam: number): string {
  if (types !== null) return `c.type = ANY($${typesParam}::text[])`
  // Two index ranges around the member events rather than a filter over them.
  if (withoutMembers) return "(c.type < 'm.room.member' OR c.type > 'm.room.member')"
  return 'true'
}

export interface StateEntry {
  type: string
  state_key: string
  event_id: string
}

export interface StateEventRow extends StateEntry {
  json: string
}

/** Delta chains longer than this are cut with a full snapshot, bounding the cost of reading a group. */
const MAX_CHAIN = 50

export class StateRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** Current state rows of the given (type, state_key) pairs with their events' JSON. */
  async currentEvents(roomId: string, keys: Array<[string, string]>): Promise<StateEventRow[]> {
    if (keys.length === 0) return []
    const { rows } = await this.db.query<StateEventRow>(
      `SELECT c.type, c.state_key, c.event_id, e.json FROM ${STATE_BY_KEYS}`,
      [roomId, keys.map((k) => k[0]), keys.map((k) => k[1])],
    )
    return rows
  }

  /** One current state entry (type, state key) of each of these rooms that has it, with its event's JSON. */
  async currentEventInRooms(roomIds: string[], type: string, stateKey: string): Promise<Array<{ room_id: string; event_id: string; json: string }>> {
    if (roomIds.length === 0) return []
    const { rows } = await this.db.query<{ room_id: string; event_id: string; json: string }>(
      `SELECT c.room_id, c.event_id, e.json FROM current_state c JOIN events e ON e.room_id = c.room_id AND e.event_id = c.event_id
        WHERE c.room_id = ANY($1::text[]) AND c.type = $2 AND c.state_key = $3`,
      [roomIds, type, stateKey],
    )
    return rows
  }

  /** The whole current state with the events' JSON (optionally only some types, or all but member events). */
  async currentStateEvents(roomId: string, types: string[] | null = null, withoutMembers = false): Promise<StateEventRow[]> {
    const { rows } = await this.db.query<StateEventRow>(
      `SELECT c.type, c.state_key, c.event_id, e.json FROM current_state c
         JOIN events e ON e.room_id = c.room_id AND e.event_id = c.event_id
        WHERE c.room_id = $1 AND ${stateTypeCondition(types, withoutMembers, 2)}`,
      types === null ? [roomId] : [roomId, types],
    )
    return rows
  }

  /** Sets one current state entry; returns the event it replaced, if any. */
  async setCurrent(roomId: string, type: string, stateKey: string, eventId: string, membership: string | null): Promise<string | null> {
    const { rows } = await this.db.query<{ replaced: string | null }>(
      `WITH old AS (
         SELECT event_id FROM current_state WHERE room_id = $1 AND type = $2 AND state_key = $3
       )
       INSERT INTO current_state (room_id, type, state_key, event_id, membership) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = EXCLUDED.event_id, membership = EXCLUDED.membership
       RETURNING (SELECT event_id FROM old) AS replaced`,
      [roomId, type, stateKey, eventId, membership],
    )
    return rows[0]?.replaced ?? null
  }

  /** A new state group: `changes` applied on top of `prev` (or a full snapshot when the chain gets long). */
  async createGroup(roomId: string, prev: number | null, changes: StateEntry[]): Promise<number> {
    let chain = 0
    if (prev !== null) {
      const { rows } = await this.db.query<{ chain_length: number }>('SELECT chain_length FROM state_groups WHERE room_id = $1 AND id = $2', [
        roomId,
        prev,
      ])
      chain = (rows[0]?.chain_length ?? 0) + 1
    }
    const snapshot = prev !== null && chain > MAX_CHAIN
    const { rows } = await this.db.query<{ id: number }>(
      `INSERT INTO state_groups (room_id, id, prev_group, chain_length) VALUES ($1, nextval('state_group_seq'), $2, $3) RETURNING id`,
      [roomId, snapshot ? null : prev, snapshot ? 0 : chain],
    )
    const id = (rows[0] as { id: number }).id
    if (snapshot) {
      await this.db.query(
        `INSERT INTO state_group_entries (room_id, group_id, type, state_key, event_id)
         SELECT $1, $3::bigint, type, state_key, event_id FROM (${GROUP_STATE}) s
         ON CONFLICT DO NOTHING`,
        [roomId, prev, id],
      )
    }
    if (changes.length > 0) {
      await this.db.query(
        `INSERT INTO state_group_entries (room_id, group_id, type, state_key, event_id)
         SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[])
         ON CONFLICT (room_id, group_id, type, state_key) DO UPDATE SET event_id = EXCLUDED.event_id`,
        [roomId, id, changes.map((c) => c.type), changes.map((c) => c.state_key), changes.map((c) => c.event_id)],
      )
    }
    return id
  }

  /**
   * Replaces several current state entries at once and removes others (a remote event's state, or state
   * resolution, changing more than one key).
   */
  async applyCurrent(roomId: string, upserts: Array<StateEntry & { membership: string | null }>, removed: Array<[string, string]>): Promise<void> {
    if (removed.length > 0) {
      await this.db.query(
        `DELETE FROM current_state WHERE room_id = $1 AND (type, state_key) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
        [roomId, removed.map((k) => k[0]), removed.map((k) => k[1])],
      )
    }
    if (upserts.length === 0) return
    await this.db.query(
      `INSERT INTO current_state (room_id, type, state_key, event_id, membership)
       SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])
       ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = EXCLUDED.event_id, membership = EXCLUDED.membership`,
      [roomId, upserts.map((u) => u.type), upserts.map((u) => u.state_key), upserts.map((u) => u.event_id), upserts.map((u) => u.membership)],
    )
  }

  /** The full states of several groups in one query, by group; only the entries of `keys` when given. */
  async groupStates(roomId: string, groups: number[], keys?: Array<[string, string]>): Promise<Map<number, StateEntry[]>> {
    const out = new Map<number, StateEntry[]>(groups.map((g) => [g, []]))
    if (groups.length === 0 || keys?.length === 0) return out
    const { rows } = await this.db.query<StateEntry & { group_id: string | number }>(
      `WITH RECURSIVE chain(start, id, prev_group, n) AS (
         SELECT g.id, g.id, g.prev_group, 0 FROM state_groups g WHERE g.room_id = $1 AND g.id = ANY($2::bigint[])
         UNION ALL
         SELECT chain.start, g.id, g.prev_group, chain.n + 1 FROM state_groups g JOIN chain ON g.room_id = $1 AND g.id = chain.prev_group
       )
       SELECT DISTINCT ON (chain.start, x.type, x.state_key) chain.start AS group_id, x.type, x.state_key, x.event_id
         FROM state_group_entries x JOIN chain ON x.room_id = $1 AND x.group_id = chain.id
        ${keys ? 'WHERE (x.type, x.state_key) IN (SELECT * FROM unnest($3::text[], $4::text[]))' : ''}
        ORDER BY chain.start, x.type, x.state_key, chain.n`,
      keys ? [roomId, groups, keys.map((k) => k[0]), keys.map((k) => k[1])] : [roomId, groups],
    )
    for (const { group_id, ...entry } of rows) out.get(Number(group_id))?.push(entry)
    return out
  }

  /** Some (type, state_key) entries of a group's state. */
  async groupEntries(roomId: string, group: number, keys: Array<[string, string]>): Promise<StateEntry[]> {
    if (keys.length === 0) return []
    const { rows } = await this.db.query<StateEntry>(
      `SELECT type, state_key, event_id FROM (${GROUP_STATE}) s WHERE (type, state_key) IN (SELECT * FROM unnest($3::text[], $4::text[]))`,
      [roomId, group, keys.map((k) => k[0]), keys.map((k) => k[1])],
    )
    return rows
  }

  /** The full state of a group: the newest entry of each (type, state_key) along its delta chain. */
  async groupState(roomId: string, group: number, types: string[] | null = null): Promise<StateEntry[]> {
    const { rows } = await this.db.query<StateEntry>(
      `SELECT type, state_key, event_id FROM (${GROUP_STATE}) s WHERE $3::text[] IS NULL OR type = ANY($3::text[])`,
      [roomId, group, types],
    )
    return rows
  }
}

/** $1 room, $2 group: the group's resolved entries. */
const GROUP_STATE = `
  WITH RECURSIVE chain(id, prev_group, n) AS (
    SELECT id, prev_group, 0 FROM state_groups WHERE room_id = $1 AND id = $2
    UNION ALL
    SELECT g.id, g.prev_group, chain.n + 1 FROM state_groups g JOIN chain ON g.room_id = $1 AND g.id = chain.prev_group
  )
  SELECT DISTINCT ON (x.type, x.state_key) x.type, x.state_key, x.event_id
    FROM state_group_entries x JOIN chain ON x.room_id = $1 AND x.group_id = chain.id
   ORDER BY x.type, x.state_key, chain.n`
