// POST /_matrix/client/v3/createRoom
// Spec: client-server-api, "Creation"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../../route.ts'
import { cs } from '../../paths.ts'
import { JsonObject } from '../../schemas.ts'

export const createRoom = defineRoute({
  method: 'POST',
  url: cs('/createRoom'),
  auth: 'user',
  body: Type.Object({
    visibility: Type.Optional(Type.Union([Type.Literal('public'), Type.Literal('private')])),
    room_alias_name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    name: Type.Optional(Type.String()),
    topic: Type.Optional(Type.String()),
    invite: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
    invite_3pid: Type.Optional(
      Type.Array(
        Type.Object({
          id_server: Type.String({ maxLength: 255 }),
          id_access_token: Type.String({ maxLength: 1024 }),
          medium: Type.String({ maxLength: 32 }),
          address: Type.String({ maxLength: 512 }),
        }),
        { maxItems: 20 },
      ),
    ),
    room_version: Type.Optional(Type.String()),
    creation_content: Type.Optional(JsonObject),
    initial_state: Type.Optional(
      Type.Array(Type.Object({ type: Type.String({ minLength: 1 }), state_key: Type.Optional(Type.String()), content: JsonObject }), { maxItems: 100 }),
    ),
    preset: Type.Optional(Type.Union([Type.Literal('private_chat'), Type.Literal('public_chat'), Type.Literal('trusted_private_chat')])),
    is_direct: Type.Optional(Type.Boolean()),
    power_level_content_override: Type.Optional(JsonObject),
  }),
  async handler(ctx, { requester, body }) {
    const guard = ctx.rateLimiter.guardEach(['room_creation', 'message'], requester.userId)
    let roomId: string
    try {
      roomId = await ctx.rooms.createRoom(requester, body, { guard })
    } catch (err) {
      throw ctx.rateLimiter.refusal(err) ?? err
    }
    // Third-party identifiers are invited once the room exists, through their identity servers.
    const tpids = (body.invite_3pid ?? []).map((t) => ({ idServer: t.id_server, accessToken: t.id_access_token, medium: t.medium, address: t.address }))
    if (tpids.length > 0) await ctx.thirdPartyInvites.inviteAll(requester, roomId, tpids)
    return { room_id: roomId }
  },
})
