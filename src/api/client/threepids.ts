// GET/POST /account/3pid, POST /account/3pid/{add,delete} (bind and unbind: threepid-binding.ts), POST /{account/3pid,register,account/password}/{email,msisdn}/requestToken
// Spec: client-server-api, "Adding Account Administrative Contact Information"
import { Type } from '@sinclair/typebox'
import { MatrixError } from '../../shared/errors.ts'
import type { ValidationPurpose } from '../../email/threepids.ts'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { AuthDict } from '../schemas.ts'

// Without mail (email.smtp_host unset) no address can be validated: changes are refused with the error
// Synapse gives when 3PID changes are disabled (the capability m.3pid_changes says so too), rather than a
// 404 a client takes for a broken server.
const disabled = () => new MatrixError('M_FORBIDDEN', '3PID changes are disabled on this server', 400)

const Secret = Type.String({ minLength: 1, maxLength: 255 })

export const listThreepids = defineRoute({
  method: 'GET',
  url: cs('/account/3pid'),
  auth: 'user',
  async handler(ctx, { requester }) {
    return { threepids: await ctx.threepids.list(requester.userId) }
  },
})

export const addThreepid = defineRoute({
  method: 'POST',
  url: cs('/account/3pid/add'),
  auth: 'user',
  body: Type.Object({ client_secret: Secret, sid: Secret, auth: AuthDict }),
  async handler(ctx, { requester, body }) {
    if (!ctx.threepids.enabled) throw disabled()
    await ctx.threepids.add(requester, body.sid, body.client_secret, body.auth)
    return {}
  },
})

/** The deprecated POST /account/3pid: adds a validated address without re-authentication (binding to an identity server is not done). */
export const addThreepidDeprecated = defineRoute({
  method: 'POST',
  url: cs('/account/3pid'),
  auth: 'user',
  body: Type.Object({
    three_pid_creds: Type.Optional(Type.Object({ client_secret: Secret, sid: Secret }, { additionalProperties: true })),
    threePidCreds: Type.Optional(Type.Object({ client_secret: Secret, sid: Secret }, { additionalProperties: true })),
  }),
  async handler(ctx, { requester, body }) {
    if (!ctx.threepids.enabled) throw disabled()
    const creds = body.three_pid_creds ?? body.threePidCreds
    if (!creds) throw new MatrixError('M_MISSING_PARAM', "Missing 'three_pid_creds'")
    await ctx.threepids.addDeprecated(requester, creds)
    return {}
  },
})

export const deleteThreepid = defineRoute({
  method: 'POST',
  url: cs('/account/3pid/delete'),
  auth: 'user',
  // medium and address are checked once changes are known to be possible, so a server without mail refuses every change alike.
  body: Type.Object({
    medium: Type.Optional(Type.String({ maxLength: 32 })),
    address: Type.Optional(Type.String({ maxLength: 512 })),
    id_server: Type.Optional(Type.String({ maxLength: 512 })),
  }),
  async handler(ctx, { requester, body }) {
    if (!ctx.threepids.enabled) throw disabled()
    if (body.medium === undefined || body.address === undefined) throw new MatrixError('M_MISSING_PARAM', "Missing 'medium' or 'address'")
    await ctx.threepids.remove(requester, body.medium, body.address)
    // Unbound too from the identity server named, or from those this server bound it on.
    return { id_server_unbind_result: await ctx.threepidBindings.unbind(requester.userId, { medium: body.medium, address: body.address }, body.id_server) }
  },
})

const RequestTokenBody = Type.Object({
  client_secret: Secret,
  email: Type.String({ minLength: 1, maxLength: 512 }),
  send_attempt: Type.Integer({ minimum: 0 }),
  next_link: Type.Optional(Type.String({ maxLength: 2048 })),
  id_server: Type.Optional(Type.String({ maxLength: 512 })),
  id_access_token: Type.Optional(Type.String({ maxLength: 1024 })),
})

const emailRequestToken = (path: string, purpose: ValidationPurpose) =>
  defineRoute({
    method: 'POST',
    url: cs(`/${path}/email/requestToken`),
    auth: 'none',
    body: RequestTokenBody,
    async handler(ctx, { body, ip }) {
      return ctx.threepids.requestToken(purpose, body, ip)
    },
  })

/** A validation mail for an address to add to the caller's account. */
export const addThreepidRequestToken = emailRequestToken('account/3pid', 'add_threepid')
/** A validation mail for signing up with an address (m.login.email.identity). */
export const registerRequestToken = emailRequestToken('register', 'registration')
/** A password-reset mail, to an address of an account. */
export const passwordRequestToken = emailRequestToken('account/password', 'password_reset')

/** No SMS is sent. */
export const msisdnRequestToken = defineRoute({
  method: 'POST',
  url: ['account/3pid', 'register', 'account/password'].flatMap((p) => cs(`/${p}/msisdn/requestToken`)),
  auth: 'none',
  async handler() {
    throw new MatrixError('M_THREEPID_MEDIUM_NOT_SUPPORTED', 'This server does not send SMS', 400)
  },
})
