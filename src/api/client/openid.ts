// POST /_matrix/client/v3/user/{userId}/openid/request_token
// Spec: client-server-api, "OpenID"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { JsonObject, UserIdParam } from '../schemas.ts'

export const requestOpenIdToken = defineRoute({
  method: 'POST',
  url: cs('/user/:userId/openid/request_token'),
  auth: 'user',
  params: Type.Object({ userId: UserIdParam }),
  // An empty object, reserved for future expansion.
  body: JsonObject,
  async handler(ctx, { requester, params }) {
    return ctx.openIdTokens.issue(requester, params.userId)
  },
})
