// The request of simplified sliding sync (MSC4186), as current clients send it (matrix-js-sdk's SlidingSync,
// Element X through matrix-rust-sdk): lists with `ranges` (or the later `range`), `required_state` as
// [type, state_key] pairs with "*", "$LAZY" and "$ME" (or the later {include, exclude, lazy_members}),
// `filters`, `room_subscriptions`, `unsubscribe_rooms`, `extensions`; `pos` and `timeout` in the query string
// (or the body). Everything is validated and bounded here; what is sticky on a connection is merged in
// service.ts.
import { MatrixError } from '../../shared/errors.ts'

export const MAX_LISTS = 100
export const MAX_RANGES = 100
export const MAX_REQUIRED_STATE = 100
export const MAX_SUBSCRIPTIONS = 1000
const MAX_FILTER_ITEMS = 100
const MAX_KEY_LENGTH = 255
const MAX_INDEX = 2 ** 31 - 1

/** A [type, state_key] pattern: "*" matches anything; state key "$ME" is the user, "$LAZY" (members) the timeline's senders. */
export type StatePattern = [type: string, stateKey: string]

export interface RequiredState {
  include: StatePattern[]
  exclude: StatePattern[]
  /** Member events of the timeline's senders and targets, each sent once per connection. */
  lazy: boolean
}

export interface RoomConfig {
  timelineLimit: number
  requiredState: RequiredState
}

export interface ListFilters {
  is_dm?: boolean
  is_encrypted?: boolean
  is_invite?: boolean
  room_types?: Array<string | null>
  not_room_types?: Array<string | null>
  spaces?: string[]
  tags?: string[]
  not_tags?: string[]
  room_name_like?: string
}

/** A list as requested; fields a request leaves out are taken from the connection's earlier requests (sticky). */
export interface ListRequest {
  ranges: Array<[number, number]> | null | undefined
  timelineLimit?: number
  requiredState?: RequiredState
  filters?: ListFilters
}

export interface SlidingRequest {
  connId: string
  pos: string | null
  timeoutMs: number
  lists: Map<string, ListRequest>
  subscriptions: Map<string, RoomConfig>
  unsubscribe: string[]
  extensions: unknown
  txnId?: string
}

/** A request field out of shape or bounds (400 M_INVALID_PARAM). */
export const invalid = (message: string) => new MatrixError('M_INVALID_PARAM', message, 400)

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function shortString(v: unknown, what: string, max = MAX_KEY_LENGTH): string {
  if (typeof v !== 'string' || v.length > max) throw invalid(`${what} must be a string of at most ${max} characters`)
  return v
}

function strings(v: unknown, what: string, nullable = false): Array<string | null> {
  if (!Array.isArray(v) || v.length > MAX_FILTER_ITEMS) throw invalid(`${what} must be a list of at most ${MAX_FILTER_ITEMS} strings`)
  return v.map((x) => (nullable && x === null ? null : shortString(x, what)))
}

function timelineLimit(v: unknown, what: string, cap: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalid(`${what}.timeline_limit must be a non-negative integer`)
  return Math.min(v, cap)
}

function pattern(type: unknown, stateKey: unknown, what: string): StatePattern {
  return [shortString(type, `${what} type`), shortString(stateKey, `${what} state_key`)]
}

/** required_state as pairs (current clients) or as {include, exclude, lazy_members} (the MSC's later form). */
export function parseRequiredState(v: unknown, what: string): RequiredState {
  const out: RequiredState = { include: [], exclude: [], lazy: false }
  if (Array.isArray(v)) {
    if (v.length > MAX_REQUIRED_STATE) throw invalid(`${what}.required_state has more than ${MAX_REQUIRED_STATE} entries`)
    for (const entry of v) {
      if (!Array.isArray(entry) || entry.length !== 2) throw invalid(`${what}.required_state entries must be [type, state_key] pairs`)
      const [type, key] = pattern(entry[0], entry[1], `${what}.required_state`)
      if (type === 'm.room.member' && key === '$LAZY') out.lazy = true
      else out.include.push([type, key])
    }
    return out
  }
  if (!isObject(v)) throw invalid(`${what}.required_state must be a list of [type, state_key] pairs or an object`)
  for (const part of ['include', 'exclude'] as const) {
    const list = v[part]
    if (list === undefined) continue
    if (!Array.isArray(list) || list.length > MAX_REQUIRED_STATE) throw invalid(`${what}.required_state.${part} must be a list of at most ${MAX_REQUIRED_STATE} entries`)
    for (const e of list) {
      if (!isObject(e)) throw invalid(`${what}.required_state.${part} entries must be objects`)
      out[part].push(pattern(e.type ?? '*', e.state_key ?? '*', `${what}.required_state.${part}`))
    }
  }
  if (v.lazy_members !== undefined && typeof v.lazy_members !== 'boolean') throw invalid(`${what}.required_state.lazy_members must be a boolean`)
  out.lazy = v.lazy_members === true
  return out
}

