// GET /_matrix/federation/v1/query/profile, GET /_matrix/federation/v1/query/directory
// Spec: server-server-api, "Querying for information"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'

export const queryProfile = defineRoute({
  method: 'GET',
  url: '/_matrix/federation/v1/query/profile',
  auth: 'server',
  query: Type.Object({ user_id: Type.String({ maxLength: 255 }), field: Type.Optional(Type.String({ maxLength: 255 })) }),
  async handler(ctx, { query }) {
    return ctx.federationQueries.profile(query.user_id, query.field)
  },
})

export const queryDirectory = defineRoute({
  method: 'GET',
  url: '/_matrix/federation/v1/query/directory',
  auth: 'server',
  query: Type.Object({ room_alias: Type.String({ maxLength: 255 }) }),
  async handler(ctx, { query }) {
    return ctx.federationQueries.directory(query.room_alias)
  },
})
