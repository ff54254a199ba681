// GET/POST /_synapse/admin/v1/register: shared-secret registration, compatible with Synapse's
// register_new_matrix_user (nonce + HMAC-SHA1).
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'

export const sharedSecretNonce = defineRoute({
  method: 'GET',
  url: '/_synapse/admin/v1/register',
  auth: 'none',
  async handler(ctx, { ip }) {
    return { nonce: await ctx.accounts.sharedSecretNonce(ip) }
  },
})

export const sharedSecretRegister = defineRoute({
  method: 'POST',
  url: '/_synapse/admin/v1/register',
  auth: 'none',
  body: Type.Object({
    nonce: Type.String(),
    username: Type.String({ minLength: 1 }),
    password: Type.String({ minLength: 1, maxLength: 512 }),
    displayname: Type.Optional(Type.String({ maxLength: 256 })),
    admin: Type.Optional(Type.Boolean()),
    user_type: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    mac: Type.String(),
  }),
  async handler(ctx, { body, ip }) {
    const result = await ctx.accounts.registerWithSharedSecret(body, ip)
    return { user_id: result.user_id, home_server: result.home_server, access_token: result.access_token, device_id: result.device_id }
  },
})
