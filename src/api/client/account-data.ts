// GET/PUT /user/{userId}/account_data/{type}, GET/PUT /user/{userId}/rooms/{roomId}/account_data/{type}
// Spec: client-server-api, "Client Config"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { EventType, JsonObject, RoomIdParam, UserIdParam } from '../schemas.ts'

const GlobalParams = Type.Object({ userId: UserIdParam, type: EventType })
const RoomParams = Type.Object({ userId: UserIdParam, roomId: RoomIdParam, type: EventType })

export const getGlobalAccountData = defineRoute({
  method: 'GET',
  url: cs('/user/:userId/account_data/:type'),
  auth: 'user',
  params: GlobalParams,
  async handler(ctx, { requester, params }) {
    return ctx.accountData.get(requester, params.userId, '', params.type)
  },
})

export const putGlobalAccountData = defineRoute({
  method: 'PUT',
  url: cs('/user/:userId/account_data/:type'),
  auth: 'user',
  params: GlobalParams,
  body: JsonObject,
  async handler(ctx, { requester, params, body }) {
    await ctx.accountData.put(requester, params.userId, '', params.type, body)
    return {}
  },
})

export const getRoomAccountData = defineRoute({
  method: 'GET',
  url: cs('/user/:userId/rooms/:roomId/account_data/:type'),
  auth: 'user',
  params: RoomParams,
  async handler(ctx, { requester, params }) {
    return ctx.accountData.get(requester, params.userId, params.roomId, params.type)
  },
})

export const putRoomAccountData = defineRoute({
  method: 'PUT',
  url: cs('/user/:userId/rooms/:roomId/account_data/:type'),
  auth: 'user',
  params: RoomParams,
  body: JsonObject,
  async handler(ctx, { requester, params, body }) {
    await ctx.accountData.put(requester, params.userId, params.roomId, params.type, body)
    return {}
  },
})
