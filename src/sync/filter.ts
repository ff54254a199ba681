// Filters (client-server API, "Filtering"): validation of a filter definition and its normalised form.
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { parseClientJsonText } from '../shared/client-json.ts'
import { MatrixError } from '../shared/errors.ts'
import { isRoomId, isUserId } from '../shared/ids.ts'
import { compileGlob, globMatches, type CompiledGlob } from '../shared/glob.ts'
import type { EventFilter } from '../storage/index.ts'

const Strings = Type.Optional(Type.Array(Type.String()))
const EventFilterSchema = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 0 })),
  types: Strings,
  not_types: Strings,
  senders: Strings,
  not_senders: Strings,
})
const RoomEventFilterSchema = Type.Composite([
  EventFilterSchema,
  Type.Object({
    rooms: Strings,
    not_rooms: Strings,
    contains_url: Type.Optional(Type.Boolean()),
    lazy_load_members: Type.Optional(Type.Boolean()),
    include_redundant_members: Type.Optional(Type.Boolean()),
    unread_thread_notifications: Type.Optional(Type.Boolean()),
  }),
])
export const FilterSchema = Type.Object({
  event_fields: Strings,
  event_format: Type.Optional(Type.Union([Type.Literal('client'), Type.Literal('federation')])),
  presence: Type.Optional(EventFilterSchema),
  account_data: Type.Optional(EventFilterSchema),
  room: Type.Optional(
    Type.Object({
      rooms: Strings,
      not_rooms: Strings,
      include_leave: Type.Optional(Type.Boolean()),
      timeline: Type.Optional(RoomEventFilterSchema),
      state: Type.Optional(RoomEventFilterSchema),
      ephemeral: Type.Optional(RoomEventFilterSchema),
      account_data: Type.Optional(RoomEventFilterSchema),
    }),
  ),
})
export type FilterDefinition = Static<typeof FilterSchema>
export type RoomEventFilterDefinition = Static<typeof RoomEventFilterSchema>

const check = TypeCompiler.Compile(FilterSchema)
const checkRoomEventFilter = TypeCompiler.Compile(RoomEventFilterSchema)

/**
 * How big a filter may be (config `filters`). A filter is applied to every event a sync or a page reads, and
 * its lists become SQL parameters, so its size bounds the work of each request that uses it: the whole
 * filter is at most `maxBytes` of JSON, each list at most `maxListEntries` entries of at most 255 bytes
 * (the limit of identifiers and event types), and a type list at most `maxWildcardPatterns` patterns with a
 * `*` (plain types are a hashed lookup per row in SQL; each pattern is a LIKE per row). Synapse caps inline
 * filters by the length of a request line; the same bounds here cover stored filters and request bodies.
 */
export interface FilterLimits {
  maxBytes: number
  maxListEntries: number
  maxWildcardPatterns: number
}

export const DEFAULT_FILTER_LIMITS: FilterLimits = { maxBytes: 65536, maxListEntries: 1000, maxWildcardPatterns: 20 }
const MAX_ENTRY_BYTES = 255

export function filterLimitsOf(config: { filters: { max_bytes: number; max_list_entries: number; max_wildcard_patterns: number } }): FilterLimits {
  const f = config.filters
  return { maxBytes: f.max_bytes, maxListEntries: f.max_list_entries, maxWildcardPatterns: f.max_wildcard_patterns }
}

const EVENT_LISTS = ['types', 'not_types', 'senders', 'not_senders', 'rooms', 'not_rooms'] as const

function tooLarge(message: string): MatrixError {
  return new MatrixError('M_INVALID_PARAM', message)
}

function checkBytes(bytes: number, limits: FilterLimits): void {
  if (bytes > limits.maxBytes) throw tooLarge(`The filter is ${bytes} bytes of JSON; the limit is ${limits.maxBytes}`)
}

