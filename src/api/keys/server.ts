// GET /_matrix/key/v2/server
// Spec: server-server-api, "Publishing Keys"
import { defineRoute } from '../route.ts'

export const serverKeys = defineRoute({
  method: 'GET',
  url: ['/_matrix/key/v2/server', '/_matrix/key/v2/server/:keyId'],
  auth: 'none',
  async handler(ctx) {
    return ctx.serverKeys.keyResponse()
  },
})
