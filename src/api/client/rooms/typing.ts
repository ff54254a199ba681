// PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}
// Spec: client-server-api, "Typing Notifications"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../../route.ts'
import { cs } from '../../paths.ts'
import { RoomIdParam, UserIdParam } from '../../schemas.ts'

export const setTyping = defineRoute({
  method: 'PUT',
  url: cs('/rooms/:roomId/typing/:userId'),
  auth: 'user',
  params: Type.Object({ roomId: RoomIdParam, userId: UserIdParam }),
  // Timeouts above the cap are capped rather than refused (as Synapse does).
  body: Type.Object({ typing: Type.Boolean(), timeout: Type.Optional(Type.Integer({ minimum: 0 })) }),
  async handler(ctx, { requester, params, body }) {
    await ctx.ephemeral.setTyping(requester, params.roomId, params.userId, body.typing, body.timeout)
    return {}
  },
})
