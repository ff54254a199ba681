// GET /thirdparty/protocols, /thirdparty/protocol/{protocol}, /thirdparty/{location,user}[/{protocol}];
// GET /voip/turnServer
// Spec: client-server-api, "Third-party Networks", "Voice over IP"
import { createHmac } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import type { Config } from '../../config/schema.ts'
import { MatrixError } from '../../shared/errors.ts'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'

// Third-party networks are what application services (bridges) provide; Homestead has none, so there are
// no protocols and every lookup finds nothing (as Synapse answers without bridges).
export const protocols = defineRoute({
  method: 'GET',
  url: cs('/thirdparty/protocols'),
  auth: 'user',
  async handler() {
    return {}
  },
})

export const protocol = defineRoute({
  method: 'GET',
  url: cs('/thirdparty/protocol/:protocol'),
  auth: 'user',
  params: Type.Object({ protocol: Type.String({ maxLength: 255 }) }),
  async handler() {
    throw new MatrixError('M_NOT_FOUND', 'Unknown protocol')
  },
})

export const lookups = defineRoute({
  method: 'GET',
  url: [...cs('/thirdparty/location'), ...cs('/thirdparty/user'), ...cs('/thirdparty/location/:protocol'), ...cs('/thirdparty/user/:protocol')],
  auth: 'user',
  params: Type.Object({ protocol: Type.Optional(Type.String({ maxLength: 255 })) }),
  async handler() {
    return []
  },
})

// Calls' relays (client-server API, "Voice over IP"; Synapse's turn_* settings). With a shared secret, the
// credentials are coturn's time-limited ones (its REST API scheme, use-auth-secret): the username is the
// expiry in Unix seconds and the user ID, the password base64(HMAC-SHA1(secret, username)), so the TURN
// server checks them with no call back here. With no URIs, an empty object, as Synapse answers, tells
// clients to call without relays (a 404 makes Element report a broken server).
export const turnServer = defineRoute({
  method: 'GET',
  url: cs('/voip/turnServer'),
  auth: 'user',
  guest: true,
  async handler(ctx, { requester }) {
    if (requester.isGuest && !ctx.config.voip.turn_allow_guests) return {}
    return turnCredentials(ctx.config.voip, requester.userId, ctx.clock.now())
  },
})

export function turnCredentials(voip: Config['voip'], userId: string, now: number): Record<string, unknown> {
  if (voip.turn_uris.length === 0) return {}
  const ttl = Math.floor(voip.turn_user_lifetime_ms / 1000)
  if (voip.turn_shared_secret !== null) {
    const username = `${Math.floor(now / 1000) + ttl}:${userId}`
    const password = createHmac('sha1', voip.turn_shared_secret).update(username).digest('base64')
    return { username, password, ttl, uris: voip.turn_uris }
  }
  if (voip.turn_username !== null && voip.turn_password !== null) return { username: voip.turn_username, password: voip.turn_password, ttl, uris: voip.turn_uris }
  return {}
}
