// POST /account/3pid/bind, POST /account/3pid/unbind: a user's 3PIDs on an identity server (identity/bindings.ts).
// Spec: client-server-api, "Adding Account Administrative Contact Information"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'

const IdServer = Type.String({ minLength: 1, maxLength: 255 })
/** Also under unstable/, where these two were first served (MSC2290) and Synapse still serves them. */
const paths = (path: string) => [...cs(path), `/_matrix/client/unstable${path}`]

export const bindThreepid = defineRoute({
  method: 'POST',
  url: paths('/account/3pid/bind'),
  auth: 'user',
  body: Type.Object({
    id_server: IdServer,
    id_access_token: Type.String({ minLength: 1, maxLength: 1024 }),
    sid: Type.String({ minLength: 1, maxLength: 255 }),
    client_secret: Type.String({ pattern: '^[0-9a-zA-Z.=_-]{1,255}$' }),
  }),
  async handler(ctx, { requester, body }) {
    await ctx.threepidBindings.bind(requester.userId, { idServer: body.id_server, idAccessToken: body.id_access_token, sid: body.sid, clientSecret: body.client_secret })
    return {}
  },
})

export const unbindThreepid = defineRoute({
  method: 'POST',
  url: paths('/account/3pid/unbind'),
  auth: 'user',
  body: Type.Object({ medium: Type.String({ minLength: 1, maxLength: 32 }), address: Type.String({ minLength: 1, maxLength: 512 }), id_server: Type.Optional(IdServer) }),
  async handler(ctx, { requester, body }) {
    return { id_server_unbind_result: await ctx.threepidBindings.unbind(requester.userId, { medium: body.medium, address: body.address }, body.id_server) }
  },
})
