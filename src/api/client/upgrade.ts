// POST /_matrix/client/v3/rooms/{roomId}/upgrade
// Spec: client-server-api, "Room Upgrades"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { RoomIdParam } from '../schemas.ts'

export const upgradeRoom = defineRoute({
  method: 'POST',
  url: cs('/rooms/:roomId/upgrade'),
  auth: 'user',
  params: Type.Object({ roomId: RoomIdParam }),
  body: Type.Object({
    new_version: Type.String({ minLength: 1, maxLength: 64 }),
    additional_creators: Type.Optional(Type.Array(Type.String({ maxLength: 255 }), { maxItems: 100 })),
  }),
  async handler(ctx, { requester, params, body }) {
    const guard = ctx.rateLimiter.guardEach(['room_creation', 'message'], requester.userId)
    try {
      const replacement = await ctx.directory.upgrades.upgrade(requester, params.roomId, { newVersion: body.new_version, additionalCreators: body.additional_creators }, { guard })
      return { replacement_room: replacement }
    } catch (err) {
      throw ctx.rateLimiter.refusal(err) ?? err
    }
  },
})
