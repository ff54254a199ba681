// GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]],
// GET /_matrix/client/v1/rooms/{roomId}/threads
// Spec: client-server-api, "Relationships API" (relations.yaml), "Querying threads in a room" (threads_list.yaml)
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../../route.ts'
import { EventType, RoomIdParam, EventIdParam } from '../../schemas.ts'

const DEFAULT_LIMIT = 20

export const getRelations = defineRoute({
  method: 'GET',
  url: [
    '/_matrix/client/v1/rooms/:roomId/relations/:eventId',
    '/_matrix/client/v1/rooms/:roomId/relations/:eventId/:relType',
    '/_matrix/client/v1/rooms/:roomId/relations/:eventId/:relType/:eventType',
  ],
  auth: 'user',
  params: Type.Object({
    roomId: RoomIdParam,
    eventId: EventIdParam,
    relType: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    eventType: Type.Optional(EventType),
  }),
  query: Type.Object({
    from: Type.Optional(Type.String()),
    to: Type.Optional(Type.String()),
    limit: Type.Optional(Type.Integer({ minimum: 1 })),
    dir: Type.Optional(Type.Union([Type.Literal('b'), Type.Literal('f')])),
    recurse: Type.Optional(Type.Boolean()),
  }),
  async handler(ctx, { requester, params, query }) {
    return ctx.relations.relations(requester, params.roomId, params.eventId, {
      relType: params.relType,
      eventType: params.eventType,
      from: query.from,
      to: query.to,
      dir: query.dir ?? 'b',
      limit: Math.min(query.limit ?? DEFAULT_LIMIT, ctx.config.limits.relations_limit),
      recurse: query.recurse,
    })
  },
})

export const getThreads = defineRoute({
  method: 'GET',
  url: '/_matrix/client/v1/rooms/:roomId/threads',
  auth: 'user',
  params: Type.Object({ roomId: RoomIdParam }),
  query: Type.Object({
    include: Type.Optional(Type.Union([Type.Literal('all'), Type.Literal('participated')])),
    from: Type.Optional(Type.String()),
    limit: Type.Optional(Type.Integer({ minimum: 1 })),
  }),
  async handler(ctx, { requester, params, query }) {
    return ctx.relations.threads(requester, params.roomId, {
      include: query.include ?? 'all',
      from: query.from,
      limit: Math.min(query.limit ?? DEFAULT_LIMIT, ctx.config.limits.relations_limit),
    })
  },
})