function parseRange(v: unknown, what: string): [number, number] {
  if (!Array.isArray(v) || v.length !== 2) throw invalid(`${what} must be [start, end]`)
  const [a, b] = v as unknown[]
  if (typeof a !== 'number' || typeof b !== 'number' || !Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < a || b > MAX_INDEX) {
    throw invalid(`${what} must be [start, end] with 0 <= start <= end`)
  }
  return [a, b]
}

function parseFilters(v: unknown, what: string): ListFilters {
  if (!isObject(v)) throw invalid(`${what}.filters must be an object`)
  const f: ListFilters = {}
  for (const key of ['is_dm', 'is_encrypted'] as const) {
    if (v[key] === undefined || v[key] === null) continue
    if (typeof v[key] !== 'boolean') throw invalid(`${what}.filters.${key} must be a boolean`)
    f[key] = v[key]
  }
  // is_invite (current clients) or is_invited (the MSC's later name).
  const invite = v.is_invite ?? v.is_invited
  if (invite !== undefined && invite !== null) {
    if (typeof invite !== 'boolean') throw invalid(`${what}.filters.is_invite must be a boolean`)
    f.is_invite = invite
  }
  for (const key of ['room_types', 'not_room_types'] as const) if (v[key] !== undefined && v[key] !== null) f[key] = strings(v[key], `${what}.filters.${key}`, true)
  for (const key of ['spaces', 'tags', 'not_tags'] as const) if (v[key] !== undefined && v[key] !== null) f[key] = strings(v[key], `${what}.filters.${key}`) as string[]
  if (v.room_name_like !== undefined && v.room_name_like !== null) f.room_name_like = shortString(v.room_name_like, `${what}.filters.room_name_like`)
  return f
}

function parseList(v: unknown, name: string, cap: number): ListRequest {
  if (!isObject(v)) throw invalid(`lists.${name} must be an object`)
  const what = `lists.${name}`
  const list: ListRequest = { ranges: undefined }
  if (v.ranges !== undefined) {
    if (!Array.isArray(v.ranges) || v.ranges.length > MAX_RANGES) throw invalid(`${what}.ranges must be a list of at most ${MAX_RANGES} ranges`)
    list.ranges = v.ranges.map((r, i) => parseRange(r, `${what}.ranges[${i}]`))
  } else if (v.range !== undefined) {
    list.ranges = [parseRange(v.range, `${what}.range`)]
  }
  if (v.timeline_limit !== undefined) list.timelineLimit = timelineLimit(v.timeline_limit, what, cap)
  if (v.required_state !== undefined) list.requiredState = parseRequiredState(v.required_state, what)
  if (v.filters !== undefined && v.filters !== null) list.filters = parseFilters(v.filters, what)
  return list
}

function parseSubscription(v: unknown, roomId: string, cap: number): RoomConfig {
  if (!isObject(v)) throw invalid(`room_subscriptions.${roomId} must be an object`)
  const what = `room_subscriptions.${roomId}`
  return {
    timelineLimit: v.timeline_limit === undefined ? 0 : timelineLimit(v.timeline_limit, what, cap),
    requiredState: v.required_state === undefined ? { include: [], exclude: [], lazy: false } : parseRequiredState(v.required_state, what),
  }
}

/**
 * The request from its body and query string. `timelineCap` lowers larger timeline limits (the timeline is
 * then limited); `maxTimeoutMs` bounds the long-poll.
 */
