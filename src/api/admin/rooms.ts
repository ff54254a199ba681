// The admin API's room deletion, with Synapse's request and answer shapes (admins only): DELETE
// /_synapse/admin/v1/rooms/{roomId}, and the older POST /_synapse/admin/v1/shutdown_room/{roomId}, which never
// purges. See rooms/shutdown.ts.
import { Type, type Static } from '@sinclair/typebox'
import type { ShutdownRequest } from '../../rooms/shutdown.ts'
import { RoomIdParam, UserIdParam } from '../schemas.ts'
import { defineRoute } from '../route.ts'

const V1 = '/_synapse/admin/v1'
const RoomParams = Type.Object({ roomId: RoomIdParam })
const Text = Type.String({ maxLength: 4096 })
const ShutdownBody = Type.Object({
  new_room_user_id: Type.Optional(UserIdParam),
  room_name: Type.Optional(Text),
  message: Type.Optional(Text),
  block: Type.Optional(Type.Boolean()),
  purge: Type.Optional(Type.Boolean()),
  force_purge: Type.Optional(Type.Boolean()),
})

type Body = Static<typeof ShutdownBody> | undefined

const requestOf = (body: Body): ShutdownRequest => ({
  newRoomUserId: body?.new_room_user_id,
  roomName: body?.room_name,
  message: body?.message,
  block: body?.block,
  purge: body?.purge,
  forcePurge: body?.force_purge,
})

export const deleteRoom = defineRoute({
  method: 'DELETE',
  url: `${V1}/rooms/:roomId`,
  auth: 'admin',
  params: RoomParams,
  body: Type.Optional(ShutdownBody),
  async handler(ctx, { requester, params, body }) {
    return ctx.roomShutdown.shutdown(requester.userId, params.roomId, requestOf(body))
  },
})

export const shutdownRoom = defineRoute({
  method: 'POST',
  url: `${V1}/shutdown_room/:roomId`,
  auth: 'admin',
  params: RoomParams,
  body: Type.Optional(ShutdownBody),
  async handler(ctx, { requester, params, body }) {
    return ctx.roomShutdown.shutdown(requester.userId, params.roomId, { ...requestOf(body), block: body?.block ?? true, purge: false })
  },
})
