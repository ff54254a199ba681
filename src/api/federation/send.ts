// PUT /_matrix/federation/v1/send/{txnId}
// Spec: server-server-api, "Transactions" (at most 50 PDUs and 100 EDUs) and "Checks performed on receipt
// of a PDU"; the EDU sections (typing, presence, receipts, device management, send-to-device).
import { Type } from '@sinclair/typebox'
import { MAX_TXN_BYTES, MAX_TXN_EDUS, MAX_TXN_PDUS } from '../../federation/transactions.ts'
import { defineRoute } from '../route.ts'

export const sendTransaction = defineRoute({
  method: 'PUT',
  url: '/_matrix/federation/v1/send/:txnId',
  auth: 'server',
  bodyLimit: MAX_TXN_BYTES,
  params: Type.Object({ txnId: Type.String({ minLength: 1, maxLength: 255 }) }),
  body: Type.Object({
    origin: Type.String({ maxLength: 255 }),
    origin_server_ts: Type.Integer(),
    pdus: Type.Array(Type.Unknown(), { maxItems: MAX_TXN_PDUS }),
    edus: Type.Optional(Type.Array(Type.Unknown(), { maxItems: MAX_TXN_EDUS })),
  }),
  async handler(ctx, { origin, params, body }) {
    return ctx.federationInbound.receive(origin, params.txnId, body)
  },
})
