// POST /keys/upload, /keys/query, /keys/claim, GET /keys/changes,
// POST /keys/device_signing/upload, /keys/signatures/upload
// Spec: client-server-api, "End-to-End Encryption": "Key management API" and "Cross-signing"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { JsonObject } from '../schemas.ts'
import { remoteTimeout } from '../../e2ee/index.ts'

export const uploadKeys = defineRoute({
  method: 'POST',
  url: cs('/keys/upload'),
  auth: 'user',
  guest: true,
  body: JsonObject,
  async handler(ctx, { requester, body }) {
    return ctx.e2eKeys.upload(requester, body)
  },
})

export const queryKeys = defineRoute({
  method: 'POST',
  url: cs('/keys/query'),
  auth: 'user',
  guest: true,
  // `timeout` bounds the requests to other servers (10 s by default); `token` is accepted and unused.
  body: Type.Object({ device_keys: JsonObject, timeout: Type.Optional(Type.Integer()), token: Type.Optional(Type.String()) }),
  async handler(ctx, { requester, body }) {
    return ctx.e2eKeys.query(requester, body.device_keys, remoteTimeout(body.timeout))
  },
})

export const claimKeys = defineRoute({
  method: 'POST',
  url: cs('/keys/claim'),
  auth: 'user',
  guest: true,
  body: Type.Object({ one_time_keys: JsonObject, timeout: Type.Optional(Type.Integer()) }),
  async handler(ctx, { body }) {
    return ctx.e2eKeys.claim(body.one_time_keys, remoteTimeout(body.timeout))
  },
})

export const keyChanges = defineRoute({
  method: 'GET',
  url: cs('/keys/changes'),
  auth: 'user',
  query: Type.Object({ from: Type.String(), to: Type.String() }),
  async handler(ctx, { requester, query }) {
    return ctx.deviceLists.changes(requester, query.from, query.to)
  },
})

export const uploadCrossSigningKeys = defineRoute({
  method: 'POST',
  url: [...cs('/keys/device_signing/upload'), '/_matrix/client/unstable/keys/device_signing/upload'],
  auth: 'user',
  body: JsonObject,
  async handler(ctx, { requester, body }) {
    await ctx.crossSigning.uploadKeys(requester, body)
    return {}
  },
})

export const uploadSignatures = defineRoute({
  method: 'POST',
  url: [...cs('/keys/signatures/upload'), '/_matrix/client/unstable/keys/signatures/upload'],
  auth: 'user',
  body: JsonObject,
  async handler(ctx, { requester, body }) {
    return ctx.crossSigning.uploadSignatures(requester, body)
  },
})
