// The room DAG as federation reads it (migration 0033: event_edges, event_auth_edges, written by
// EventsRepository.append): auth chains and walks back along prev_events as recursive CTEs, one statement
// per walk, and the facts about one server's users that history visibility for servers needs.
import type { Queryable } from '../db.ts'
import type { EventInsert } from './events.ts'

/** The events another server may be given: not rejected (outliers and soft-failed events are: migration 0030). */
export function servable(alias: string): string {
  return `${alias}.rejected_reason IS NULL`
}

/** The events a walk along prev_events goes through: servable ones with a place in the DAG (not outliers). */
function walkable(alias: string): string {
  return `${servable(alias)} AND NOT ${alias}.outlier`
}

/** The server part of a user ID held in `column` (everything after the first ':'). */
const serverOf = (column: string) => `substr(${column}, strpos(${column}, ':') + 1)`

/** An event as these reads need it: where it sits in the DAG and the state after it. */
export type GraphEventRow = Pick<EventInsert, 'room_id' | 'event_id' | 'stream_ordering' | 'depth' | 'type' | 'state_key' | 'sender' | 'json' | 'state_group' | 'replaces_state'> & {
  /** Known only as state or an auth event: no place in the DAG here, no state at it. */
  outlier: boolean
}

const GRAPH_COLUMNS = 'e.room_id, e.event_id, e.stream_ordering, e.depth, e.type, e.state_key, e.sender, e.json, e.state_group, e.replaces_state, e.outlier'

export interface WalkRow {
  event_id: string
  depth: number
  /** Reached below the depth window: not walked further (the next window starts from these). */
  below: boolean
  /** One of the events the walk started from. */
  start: boolean
}

