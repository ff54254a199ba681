// PUT /_matrix/federation/v2/invite/{roomId}/{eventId}
// Spec: server-server-api, "Inviting to a room". The work is FederationInvites' (src/federation/invites.ts).
import { Type } from '@sinclair/typebox'
import { MAX_PDU_BYTES } from '../../protocol/events/index.ts'
import { defineRoute } from '../route.ts'
import { JsonObject, RoomIdParam } from '../schemas.ts'

export const invite = defineRoute({
  method: 'PUT',
  url: '/_matrix/federation/v2/invite/:roomId/:eventId',
  auth: 'server',
  params: Type.Object({ roomId: RoomIdParam, eventId: Type.String({ pattern: '^\\$', maxLength: 255 }) }),
  body: JsonObject,
  // The event, and the stripped state shown with it (at most 50 events of 16 KiB are kept).
  bodyLimit: MAX_PDU_BYTES + 1024 * 1024,
  async handler(ctx, { origin, params, body }) {
    return ctx.federationInvites.receive(origin, params.roomId, params.eventId, body)
  },
})
