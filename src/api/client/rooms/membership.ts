// POST /join/{roomIdOrAlias}, /knock/{roomIdOrAlias}, /rooms/{roomId}/{join,leave,invite,kick,ban,unban,forget}
// Spec: client-server-api, "Room membership"; invites and joins by third-party identifier: "Third-party invites"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../../route.ts'
import { cs } from '../../paths.ts'
import { JsonObject, RoomIdParam, UserIdParam } from '../../schemas.ts'
import { isServerName } from '../../../protocol/server-name.ts'
import { invalidParam, missingParam } from '../../../shared/errors.ts'

/** At most this many servers named in `via` / `server_name` (joins try at most ten anyway). */
const MAX_VIA = 50

/** `via` (spec v1.12+) and its older name `server_name`, each repeatable, as one list of server names. */
function viaServers(...params: Array<string | string[] | undefined>): string[] {
  const servers = params.flatMap((p) => (p === undefined ? [] : Array.isArray(p) ? p : [p]))
  if (servers.length > MAX_VIA) throw invalidParam(`At most ${MAX_VIA} servers may be named in via`)
  for (const server of servers) if (!isServerName(server)) throw invalidParam(`${server.slice(0, 100)} is not a server name`)
  return servers
}

const Reason = Type.Optional(Type.String({ maxLength: 4096 }))
const Via = Type.Object({ via: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])), server_name: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])) })
const Room = Type.Object({ roomId: RoomIdParam })
const Target = Type.Object({ user_id: UserIdParam, reason: Reason })
/** A join's proof of a third-party invite (the identity server's signed block, with the inviter as sender). */
const JoinBody = Type.Object({ reason: Reason, third_party_signed: Type.Optional(JsonObject) })
/** An invite of a user ID, or of a third-party identifier through an identity server ("Third-party invites"). */
const InviteBody = Type.Object({
  user_id: Type.Optional(UserIdParam),
  reason: Reason,
  id_server: Type.Optional(Type.String({ maxLength: 255 })),
  id_access_token: Type.Optional(Type.String({ maxLength: 1024 })),
  medium: Type.Optional(Type.String({ maxLength: 32 })),
  address: Type.Optional(Type.String({ maxLength: 512 })),
})

export const joinByIdOrAlias = defineRoute({
  method: 'POST',
  url: cs('/join/:roomIdOrAlias'),
  auth: 'user',
  guest: true,
  params: Type.Object({ roomIdOrAlias: Type.String({ pattern: '^[!#]', maxLength: 255 }) }),
  query: Via,
  body: JoinBody,
  async handler(ctx, { requester, params, query, body }) {
    const via = viaServers(query.via, query.server_name)
    if (body.third_party_signed) return { room_id: await ctx.thirdPartyInvites.join(requester, params.roomIdOrAlias, body.third_party_signed, body.reason, via) }
    return { room_id: await ctx.rooms.join(requester, params.roomIdOrAlias, body.reason, via, body) }
  },
})

export const joinRoom = defineRoute({
  method: 'POST',
  url: cs('/rooms/:roomId/join'),
  auth: 'user',
  guest: true,
  params: Room,
  body: JoinBody,
  async handler(ctx, { requester, params, body }) {
    if (body.third_party_signed) return { room_id: await ctx.thirdPartyInvites.join(requester, params.roomId, body.third_party_signed, body.reason) }
    return { room_id: await ctx.rooms.join(requester, params.roomId, body.reason, [], body) }
  },
})

export const knock = defineRoute({
  method: 'POST',
  url: cs('/knock/:roomIdOrAlias'),
  auth: 'user',
  params: Type.Object({ roomIdOrAlias: Type.String({ pattern: '^[!#]', maxLength: 255 }) }),
  query: Via,
  body: Type.Object({ reason: Reason }),
  async handler(ctx, { requester, params, query, body }) {
    return { room_id: await ctx.rooms.knock(requester, params.roomIdOrAlias, body.reason, viaServers(query.via, query.server_name)) }
  },
})

export const leave = defineRoute({
  method: 'POST',
  url: cs('/rooms/:roomId/leave'),
  auth: 'user',
  guest: true,
  params: Room,
  body: Type.Object({ reason: Reason }),
  async handler(ctx, { requester, params, body }) {
    await ctx.rooms.leave(requester, params.roomId, body.reason)
    return {}
  },
})

export const forget = defineRoute({
  method: 'POST',
  url: cs('/rooms/:roomId/forget'),
  auth: 'user',
  params: Room,
  async handler(ctx, { requester, params }) {
    await ctx.rooms.forget(requester, params.roomId)
    return {}
  },
})

export const invite = defineRoute({
  method: 'POST',
  url: cs('/rooms/:roomId/invite'),
  auth: 'user',
  params: Room,
  body: InviteBody,
  async handler(ctx, { requester, params, body }) {
    // A body with medium and address invites a third-party identifier (as Synapse decides).
    if (body.medium !== undefined && body.address !== undefined) {
      if (body.id_server === undefined) throw missingParam("Missing 'id_server'")
      if (body.id_access_token === undefined) throw missingParam("Missing 'id_access_token'")
      const tpid = { idServer: body.id_server, accessToken: body.id_access_token, medium: body.medium, address: body.address }
      await ctx.thirdPartyInvites.invite(requester, params.roomId, tpid)
      return {}
    }
    if (body.user_id === undefined) throw missingParam("Missing 'user_id'")
    await ctx.rooms.invite(requester, params.roomId, body.user_id, body.reason)
    return {}
  },
})

export const kick = defineRoute({
  method: 'POST',
  url: cs('/rooms/:roomId/kick'),
  auth: 'user',
  params: Room,
  body: Target,
  async handler(ctx, { requester, params, body }) {
    await ctx.rooms.kick(requester, params.roomId, body.user_id, body.reason)
    return {}
  },
})

export const ban = defineRoute({
  method: 'POST',
  url: cs('/rooms/:roomId/ban'),
  auth: 'user',
  params: Room,
  body: Target,
  async handler(ctx, { requester, params, body }) {
    await ctx.rooms.ban(requester, params.roomId, body.user_id, body.reason)
    return {}
  },
})

export const unban = defineRoute({
  method: 'POST',
  url: cs('/rooms/:roomId/unban'),
  auth: 'user',
  params: Room,
  body: Target,
  async handler(ctx, { requester, params, body }) {
    await ctx.rooms.unban(requester, params.roomId, body.user_id, body.reason)
    return {}
  },
})
