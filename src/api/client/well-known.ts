// GET /.well-known/matrix/client and /.well-known/matrix/server
// Spec: client-server-api, "Well-known URIs"; server-server-api, "Resolving server names"
import { MatrixError } from '../../shared/errors.ts'
import { defineRoute } from '../route.ts'

export const wellKnownClient = defineRoute({
  method: 'GET',
  url: '/.well-known/matrix/client',
  auth: 'none',
  async handler(ctx) {
    return { 'm.homeserver': { base_url: ctx.config.public_baseurl.replace(/\/$/, '') } }
  },
})

export const wellKnownServer = defineRoute({
  method: 'GET',
  url: '/.well-known/matrix/server',
  auth: 'none',
  async handler(ctx) {
    if (!ctx.config.well_known.server) throw new MatrixError('M_NOT_FOUND', 'No server delegation is configured', 404)
    return { 'm.server': ctx.config.well_known.server }
  },
})
