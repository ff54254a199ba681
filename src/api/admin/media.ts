// Media administration, Synapse-compatible (docs/admin_api/media_admin_api.md, user_admin_api.md):
// quarantine and protect, delete, purge the remote cache, a user's media, the media a room's events name.
import { Type } from '@sinclair/typebox'
import { RoomIdParam, UserIdParam } from '../schemas.ts'
import { defineRoute } from '../route.ts'

const V1 = '/_synapse/admin/v1'
const MediaParams = Type.Object({ serverName: Type.String({ minLength: 1, maxLength: 255 }), mediaId: Type.String({ minLength: 1, maxLength: 255 }) })
const MediaIdParams = Type.Object({ mediaId: Type.String({ minLength: 1, maxLength: 255 }) })
const RoomParams = Type.Object({ roomId: RoomIdParam })
const UserParams = Type.Object({ userId: UserIdParam })
const ORDERS = ['media_id', 'upload_name', 'created_ts', 'last_access_ts', 'media_length', 'media_type', 'quarantined_by', 'safe_from_quarantine'] as const

export const getMediaInfo = defineRoute({
  method: 'GET',
  url: `${V1}/media/:serverName/:mediaId`,
  auth: 'admin',
  params: MediaParams,
  async handler(ctx, { params }) {
    return ctx.media.admin.get(params.serverName, params.mediaId)
  },
})

export const quarantineMedia = defineRoute({
  method: 'POST',
  url: `${V1}/media/quarantine/:serverName/:mediaId`,
  auth: 'admin',
  params: MediaParams,
  async handler(ctx, { requester, params }) {
    await ctx.media.admin.quarantine(params.serverName, params.mediaId, requester.userId)
    return {}
  },
})

export const unquarantineMedia = defineRoute({
  method: 'POST',
  url: `${V1}/media/unquarantine/:serverName/:mediaId`,
  auth: 'admin',
  params: MediaParams,
  async handler(ctx, { params }) {
    await ctx.media.admin.quarantine(params.serverName, params.mediaId, null)
    return {}
  },
})

export const protectMedia = defineRoute({
  method: 'POST',
  url: `${V1}/media/protect/:mediaId`,
  auth: 'admin',
  params: MediaIdParams,
  async handler(ctx, { params }) {
    await ctx.media.admin.protect(params.mediaId, true)
    return {}
  },
})

export const unprotectMedia = defineRoute({
  method: 'POST',
  url: `${V1}/media/unprotect/:mediaId`,
  auth: 'admin',
  params: MediaIdParams,
  async handler(ctx, { params }) {
    await ctx.media.admin.protect(params.mediaId, false)
    return {}
  },
})

export const quarantineRoomMedia = defineRoute({
  method: 'POST',
  url: [`${V1}/room/:roomId/media/quarantine`, `${V1}/quarantine_media/:roomId`],
  auth: 'admin',
  params: RoomParams,
  async handler(ctx, { requester, params }) {
    return { num_quarantined: await ctx.media.admin.quarantineRoom(params.roomId, requester.userId) }
  },
})

export const quarantineUserMedia = defineRoute({
  method: 'POST',
  url: `${V1}/user/:userId/media/quarantine`,
  auth: 'admin',
  params: UserParams,
  async handler(ctx, { requester, params }) {
    return { num_quarantined: await ctx.media.admin.quarantineUser(params.userId, requester.userId) }
  },
})

export const roomMedia = defineRoute({
  method: 'GET',
  url: `${V1}/room/:roomId/media`,
  auth: 'admin',
  params: RoomParams,
  async handler(ctx, { params }) {
    return ctx.media.admin.roomMedia(params.roomId)
  },
})

export const deleteMedia = defineRoute({
  method: 'DELETE',
  url: `${V1}/media/:serverName/:mediaId`,
  auth: 'admin',
  params: MediaParams,
  async handler(ctx, { params }) {
    return ctx.media.admin.delete(params.serverName, params.mediaId)
  },
})

export const deleteOldMedia = defineRoute({
  method: 'POST',
  url: [`${V1}/media/delete`, `${V1}/media/:serverName/delete`],
  auth: 'admin',
  query: Type.Object({
    before_ts: Type.Integer({ minimum: 0 }),
    size_gt: Type.Optional(Type.Integer({ minimum: 0 })),
    keep_profiles: Type.Optional(Type.Boolean()),
  }),
  async handler(ctx, { query }) {
    return ctx.media.admin.deleteOlderThan(query.before_ts, query.size_gt ?? 0)
  },
})

export const purgeMediaCache = defineRoute({
  method: 'POST',
  url: `${V1}/purge_media_cache`,
  auth: 'admin',
  query: Type.Object({ before_ts: Type.Integer({ minimum: 0 }) }),
  async handler(ctx, { query }) {
    return ctx.media.admin.purgeRemoteCache(query.before_ts)
  },
})

export const listUserMedia = defineRoute({
  method: 'GET',
  url: [`${V1}/users/:userId/media`, '/_synapse/admin/v2/users/:userId/media'],
  auth: 'admin',
  params: UserParams,
  query: Type.Object({
    from: Type.Optional(Type.Integer({ minimum: 0 })),
    limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    order_by: Type.Optional(Type.Union(ORDERS.map((o) => Type.Literal(o)))),
    dir: Type.Optional(Type.Union([Type.Literal('f'), Type.Literal('b')])),
  }),
  async handler(ctx, { params, query }) {
    return ctx.media.admin.listUser(params.userId, query.from ?? 0, query.limit ?? 100, query.order_by ?? 'created_ts', query.dir ?? 'f')
  },
})

export const deleteUserMedia = defineRoute({
  method: 'DELETE',
  url: `${V1}/users/:userId/media`,
  auth: 'admin',
  params: UserParams,
  async handler(ctx, { params }) {
    return ctx.media.admin.deleteUser(params.userId)
  },
})
