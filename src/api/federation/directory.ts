// GET/POST /_matrix/federation/v1/publicRooms, GET /_matrix/federation/v1/hierarchy/{roomId}
// Spec: server-server-api, "Public Room Directory", "Spaces". The same published directory and space
// hierarchy the client API serves (directory/published.ts, directory/hierarchy.ts), for another server.
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { RoomIdParam } from '../schemas.ts'
import { PublicRoomsBody, PublicRoomsQuery, publicRoomsRequest } from '../client/directory.ts'

export const getPublicRooms = defineRoute({
  method: 'GET',
  url: '/_matrix/federation/v1/publicRooms',
  auth: 'server',
  // The POST body's fields but the filter, as query parameters.
  query: PublicRoomsQuery,
  async handler(ctx, { query }) {
    return ctx.directory.published.list(publicRoomsRequest(query))
  },
})

export const queryPublicRooms = defineRoute({
  method: 'POST',
  url: '/_matrix/federation/v1/publicRooms',
  auth: 'server',
  body: PublicRoomsBody,
  async handler(ctx, { body }) {
    return ctx.directory.published.list(publicRoomsRequest(body))
  },
})

export const getHierarchy = defineRoute({
  method: 'GET',
  url: '/_matrix/federation/v1/hierarchy/:roomId',
  auth: 'server',
  params: Type.Object({ roomId: RoomIdParam }),
  query: Type.Object({ suggested_only: Type.Optional(Type.Boolean()) }),
  async handler(ctx, { origin, params, query }) {
    return ctx.directory.hierarchy.forServer(origin, params.roomId, query.suggested_only ?? false)
  },
})
