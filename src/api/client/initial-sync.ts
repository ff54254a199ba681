// GET /_matrix/client/v3/initialSync
// Spec: client-server-api r0 (deprecated), "Get the user's current state" (old_sync.yaml)
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'

/** Messages per room when the client names no limit. */
const DEFAULT_LIMIT = 10

export const initialSync = defineRoute({
  method: 'GET',
  url: cs('/initialSync'),
  auth: 'user',
  query: Type.Object({
    limit: Type.Optional(Type.Integer({ minimum: 0 })),
    archived: Type.Optional(Type.Boolean()),
    // Accepted and ignored: the snapshot never waits.
    timeout: Type.Optional(Type.Integer({ minimum: 0 })),
  }),
  async handler(ctx, { requester, query }) {
    // The legacy client's way of coming online (it has no /sync to set_presence with): as a /sync without
    // set_presence, the user is marked online, and so finds their own presence in the answer.
    await ctx.presence.syncing(requester.userId, undefined)
    return ctx.sync.initialSnapshot.snapshot(requester, {
      // Every room's messages at once, as an initial /sync's timelines: capped as they are.
      limit: Math.min(query.limit ?? DEFAULT_LIMIT, ctx.config.limits.sync_timeline_limit),
      archived: query.archived ?? false,
    })
  },
})
