import type { Queryable } from '../db.ts'
import { EVENT_COLUMNS, type EventRow } from './events.ts'
import { filterSql, type EventFilter } from './timeline.ts'

/** A search hit: the event row and its text-search rank. */
export interface SearchHit extends EventRow {
  rank: number
}

/** A room the user may search, with their membership there. */
export interface SearchableRoom {
  room_id: string
  membership: string
  event_id: string
}

/** A stretch of one room's stream, [from, to), whose events the searcher may see (history visibility). */
export interface VisibleSpan {
  room_id: string
  from: number
  to: number
}

export interface EventSearchQuery {
  /** Where to search: only events inside these spans are found or counted. */
  spans: VisibleSpan[]
  lexemes: string[]
  /** Event types searched (from the request's keys). */
  types: string[]
  filter?: EventFilter | undefined
  order: 'rank' | 'recent'
  /** Exclusive keyset bound: results strictly after this one in the requested order. */
  after?: { rank: number | null; stream: number } | undefined
  limit: number
}

/** One result's neighbourhood for event_context. */
export interface ContextAnchor {
  room_id: string
  depth: number
  stream: number
}

/** Owns `event_search` (migration 0006; new rows come with their event, in EventsRepository.append); reads events, redactions, memberships and state groups. */
export class SearchRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async remove(roomId: string, eventId: string): Promise<void> {
    await this.db.query('DELETE FROM event_search WHERE room_id = $1 AND event_id = $2', [roomId, eventId])
  }

  /** The term's lexemes as the search configuration sees them (empty: nothing to search for). */
  async lexemes(term: string): Promise<string[]> {
    const { rows } = await this.db.query<{ lexemes: string[] }>('SELECT search_lexemes($1) AS lexemes', [term])
    return rows[0]?.lexemes ?? []
  }

  /** Rooms the user is or was in (left or banned, not forgotten), leaving out end-to-end encrypted rooms. */
  async searchableRooms(userId: string): Promise<SearchableRoom[]> {
    const { rows } = await this.db.query<SearchableRoom>(
      `SELECT m.room_id, m.membership, m.event_id FROM room_memberships m
        WHERE m.user_id = $1 AND m.membership IN ('join', 'leave', 'ban') AND NOT m.forgotten
          AND NOT EXISTS (SELECT 1 FROM current_state c WHERE c.room_id = m.room_id AND c.type = 'm.room.encryption' AND c.state_key = '')`,
      [userId],
    )
    return rows
  }

  /**
   * The FROM and WHERE parts shared by search and count. History visibility is applied here, through the
   * visible spans joined to the (room_id, stream_ordering) index, so a count never counts what the results
   * would leave out.
   */
  private matching(q: EventSearchQuery, params: unknown[]): { from: string; where: string[] } {
    params.push(q.spans.map((v) => v.room_id), q.spans.map((v) => v.from), q.spans.map((v) => v.to), q.lexemes, q.types)
    const from = `unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(room_id, lo, hi)
         JOIN event_search s ON s.room_id = v.room_id AND s.stream_ordering >= v.lo AND s.stream_ordering < v.hi
         JOIN events e ON e.room_id = s.room_id AND e.event_id = s.event_id`
    const where = [
      's.vector @@ prefix_tsquery($4::text[])',
      'e.type = ANY($5::text[])',
      'e.stream_ordering IS NOT NULL',
      'NOT EXISTS (SELECT 1 FROM redactions r WHERE r.room_id = s.room_id AND r.event_id = s.event_id)',
    ]
    filterSql(q.filter, params, where)
    return { from, where }
  }

  /** One page of hits in rank or recency order; the GIN index finds the matches. */
  async search(q: EventSearchQuery): Promise<SearchHit[]> {
    if (q.spans.length === 0 || q.lexemes.length === 0) return []
    const params: unknown[] = []
    const { from, where } = this.matching(q, params)
    const rank = 'ts_rank(s.vector, prefix_tsquery($4::text[]))'
    if (q.after) {
      if (q.order === 'rank' && q.after.rank !== null) {
        params.push(q.after.rank, q.after.stream)
        where.push(`(${rank}, s.stream_ordering) < ($${params.length - 1}::real, $${params.length})`)
      } else {
        params.push(q.after.stream)
        where.push(`s.stream_ordering < $${params.length}`)
      }
    }
    params.push(q.limit)
    const { rows } = await this.db.query<SearchHit>(
      `SELECT ${EVENT_COLUMNS}, ${rank} AS rank
         FROM ${from}
        WHERE ${where.join(' AND ')}
        ORDER BY ${q.order === 'rank' ? 'rank DESC, ' : ''}s.stream_ordering DESC
        LIMIT $${params.length}`,
      params,
    )
    return rows
  }

  /** How many events the search finds in all its pages, counted up to `cap`. */
  async count(q: EventSearchQuery, cap: number): Promise<number> {
    if (q.spans.length === 0 || q.lexemes.length === 0) return 0
    const params: unknown[] = []
    const { from, where } = this.matching(q, params)
    params.push(cap)
    const { rows } = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM ${from} WHERE ${where.join(' AND ')} LIMIT $${params.length}) x`,
      params,
    )
    return rows[0]?.n ?? 0
  }

  /**
   * Up to `limit` events on one side of each anchor in DAG order (newest first before, oldest first after),
   * for all anchors in one query. `anchor` in each row is the anchor's index.
   */
  async around(anchors: ContextAnchor[], side: 'before' | 'after', limit: number): Promise<Array<EventRow & { anchor: number }>> {
    if (anchors.length === 0 || limit <= 0) return []
    const [op, order] = side === 'before' ? ['<', 'DESC'] : ['>', 'ASC']
    const { rows } = await this.db.query<EventRow & { anchor: number }>(
      `SELECT (a.n - 1)::int AS anchor, x.* FROM unnest($1::text[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS a(room_id, depth, stream, n)
         CROSS JOIN LATERAL (
           SELECT ${EVENT_COLUMNS} FROM events e
            WHERE e.room_id = a.room_id AND (e.depth, e.stream_ordering) ${op} (a.depth, a.stream) AND e.stream_ordering IS NOT NULL
            ORDER BY e.depth ${order}, e.stream_ordering ${order} LIMIT $4
         ) x`,
      [anchors.map((a) => a.room_id), anchors.map((a) => a.depth), anchors.map((a) => a.stream), limit],
    )
    return rows
  }

  /** The state group after each of these events (null when unknown). */
  async stateGroupsOf(events: Array<{ room_id: string; event_id: string }>): Promise<Map<string, number>> {
    if (events.length === 0) return new Map()
    const { rows } = await this.db.query<{ event_id: string; state_group: number }>(
      `SELECT e.event_id, e.state_group FROM unnest($1::text[], $2::text[]) AS k(room_id, event_id)
         JOIN events e ON e.room_id = k.room_id AND e.event_id = k.event_id
        WHERE e.state_group IS NOT NULL`,
      [events.map((e) => e.room_id), events.map((e) => e.event_id)],
    )
    return new Map(rows.map((r) => [r.event_id, r.state_group]))
  }

  /**
   * The state of several groups at once (optionally only some types and state keys): for each group, the
   * newest entry of each (type, state_key) along its delta chain.
   */
  async groupStates(groups: Array<{ room_id: string; group: number }>, types: string[] | null, stateKeys: string[] | null): Promise<Array<{ group: number; event_id: string }>> {
    if (groups.length === 0) return []
    const { rows } = await this.db.query<{ group: number; event_id: string }>(
      `WITH RECURSIVE chain(room_id, root, id, prev_group, n) AS (
         SELECT g.room_id, g.id, g.id, g.prev_group, 0
           FROM state_groups g JOIN unnest($1::text[], $2::bigint[]) AS r(room_id, gid) ON g.room_id = r.room_id AND g.id = r.gid
         UNION ALL
         SELECT c.room_id, c.root, g.id, g.prev_group, c.n + 1
           FROM chain c JOIN state_groups g ON g.room_id = c.room_id AND g.id = c.prev_group
       )
       SELECT "group", event_id FROM (
         SELECT DISTINCT ON (c.root, x.type, x.state_key) c.root AS "group", x.event_id
           FROM chain c JOIN state_group_entries x ON x.room_id = c.room_id AND x.group_id = c.id
          WHERE ($3::text[] IS NULL OR x.type = ANY($3::text[])) AND ($4::text[] IS NULL OR x.state_key = ANY($4::text[]))
          ORDER BY c.root, x.type, x.state_key, c.n
       ) s`,
      [groups.map((g) => g.room_id), groups.map((g) => g.group), types, stateKeys],
    )
    return rows
  }
}
