// GET /thirdparty/protocols, /thirdparty/protocol/{protocol}, /thirdparty/{location,user}[/{protocol}];
// GET /voip/turnServer
// Spec: client-server-api, "Third-party Networks", "Voice over IP"
import { Type } from '@sinclair/typebox'
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

// No TURN server is configured: an empty object, as Synapse answers without turn_uris, tells clients to call
// without relays (a 404 makes Element report a broken server).
export const turnServer = defineRoute({
  method: 'GET',
  url: cs('/voip/turnServer'),
  auth: 'user',
  async handler() {
    return {}
  },
})
