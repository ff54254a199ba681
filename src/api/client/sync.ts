// GET /_matrix/client/v3/sync; POST/GET /user/{userId}/filter[/{filterId}]
// Spec: client-server-api, "Syncing" and "Filtering"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { UserIdParam } from '../schemas.ts'

export const sync = defineRoute({
  method: 'GET',
  url: cs('/sync'),
  auth: 'user',
  guest: true,
  query: Type.Object({
    since: Type.Optional(Type.String()),
    timeout: Type.Optional(Type.Integer({ minimum: 0 })),
    full_state: Type.Optional(Type.Boolean()),
    set_presence: Type.Optional(Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('unavailable')])),
    filter: Type.Optional(Type.String()),
    use_state_after: Type.Optional(Type.Boolean()),
  }),
  async handler(ctx, { requester, query }) {
    await ctx.presence.syncing(requester.userId, query.set_presence)
    const { device_lists: deviceLists, ...response } = await ctx.sync.sync(requester, {
      since: query.since,
      timeoutMs: Math.min(query.timeout ?? 0, ctx.config.limits.sync_timeout_ms),
      timelineLimit: ctx.config.limits.sync_timeline_limit,
      fullState: query.full_state ?? false,
      useStateAfter: query.use_state_after ?? false,
      filter: query.filter,
    })
    // Empty lists are left out (both are optional), as Synapse does; clients read an absent list as empty.
    const changed = deviceLists.changed.length > 0 ? { changed: deviceLists.changed } : {}
    const left = deviceLists.left.length > 0 ? { left: deviceLists.left } : {}
    return deviceLists.changed.length + deviceLists.left.length > 0 ? { ...response, device_lists: { ...changed, ...left } } : response
  },
})

export const createFilter = defineRoute({
  method: 'POST',
  url: cs('/user/:userId/filter'),
  auth: 'user',
  params: Type.Object({ userId: UserIdParam }),
  body: Type.Record(Type.String(), Type.Unknown()),
  async handler(ctx, { requester, params, body }) {
    return { filter_id: await ctx.sync.createFilter(requester, params.userId, body) }
  },
})

export const getFilter = defineRoute({
  method: 'GET',
  url: cs('/user/:userId/filter/:filterId'),
  auth: 'user',
  params: Type.Object({ userId: UserIdParam, filterId: Type.String() }),
  async handler(ctx, { requester, params }) {
    return ctx.sync.getFilter(requester, params.userId, params.filterId)
  },
})

