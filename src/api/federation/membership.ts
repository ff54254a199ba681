// GET /_matrix/federation/v1/make_join/{roomId}/{userId}, PUT /_matrix/federation/v2/send_join/{roomId}/{eventId},
// GET /_matrix/federation/v1/make_leave/{roomId}/{userId}, PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId},
// GET /_matrix/federation/v1/make_knock/{roomId}/{userId}, PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId},
// and the v1 forms PUT /_matrix/federation/v1/send_join and /v1/send_leave (removed from the spec in v1.18,
// still used by older servers): the same work, the answer wrapped as [200, answer].
// Spec: server-server-api, "Joining Rooms", "Leaving Rooms (Rejecting Invites)", "Knocking upon a room".
// The resident server's side; the work is FederationMemberships' (src/federation/memberships.ts).
import { Type } from '@sinclair/typebox'
import { MAX_PDU_BYTES } from '../../protocol/events/index.ts'
import type { RemoteMembership } from '../../federation/memberships.ts'
import { defineRoute } from '../route.ts'
import { JsonObject, RoomIdParam, UserIdParam } from '../schemas.ts'

const makeParams = Type.Object({ roomId: RoomIdParam, userId: UserIdParam })
// The event ID is only compared with the event's own once the event is checked: a malformed event is
// refused as such (M_BAD_JSON) whatever ID the path gives it.
const sendParams = Type.Object({ roomId: RoomIdParam, eventId: Type.String({ maxLength: 255 }) })
const versions = Type.Object({ ver: Type.Optional(Type.Union([Type.String({ maxLength: 32 }), Type.Array(Type.String({ maxLength: 32 }), { maxItems: 100 })])) })
/** A PDU and the JSON around it: the event limit plus room for what a server may add outside it. */
const SEND_BODY_LIMIT = MAX_PDU_BYTES + 16 * 1024

const verList = (ver: string | string[] | undefined) => (ver === undefined ? undefined : Array.isArray(ver) ? ver : [ver])

function make(membership: RemoteMembership, url: string) {
  return defineRoute({
    method: 'GET',
    url,
    auth: 'server',
    params: makeParams,
    query: versions,
    async handler(ctx, { origin, params, query }) {
      return ctx.federationMemberships.make(origin, params.roomId, params.userId, membership, verList(query.ver))
    },
  })
}

function send(membership: RemoteMembership, url: string, wrapped = false) {
  return defineRoute({
    method: 'PUT',
    url,
    auth: 'server',
    params: sendParams,
    // omit_members (partial state) is not offered: the answer is always the whole state.
    query: Type.Object({ omit_members: Type.Optional(Type.String({ maxLength: 8 })) }),
    body: JsonObject,
    bodyLimit: SEND_BODY_LIMIT,
    async handler(ctx, { origin, params, body }) {
      const answer = await ctx.federationMemberships.send(origin, params.roomId, params.eventId, body, membership)
      // The v1 endpoints answer with the HTTP status repeated before the body (fixed in v2).
      return wrapped ? [200, answer] : answer
    },
  })
}

export const makeJoin = make('join', '/_matrix/federation/v1/make_join/:roomId/:userId')
export const sendJoin = send('join', '/_matrix/federation/v2/send_join/:roomId/:eventId')
export const sendJoinV1 = send('join', '/_matrix/federation/v1/send_join/:roomId/:eventId', true)
export const makeLeave = make('leave', '/_matrix/federation/v1/make_leave/:roomId/:userId')
export const sendLeave = send('leave', '/_matrix/federation/v2/send_leave/:roomId/:eventId')
export const sendLeaveV1 = send('leave', '/_matrix/federation/v1/send_leave/:roomId/:eventId', true)
export const makeKnock = make('knock', '/_matrix/federation/v1/make_knock/:roomId/:userId')
export const sendKnock = send('knock', '/_matrix/federation/v1/send_knock/:roomId/:eventId')
