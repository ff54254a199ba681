// /_synapse/admin/v1/registration_tokens: list, get, create, update, delete (admins only), with the same
// request and response shapes as Synapse's admin API.
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'

const BASE = '/_synapse/admin/v1/registration_tokens'
const TokenParams = Type.Object({ token: Type.String({ minLength: 1, maxLength: 64 }) })
const Nullable = <T extends ReturnType<typeof Type.Integer>>(t: T) => Type.Optional(Type.Union([t, Type.Null()]))

export const listRegistrationTokens = defineRoute({
  method: 'GET',
  url: BASE,
  auth: 'admin',
  query: Type.Object({ valid: Type.Optional(Type.Boolean()) }),
  async handler(ctx, { query }) {
    return { registration_tokens: await ctx.registrationTokens.list(query.valid ?? null) }
  },
})

export const getRegistrationToken = defineRoute({
  method: 'GET',
  url: `${BASE}/:token`,
  auth: 'admin',
  params: TokenParams,
  async handler(ctx, { params }) {
    return ctx.registrationTokens.get(params.token)
  },
})

export const createRegistrationToken = defineRoute({
  method: 'POST',
  url: `${BASE}/new`,
  auth: 'admin',
  body: Type.Object({
    token: Type.Optional(Type.String()),
    uses_allowed: Nullable(Type.Integer()),
    expiry_time: Nullable(Type.Integer()),
    length: Type.Optional(Type.Integer()),
  }),
  async handler(ctx, { body }) {
    return ctx.registrationTokens.create(body)
  },
})

export const updateRegistrationToken = defineRoute({
  method: 'PUT',
  url: `${BASE}/:token`,
  auth: 'admin',
  params: TokenParams,
  body: Type.Object({ uses_allowed: Nullable(Type.Integer()), expiry_time: Nullable(Type.Integer()) }),
  async handler(ctx, { params, body }) {
    return ctx.registrationTokens.update(params.token, body)
  },
})

export const deleteRegistrationToken = defineRoute({
  method: 'DELETE',
  url: `${BASE}/:token`,
  auth: 'admin',
  params: TokenParams,
  async handler(ctx, { params }) {
    await ctx.registrationTokens.delete(params.token)
    return {}
  },
})
