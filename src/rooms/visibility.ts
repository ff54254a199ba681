// History visibility (client-server API, "Room History Visibility"): which events a user may see, from
// the room's history_visibility and the user's membership at each event (taken in stream order). The
// events of erased senders (client-server API, "Account deactivation") are shown redacted to a user who
// was not joined when they were sent, as Synapse does.
import { redact, type JsonObject } from '../protocol/events/index.ts'
import { roomVersion, type RoomVersion } from '../protocol/room-versions.ts'
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

/** The history visibility and the user's membership in the state after an event (see backfilledStates). */
export interface StateAt {
  visibility: string
  membership: string
  /** For a history_visibility event: the visibility it replaced. */
  visibilityBefore?: string
}

/** Senders who asked to be erased, and the room's version to redact their events by. */
export interface Erasure {
  senders: Set<string>
  version: RoomVersion
}

/** The row with its event redacted, as served in place of an erased sender's event. */
function redactedRow(row: EventRow, version: RoomVersion): EventRow {
  return { ...row, json: JSON.stringify(redact(JSON.parse(row.json) as JsonObject, version)), erased: true }
}

/**
 * The spec's rules, at each event, for one room given its visibility history and the user's membership
 * history. Backfilled events (negative stream positions: older than everything else here, and fetched
 * in no particular order) are judged by the state after each of them instead, given in `at`. An event of
 * an erased sender comes back redacted unless the user was joined at it.
 */
