// The admin API's rooms, with Synapse's request and answer shapes (admins only): room deletion (DELETE
// /_synapse/admin/v1/rooms/{roomId}, and the older POST /_synapse/admin/v1/shutdown_room/{roomId}, which never
// purges; rooms/shutdown.ts) and history purges (rooms/purge-history.ts).
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

const PurgeBody = Type.Object({
  delete_local_events: Type.Optional(Type.Boolean()),
  purge_up_to_event_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  purge_up_to_ts: Type.Optional(Type.Integer({ minimum: 0 })),
})

export const purgeHistory = defineRoute({
  method: 'POST',
  url: [`${V1}/purge_history/:roomId`, `${V1}/purge_history/:roomId/:eventId`],
  auth: 'admin',
  params: Type.Object({ roomId: RoomIdParam, eventId: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) }),
  body: Type.Optional(PurgeBody),
  async handler(ctx, { params, body }) {
    const purgeId = await ctx.historyPurge.start(params.roomId, {
      upToEventId: params.eventId ?? body?.purge_up_to_event_id,
      upToTs: body?.purge_up_to_ts,
      deleteLocalEvents: body?.delete_local_events,
    })
    return { purge_id: purgeId }
  },
})

export const purgeHistoryStatus = defineRoute({
  method: 'GET',
  url: `${V1}/purge_history_status/:purgeId`,
  auth: 'admin',
  params: Type.Object({ purgeId: Type.String({ minLength: 1, maxLength: 64 }) }),
  async handler(ctx, { params }) {
    return ctx.historyPurge.status(params.purgeId)
  },
})
