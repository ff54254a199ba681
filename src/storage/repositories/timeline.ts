import type { Queryable } from '../db.ts'
import { EVENT_COLUMNS, TIMELINE_COLUMNS, type EventRow } from './events.ts'

/** A position between events of a room: `s`: after stream position N; `t`: at (depth, stream) in the DAG order. */
export type TimelineToken = { kind: 's'; stream: number } | { kind: 't'; depth: number; stream: number }

export interface EventFilter {
  types?: string[] | undefined
  notTypes?: string[] | undefined
  senders?: string[] | undefined
  notSenders?: string[] | undefined
  containsUrl?: boolean | undefined
}

/**
 * Event type patterns (client-server API, "Filtering": `*` matches any sequence of characters) as SQL: the
 * plain types compared for equality (a hashed lookup per row), only those with a `*` as LIKE patterns, each
 * once. PostgreSQL's LIKE is linear in practice on 255-byte types however many `%` a pattern holds, and the
 * filter limits (sync/filter.ts) bound how many there are.
 */
function typeCondition(patterns: string[], params: unknown[]): string {
  const unique = [...new Set(patterns)]
  const plain = unique.filter((p) => !p.includes('*'))
  const wild = unique.filter((p) => p.includes('*')).map((p) => p.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, '%'))
  const parts: string[] = []
  if (plain.length > 0) {
    params.push(plain)
    parts.push(`e.type = ANY($${params.length}::text[])`)
  }
  if (wild.length > 0) {
    params.push(wild)
    parts.push(`e.type LIKE ANY($${params.length}::text[])`)
  }
  return parts.length === 0 ? 'false' : `(${parts.join(' OR ')})`
}

/** Appends the filter's conditions to `where`, with parameters from `params`. */
export function filterSql(filter: EventFilter | undefined, params: unknown[], where: string[]): void {
  if (!filter) return
  if (filter.types) where.push(typeCondition(filter.types, params))
  if (filter.notTypes && filter.notTypes.length > 0) where.push(`NOT ${typeCondition(filter.notTypes, params)}`)
  if (filter.senders) {
    params.push(filter.senders)
    where.push(`e.sender = ANY($${params.length}::text[])`)
  }
  if (filter.notSenders && filter.notSenders.length > 0) {
    params.push(filter.notSenders)
    where.push(`NOT (e.sender = ANY($${params.length}::text[]))`)
  }
  if (filter.containsUrl !== undefined) {
    where.push(`${filter.containsUrl ? '' : 'NOT '}((e.json::jsonb -> 'content') ? 'url')`)
  }
}

export class TimelineRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  /**
   * A page of a room's events from `from` in direction `dir` ('b': older first, 'f': newer first), stopping
   * at `to` (exclusive) if given. Uses the (room_id, depth, stream_ordering) or (room_id, stream_ordering) index.
   */
  async page(roomId: string, from: TimelineToken, to: TimelineToken | null, dir: 'b' | 'f', limit: number, filter?: EventFilter): Promise<EventRow[]> {
    const params: unknown[] = [roomId]
    const where = ['e.room_id = $1', 'e.stream_ordering IS NOT NULL', 'NOT e.purged']
    const bound = (token: TimelineToken, side: 'from' | 'to') => {
      // Backwards: from is an upper bound, to a lower one; forwards the other way round.
      const upper = (dir === 'b') === (side === 'from')
      if (token.kind === 's') {
        params.push(token.stream)
        where.push(upper ? `e.stream_ordering <= $${params.length}` : `e.stream_ordering > $${params.length}`)
      } else {
        params.push(token.depth, token.stream)
        const op = upper ? '<' : '>'
        where.push(`(e.depth, e.stream_ordering) ${op} ($${params.length - 1}, $${params.length})`)
      }
    }
    bound(from, 'from')
    if (to) bound(to, 'to')
    filterSql(filter, params, where)
    params.push(limit)
    const order = dir === 'b' ? 'DESC' : 'ASC'
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${TIMELINE_COLUMNS} FROM events e WHERE ${where.join(' AND ')}
        ORDER BY e.depth ${order}, e.stream_ordering ${order} LIMIT $${params.length}`,
      params,
    )
    return rows
  }

  /** The events nearest a timestamp in one direction ('f': at or after it, 'b': at or before), nearest first. */
  async nearTimestamp(roomId: string, ts: number, dir: 'b' | 'f', limit: number): Promise<EventRow[]> {
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events e
        WHERE e.room_id = $1 AND e.stream_ordering IS NOT NULL AND e.origin_server_ts ${dir === 'f' ? '>=' : '<='} $2
        ORDER BY e.origin_server_ts ${dir === 'f' ? 'ASC' : 'DESC'}, e.stream_ordering ${dir === 'f' ? 'ASC' : 'DESC'} LIMIT $3`,
      [roomId, ts, limit],
    )
    return rows
  }

  /** Events of several rooms in the stream range (after, upTo], newest first, at most `limit` per room. */
  recentInRooms(roomIds: string[], after: number, upTo: number, limit: number, filter?: EventFilter): Promise<EventRow[]> {
    return this.recentInRanges(roomIds.map((roomId) => ({ roomId, after, upTo })), limit, filter)
  }

  /** Events of each room in its own stream range (after, upTo], newest first, at most `limit` per room (one query for all). */
  async recentInRanges(ranges: Array<{ roomId: string; after: number; upTo: number }>, limit: number, filter?: EventFilter): Promise<EventRow[]> {
    if (ranges.length === 0) return []
    const params: unknown[] = [ranges.map((r) => r.roomId), ranges.map((r) => r.after), ranges.map((r) => r.upTo)]
    const where = ['e.room_id = r.room_id', 'e.stream_ordering > r.after', 'e.stream_ordering <= r.up_to', 'NOT e.purged']
    filterSql(filter, params, where)
    params.push(limit)
    const { rows } = await this.db.query<EventRow>(
      `SELECT x.* FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS r(room_id, after, up_to)
         CROSS JOIN LATERAL (
           SELECT ${TIMELINE_COLUMNS} FROM events e WHERE ${where.join(' AND ')}
            ORDER BY e.stream_ordering DESC LIMIT $${params.length}
         ) x`,
      params,
    )
    return rows
  }

  /** The rooms (of those given) with any event in the stream range (after, upTo]. */
  async roomsWithEvents(roomIds: string[], after: number, upTo: number): Promise<Set<string>> {
    if (roomIds.length === 0) return new Set()
    const { rows } = await this.db.query<{ room_id: string }>(
      `SELECT r.room_id FROM unnest($1::text[]) AS r(room_id)
        WHERE EXISTS (SELECT 1 FROM events e WHERE e.room_id = r.room_id AND e.stream_ordering > $2 AND e.stream_ordering <= $3)`,
      [roomIds, after, upTo],
    )
    return new Set(rows.map((r) => r.room_id))
  }

  /** State events of the rooms in the stream range (after, upTo] (what changed in their state). */
  async stateChanges(roomIds: string[], after: number, upTo: number): Promise<EventRow[]> {
    if (roomIds.length === 0) return []
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events e
        WHERE e.room_id = ANY($1::text[]) AND e.stream_ordering > $2 AND e.stream_ordering <= $3 AND e.state_key IS NOT NULL
        ORDER BY e.stream_ordering`,
      [roomIds, after, upTo],
    )
    return rows
  }
}
