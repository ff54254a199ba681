// GET /_matrix/client/v3/rooms/{roomId}/initialSync
// Spec: client-server-api, "Room Previews" (a deprecated snapshot, still how clients peek into a world_readable room)
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { RoomIdParam } from '../schemas.ts'
import { legacyEvent } from '../../rooms/client-events.ts'

export const roomInitialSync = defineRoute({
  method: 'GET',
  url: cs('/rooms/:roomId/initialSync'),
  auth: 'user',
  guest: true,
  params: Type.Object({ roomId: RoomIdParam }),
  query: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 0 })) }),
  async handler(ctx, { requester, params, query }) {
    // A page is capped as a /messages page is.
    const { joined, ...snapshot } = await ctx.roomReader.initialSync(requester, params.roomId, Math.min(query.limit ?? 10, ctx.config.limits.messages_limit))
    // Presence and receipts as in /sync, for a room one is in or previews (a former member gets neither, as in Synapse).
    const [presence, ephemeral] = await Promise.all([
      ctx.presence.ofUsers(joined),
      joined.length > 0 ? ctx.ephemeral.forSync(requester, [params.roomId], null, Number.MAX_SAFE_INTEGER) : new Map(),
    ])
    const receipts = (ephemeral.get(params.roomId) ?? []).filter((e: { type?: unknown }) => e.type === 'm.receipt')
    return {
      ...snapshot,
      messages: { ...snapshot.messages, chunk: snapshot.messages.chunk.map(legacyEvent) },
      state: snapshot.state.map(legacyEvent),
      presence: presence.map(legacyEvent),
      receipts,
    }
  },
})
