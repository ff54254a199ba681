// POST /_matrix/client/v3/register, GET /register/available,
// GET /_matrix/client/v1/register/m.login.registration_token/validity
// Spec: client-server-api, "Account registration" and "Token-authenticated registration"
import { Type } from '@sinclair/typebox'
import { MatrixError, forbidden } from '../../shared/errors.ts'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { AuthDict } from '../schemas.ts'

export const register = defineRoute({
  method: 'POST',
  url: cs('/register'),
  auth: 'none',
  query: Type.Object({ kind: Type.Optional(Type.String()) }),
  body: Type.Object({
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String({ maxLength: 512 })),
    device_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    initial_device_display_name: Type.Optional(Type.String({ maxLength: 512 })),
    inhibit_login: Type.Optional(Type.Boolean()),
    refresh_token: Type.Optional(Type.Boolean()),
    guest_access_token: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    auth: AuthDict,
  }),
  async handler(ctx, { query, body, ip }) {
    const kind = query.kind ?? 'user'
    // A guest's request body is ignored but for its device (the spec: no username, password or auth).
    if (kind === 'guest') return ctx.accounts.registerGuest({ deviceId: body.device_id, initialDeviceDisplayName: body.initial_device_display_name, ip })
    if (kind !== 'user') throw new MatrixError('M_INVALID_PARAM', 'kind must be "user" or "guest"')
    return ctx.accounts.register({
      username: body.username,
      password: body.password,
      deviceId: body.device_id,
      initialDeviceDisplayName: body.initial_device_display_name,
      inhibitLogin: body.inhibit_login,
      refreshToken: body.refresh_token,
      auth: body.auth,
      guestAccessToken: body.guest_access_token,
      ip,
    })
  },
})

export const registerAvailable = defineRoute({
  method: 'GET',
  url: cs('/register/available'),
  auth: 'none',
  query: Type.Object({ username: Type.String() }),
  async handler(ctx, { query, ip }) {
    if (!ctx.config.registration.enabled) throw forbidden('Registration has been disabled')
    await ctx.rateLimiter.take('registration', ip)
    await ctx.accounts.checkUsername(query.username)
    return { available: true }
  },
})

const validityUrls = [
  '/_matrix/client/v1/register/m.login.registration_token/validity',
  '/_matrix/client/v3/register/m.login.registration_token/validity',
]

async function validity(ctx: Parameters<typeof registerAvailable.handler>[0], token: string, ip: string) {
  if (!ctx.config.registration.enabled) throw forbidden('Registration has been disabled')
  await ctx.rateLimiter.take('registration', ip)
  return { valid: await ctx.registrationTokens.isValid(token) }
}

export const registrationTokenValidity = defineRoute({
  method: 'GET',
  url: validityUrls,
  auth: 'none',
  query: Type.Object({ token: Type.String() }),
  async handler(ctx, { query, ip }) {
    return validity(ctx, query.token, ip)
  },
})

/** The same check with the token in a JSON body, for clients that POST it. */
export const registrationTokenValidityPost = defineRoute({
  method: 'POST',
  url: validityUrls,
  auth: 'none',
  body: Type.Object({ token: Type.String() }),
  async handler(ctx, { body, ip }) {
    return validity(ctx, body.token, ip)
  },
})