/** Refuses a list longer than the limit, naming it by its path in the filter. */
function checkLists(value: unknown, path: string, limits: FilterLimits, names: readonly string[] = EVENT_LISTS): void {
  if (typeof value !== 'object' || value === null) return
  for (const name of names) {
    const list = (value as Record<string, unknown>)[name]
    if (!Array.isArray(list)) continue
    if (list.length > limits.maxListEntries) throw tooLarge(`The filter's ${path}${name} has ${list.length} entries; the limit is ${limits.maxListEntries}`)
    let wildcards = 0
    for (const entry of list) {
      if (typeof entry !== 'string') continue
      if (Buffer.byteLength(entry) > MAX_ENTRY_BYTES) {
        throw tooLarge(`An entry of the filter's ${path}${name} is longer than the limit of ${MAX_ENTRY_BYTES} bytes`)
      }
      if (entry.includes('*')) wildcards++
    }
    if ((name === 'types' || name === 'not_types') && wildcards > limits.maxWildcardPatterns) {
      throw tooLarge(`The filter's ${path}${name} has ${wildcards} patterns with '*'; the limit is ${limits.maxWildcardPatterns}`)
    }
  }
}

/** A room event filter within the size limits (the filter of /messages, /context and /search). */
export function checkRoomEventFilterSize(filter: unknown, limits: FilterLimits, path = ''): void {
  if (path === '') checkBytes(Buffer.byteLength(JSON.stringify(filter ?? null)), limits)
  checkLists(filter, path, limits)
}

function checkFilterSize(value: unknown, limits: FilterLimits, bytes: number): void {
  checkBytes(bytes, limits)
  if (typeof value !== 'object' || value === null) return
  const f = value as Record<string, unknown>
  checkLists(f, '', limits, ['event_fields'])
  checkLists(f.presence, 'presence.', limits)
  checkLists(f.account_data, 'account_data.', limits)
  const room = f.room
  checkLists(room, 'room.', limits, ['rooms', 'not_rooms'])
  if (typeof room === 'object' && room !== null) {
    for (const part of ['timeline', 'state', 'ephemeral', 'account_data']) checkRoomEventFilterSize((room as Record<string, unknown>)[part], limits, `room.${part}.`)
  }
}

/** A filter definition (a stored filter's body, or a stored filter read back): within the limits and well-formed. */
export function validateFilter(value: unknown, limits: FilterLimits = DEFAULT_FILTER_LIMITS, bytes?: number): FilterDefinition {
  checkFilterSize(value, limits, bytes ?? Buffer.byteLength(JSON.stringify(value ?? null)))
  if (!check.Check(value)) {
    const first = check.Errors(value).First()
    throw new MatrixError('M_BAD_JSON', `Invalid filter: ${first?.path || '/'} ${first?.message ?? ''}`.trim())
  }
  return value
}

/**
 * A new filter (created, or inline on /sync): its senders lists name users and its rooms lists rooms, as
 * Synapse's filter schema requires (400 M_BAD_JSON otherwise). Filters stored before this check are not held
 * to it when read back: a user's syncs must not start failing.
 */
export function checkFilterIds(filter: FilterDefinition): void {
  const lists = (value: RoomLists & { senders?: string[] | undefined; not_senders?: string[] | undefined } | undefined, path: string) => {
    if (!value) return
    for (const name of ['senders', 'not_senders'] as const) {
      const bad = value[name]?.find((entry) => !isUserId(entry))
      if (bad !== undefined) throw new MatrixError('M_BAD_JSON', `Invalid filter: ${path}${name} holds ${JSON.stringify(bad)}, not a user ID`)
    }
    for (const name of ['rooms', 'not_rooms'] as const) {
      const bad = value[name]?.find((entry) => !isRoomId(entry))
      if (bad !== undefined) throw new MatrixError('M_BAD_JSON', `Invalid filter: ${path}${name} holds ${JSON.stringify(bad)}, not a room ID`)
    }
  }
  lists(filter.presence, 'presence.')
  lists(filter.account_data, 'account_data.')
  lists(filter.room, 'room.')
  for (const part of ['timeline', 'state', 'ephemeral', 'account_data'] as const) lists(filter.room?.[part], `room.${part}.`)
}

/** An inline filter (a query parameter) as client JSON: well-formed Unicode, bounded depth. */
function parseFilterJson(text: string): unknown {
  return parseClientJsonText(text, { notJson: () => new MatrixError('M_BAD_JSON', 'The filter is not valid JSON') })
}

