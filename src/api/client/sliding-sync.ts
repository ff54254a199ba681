// POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync (simplified sliding sync, MSC4186).
// pos and timeout come in the query string (as matrix-js-sdk and Element X send them) or in the body.
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { parseSlidingRequest } from '../../sync/sliding/request.ts'

export const slidingSync = defineRoute({
  method: 'POST',
  url: '/_matrix/client/unstable/org.matrix.simplified_msc3575/sync',
  auth: 'user',
  query: Type.Object({
    pos: Type.Optional(Type.String({ maxLength: 64 })),
    timeout: Type.Optional(Type.Integer({ minimum: 0 })),
    set_presence: Type.Optional(Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('unavailable')])),
  }),
  body: Type.Unknown(),
  async handler(ctx, { requester, query, body }) {
    const service = ctx.slidingSync
    const request = parseSlidingRequest(body, query, service.limits.timelineCap, service.limits.maxTimeoutMs)
    await ctx.presence.syncing(requester.userId, query.set_presence)
    return service.handle(requester, request)
  },
})
