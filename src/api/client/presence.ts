// GET/PUT /_matrix/client/v3/presence/{userId}/status
// Spec: client-server-api, "Presence"
import { Type } from '@sinclair/typebox'
import { MatrixError } from '../../shared/errors.ts'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { UserIdParam } from '../schemas.ts'

const PresenceState = Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('unavailable')])

export const getPresence = defineRoute({
  method: 'GET',
  url: cs('/presence/:userId/status'),
  auth: 'user',
  params: Type.Object({ userId: UserIdParam }),
  async handler(ctx, { requester, params }) {
    return ctx.presence.get(requester, params.userId)
  },
})

export const setPresence = defineRoute({
  method: 'PUT',
  url: cs('/presence/:userId/status'),
  auth: 'user',
  params: Type.Object({ userId: UserIdParam }),
  body: Type.Object({ presence: PresenceState, status_msg: Type.Optional(Type.Union([Type.String(), Type.Null()])) }),
  async handler(ctx, { requester, params, body }) {
    // The status is sent to everyone who shares a room with the user, on every change.
    if (body.status_msg && Buffer.byteLength(body.status_msg) > ctx.config.limits.status_msg_bytes) {
      throw new MatrixError('M_INVALID_PARAM', `status_msg is longer than ${ctx.config.limits.status_msg_bytes} bytes`)
    }
    await ctx.presence.set(requester, params.userId, body.presence, body.status_msg)
    return {}
  },
})
