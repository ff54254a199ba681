// Access-token authentication: Authorization: Bearer, or the deprecated access_token query parameter.
import type { FastifyRequest } from 'fastify'
import type { AppContext } from '../../context.ts'
import { MatrixError } from '../../shared/errors.ts'
import type { Requester } from '../../users/index.ts'

export function accessTokenOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization
  const query = request.query as Record<string, unknown> | undefined
  if (header !== undefined && query?.access_token !== undefined) {
    throw new MatrixError('M_MISSING_TOKEN', 'Mixing the Authorization header and the access_token query parameter', 401)
  }
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (!match) throw new MatrixError('M_MISSING_TOKEN', 'Invalid Authorization header', 401)
    return match[1] as string
  }
  const fromQuery = query?.access_token
  if (typeof fromQuery === 'string' && fromQuery !== '') return fromQuery
  return null
}

export async function authenticateRequest(ctx: AppContext, request: FastifyRequest, mode: 'user' | 'optional' | 'admin', guestAllowed = false): Promise<Requester | null> {
  const token = accessTokenOf(request)
  if (token === null) {
    if (mode === 'optional') return null
    throw new MatrixError('M_MISSING_TOKEN', 'Missing access token', 401)
  }
  const userAgent = request.headers['user-agent'] ?? null
  const requester = await ctx.sessions.authenticate(token, { ip: request.ip, userAgent })
  if (mode === 'admin' && !requester.isAdmin) throw new MatrixError('M_FORBIDDEN', 'You are not a server admin', 403)
  // A route that needs no token serves a guest as anyone; one that needs a user serves guests only if it says so.
  if (requester.isGuest && mode !== 'optional' && !guestAllowed) throw new MatrixError('M_GUEST_ACCESS_FORBIDDEN', 'Guest access not allowed', 403)
  ;(request as FastifyRequest & { requester?: Requester }).requester = requester
  return requester
}
