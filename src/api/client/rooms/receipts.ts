// POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}
// POST /_matrix/client/v3/rooms/{roomId}/read_markers
// Spec: client-server-api, "Receipts", "Read and unread markers"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../../route.ts'
import { cs } from '../../paths.ts'
import { JsonObject, RoomIdParam, EventIdParam } from '../../schemas.ts'

export const sendReceipt = defineRoute({
  method: 'POST',
  url: cs('/rooms/:roomId/receipt/:receiptType/:eventId'),
  auth: 'user',
  // The receipt type and thread_id are checked by the domain, which answers M_INVALID_PARAM as Synapse does.
  params: Type.Object({ roomId: RoomIdParam, receiptType: Type.String({ maxLength: 255 }), eventId: EventIdParam }),
  body: JsonObject,
  async handler(ctx, { requester, params, body }) {
    await ctx.ephemeral.sendReceipt(requester, params.roomId, params.receiptType, params.eventId, body)
    return {}
  },
})

export const setReadMarkers = defineRoute({
  method: 'POST',
  url: cs('/rooms/:roomId/read_markers'),
  auth: 'user',
  params: Type.Object({ roomId: RoomIdParam }),
  body: Type.Object({
    'm.fully_read': Type.Optional(EventIdParam),
    'm.read': Type.Optional(EventIdParam),
    'm.read.private': Type.Optional(EventIdParam),
  }),
  async handler(ctx, { requester, params, body }) {
    await ctx.ephemeral.setReadMarkers(requester, params.roomId, body)
    return {}
  },
})
