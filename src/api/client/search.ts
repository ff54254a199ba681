// POST /_matrix/client/v3/search
// Spec: client-server-api, "Server Side Search" (the room_events category)
import { Type } from '@sinclair/typebox'
import { MatrixError } from '../../shared/errors.ts'
import { checkRoomEventFilterSize, filterLimitsOf } from '../../sync/filter.ts'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'

const Strings = Type.Optional(Type.Array(Type.String()))
const Count = Type.Optional(Type.Integer({ minimum: 0 }))

const RoomEventFilter = Type.Object({
  limit: Count,
  types: Strings,
  not_types: Strings,
  senders: Strings,
  not_senders: Strings,
  rooms: Strings,
  not_rooms: Strings,
  contains_url: Type.Optional(Type.Boolean()),
  lazy_load_members: Type.Optional(Type.Boolean()),
  include_redundant_members: Type.Optional(Type.Boolean()),
})

const RoomEventsCriteria = Type.Object({
  search_term: Type.String(),
  keys: Type.Optional(Type.Array(Type.Union([Type.Literal('content.body'), Type.Literal('content.name'), Type.Literal('content.topic')]))),
  filter: Type.Optional(RoomEventFilter),
  order_by: Type.Optional(Type.Union([Type.Literal('recent'), Type.Literal('rank')])),
  event_context: Type.Optional(Type.Object({ before_limit: Count, after_limit: Count, include_profile: Type.Optional(Type.Boolean()) })),
  include_state: Type.Optional(Type.Boolean()),
  groupings: Type.Optional(
    Type.Object({
      group_by: Type.Optional(Type.Array(Type.Object({ key: Type.Optional(Type.Union([Type.Literal('room_id'), Type.Literal('sender')])) }))),
    }),
  ),
})

export const search = defineRoute({
  method: 'POST',
  url: cs('/search'),
  auth: 'user',
  query: Type.Object({ next_batch: Type.Optional(Type.String({ maxLength: 2048 })) }),
  body: Type.Object({ search_categories: Type.Object({ room_events: Type.Optional(RoomEventsCriteria) }) }),
  async handler(ctx, { requester, query, body }) {
    const criteria = body.search_categories.room_events
    // room_events is the only category the spec defines (and so the only one Synapse accepts).
    if (!criteria) throw new MatrixError('M_UNKNOWN', 'Invalid search query: room_events is the only supported category')
    if (criteria.filter) checkRoomEventFilterSize(criteria.filter, filterLimitsOf(ctx.config))
    return { search_categories: { room_events: await ctx.search.roomEvents(requester, criteria, query.next_batch) } }
  },
})
