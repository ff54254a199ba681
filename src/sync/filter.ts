// Filters (client-server API, "Filtering"): validation of a filter definition and its normalised form.
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { parseClientJsonText } from '../shared/client-json.ts'
import { MatrixError } from '../shared/errors.ts'
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

export function validateFilter(value: unknown): FilterDefinition {
  if (!check.Check(value)) {
    const first = check.Errors(value).First()
    throw new MatrixError('M_BAD_JSON', `Invalid filter: ${first?.path || '/'} ${first?.message ?? ''}`.trim())
  }
  return value
}

/** An inline filter (a query parameter) as client JSON: well-formed Unicode, bounded depth. */
export function parseFilterJson(text: string): unknown {
  return parseClientJsonText(text, { notJson: () => new MatrixError('M_BAD_JSON', 'The filter is not valid JSON') })
}

/** The filter query parameter of /messages and /context: a RoomEventFilter as JSON. */
export function parseRoomEventFilter(text: string | undefined): RoomEventFilterDefinition | undefined {
  if (text === undefined || text === '') return undefined
  const value = parseFilterJson(text)
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

/** Room inclusion by a filter's rooms / not_rooms. */
export function roomAllowed(roomId: string, f: { rooms?: string[] | undefined; not_rooms?: string[] | undefined } | undefined): boolean {
  if (!f) return true
  if (f.not_rooms?.includes(roomId)) return false
  if (f.rooms && !f.rooms.includes(roomId)) return false
  return true
}

function wildcard(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
}

/** Type matching with '*' wildcards, for filtering in memory (account data, ephemeral events). */
export function typeAllowed(type: string, f: { types?: string[] | undefined; not_types?: string[] | undefined } | undefined): boolean {
  if (!f) return true
  const matches = (pattern: string) => wildcard(pattern).test(type)
  if (f.not_types?.some(matches)) return false
  if (f.types && !f.types.some(matches)) return false
  return true
}