export function keepVisible(rows: EventRow[], userId: string, visibility: History, membership: History, at?: Map<string, StateAt>, erasure?: Erasure): EventRow[] {
  const { visibilityChanges, membershipChanges, allowed } = rulesOf(visibility, membership)
  const membershipOf = (row: EventRow): string | undefined =>
    row.stream_ordering < 0 ? at?.get(row.event_id)?.membership : valueAt(membershipChanges, row.stream_ordering, 'leave')
  const visible = (row: EventRow): boolean => {
    // One's own membership events are always visible (e.g. the leave that ends a membership).
    if (row.type === 'm.room.member' && row.state_key === userId) return true
    if (row.stream_ordering < 0) {
      const state = at?.get(row.event_id)
      if (state === undefined) return false
      return allowed(state.visibility, state.membership, row.stream_ordering) || (state.visibilityBefore !== undefined && allowed(state.visibilityBefore, state.membership, row.stream_ordering))
    }
    const membershipAt = valueAt(membershipChanges, row.stream_ordering, 'leave')
    if (allowed(valueAt(visibilityChanges, row.stream_ordering, 'shared'), membershipAt, row.stream_ordering)) return true
    // A history_visibility event is visible if the visibility before or after it allows it.
    if (row.type === 'm.room.history_visibility' && row.state_key === '') {
      return allowed(valueAt(visibilityChanges, row.stream_ordering - 1, 'shared'), membershipAt, row.stream_ordering)
    }
    return false
  }
  return rows.flatMap((row) => {
    if (!visible(row)) return []
    if (erasure?.senders.has(row.sender) && membershipOf(row) !== 'join') return [redactedRow(row, erasure.version)]
    return [row]
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
  // Backfilled events (negative positions) are left out: the rules in stream order do not hold for them.
  const points = [...new Set([...visibilityChanges, ...membershipChanges].map((c) => c.stream).concat(Number.isFinite(lastJoin) ? [lastJoin] : []))]
    .filter((p) => p > 0)
    .sort((a, b) => a - b)
  const starts = [0, ...points]
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

/**
 * For the backfilled ones among a room's rows: the history visibility and the user's membership in the
 * state after each (three queries, only when there are such rows).
 */
async function backfilledStates(repos: Repositories, roomId: string, userId: string, rows: EventRow[]): Promise<Map<string, StateAt> | undefined> {
  const oldRows = rows.filter((r) => r.stream_ordering < 0)
  if (oldRows.length === 0) return undefined
  const old = oldRows.map((r) => r.event_id)
  // A visibility change is also shown when the visibility it replaced allowed it.
  const replaced = new Map(oldRows.flatMap((r) => (r.type === 'm.room.history_visibility' && r.state_key === '' && r.replaces_state ? [[r.event_id, r.replaces_state] as const] : [])))
  const status = await repos.events.statusOf(roomId, old)
  const groups = [...new Set([...status.values()].flatMap((s) => (s.state_group === null ? [] : [s.state_group])))]
  const entries = await repos.state.groupStates(roomId, groups, [
    ['m.room.history_visibility', ''],
    ['m.room.member', userId],
  ])
  const wanted = [...new Set([...[...entries.values()].flat().map((e) => e.event_id), ...replaced.values()])]
  const events = new Map((await repos.events.pdus(roomId, wanted)).map((r) => [r.event_id, r]))
  const valueOf = (eventId: string | undefined, key: string): string | null => {
    const row = eventId === undefined ? undefined : events.get(eventId)
    if (!row || row.rejected) return null
    const value = ((JSON.parse(row.json) as { content?: Record<string, unknown> }).content ?? {})[key]
    return typeof value === 'string' ? value : null
  }
  const out = new Map<string, StateAt>()
  for (const id of old) {
    const group = status.get(id)?.state_group
    if (group === null || group === undefined) continue
    const list = entries.get(group) ?? []
    const visibility = valueOf(list.find((e) => e.type === 'm.room.history_visibility')?.event_id, 'history_visibility') ?? 'shared'
    const membership = valueOf(list.find((e) => e.type === 'm.room.member')?.event_id, 'membership') ?? 'leave'
    const known = (value: string) => (KNOWN.has(value) ? value : 'shared')
    const state: StateAt = { visibility: known(visibility), membership }
    if (replaced.has(id)) state.visibilityBefore = known(valueOf(replaced.get(id), 'history_visibility') ?? 'shared')
    out.set(id, state)
  }
  return out
}

/**
 * The erased senders among the rows of each room, with the room's version: one query, and one more for
 * the versions only when some sender was erased. Rooms without an erased sender are left out.
 */
async function erasuresOf(repos: Repositories, byRoom: Map<string, EventRow[]>): Promise<Map<string, Erasure>> {
  const erased = await repos.users.erasedAmong([...byRoom.values()].flatMap((rows) => rows.map((r) => r.sender)))
  if (erased.size === 0) return new Map()
  const rooms = [...byRoom].filter(([, rows]) => rows.some((r) => erased.has(r.sender))).map(([roomId]) => roomId)
  const out = new Map<string, Erasure>()
  for (const [roomId, id] of await repos.rooms.versionsOf(rooms)) {
    const version = roomVersion(id)
    if (version) out.set(roomId, { senders: erased, version })
  }
  return out
}

/**
 * Keeps the events `userId` may see, erased senders' redacted where the user was not joined; rows must
 * all belong to `roomId`. Three small queries per call (more with backfilled rows or erased senders).
 */
export async function filterVisible(repos: Repositories, roomId: string, userId: string, rows: EventRow[]): Promise<EventRow[]> {
  if (rows.length === 0) return rows
  const [visibility, membership, at, erasures] = await Promise.all([
    repos.events.stateHistory(roomId, 'm.room.history_visibility', ''),
    repos.events.stateHistory(roomId, 'm.room.member', userId),
    backfilledStates(repos, roomId, userId, rows),
    erasuresOf(repos, new Map([[roomId, rows]])),
  ])
  return keepVisible(rows, userId, visibility, membership, at, erasures.get(roomId))
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

/** filterVisible for many rooms at once: three queries in all, whatever the number of rooms. */
export async function filterVisibleByRoom(repos: Repositories, userId: string, byRoom: Map<string, EventRow[]>): Promise<Map<string, EventRow[]>> {
  const [{ visibility, membership }, erasures] = await Promise.all([
    historiesOf(repos, userId, [...byRoom.keys()].filter((r) => (byRoom.get(r) ?? []).length > 0)),
    erasuresOf(repos, byRoom),
  ])
  const out = new Map<string, EventRow[]>()
  for (const [roomId, rows] of byRoom) {
    // Backfilled rows come only from reads of a room's history (search hits, relations), in few rooms.
    const at = rows.some((r) => r.stream_ordering < 0) ? await backfilledStates(repos, roomId, userId, rows) : undefined
    out.set(roomId, rows.length === 0 ? rows : keepVisible(rows, userId, visibility.get(roomId) ?? [], membership.get(roomId) ?? [], at, erasures.get(roomId)))
  }
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

/** A piece of the room's current state: the string `key` of the content of (type, ''), null when unset. */
export async function currentStateValue(repos: Repositories, roomId: string, type: string, key: string): Promise<string | null> {
  const [row] = await repos.state.currentEvents(roomId, [[type, '']])
  const value = row ? ((JSON.parse(row.json) as { content?: Record<string, unknown> }).content ?? {})[key] : undefined
  return typeof value === 'string' ? value : null
}

/** Whether anyone may read the room without joining it: its history_visibility is world_readable now. */
export async function isWorldReadable(repos: Repositories, roomId: string): Promise<boolean> {
  return (await currentStateValue(repos, roomId, 'm.room.history_visibility', 'history_visibility')) === 'world_readable'
}
