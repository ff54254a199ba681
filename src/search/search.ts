// Server-side search (client-server API, "Server Side Search"): the room_events category over the rooms
// the user is or was in, through history visibility, in rank or recency order, with next_batch
// pagination, groups, event context and current state.
import type { JsonObject } from '../protocol/events/types.ts'
import { toClientEvents, type ClientEvent, type Viewer } from '../rooms/client-events.ts'
import { visibleSpansByRoom } from '../rooms/visibility.ts'
import { ignoredUsers } from '../directory/index.ts'
import type { Clock } from '../shared/clock.ts'
import { MatrixError, invalidParam } from '../shared/errors.ts'
import type { EventFilter, EventRow, EventSearchQuery, Repositories, SearchHit, Storage } from '../storage/index.ts'
import { toEventFilter, type RoomEventFilterDefinition } from '../sync/filter.ts'
import type { Requester } from '../users/index.ts'
import { decodeBatch, encodeBatch, type BatchToken, type SearchOrder } from './batch-token.ts'
import { eventContexts, type EventContextRequest, type SearchContext } from './context.ts'
import { visibleTo } from './visible.ts'
import { KEY_TYPES, highlights, searchableText, type SearchKey } from './text.ts'

export interface RoomEventsCriteria {
  search_term: string
  keys?: SearchKey[] | undefined
  filter?: RoomEventFilterDefinition | undefined
  order_by?: SearchOrder | undefined
  event_context?: EventContextRequest | undefined
  include_state?: boolean | undefined
  groupings?: { group_by?: Array<{ key?: string | undefined }> | undefined } | undefined
}

export interface SearchResult {
  rank: number
  result: ClientEvent
  context?: SearchContext
}

interface Group {
  results: string[]
  order: number
  next_batch?: string
}

export interface RoomEventsResults {
  count: number
  highlights: string[]
  results: SearchResult[]
  next_batch?: string
  groups?: Record<string, Record<string, Group>>
  state?: Record<string, ClientEvent[]>
}

export const SEARCH_DEFAULT_LIMIT = 10
/** Terms are cut to this many words: every word is required, so longer ones only find nothing slower. */
const MAX_LEXEMES = 32
/** `count` is an estimate the spec allows; counting stops here so a common word stays cheap. */
const COUNT_CAP = 10_000

export class Search {
  private readonly storage: Storage
  private readonly clock: Clock
  /** The largest page (limits.search_limit): a larger filter.limit is lowered to it. */
  private readonly maxLimit: number

  constructor(storage: Storage, clock: Clock, maxLimit: number) {
    this.storage = storage
    this.clock = clock
    this.maxLimit = maxLimit
  }

  async roomEvents(requester: Requester, criteria: RoomEventsCriteria, nextBatch?: string): Promise<RoomEventsResults> {
    const repos = this.storage.repos
    const order: SearchOrder = criteria.order_by ?? 'rank'
    const token = nextBatch !== undefined ? decodeBatch(nextBatch) : null
    if (token && token.order !== order) throw invalidParam('next_batch belongs to a search in another order')
    const groupKeys = groupKeysOf(criteria)
    const filter = criteria.filter
    const limit = Math.max(Math.min(filter?.limit ?? SEARCH_DEFAULT_LIMIT, this.maxLimit), 1)

    const [searchable, lexemes, ignored] = await Promise.all([
      repos.search.searchableRooms(requester.userId),
      repos.search.lexemes(criteria.search_term),
      ignoredUsers(repos, requester.userId),
    ])
    const memberships = new Map(searchable.map((r) => [r.room_id, r]))
    const roomIds = searchable
      .map((r) => r.room_id)
      .filter((id) => (!filter?.rooms || filter.rooms.includes(id)) && !filter?.not_rooms?.includes(id) && (!token?.room || token.room === id))
    const eventFilter: EventFilter = { ...toEventFilter(filter) }
    if (token?.sender !== undefined) eventFilter.senders = (eventFilter.senders ?? [token.sender]).filter((s) => s === token.sender)
    if (ignored.size > 0) eventFilter.notSenders = [...(eventFilter.notSenders ?? []), ...ignored]
    // History visibility is part of the query, so results and count both hold only what the user may see.
    const spans = await visibleSpansByRoom(repos, requester.userId, roomIds)
    const query: EventSearchQuery = {
      spans: [...spans].flatMap(([room_id, list]) => list.map((span) => ({ room_id, ...span }))),
      lexemes: lexemes.slice(0, MAX_LEXEMES),
      types: [...new Set((criteria.keys ?? (Object.keys(KEY_TYPES) as SearchKey[])).map((k) => KEY_TYPES[k]))],
      filter: eventFilter,
      order,
      after: token ? { rank: token.rank, stream: token.stream } : undefined,
      limit,
    }

    const [hits, count] = await Promise.all([repos.search.search(query), repos.search.count({ ...query, after: undefined }, COUNT_CAP)])
    const last = hits.length === limit ? (hits[hits.length - 1] as SearchHit) : null
    const viewer: Viewer = { userId: requester.userId, deviceId: requester.deviceId }
    const now = this.clock.now()
    const [events, contexts, state] = await Promise.all([
      this.shownHits(repos, requester.userId, hits).then((shown) => toClientEvents(repos, shown, viewer, now)),
      criteria.event_context ? eventContexts(repos, hits, criteria.event_context, viewer, now) : Promise.resolve(null),
      criteria.include_state ? this.roomState(repos, [...new Set(hits.map((h) => h.room_id))], memberships, viewer, now) : Promise.resolve(null),
    ])

    const results: SearchResult[] = hits.map((hit, i) => {
      const result: SearchResult = { rank: hit.rank, result: events[i] as ClientEvent }
      const context = contexts?.[i]
      if (context) result.context = context
      return result
    })
    const texts = hits.map((h) => {
      const pdu = JSON.parse(h.json) as { content?: JsonObject }
      return searchableText(h.type, h.state_key, pdu.content ?? {}) ?? ''
    })
    const out: RoomEventsResults = { count, highlights: highlights(query.lexemes, texts), results }
    const next: BatchToken | null = last ? { order, rank: order === 'rank' ? last.rank : null, stream: last.stream_ordering, room: token?.room, sender: token?.sender } : null
    if (next) out.next_batch = encodeBatch(next)
    if (groupKeys.length > 0) out.groups = groupsOf(hits, groupKeys, next)
    if (state) out.state = state
    return out
  }

