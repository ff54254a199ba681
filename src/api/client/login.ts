// GET/POST /_matrix/client/v3/login, POST /_matrix/client/v3/refresh
// Spec: client-server-api, "Login" and "Refreshing access tokens"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'

export const loginFlows = defineRoute({
  method: 'GET',
  url: cs('/login'),
  auth: 'none',
  async handler(ctx) {
    return { flows: [{ type: 'm.login.password' }, ...ctx.sso.loginFlows()] }
  },
})

export const login = defineRoute({
  method: 'POST',
  url: cs('/login'),
  auth: 'none',
  // A login is a few hundred bytes; nothing larger is read.
  bodyLimit: 64 * 1024,
  body: Type.Object({
    type: Type.String(),
    identifier: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    // As at registration: no password longer than 512 characters exists, and none is hashed to find out.
    user: Type.Optional(Type.String({ maxLength: 255 })),
    // The deprecated top-level form of identifier m.id.thirdparty.
    medium: Type.Optional(Type.String({ maxLength: 32 })),
    address: Type.Optional(Type.String({ maxLength: 512 })),
    password: Type.Optional(Type.String({ maxLength: 512 })),
    // m.login.token: the loginToken a single sign-on gave the client.
    token: Type.Optional(Type.String({ maxLength: 1024 })),
    device_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    initial_device_display_name: Type.Optional(Type.String({ maxLength: 512 })),
    refresh_token: Type.Optional(Type.Boolean()),
  }),
  async handler(ctx, { body, ip }) {
    const login = body.type === 'm.login.token'
      ? ctx.loginTokens.login({
          token: body.token,
          deviceId: body.device_id,
          initialDeviceDisplayName: body.initial_device_display_name,
          refreshToken: body.refresh_token,
          ip,
        })
      : ctx.accounts.login({
          type: body.type,
          identifier: body.identifier,
          user: body.user,
          medium: body.medium,
          address: body.address,
          password: body.password,
          deviceId: body.device_id,
          initialDeviceDisplayName: body.initial_device_display_name,
          refreshToken: body.refresh_token,
          ip,
        })
    const session = await login
    return { ...session, well_known: { 'm.homeserver': { base_url: ctx.config.public_baseurl.replace(/\/$/, '') } } }
  },
})

export const refresh = defineRoute({
  method: 'POST',
  url: ['/_matrix/client/v3/refresh', '/_matrix/client/v1/refresh'],
  auth: 'none',
  body: Type.Object({ refresh_token: Type.String() }),
  async handler(ctx, { body }) {
    return ctx.sessions.refresh(body.refresh_token)
  },
})