/** A filter given as JSON text (the filter query parameter of /sync): measured before it is parsed. */
export function parseFilter(text: string, limits: FilterLimits = DEFAULT_FILTER_LIMITS): FilterDefinition {
  const bytes = Buffer.byteLength(text)
  checkBytes(bytes, limits)
  const filter = validateFilter(parseFilterJson(text), limits, bytes)
  checkFilterIds(filter)
  return filter
}

/** The filter query parameter of /messages and /context: a RoomEventFilter as JSON. */
export function parseRoomEventFilter(text: string | undefined, limits: FilterLimits = DEFAULT_FILTER_LIMITS): RoomEventFilterDefinition | undefined {
  if (text === undefined || text === '') return undefined
  checkBytes(Buffer.byteLength(text), limits)
  const value = parseFilterJson(text)
  checkLists(value, '', limits)
  if (!checkRoomEventFilter.Check(value)) throw new MatrixError('M_BAD_JSON', 'Invalid room event filter')
  return value
}

/** The storage form of an event filter (types, senders, contains_url). */
export function toEventFilter(f: RoomEventFilterDefinition | Static<typeof EventFilterSchema> | undefined): EventFilter | undefined {
  if (!f) return undefined
  const out: EventFilter = {}
  if (f.types) out.types = f.types
  if (f.not_types) out.notTypes = f.not_types
  if (f.senders) out.senders = f.senders
  if (f.not_senders) out.notSenders = f.not_senders
  if ('contains_url' in f && f.contains_url !== undefined) out.containsUrl = f.contains_url
  return out
}

type RoomLists = { rooms?: string[] | undefined; not_rooms?: string[] | undefined }
type TypeLists = { types?: string[] | undefined; not_types?: string[] | undefined }

// Filters are plain objects read once per request and applied to every event and room it reads: each
// filter's lists become sets and compiled patterns once, on first use (keyed by the filter object).
const roomSets = new WeakMap<RoomLists, { rooms: Set<string> | null; notRooms: Set<string> }>()
const typeMatchers = new WeakMap<TypeLists, (type: string) => boolean>()

/** Room inclusion by a filter's rooms / not_rooms. */
export function roomAllowed(roomId: string, f: RoomLists | undefined): boolean {
  if (!f) return true
  let sets = roomSets.get(f)
  if (!sets) roomSets.set(f, (sets = { rooms: f.rooms ? new Set(f.rooms) : null, notRooms: new Set(f.not_rooms ?? []) }))
  if (sets.notRooms.has(roomId)) return false
  if (sets.rooms && !sets.rooms.has(roomId)) return false
  return true
}

/** Event type patterns: `*` matches any sequence of characters; matched as the case-sensitive strings they are. */
function anyTypeOf(patterns: string[]): (type: string) => boolean {
  const literals = new Set(patterns.filter((p) => !p.includes('*')))
  const globs: CompiledGlob[] = [...new Set(patterns.filter((p) => p.includes('*')))].map((p) => compileGlob(p, { questionMark: false, caseInsensitive: false }))
  return (type) => literals.has(type) || globs.some((g) => globMatches(g, type))
}

// Events of a few types pass through a filter many times: each type's answer is kept, up to a bound.
const TYPE_ANSWERS = 1024

/** Type matching with '*' wildcards, for filtering in memory (state, account data, ephemeral events, presence). */
export function typeAllowed(type: string, f: TypeLists | undefined): boolean {
  if (!f) return true
  let allows = typeMatchers.get(f)
  if (!allows) {
    const include = f.types ? anyTypeOf(f.types) : null
    const exclude = f.not_types ? anyTypeOf(f.not_types) : null
    const answers = new Map<string, boolean>()
    allows = (t) => {
      let answer = answers.get(t)
      if (answer === undefined) {
        answer = !exclude?.(t) && (include === null || include(t))
        if (answers.size < TYPE_ANSWERS) answers.set(t, answer)
      }
      return answer
    }
    typeMatchers.set(f, allows)
  }
  return allows(type)
}
