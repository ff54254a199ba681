// POST /join/{roomIdOrAlias}, /knock/{roomIdOrAlias}, /rooms/{roomId}/{join,leave,invite,kick,ban,unban,forget}
// Spec: client-server-api, "Room membership"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../../route.ts'
import { cs } from '../../paths.ts'
import { RoomIdParam, UserIdParam } from '../../schemas.ts'
import { isServerName } from '../../../protocol/server-name.ts'
import { invalidParam } from '../../../shared/errors.ts'

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

export const joinByIdOrAlias = defineRoute({
  method: 'POST',
  url: cs('/join/:roomIdOrAlias'),
  auth: 'user',
  params: Type.Object({ roomIdOrAlias: Type.String({ pattern: '^[!#]', maxLength: 255 }) }),
  query: Via,
  body: Type.Object({ reason: Reason }),
  async handler(ctx, { requester, params, query, body }) {
    return { room_id: await ctx.rooms.join(requester, params.roomIdOrAlias, body.reason, viaServers(query.via, query.server_name)) }
  },
})

export const joinRoom = defineRoute({
  method: 'POST',
  url: cs('/rooms/:roomId/join'),
  auth: 'user',
  params: Room,
  body: Type.Object({ reason: Reason }),
  async handler(ctx, { requester, params, body }) {
    return { room_id: await ctx.rooms.join(requester, params.roomId, body.reason) }
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
  body: Target,
  async handler(ctx, { requester, params, body }) {
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
