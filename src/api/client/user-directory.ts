// POST /_matrix/client/v3/user_directory/search
// Spec: client-server-api, "User directory"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'

export const searchUserDirectory = defineRoute({
  method: 'POST',
  url: cs('/user_directory/search'),
  auth: 'user',
  body: Type.Object({ search_term: Type.String(), limit: Type.Optional(Type.Integer({ minimum: 0 })) }),
  async handler(ctx, { requester, body }) {
    return ctx.userDirectory.search(requester, body.search_term, body.limit)
  },
})
