// POST /_matrix/client/v3/logout, POST /_matrix/client/v3/logout/all
// Spec: client-server-api, "Logout": the device goes with its token.
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'

export const logout = defineRoute({
  method: 'POST',
  url: cs('/logout'),
  auth: 'user',
  guest: true,
  async handler(ctx, { requester }) {
    await ctx.devices.delete(requester.userId, [requester.deviceId])
    return {}
  },
})

export const logoutAll = defineRoute({
  method: 'POST',
  url: cs('/logout/all'),
  auth: 'user',
  guest: true,
  async handler(ctx, { requester }) {
    await ctx.devices.deleteAll(requester.userId)
    return {}
  },
})
