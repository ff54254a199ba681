// GET /_matrix/federation/v1/openid/userinfo
// Spec: server-server-api, "OpenID". Called by third parties, not servers: no X-Matrix signature; the
// OpenID token in the query is the only credential.
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'

export const openIdUserInfo = defineRoute({
  method: 'GET',
  url: '/_matrix/federation/v1/openid/userinfo',
  auth: 'none',
  // Any string: a missing or malformed token is answered 401 by the handler, not 400.
  query: Type.Object({ access_token: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])) }),
  async handler(ctx, { query }) {
    return ctx.openIdTokens.userInfo(typeof query.access_token === 'string' ? query.access_token : undefined)
  },
})
