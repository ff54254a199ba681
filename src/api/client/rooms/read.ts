// GET /rooms/{roomId}/event/{eventId}, /state, /state/{type}/{stateKey}, /members, /joined_members,
// /messages, /context/{eventId}; GET /joined_rooms; GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event
// Spec: client-server-api, "Getting events for a room", "Room membership"
import { Type } from '@sinclair/typebox'
import { MatrixError } from '../../../shared/errors.ts'
import { filterLimitsOf, parseRoomEventFilter, toEventFilter } from '../../../sync/filter.ts'
import { defineRoute } from '../../route.ts'
import { cs } from '../../paths.ts'
import { EventType, RoomIdParam, EventIdParam } from '../../schemas.ts'

const Room = Type.Object({ roomId: RoomIdParam })

export const getEvent = defineRoute({
  method: 'GET',
  url: cs('/rooms/:roomId/event/:eventId'),
  auth: 'user',
  guest: true,
  params: Type.Object({ roomId: RoomIdParam, eventId: EventIdParam }),
  async handler(ctx, { requester, params }) {
    return ctx.roomReader.event(requester, params.roomId, params.eventId)
  },
})

export const getState = defineRoute({
  method: 'GET',
  url: cs('/rooms/:roomId/state'),
  auth: 'user',
  guest: true,
  params: Room,
  async handler(ctx, { requester, params }) {
    return ctx.roomReader.state(requester, params.roomId)
  },
})

export const getStateEvent = defineRoute({
  method: 'GET',
  url: [...cs('/rooms/:roomId/state/:eventType'), ...cs('/rooms/:roomId/state/:eventType/:stateKey')],
  auth: 'user',
  guest: true,
  params: Type.Object({ roomId: RoomIdParam, eventType: EventType, stateKey: Type.Optional(Type.String({ maxLength: 255 })) }),
  query: Type.Object({ format: Type.Optional(Type.Union([Type.Literal('content'), Type.Literal('event')])) }),
  async handler(ctx, { requester, params, query }) {
    const event = await ctx.roomReader.stateEvent(requester, params.roomId, params.eventType, params.stateKey ?? '')
    return query.format === 'event' ? event : event.content
  },
})

export const getMembers = defineRoute({
  method: 'GET',
  url: cs('/rooms/:roomId/members'),
  auth: 'user',
  guest: true,
  params: Room,
  query: Type.Object({
    at: Type.Optional(Type.String()),
    membership: Type.Optional(Type.Union(['join', 'invite', 'knock', 'leave', 'ban'].map((m) => Type.Literal(m)))),
    not_membership: Type.Optional(Type.Union(['join', 'invite', 'knock', 'leave', 'ban'].map((m) => Type.Literal(m)))),
  }),
  async handler(ctx, { requester, params, query }) {
    const options: { membership?: string; notMembership?: string; at?: string } = {}
    if (query.membership) options.membership = query.membership
    if (query.not_membership) options.notMembership = query.not_membership
    if (query.at) options.at = query.at
    return { chunk: await ctx.roomReader.members(requester, params.roomId, options) }
  },
})

export const getJoinedMembers = defineRoute({
  method: 'GET',
  url: cs('/rooms/:roomId/joined_members'),
  auth: 'user',
  params: Room,
  async handler(ctx, { requester, params }) {
    return { joined: await ctx.roomReader.joinedMembers(requester, params.roomId) }
  },
})

export const getJoinedRooms = defineRoute({
  method: 'GET',
  url: cs('/joined_rooms'),
  auth: 'user',
  async handler(ctx, { requester }) {
    return { joined_rooms: await ctx.roomReader.joinedRooms(requester.userId) }
  },
})

export const getMessages = defineRoute({
  method: 'GET',
  url: cs('/rooms/:roomId/messages'),
  auth: 'user',
  guest: true,
  params: Room,
  query: Type.Object({
    from: Type.Optional(Type.String()),
    to: Type.Optional(Type.String()),
    dir: Type.Union([Type.Literal('b'), Type.Literal('f')]),
    limit: Type.Optional(Type.Integer({ minimum: 0 })),
    filter: Type.Optional(Type.String()),
  }),
  async handler(ctx, { requester, params, query }) {
    const filter = parseRoomEventFilter(query.filter, filterLimitsOf(ctx.config))
    const limit = Math.min(query.limit ?? filter?.limit ?? 10, ctx.config.limits.messages_limit)
    return ctx.roomReader.messages(requester, params.roomId, {
      from: query.from,
      to: query.to,
      dir: query.dir,
      limit,
      filter: filter ? { ...toEventFilter(filter), lazyLoadMembers: filter.lazy_load_members } : undefined,
    })
  },
})

export const getContext = defineRoute({
  method: 'GET',
  url: cs('/rooms/:roomId/context/:eventId'),
  auth: 'user',
  guest: true,
  params: Type.Object({ roomId: RoomIdParam, eventId: EventIdParam }),
  query: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 0 })), filter: Type.Optional(Type.String()) }),
  async handler(ctx, { requester, params, query }) {
    const filter = parseRoomEventFilter(query.filter, filterLimitsOf(ctx.config))
    const limit = Math.min(query.limit ?? 10, ctx.config.limits.context_limit)
    if (limit < 0) throw new MatrixError('M_INVALID_PARAM', 'limit must not be negative')
    return ctx.roomReader.context(requester, params.roomId, params.eventId, limit, filter ? { ...toEventFilter(filter), lazyLoadMembers: filter.lazy_load_members } : undefined)
  },
})

export const timestampToEvent = defineRoute({
  method: 'GET',
  url: '/_matrix/client/v1/rooms/:roomId/timestamp_to_event',
  auth: 'user',
  params: Room,
  query: Type.Object({ ts: Type.Integer({ minimum: 0 }), dir: Type.Union([Type.Literal('b'), Type.Literal('f')]) }),
  async handler(ctx, { requester, params, query }) {
    return ctx.roomReader.eventAt(requester, params.roomId, query.ts, query.dir)
  },
})
