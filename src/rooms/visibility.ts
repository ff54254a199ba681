// History visibility (client-server API, "Room History Visibility"): which events a user may see, from
// the room's history_visibility and the user's membership at each event (taken in stream order).
import type { EventRow, Repositories } from '../storage/index.ts'

const KNOWN = new Set(['world_readable', 'shared', 'invited', 'joined'])

interface Change {
  stream: number
  value: string
}

function valueAt(changes: Change[], stream: number, fallback: string): string {
  let value = fallback
  for (const c of changes) {
    if (c.stream > stream) break
    value = c.value
  }
  return value
}

export type History = Array<{ stream_ordering: number; json: string }>

function parse(list: History, key: string): Change[] {
  return list.map((r) => {
    const content = (JSON.parse(r.json) as { content?: Record<string, unknown> }).content ?? {}
    return { stream: r.stream_ordering, value: typeof content[key] === 'string' ? (content[key] as string) : '' }
  })
}

interface Rules {
  visibilityChanges: Change[]
  membershipChanges: Change[]
  /** The user's last join (-Infinity: never joined). */
  lastJoin: number
  allowed(visibilityAt: string, membershipAt: string, stream: number): boolean
}

/** The spec's rules for one room, from its visibility history and the user's membership history. */
function rulesOf(visibility: History, membership: History): Rules {
  const visibilityChanges = parse(visibility, 'history_visibility').map((c) => (KNOWN.has(c.value) ? c : { ...c, value: 'shared' }))
  const membershipChanges = parse(membership, 'membership')
  // "shared" history is visible to a user who joined at any point after the event was sent.
  const lastJoin = membershipChanges.reduce((max, c) => (c.value === 'join' ? Math.max(max, c.stream) : max), -Infinity)
  const allowed = (visibilityAt: string, membershipAt: string, stream: number): boolean => {
    if (visibilityAt === 'world_readable') return true
    if (membershipAt === 'join') return true
    if (visibilityAt === 'shared' && lastJoin > stream) return true
    if (visibilityAt === 'invited' && membershipAt === 'invite') return true
    return false
  }
  return { visibilityChanges, membershipChanges, lastJoin, allowed }
}

/** The spec's rules, at each event, for one room given its visibility history and the user's membership history. */
export function keepVisible(rows: EventRow[], userId: string, visibility: History, membership: History): EventRow[] {
  const { visibilityChanges, membershipChanges, allowed } = rulesOf(visibility, membership)
  return rows.filter((row) => {
    // One's own membership events are always visible (e.g. the leave that ends a membership).
    if (row.type === 'm.room.member' && row.state_key === userId) return true
    const membershipAt = valueAt(membershipChanges, row.stream_ordering, 'leave')
    if (allowed(valueAt(visibilityChanges, row.stream_ordering, 'shared'), membershipAt, row.stream_ordering)) return true
    // A history_visibility event is visible if the visibility before or after it allows it.
    if (row.type === 'm.room.history_visibility' && row.state_key === '') {
      return allowed(valueAt(visibilityChanges, row.stream_ordering - 1, 'shared'), membershipAt, row.stream_ordering)
    }
    return false
  })
}

/** A half-open span of stream positions, [from, to). */
export interface StreamSpan {
  from: number
  to: number
}

/**
 * The spans of the room's stream in which keepVisible keeps an event of any type but the two it treats
 * specially (the user's own m.room.member and m.room.history_visibility), so a query can apply history
 * visibility itself: the rules change only where the visibility or the user's membership changes and at
 * the user's last join, so between those points an event is either visible or not.
 */
export function visibleSpans(visibility: History, membership: History): StreamSpan[] {
  const { visibilityChanges, membershipChanges, lastJoin, allowed } = rulesOf(visibility, membership)
  const points = [...new Set([...visibilityChanges, ...membershipChanges].map((c) => c.stream).concat(Number.isFinite(lastJoin) ? [lastJoin] : []))].sort((a, b) => a - b)
  const starts = [Number.MIN_SAFE_INTEGER, ...points]
  const spans: StreamSpan[] = []
  starts.forEach((from, i) => {
    const to = starts[i + 1] ?? Number.MAX_SAFE_INTEGER
    if (!allowed(valueAt(visibilityChanges, from, 'shared'), valueAt(membershipChanges, from, 'leave'), from)) return
    const last = spans[spans.length - 1]
    if (last && last.to === from) last.to = to
    else spans.push({ from, to })
  })
  return spans
}

/** Keeps the events `userId` may see; rows must all belong to `roomId`. Two small queries per call. */
export async function filterVisible(repos: Repositories, roomId: string, userId: string, rows: EventRow[]): Promise<EventRow[]> {
  if (rows.length === 0) return rows
  const [visibility, membership] = await Promise.all([
    repos.events.stateHistory(roomId, 'm.room.history_visibility', ''),
    repos.events.stateHistory(roomId, 'm.room.member', userId),
  ])
  return keepVisible(rows, userId, visibility, membership)
}

/** The visibility and membership histories of several rooms: two queries in all, whatever the number of rooms. */
async function historiesOf(repos: Repositories, userId: string, roomIds: string[]): Promise<{ visibility: Map<string, History>; membership: Map<string, History> }> {
  const [visibility, membership] = await Promise.all([
    repos.events.stateHistoryInRooms(roomIds, 'm.room.history_visibility', ''),
    repos.events.stateHistoryInRooms(roomIds, 'm.room.member', userId),
  ])
  const group = (list: Array<{ room_id: string; stream_ordering: number; json: string }>) => {
    const map = new Map<string, History>()
    for (const r of list) {
      const rows = map.get(r.room_id)
      if (rows) rows.push(r)
      else map.set(r.room_id, [r])
    }
    return map
  }
  return { visibility: group(visibility), membership: group(membership) }
}

/** filterVisible for many rooms at once: two queries in all, whatever the number of rooms. */
export async function filterVisibleByRoom(repos: Repositories, userId: string, byRoom: Map<string, EventRow[]>): Promise<Map<string, EventRow[]>> {
  const { visibility, membership } = await historiesOf(repos, userId, [...byRoom.keys()].filter((r) => (byRoom.get(r) ?? []).length > 0))
  const out = new Map<string, EventRow[]>()
  for (const [roomId, rows] of byRoom) out.set(roomId, rows.length === 0 ? rows : keepVisible(rows, userId, visibility.get(roomId) ?? [], membership.get(roomId) ?? []))
  return out
}

/** visibleSpans of several rooms (rooms with nothing visible are left out): two queries in all. */
export async function visibleSpansByRoom(repos: Repositories, userId: string, roomIds: string[]): Promise<Map<string, StreamSpan[]>> {
  const { visibility, membership } = await historiesOf(repos, userId, roomIds)
  const out = new Map<string, StreamSpan[]>()
  for (const roomId of roomIds) {
    const spans = visibleSpans(visibility.get(roomId) ?? [], membership.get(roomId) ?? [])
    if (spans.length > 0) out.set(roomId, spans)
  }
  return out
}
