// PUT /rooms/{roomId}/send/{eventType}/{txnId}, PUT /rooms/{roomId}/state/{eventType}/{stateKey},
// PUT /rooms/{roomId}/redact/{eventId}/{txnId}
// Spec: client-server-api, "Sending events to a room", "Redactions"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../../route.ts'
import { cs } from '../../paths.ts'
import { EventType, JsonObject, RoomIdParam } from '../../schemas.ts'

const TxnId = Type.String({ minLength: 1, maxLength: 255 })

export const sendMessage = defineRoute({
  method: 'PUT',
  url: cs('/rooms/:roomId/send/:eventType/:txnId'),
  auth: 'user',
  params: Type.Object({ roomId: RoomIdParam, eventType: EventType, txnId: TxnId }),
  body: JsonObject,
  async handler(ctx, { requester, params, body }) {
    await ctx.rateLimiter.take('message', requester.userId)
    return { event_id: await ctx.rooms.send(requester, params.roomId, params.eventType, body, params.txnId) }
  },
})

const StateParams = Type.Object({ roomId: RoomIdParam, eventType: EventType, stateKey: Type.Optional(Type.String({ maxLength: 255 })) })

export const sendState = defineRoute({
  method: 'PUT',
  url: [...cs('/rooms/:roomId/state/:eventType'), ...cs('/rooms/:roomId/state/:eventType/:stateKey')],
  auth: 'user',
  params: StateParams,
  body: JsonObject,
  async handler(ctx, { requester, params, body }) {
    return { event_id: await ctx.rooms.sendState(requester, params.roomId, params.eventType, params.stateKey ?? '', body) }
  },
})

export const redact = defineRoute({
  method: 'PUT',
  url: cs('/rooms/:roomId/redact/:eventId/:txnId'),
  auth: 'user',
  params: Type.Object({ roomId: RoomIdParam, eventId: Type.String({ pattern: '^\\$', maxLength: 255 }), txnId: TxnId }),
  body: Type.Object({ reason: Type.Optional(Type.String()) }),
  async handler(ctx, { requester, params, body }) {
    await ctx.rateLimiter.take('message', requester.userId)
    return { event_id: await ctx.rooms.redact(requester, params.roomId, params.eventId, body.reason, params.txnId) }
  },
})
