// GET /_matrix/client/v3/events; GET /_matrix/client/v3/events/{eventId}
// Spec: client-server-api r0 (deprecated), "Listen on the event stream" (old_sync.yaml), "Listen on the event
// stream of a particular room" (peeking_events.yaml), and "Get a single event by event ID"
import { Type } from '@sinclair/typebox'
import { MatrixError } from '../../shared/errors.ts'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { EventIdParam, RoomIdParam } from '../schemas.ts'

/** Room events per page when the client names no limit. */
const DEFAULT_LIMIT = 100

export const events = defineRoute({
  method: 'GET',
  url: cs('/events'),
  auth: 'user',
  guest: true,
  query: Type.Object({
    from: Type.Optional(Type.String({ maxLength: 255 })),
    timeout: Type.Optional(Type.Integer({ minimum: 0 })),
    limit: Type.Optional(Type.Integer({ minimum: 1 })),
    room_id: Type.Optional(RoomIdParam),
  }),
  async handler(ctx, { requester, query }) {
    // A guest may only peek into (or follow) one room, the stream of a room preview (client-server API, "Guest Access").
    if (requester.isGuest && query.room_id === undefined) throw new MatrixError('M_GUEST_ACCESS_FORBIDDEN', 'Guest users must specify room_id', 403)
    // Polling the stream marks the user online, as /sync without set_presence does (a legacy client's presence).
    await ctx.presence.syncing(requester.userId, undefined)
    return ctx.sync.eventStream.events(requester, {
      // An empty `from` is none, as Synapse reads it: the stream from now (clients that never had a token send it).
      from: query.from || undefined,
      // Capped as /sync's long-poll and a /messages page are.
      timeoutMs: Math.min(query.timeout ?? 0, ctx.config.limits.sync_timeout_ms),
      limit: Math.min(query.limit ?? DEFAULT_LIMIT, ctx.config.limits.messages_limit),
      roomId: query.room_id,
    })
  },
})

export const eventById = defineRoute({
  method: 'GET',
  url: cs('/events/:eventId'),
  auth: 'user',
  params: Type.Object({ eventId: EventIdParam }),
  async handler(ctx, { requester, params }) {
    return ctx.roomReader.eventById(requester, params.eventId)
  },
})
