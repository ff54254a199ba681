// PUT /rooms/{roomId}/send/{eventType}/{txnId}, PUT /rooms/{roomId}/state/{eventType}/{stateKey},
// PUT /rooms/{roomId}/redact/{eventId}/{txnId}; the r0 forms without a transaction ID, POST /rooms/{roomId}/send/{eventType}
// and POST /rooms/{roomId}/redact/{eventId}, still used by older clients and bots
// Spec: client-server-api, "Sending events to a room", "Redactions"
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../../route.ts'
import { cs } from '../../paths.ts'
import { EventType, JsonObject, RoomIdParam } from '../../schemas.ts'
import { MAX_PDU_BYTES } from '../../../protocol/events/index.ts'
import { randomUUID } from 'node:crypto'
import type { AppContext } from '../../../context.ts'
import type { SendOptions } from '../../../rooms/rooms.ts'
import type { Repositories } from '../../../storage/index.ts'
import type { Requester } from '../../../users/index.ts'

const TxnId = Type.String({ minLength: 1, maxLength: 255 })

/**
 * An event's content becomes part of a PDU of at most MAX_PDU_BYTES of canonical JSON, so a larger body can
 * only be refused: it is, before it is read (413 M_TOO_LARGE), instead of after parsing, validating and
 * encoding it. Four times the PDU limit leaves room for a client's whitespace and \u escapes.
 */
const EVENT_BODY_LIMIT = 4 * MAX_PDU_BYTES

/**
 * Sends with the message rate limit taken inside the send's own transaction: a refusal rolls the send back
 * and answers M_LIMIT_EXCEEDED (a repeated txnId still gets its first event), and no round trip is spent on it.
 */
async function rateLimited(ctx: AppContext, requester: Requester, send: (options: SendOptions) => Promise<string>): Promise<{ event_id: string }> {
  const guard = (repos: Repositories) => ctx.rateLimiter.takeIn(repos, 'message', requester.userId)
  try {
    return { event_id: await send({ guard }) }
  } catch (err) {
    throw ctx.rateLimiter.refusal(err) ?? err
  }
}

export const sendMessage = defineRoute({
  method: 'PUT',
  url: cs('/rooms/:roomId/send/:eventType/:txnId'),
  auth: 'user',
  guest: true,
  params: Type.Object({ roomId: RoomIdParam, eventType: EventType, txnId: TxnId }),
  body: JsonObject,
  bodyLimit: EVENT_BODY_LIMIT,
  handler: (ctx, { requester, params, body }) => rateLimited(ctx, requester, (options) => ctx.rooms.send(requester, params.roomId, params.eventType, body, params.txnId, options)),
})

const StateParams = Type.Object({ roomId: RoomIdParam, eventType: EventType, stateKey: Type.Optional(Type.String({ maxLength: 255 })) })

export const sendState = defineRoute({
  method: 'PUT',
  url: [...cs('/rooms/:roomId/state/:eventType'), ...cs('/rooms/:roomId/state/:eventType/:stateKey')],
  auth: 'user',
  guest: true,
  params: StateParams,
  body: JsonObject,
  bodyLimit: EVENT_BODY_LIMIT,
  // State events spend the message bucket too, as in Synapse (rc_message covers every event a client sends).
  handler: (ctx, { requester, params, body }) =>
    rateLimited(ctx, requester, (options) => ctx.rooms.sendState(requester, params.roomId, params.eventType, params.stateKey ?? '', body, options)),
})

export const redact = defineRoute({
  method: 'PUT',
  url: cs('/rooms/:roomId/redact/:eventId/:txnId'),
  auth: 'user',
  params: Type.Object({ roomId: RoomIdParam, eventId: Type.String({ pattern: '^\\$', maxLength: 255 }), txnId: TxnId }),
  body: Type.Object({ reason: Type.Optional(Type.String()) }),
  bodyLimit: EVENT_BODY_LIMIT,
  handler: (ctx, { requester, params, body }) => rateLimited(ctx, requester, (options) => ctx.rooms.redact(requester, params.roomId, params.eventId, body.reason, params.txnId, options)),
})

/** A transaction ID for a request that names none (the POST forms): each such request is a new event. */
const freshTxnId = () => `post-${randomUUID()}`

export const sendMessageWithoutTxn = defineRoute({
  method: 'POST',
  url: cs('/rooms/:roomId/send/:eventType'),
  auth: 'user',
  guest: true,
  params: Type.Object({ roomId: RoomIdParam, eventType: EventType }),
  body: JsonObject,
  bodyLimit: EVENT_BODY_LIMIT,
  handler: (ctx, { requester, params, body }) => rateLimited(ctx, requester, (options) => ctx.rooms.send(requester, params.roomId, params.eventType, body, freshTxnId(), options)),
})

export const redactWithoutTxn = defineRoute({
  method: 'POST',
  url: cs('/rooms/:roomId/redact/:eventId'),
  auth: 'user',
  params: Type.Object({ roomId: RoomIdParam, eventId: Type.String({ pattern: '^\\$', maxLength: 255 }) }),
  body: Type.Object({ reason: Type.Optional(Type.String()) }),
  bodyLimit: EVENT_BODY_LIMIT,
  handler: (ctx, { requester, params, body }) => rateLimited(ctx, requester, (options) => ctx.rooms.redact(requester, params.roomId, params.eventId, body.reason, freshTxnId(), options)),
})
