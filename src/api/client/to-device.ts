// PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}
// Spec: client-server-api, "Send-to-Device messaging"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { EventType, JsonObject } from '../schemas.ts'

export const sendToDevice = defineRoute({
  method: 'PUT',
  url: cs('/sendToDevice/:eventType/:txnId'),
  auth: 'user',
  guest: true,
  params: Type.Object({ eventType: EventType, txnId: Type.String({ minLength: 1, maxLength: 255 }) }),
  body: Type.Object({ messages: JsonObject }),
  async handler(ctx, { requester, params, body }) {
    await ctx.toDevice.send(requester, params.eventType, params.txnId, body.messages)
    return {}
  },
})
