// POST /_matrix/client/v3/rooms/{roomId}/report/{eventId}, POST /rooms/{roomId}/report, POST /users/{userId}/report
// Spec: client-server-api, "Reporting content"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { RoomIdParam, UserIdParam } from '../schemas.ts'

const Reason = Type.String({ maxLength: 4096 })

export const reportEvent = defineRoute({
  method: 'POST',
  url: cs('/rooms/:roomId/report/:eventId'),
  auth: 'user',
  params: Type.Object({ roomId: RoomIdParam, eventId: Type.String({ pattern: '^\\$', maxLength: 255 }) }),
  // `score` was removed in v1.18; older clients still send it.
  body: Type.Object({ reason: Type.Optional(Reason), score: Type.Optional(Type.Number()) }),
  async handler(ctx, { requester, params, body }) {
    await ctx.directory.reports.reportEvent(requester, params.roomId, params.eventId, body.reason, body.score)
    return {}
  },
})

export const reportRoom = defineRoute({
  method: 'POST',
  url: cs('/rooms/:roomId/report'),
  auth: 'user',
  params: Type.Object({ roomId: RoomIdParam }),
  body: Type.Object({ reason: Reason }),
  async handler(ctx, { requester, params, body }) {
    await ctx.directory.reports.reportRoom(requester, params.roomId, body.reason)
    return {}
  },
})

export const reportUser = defineRoute({
  method: 'POST',
  url: cs('/users/:userId/report'),
  auth: 'user',
  params: Type.Object({ userId: UserIdParam }),
  body: Type.Object({ reason: Reason }),
  async handler(ctx, { requester, params, body }) {
    await ctx.directory.reports.reportUser(requester, params.userId, body.reason)
    return {}
  },
})
