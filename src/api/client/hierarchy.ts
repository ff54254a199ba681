// GET /_matrix/client/v1/rooms/{roomId}/hierarchy, GET /_matrix/client/v1/room_summary/{roomIdOrAlias}
// Spec: client-server-api, "Spaces", "Discovering rooms within spaces"; "Room summaries" (v1.15)
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { RoomIdParam } from '../schemas.ts'

export const getSpaceHierarchy = defineRoute({
  method: 'GET',
  url: '/_matrix/client/v1/rooms/:roomId/hierarchy',
  auth: 'user',
  params: Type.Object({ roomId: RoomIdParam }),
  query: Type.Object({
    suggested_only: Type.Optional(Type.Boolean()),
    limit: Type.Optional(Type.Integer({ minimum: 1 })),
    max_depth: Type.Optional(Type.Integer({ minimum: 0 })),
    from: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  }),
  async handler(ctx, { requester, params, query }) {
    return ctx.directory.hierarchy.hierarchy(requester, params.roomId, {
      from: query.from,
      limit: query.limit,
      maxDepth: query.max_depth,
      suggestedOnly: query.suggested_only,
    })
  },
})

export const getRoomSummary = defineRoute({
  method: 'GET',
  url: '/_matrix/client/v1/room_summary/:roomIdOrAlias',
  auth: 'optional',
  params: Type.Object({ roomIdOrAlias: Type.String({ pattern: '^[!#].+$', maxLength: 255 }) }),
  // Servers to ask when this one does not have the room: federation, which is not available yet.
  query: Type.Object({ via: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Array(Type.String({ maxLength: 255 }), { maxItems: 50 })])) }),
  async handler(ctx, { requester, params }) {
    return ctx.directory.hierarchy.summary(requester, await ctx.rooms.resolveRoom(params.roomIdOrAlias))
  },
})
