// PUT /_matrix/federation/v2/invite/{roomId}/{eventId}, PUT /_matrix/federation/v1/invite/{roomId}/{eventId}
// Spec: server-server-api, "Inviting to a room". v1 (deprecated, rooms of version 1 and 2) takes the event
// itself as the body and answers [200, {event}]. The work is FederationInvites' (src/federation/invites.ts).
import { Type } from '@sinclair/typebox'
import { MAX_PDU_BYTES } from '../../protocol/events/index.ts'
import { defineRoute } from '../route.ts'
import { JsonObject, RoomIdParam } from '../schemas.ts'

const params = Type.Object({ roomId: RoomIdParam, eventId: Type.String({ pattern: '^\\$', maxLength: 255 }) })
// The event, and the stripped state shown with it (at most 50 events of 16 KiB are kept).
const bodyLimit = MAX_PDU_BYTES + 1024 * 1024

export const invite = defineRoute({
  method: 'PUT',
  url: '/_matrix/federation/v2/invite/:roomId/:eventId',
  auth: 'server',
  params,
  body: JsonObject,
  bodyLimit,
  async handler(ctx, { origin, params, body }) {
    return ctx.federationInvites.receive(origin, params.roomId, params.eventId, body)
  },
})

export const inviteV1 = defineRoute({
  method: 'PUT',
  url: '/_matrix/federation/v1/invite/:roomId/:eventId',
  auth: 'server',
  params,
  body: JsonObject,
  bodyLimit,
  async handler(ctx, { origin, params, body }) {
    return [200, await ctx.federationInvites.receive(origin, params.roomId, params.eventId, body, true)]
  },
})
