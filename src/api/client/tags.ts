// GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags, PUT/DELETE /user/{userId}/rooms/{roomId}/tags/{tag}
// Spec: client-server-api, "Room Tagging"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { JsonObject, RoomIdParam, UserIdParam } from '../schemas.ts'

const TagParams = Type.Object({ userId: UserIdParam, roomId: RoomIdParam, tag: Type.String({ minLength: 1, maxLength: 255 }) })

export const getRoomTags = defineRoute({
  method: 'GET',
  url: cs('/user/:userId/rooms/:roomId/tags'),
  auth: 'user',
  params: Type.Object({ userId: UserIdParam, roomId: RoomIdParam }),
  async handler(ctx, { requester, params }) {
    return ctx.directory.tags.get(requester, params.userId, params.roomId)
  },
})

export const setRoomTag = defineRoute({
  method: 'PUT',
  url: cs('/user/:userId/rooms/:roomId/tags/:tag'),
  auth: 'user',
  params: TagParams,
  body: JsonObject,
  async handler(ctx, { requester, params, body }) {
    await ctx.directory.tags.put(requester, params.userId, params.roomId, params.tag, body)
    return {}
  },
})

export const deleteRoomTag = defineRoute({
  method: 'DELETE',
  url: cs('/user/:userId/rooms/:roomId/tags/:tag'),
  auth: 'user',
  params: TagParams,
  async handler(ctx, { requester, params }) {
    await ctx.directory.tags.delete(requester, params.userId, params.roomId, params.tag)
    return {}
  },
})
