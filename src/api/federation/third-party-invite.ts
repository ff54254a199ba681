// PUT /_matrix/federation/v1/3pid/onbind, PUT /_matrix/federation/v1/exchange_third_party_invite/{roomId}
// Spec: server-server-api, "Third-party invites". onbind comes from an identity server, unauthenticated (the
// signed blocks it carries are what is checked), and is taken as POST too, as identity servers send it and
// Synapse serves it. The work is ThirdPartyInvites' (src/rooms/third-party-invites.ts).
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { JsonObject, RoomIdParam } from '../schemas.ts'
import { MAX_ONBIND_INVITES } from '../../rooms/third-party-invites.ts'

const onBindBody = Type.Object({
  medium: Type.Optional(Type.String({ maxLength: 32 })),
  address: Type.Optional(Type.String({ maxLength: 512 })),
  mxid: Type.Optional(Type.String({ maxLength: 255 })),
  // Checked one by one (a malformed invite fails alone); their number bounds the work.
  invites: Type.Optional(Type.Array(Type.Unknown(), { maxItems: MAX_ONBIND_INVITES })),
})

const onBind = defineRoute({
  method: 'PUT',
  url: '/_matrix/federation/v1/3pid/onbind',
  auth: 'none',
  body: onBindBody,
  bodyLimit: 64 * 1024,
  async handler(ctx, { body }) {
    await ctx.thirdPartyInvites.onBind(body.invites ?? [])
    return {}
  },
})

export const onBindPut = onBind
export const onBindPost = { ...onBind, method: 'POST' as const }

export const exchangeThirdPartyInvite = defineRoute({
  method: 'PUT',
  url: '/_matrix/federation/v1/exchange_third_party_invite/:roomId',
  auth: 'server',
  params: Type.Object({ roomId: RoomIdParam }),
  body: JsonObject,
  bodyLimit: 64 * 1024,
  async handler(ctx, { origin, params, body }) {
    await ctx.thirdPartyInvites.exchangeFor(origin, params.roomId, body)
    return {}
  },
})
