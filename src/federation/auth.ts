// Inbound request authentication (server-server-api, "Request Authentication"): the X-Matrix header
// names the origin and its key; the destination must be us; the origin's current key (fetched and
// cached by RemoteKeys) must have signed the method, target, origin, destination and body.
import { parseServerName } from '../protocol/server-name.ts'
import { parseXMatrix, verifyRequestSignature } from '../protocol/x-matrix.ts'
import type { Clock } from '../shared/clock.ts'
import { MatrixError } from '../shared/errors.ts'
import type { RemoteKeys } from './keys.ts'

export interface InboundRequest {
  method: string
  /** The request target as received: path and query, undecoded. */
  uri: string
  authorization: string | string[] | undefined
  /** The parsed JSON body; undefined when the request has none. */
  content?: unknown
}

const unauthorized = (message: string) => new MatrixError('M_UNAUTHORIZED', message, 401)

export class RequestAuthenticator {
  private readonly serverName: string
  private readonly keys: RemoteKeys
  private readonly clock: Clock

  constructor(options: { serverName: string; keys: RemoteKeys; clock: Clock }) {
    this.serverName = options.serverName
    this.keys = options.keys
    this.clock = options.clock
  }

  /** The authenticated origin server, or MatrixError M_UNAUTHORIZED 401 (400 for an origin that is no server name). */
  async authenticate(request: InboundRequest): Promise<{ origin: string }> {
    const values = Array.isArray(request.authorization) ? request.authorization : request.authorization ? [request.authorization] : []
    // A header may list several signatures (one per key); the first X-Matrix one is checked, as Synapse.
    const header = values.flatMap((v) => v.split(/,\s*(?=X-Matrix\s)/i)).find((v) => /^X-Matrix\s/i.test(v))
    if (!header) throw unauthorized('Missing Authorization headers')
    const auth = parseXMatrix(header)
    if (!auth) throw unauthorized('Malformed Authorization header')
    // A name no server can have is a malformed request (400), not a failed authentication.
    if (!parseServerName(auth.origin)) throw new MatrixError('M_INVALID_PARAM', 'Authorization header origin is not a server name', 400)
    if (auth.destination !== null && auth.destination !== this.serverName) {
      throw unauthorized('Authorization header destination is not this server')
    }
    if (auth.origin === this.serverName) throw unauthorized('Requests from this server name are not accepted from the network')
    const verifyKey = await this.keys.verifyKey(auth.origin, auth.key, { validAt: this.clock.now(), forRequest: true })
    if (!verifyKey) throw unauthorized(`No valid key ${auth.key} for ${auth.origin}`)
    const signed = { method: request.method, uri: request.uri, origin: auth.origin, destination: this.serverName, content: request.content }
    if (!verifyRequestSignature(signed, auth, verifyKey)) throw unauthorized('Invalid signature')
    return { origin: auth.origin }
  }
}
