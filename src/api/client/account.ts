// GET /account/whoami, POST /account/password, POST /account/deactivate
// Spec: client-server-api, "Current account information", "Account management"
import { Type } from '@sinclair/typebox'
import { MatrixError } from '../../shared/errors.ts'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { AuthDict } from '../schemas.ts'

export const whoami = defineRoute({
  method: 'GET',
  url: cs('/account/whoami'),
  auth: 'user',
  guest: true,
  async handler(_ctx, { requester }) {
    return { user_id: requester.userId, device_id: requester.deviceId, is_guest: requester.isGuest === true }
  },
})

/** With an access token, a password change; without one, a password reset by e-mail (m.login.email.identity). */
export const changePassword = defineRoute({
  method: 'POST',
  url: cs('/account/password'),
  auth: 'optional',
  body: Type.Object({
    new_password: Type.String({ minLength: 1, maxLength: 512 }),
    logout_devices: Type.Optional(Type.Boolean()),
    auth: AuthDict,
  }),
  async handler(ctx, { requester, body }) {
    if (requester?.isGuest) throw new MatrixError('M_GUEST_ACCESS_FORBIDDEN', 'Guest access not allowed', 403)
    if (requester === null) await ctx.accounts.resetPassword(body.new_password, body.logout_devices ?? true, body.auth)
    else await ctx.accounts.changePassword(requester, body.new_password, body.logout_devices ?? true, body.auth)
    return {}
  },
})

export const deactivate = defineRoute({
  method: 'POST',
  url: cs('/account/deactivate'),
  auth: 'user',
  body: Type.Object({
    auth: AuthDict,
    erase: Type.Optional(Type.Boolean()),
    id_server: Type.Optional(Type.String()),
  }),
  async handler(ctx, { requester, body }) {
    await ctx.accounts.deactivate(requester, body.auth, body.erase ?? false)
    // Once the account is gone: the identity servers it bound 3PIDs on are asked to forget them.
    return { id_server_unbind_result: await ctx.threepidBindings.unbindEverything(requester.userId) }
  },
})
