// GET /_matrix/client/v3/pushers, POST /_matrix/client/v3/pushers/set
// Spec: client-server-api, "Push Notifications" ("Client behaviour": listing and setting pushers)
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'

export const getPushers = defineRoute({
  method: 'GET',
  url: cs('/pushers'),
  auth: 'user',
  async handler(ctx, { requester }) {
    return { pushers: await ctx.pushers.list(requester.userId) }
  },
})

export const setPusher = defineRoute({
  method: 'POST',
  url: cs('/pushers/set'),
  auth: 'user',
  bodyLimit: 64 * 1024,
  // Checked field by field in push/pushers.ts, with Synapse's errors (M_MISSING_PARAM lists what is missing).
  body: Type.Record(Type.String(), Type.Unknown()),
  async handler(ctx, { requester, body }) {
    await ctx.pushers.set(requester.userId, requester.deviceId, body)
    return {}
  },
})