export class EventGraphRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /** Servable events by ID, in `roomId` or (null) in whichever room holds them. */
  async events(roomId: string | null, eventIds: string[]): Promise<GraphEventRow[]> {
    if (eventIds.length === 0) return []
    const { rows } =
      roomId === null
        ? await this.db.query<GraphEventRow>(`SELECT ${GRAPH_COLUMNS} FROM events e WHERE e.event_id = ANY($1::text[]) AND ${servable('e')}`, [eventIds])
        : await this.db.query<GraphEventRow>(`SELECT ${GRAPH_COLUMNS} FROM events e WHERE e.room_id = $1 AND e.event_id = ANY($2::text[]) AND ${servable('e')}`, [
            roomId,
            eventIds,
          ])
    return rows
  }

  /**
   * The union of the auth chains of `eventIds` (everything reachable through auth edges, the given events
   * only when one of them reaches another), servable events only, at most `cap` of them; with their JSON
   * when `withJson`. Oldest first (by depth): a receiver that reads them in order as the room's state (as
   * some do with send_join's answer) has each event after those it replaced. One recursive statement; the
   * walk stops once `cap` events are found.
   */
  async authChain(roomId: string, eventIds: string[], cap: number, withJson: boolean): Promise<Array<{ event_id: string; json?: string }>> {
    if (eventIds.length === 0) return []
    const { rows } = await this.db.query<{ event_id: string; json?: string }>(
      `WITH RECURSIVE chain(event_id) AS (
         SELECT a.auth_event_id FROM event_auth_edges a WHERE a.room_id = $1 AND a.event_id = ANY($2::text[])
         UNION
         SELECT a.auth_event_id FROM chain JOIN event_auth_edges a ON a.room_id = $1 AND a.event_id = chain.event_id
       )
       SELECT e.event_id${withJson ? ', e.json' : ''}
         FROM (SELECT event_id FROM chain LIMIT $3) c
         JOIN events e ON e.room_id = $1 AND e.event_id = c.event_id
        WHERE ${servable('e')}
        ORDER BY e.depth, e.event_id`,
      [roomId, eventIds, cap],
    )
    return rows
  }

  /**
   * Walks prev_events back from `start`, through servable events at depth `minDepth` or more, never into
   * `stop`, at most `cap` rows: the start events, the ancestors in the window, and (below) the ones just
   * under it, where a further window starts. One recursive statement.
   */
  async walkBack(roomId: string, start: string[], minDepth: number, stop: string[], cap: number): Promise<WalkRow[]> {
    if (start.length === 0) return []
    const { rows } = await this.db.query<WalkRow>(
      `WITH RECURSIVE walk(event_id, depth, below, start) AS (
         SELECT e.event_id, e.depth, false, true FROM events e
          WHERE e.room_id = $1 AND e.event_id = ANY($2::text[]) AND ${walkable('e')}
         UNION
         SELECT p.event_id, p.depth, p.depth < $3, false
           FROM walk w
           JOIN event_edges g ON g.room_id = $1 AND g.event_id = w.event_id
           JOIN events p ON p.room_id = $1 AND p.event_id = g.prev_event_id
          WHERE NOT w.below AND NOT (p.event_id = ANY($4::text[])) AND ${walkable('p')}
       )
       SELECT event_id, depth, below, start FROM walk LIMIT $5`,
      [roomId, start, minDepth, stop, cap],
    )
    return rows
  }

  /** Whether any user of `server` is joined to the room now, and the stream position of its users' latest join event. */
  async serverPresence(roomId: string, server: string): Promise<{ joinedNow: boolean; lastJoin: number | null }> {
    const { rows } = await this.db.query<{ joined_now: boolean; last_join: number | null }>(
      `SELECT EXISTS (
                SELECT 1 FROM current_state c
                 WHERE c.room_id = $1 AND c.type = 'm.room.member' AND c.membership = 'join' AND ${serverOf('c.state_key')} = $2
              ) AS joined_now,
              (SELECT max(e.stream_ordering) FROM events e
                WHERE e.room_id = $1 AND e.type = 'm.room.member' AND e.state_key IS NOT NULL AND ${serverOf('e.state_key')} = $2
                  AND ${servable('e')} AND e.json::jsonb -> 'content' ->> 'membership' = 'join') AS last_join`,
      [roomId, server],
    )
    const row = rows[0] as { joined_now: boolean; last_join: number | null }
    return { joinedNow: row.joined_now, lastJoin: row.last_join }
  }

  /** Which of these rooms one of `server`'s users is joined to now. */
  async roomsJoinedBy(server: string, roomIds: string[]): Promise<Set<string>> {
    if (roomIds.length === 0) return new Set()
    const { rows } = await this.db.query<{ room_id: string }>(
      `SELECT DISTINCT c.room_id FROM current_state c
        WHERE c.room_id = ANY($1::text[]) AND c.type = 'm.room.member' AND c.membership = 'join' AND ${serverOf('c.state_key')} = $2`,
      [roomIds, server],
    )
    return new Set(rows.map((r) => r.room_id))
  }

  /**
   * What history visibility for `server` reads of the state groups `groups`: for each, its
   * m.room.history_visibility value and the membership of each of the server's users (with `value` the
   * content's history_visibility or membership). One statement for every group.
   */
  async serverStateIn(roomId: string, groups: number[], server: string): Promise<Array<{ group_id: number; type: string; state_key: string; value: string | null }>> {
    if (groups.length === 0) return []
    const { rows } = await this.db.query<{ group_id: number; type: string; state_key: string; value: string | null }>(
      `WITH RECURSIVE chain(root, id, prev_group, n) AS (
         SELECT g.id, g.id, g.prev_group, 0 FROM state_groups g WHERE g.room_id = $1 AND g.id = ANY($2::bigint[])
         UNION ALL
         SELECT chain.root, g.id, g.prev_group, chain.n + 1 FROM state_groups g JOIN chain ON g.room_id = $1 AND g.id = chain.prev_group
       ), entries AS (
         SELECT DISTINCT ON (chain.root, x.type, x.state_key) chain.root AS group_id, x.type, x.state_key, x.event_id
           FROM state_group_entries x JOIN chain ON x.room_id = $1 AND x.group_id = chain.id
          WHERE (x.type = 'm.room.history_visibility' AND x.state_key = '')
             OR (x.type = 'm.room.member' AND ${serverOf('x.state_key')} = $3)
          ORDER BY chain.root, x.type, x.state_key, chain.n
       )
       SELECT s.group_id, s.type, s.state_key,
              e.json::jsonb -> 'content' ->> (CASE WHEN s.type = 'm.room.member' THEN 'membership' ELSE 'history_visibility' END) AS value
         FROM entries s JOIN events e ON e.room_id = $1 AND e.event_id = s.event_id`,
      [roomId, groups, server],
    )
    return rows
  }
}
