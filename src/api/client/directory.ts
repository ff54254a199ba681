// PUT/GET/DELETE /_matrix/client/v3/directory/room/{roomAlias}, GET /rooms/{roomId}/aliases,
// GET/PUT /directory/list/room/{roomId}, GET/POST /publicRooms, GET /_matrix/client/v1/mutual_rooms
// Spec: client-server-api, "Room aliases", "Published room directory", "Mutual rooms" (v1.19)
import { Type, type Static } from '@sinclair/typebox'
import type { PublicRoomsRequest } from '../../directory/published.ts'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { RoomIdParam } from '../schemas.ts'

const Alias = Type.Object({ roomAlias: Type.String({ pattern: '^#', maxLength: 1024 }) })
const Room = Type.Object({ roomId: RoomIdParam })
const Visibility = Type.Union([Type.Literal('public'), Type.Literal('private')])

export const setRoomAlias = defineRoute({
  method: 'PUT',
  url: cs('/directory/room/:roomAlias'),
  auth: 'user',
  params: Alias,
  body: Type.Object({ room_id: Type.String({ maxLength: 255 }) }),
  async handler(ctx, { requester, params, body }) {
    await ctx.directory.aliases.create(requester, params.roomAlias, body.room_id)
    return {}
  },
})

export const getRoomIdByAlias = defineRoute({
  method: 'GET',
  url: cs('/directory/room/:roomAlias'),
  auth: 'optional',
  params: Alias,
  async handler(ctx, { params }) {
    return ctx.directory.aliases.resolve(params.roomAlias)
  },
})

export const deleteRoomAlias = defineRoute({
  method: 'DELETE',
  url: cs('/directory/room/:roomAlias'),
  auth: 'user',
  params: Alias,
  async handler(ctx, { requester, params }) {
    await ctx.directory.aliases.delete(requester, params.roomAlias)
    return {}
  },
})

export const getLocalAliases = defineRoute({
  method: 'GET',
  url: cs('/rooms/:roomId/aliases'),
  auth: 'user',
  params: Room,
  async handler(ctx, { requester, params }) {
    return { aliases: await ctx.directory.aliases.forRoom(requester, params.roomId) }
  },
})

export const getRoomVisibility = defineRoute({
  method: 'GET',
  url: cs('/directory/list/room/:roomId'),
  auth: 'none',
  params: Room,
  async handler(ctx, { params }) {
    return ctx.directory.published.visibility(params.roomId)
  },
})

export const setRoomVisibility = defineRoute({
  method: 'PUT',
  url: cs('/directory/list/room/:roomId'),
  auth: 'user',
  params: Room,
  body: Type.Object({ visibility: Type.Optional(Visibility) }),
  async handler(ctx, { requester, params, body }) {
    await ctx.directory.published.setVisibility(requester, params.roomId, body.visibility ?? 'public')
    return {}
  },
})

const Limit = Type.Integer({ minimum: 1 })
const Since = Type.String({ maxLength: 1024 })
const ServerQuery = Type.Optional(Type.String({ minLength: 1, maxLength: 255 }))

export const getPublicRooms = defineRoute({
  method: 'GET',
  url: cs('/publicRooms'),
  auth: 'optional',
  query: Type.Object({ limit: Type.Optional(Limit), since: Type.Optional(Since), server: ServerQuery }),
  async handler(ctx, { query }) {
    return ctx.directory.published.list({ limit: query.limit, since: query.since, server: query.server })
  },
})

/** The federation's GET /publicRooms: the POST body's fields but the filter, as query parameters. */
export const PublicRoomsQuery = Type.Object({
  limit: Type.Optional(Limit),
  since: Type.Optional(Since),
  include_all_networks: Type.Optional(Type.Boolean()),
  third_party_instance_id: Type.Optional(Type.String({ maxLength: 255 })),
})

/** The body of POST /publicRooms, in the client and the federation API alike (null as absent, as Synapse reads it). */
export const PublicRoomsBody = Type.Object({
  ...PublicRoomsQuery.properties,
  limit: Type.Optional(Type.Union([Limit, Type.Null()])),
  since: Type.Optional(Type.Union([Since, Type.Null()])),
  filter: Type.Optional(
    Type.Object({
      generic_search_term: Type.Optional(Type.String({ maxLength: 1024 })),
      room_types: Type.Optional(Type.Array(Type.Union([Type.String({ maxLength: 255 }), Type.Null()]), { maxItems: 100 })),
    }),
  ),
})

export function publicRoomsRequest(body: Static<typeof PublicRoomsBody>): PublicRoomsRequest {
  return {
    limit: body.limit ?? undefined,
    since: body.since ?? undefined,
    genericSearchTerm: body.filter?.generic_search_term,
    roomTypes: body.filter?.room_types,
    // include_all_networks lists every network, which here is this server's directory alone.
    thirdPartyInstanceId: body.include_all_networks ? undefined : body.third_party_instance_id,
  }
}

export const queryPublicRooms = defineRoute({
  method: 'POST',
  url: cs('/publicRooms'),
  auth: 'user',
  query: Type.Object({ server: ServerQuery }),
  body: PublicRoomsBody,
  async handler(ctx, { query, body }) {
    return ctx.directory.published.list({ ...publicRoomsRequest(body), server: query.server })
  },
})

export const getMutualRooms = defineRoute({
  method: 'GET',
  url: '/_matrix/client/v1/mutual_rooms',
  auth: 'user',
  query: Type.Object({ user_id: Type.String({ maxLength: 255 }), from: Type.Optional(Type.String({ maxLength: 1024 })) }),
  async handler(ctx, { requester, query }) {
    return ctx.directory.mutualRooms.list(requester, query.user_id, query.from)
  },
})
