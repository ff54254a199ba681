// GET /.well-known/matrix/client, /.well-known/matrix/server and /.well-known/matrix/support
// Spec: client-server-api, "Well-known URIs", "Server contact discovery" (v1.10); server-server-api,
// "Resolving server names"
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

export const wellKnownSupport = defineRoute({
  method: 'GET',
  url: '/.well-known/matrix/support',
  auth: 'none',
  async handler(ctx) {
    const { support_contacts: contacts, support_page: page } = ctx.config.well_known
    if (contacts.length === 0 && page === null) throw new MatrixError('M_NOT_FOUND', 'No support contacts are configured', 404)
    return { ...(contacts.length > 0 ? { contacts } : {}), ...(page !== null ? { support_page: page } : {}) }
  },
})
