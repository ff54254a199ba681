// GET /_matrix/client/v3/notifications
// Spec: client-server-api, "Push Notifications" → "Listing notifications"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { viewerOf } from '../../rooms/client-events.ts'

/** Most notifications one page lists (a larger limit is served as this). */
const MAX_LIMIT = 100

export const getNotifications = defineRoute({
  method: 'GET',
  url: cs('/notifications'),
  auth: 'user',
  query: Type.Object({
    from: Type.Optional(Type.String({ maxLength: 64 })),
    limit: Type.Optional(Type.Integer({ minimum: 1 })),
    only: Type.Optional(Type.String({ maxLength: 64 })),
  }),
  async handler(ctx, { requester, query }) {
    return ctx.push.notifications(viewerOf(requester), query.from, Math.min(query.limit ?? 50, MAX_LIMIT), query.only === 'highlight')
  },
})