  /**
   * The hits as the user may see them: history visibility is already applied by the query's spans, but an
   * erased sender's events come back redacted where the user was not joined at them (one query when no
   * sender was erased).
   */
  private async shownHits(repos: Repositories, userId: string, hits: SearchHit[]): Promise<EventRow[]> {
    const erased = await repos.users.erasedAmong(hits.map((h) => h.sender))
    if (erased.size === 0) return hits
    const shown = new Map((await visibleTo(repos, userId, hits.filter((h) => erased.has(h.sender)))).map((r) => [r.event_id, r]))
    return hits.map((h) => shown.get(h.event_id) ?? h)
  }

  /** include_state: current state of joined rooms; of rooms the user left, the state when they left. */
  private async roomState(
    repos: Repositories,
    roomIds: string[],
    memberships: Map<string, { membership: string; event_id: string }>,
    viewer: Viewer,
    now: number,
  ): Promise<Record<string, ClientEvent[]>> {
    const joined = roomIds.filter((id) => memberships.get(id)?.membership === 'join')
    const left = roomIds.filter((id) => !joined.includes(id)).map((id) => ({ room_id: id, event_id: memberships.get(id)?.event_id as string }))
    const groups = await repos.search.stateGroupsOf(left)
    const leftGroups = left.flatMap((l) => (groups.has(l.event_id) ? [{ room_id: l.room_id, group: groups.get(l.event_id) as number }] : []))
    const [current, atLeave] = await Promise.all([repos.sync.currentState(joined), repos.search.groupStates(leftGroups, null, null)])
    const rows = [...current, ...(await repos.events.getByIds(atLeave.map((s) => s.event_id)))]
    const formatted = await toClientEvents(repos, rows, viewer, now)
    const state: Record<string, ClientEvent[]> = Object.fromEntries(roomIds.map((id) => [id, [] as ClientEvent[]]))
    formatted.forEach((event, i) => state[rows[i]?.room_id as string]?.push(event))
    return state
  }
}

function groupKeysOf(criteria: RoomEventsCriteria): Array<'room_id' | 'sender'> {
  const keys: Array<'room_id' | 'sender'> = []
  for (const g of criteria.groupings?.group_by ?? []) {
    if (g.key === undefined) continue
    if (g.key !== 'room_id' && g.key !== 'sender') throw new MatrixError('M_INVALID_PARAM', `Unsupported group key ${g.key}`)
    if (!keys.includes(g.key)) keys.push(g.key)
  }
  return keys
}

/** One group per distinct room or sender, ordered by their first result; their next_batch stays inside the group. */
function groupsOf(hits: SearchHit[], keys: Array<'room_id' | 'sender'>, next: BatchToken | null): Record<string, Record<string, Group>> {
  const groups: Record<string, Record<string, Group>> = {}
  for (const key of keys) {
    const byValue: Record<string, Group> = {}
    for (const hit of hits) {
      const value = key === 'room_id' ? hit.room_id : hit.sender
      let group = byValue[value]
      if (!group) {
        group = { results: [], order: Object.keys(byValue).length + 1 }
        if (next) group.next_batch = encodeBatch({ ...next, ...(key === 'room_id' ? { room: value } : { sender: value }) })
        byValue[value] = group
      }
      group.results.push(hit.event_id)
    }
    groups[key] = byValue
  }
  return groups
}
