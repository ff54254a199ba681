// GET /_matrix/federation/v1/user/devices/{userId}, POST /_matrix/federation/v1/user/keys/query,
// POST /_matrix/federation/v1/user/keys/claim
// Spec: server-server-api, "Device Management" and "End-to-End Encryption". Request sizes are bounded as
// the client API's are: http.max_body_bytes, and the e2ee module's cap on users and devices per request
// (E2eKeys.queryAs and claim).
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { JsonObject, UserIdParam } from '../schemas.ts'

export const userDevices = defineRoute({
  method: 'GET',
  url: '/_matrix/federation/v1/user/devices/:userId',
  auth: 'server',
  params: Type.Object({ userId: UserIdParam }),
  async handler(ctx, { params }) {
    return ctx.federationQueries.userDevices(params.userId)
  },
})

export const userKeysQuery = defineRoute({
  method: 'POST',
  url: '/_matrix/federation/v1/user/keys/query',
  auth: 'server',
  body: Type.Object({ device_keys: JsonObject }),
  async handler(ctx, { body }) {
    return ctx.e2eKeys.queryForServer(body.device_keys)
  },
})

export const userKeysClaim = defineRoute({
  method: 'POST',
  url: '/_matrix/federation/v1/user/keys/claim',
  auth: 'server',
  body: Type.Object({ one_time_keys: JsonObject }),
  async handler(ctx, { body }) {
    return ctx.e2eKeys.claimForServer(body.one_time_keys)
  },
})