export function parseSlidingRequest(body: unknown, query: { pos?: string | undefined; timeout?: number | undefined }, timelineCap: number, maxTimeoutMs: number): SlidingRequest {
  const b = body === undefined || body === null ? {} : body
  if (!isObject(b)) throw new MatrixError('M_BAD_JSON', 'The body must be a JSON object', 400)
  const connId = b.conn_id === undefined || b.conn_id === null ? '' : shortString(b.conn_id, 'conn_id')
  const pos = query.pos ?? (b.pos === undefined || b.pos === null ? undefined : shortString(b.pos, 'pos', 64))
  const timeout: unknown = query.timeout ?? (b.timeout === undefined ? 0 : b.timeout)
  if (typeof timeout !== 'number' || !Number.isSafeInteger(timeout) || timeout < 0) throw invalid('timeout must be a non-negative integer')
  const lists = new Map<string, ListRequest>()
  if (b.lists !== undefined && b.lists !== null) {
    if (!isObject(b.lists)) throw invalid('lists must be an object')
    const names = Object.keys(b.lists)
    if (names.length > MAX_LISTS) throw invalid(`At most ${MAX_LISTS} lists`)
    for (const name of names) lists.set(shortString(name, 'A list name'), parseList(b.lists[name], name, timelineCap))
  }
  const subscriptions = new Map<string, RoomConfig>()
  if (b.room_subscriptions !== undefined && b.room_subscriptions !== null) {
    if (!isObject(b.room_subscriptions)) throw invalid('room_subscriptions must be an object')
    const ids = Object.keys(b.room_subscriptions)
    if (ids.length > MAX_SUBSCRIPTIONS) throw invalid(`At most ${MAX_SUBSCRIPTIONS} room subscriptions`)
    for (const roomId of ids) subscriptions.set(shortString(roomId, 'A room ID'), parseSubscription(b.room_subscriptions[roomId], roomId, timelineCap))
  }
  let unsubscribe: string[] = []
  if (b.unsubscribe_rooms !== undefined && b.unsubscribe_rooms !== null) {
    if (!Array.isArray(b.unsubscribe_rooms) || b.unsubscribe_rooms.length > MAX_SUBSCRIPTIONS) throw invalid(`unsubscribe_rooms must be a list of at most ${MAX_SUBSCRIPTIONS} room IDs`)
    unsubscribe = b.unsubscribe_rooms.map((r) => shortString(r, 'unsubscribe_rooms entries'))
  }
  const txnId = b.txn_id === undefined || b.txn_id === null ? undefined : shortString(b.txn_id, 'txn_id')
  return { connId, pos: pos === undefined || pos === '' ? null : pos, timeoutMs: Math.min(timeout, maxTimeoutMs), lists, subscriptions, unsubscribe, extensions: b.extensions, ...(txnId !== undefined ? { txnId } : {}) }
}

/** Whether a state event (type, state_key) is asked for by these patterns, for the user. */
export function patternMatches(patterns: StatePattern[], type: string, stateKey: string, userId: string): boolean {
  for (const [t, k] of patterns) {
    if (t !== '*' && t !== type) continue
    if (k === '*' || k === stateKey || (k === '$ME' && stateKey === userId)) return true
  }
  return false
}

const keyOf = (p: StatePattern) => `${p[0]}\u0000${p[1]}`

/** The superset of two room configs (the larger timeline, the union of the state), in time linear in their sizes. */
export function combineConfigs(a: RoomConfig, b: RoomConfig): RoomConfig {
  const included = new Set(a.requiredState.include.map(keyOf))
  const bExcluded = new Set(b.requiredState.exclude.map(keyOf))
  return {
    timelineLimit: Math.max(a.timelineLimit, b.timelineLimit),
    requiredState: {
      include: [...a.requiredState.include, ...b.requiredState.include.filter((p) => !included.has(keyOf(p)))],
      // A state event one config excludes but another includes is sent: only exclusions both share remain.
      exclude: a.requiredState.exclude.filter((p) => bExcluded.has(keyOf(p))),
      lazy: a.requiredState.lazy || b.requiredState.lazy,
    },
  }
}

/** Whether a room sent with `sent` holds everything `wanted` asks for (else it is sent again, whole). */
export function configCovers(sent: RoomConfig, wanted: RoomConfig): boolean {
  if (wanted.timelineLimit > sent.timelineLimit) return false
  const held = new Set(sent.requiredState.include.map(keyOf))
  const has = (p: StatePattern) => held.has(keyOf(p)) || held.has(keyOf(['*', p[1]])) || held.has(keyOf([p[0], '*'])) || held.has(keyOf(['*', '*']))
  // Lazy members are among all members.
  if (wanted.requiredState.lazy && !sent.requiredState.lazy && !has(['m.room.member', '*'])) return false
  if (!wanted.requiredState.include.every(has)) return false
  // An exclusion the earlier config had and this one lacks means more state now.
  const stillExcluded = new Set(wanted.requiredState.exclude.map(keyOf))
  return sent.requiredState.exclude.every((p) => stillExcluded.has(keyOf(p)))
}
