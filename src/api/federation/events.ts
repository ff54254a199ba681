// GET /_matrix/federation/v1/event/{eventId}, GET /_matrix/federation/v1/state/{roomId},
// GET /_matrix/federation/v1/state_ids/{roomId}, GET /_matrix/federation/v1/event_auth/{roomId}/{eventId},
// GET /_matrix/federation/v1/backfill/{roomId}, POST /_matrix/federation/v1/get_missing_events/{roomId}
// Spec: server-server-api, "Retrieving events", "Backfilling and retrieving missing events",
// "Authentication" (/event_auth). The ACL, membership and visibility checks and every cap live in
// federation/reads.ts; here only the shapes are checked.
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { RoomIdParam } from '../schemas.ts'

const EventIdParam = Type.String({ pattern: '^\\$', minLength: 2, maxLength: 255 })
const EventIds = (maxItems: number) => Type.Array(EventIdParam, { maxItems })

export const getEvent = defineRoute({
  method: 'GET',
  url: '/_matrix/federation/v1/event/:eventId',
  auth: 'server',
  params: Type.Object({ eventId: EventIdParam }),
  async handler(ctx, { origin, params }) {
    return ctx.federationReads.event(origin, params.eventId)
  },
})

export const getState = defineRoute({
  method: 'GET',
  url: '/_matrix/federation/v1/state/:roomId',
  auth: 'server',
  params: Type.Object({ roomId: RoomIdParam }),
  query: Type.Object({ event_id: EventIdParam }),
  async handler(ctx, { origin, params, query }) {
    return ctx.federationReads.state(origin, params.roomId, query.event_id)
  },
})

export const getStateIds = defineRoute({
  method: 'GET',
  url: '/_matrix/federation/v1/state_ids/:roomId',
  auth: 'server',
  params: Type.Object({ roomId: RoomIdParam }),
  query: Type.Object({ event_id: EventIdParam }),
  async handler(ctx, { origin, params, query }) {
    return ctx.federationReads.stateIds(origin, params.roomId, query.event_id)
  },
})

export const getEventAuth = defineRoute({
  method: 'GET',
  url: '/_matrix/federation/v1/event_auth/:roomId/:eventId',
  auth: 'server',
  params: Type.Object({ roomId: RoomIdParam, eventId: EventIdParam }),
  async handler(ctx, { origin, params }) {
    return ctx.federationReads.eventAuth(origin, params.roomId, params.eventId)
  },
})

export const backfill = defineRoute({
  method: 'GET',
  url: '/_matrix/federation/v1/backfill/:roomId',
  auth: 'server',
  params: Type.Object({ roomId: RoomIdParam }),
  // `v` repeats once per event; a larger `limit` than the cap is lowered to it.
  query: Type.Object({ v: Type.Union([EventIdParam, EventIds(100)]), limit: Type.Integer({ minimum: 1 }) }),
  async handler(ctx, { origin, params, query }) {
    return ctx.federationReads.backfill(origin, params.roomId, Array.isArray(query.v) ? query.v : [query.v], query.limit)
  },
})

export const getMissingEvents = defineRoute({
  method: 'POST',
  url: '/_matrix/federation/v1/get_missing_events/:roomId',
  auth: 'server',
  params: Type.Object({ roomId: RoomIdParam }),
  body: Type.Object({
    // The asking server's forward extremities: a handful, but a busy room may have a few hundred. Both lists
    // default to none, as servers have long sent them: an empty latest_events asks for nothing.
    earliest_events: Type.Optional(EventIds(1000)),
    latest_events: Type.Optional(EventIds(100)),
    limit: Type.Optional(Type.Integer({ minimum: 0 })),
    min_depth: Type.Optional(Type.Integer()),
  }),
  async handler(ctx, { origin, params, body }) {
    return ctx.federationReads.missingEvents(origin, params.roomId, {
      earliest: body.earliest_events ?? [],
      latest: body.latest_events ?? [],
      limit: body.limit,
      minDepth: body.min_depth,
    })
  },
})
