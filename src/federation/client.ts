// Outbound federation requests: resolved by discovery, checked by the outbound guard at connect time,
// verified against the federation CAs, signed with X-Matrix, bounded in time and size.
import { Agent, request as httpsRequest, type RequestOptions } from 'node:https'
import type { IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import type { SecureContext } from 'node:tls'
import { BlockedAddressError, limitBody, OutboundError, pinnedLookup, type OutboundGuard } from '../outbound/index.ts'
import type { SigningKey } from '../protocol/signing.ts'
import { signRequest } from '../protocol/x-matrix.ts'
import { DiscoveryError, type ServerDiscovery } from './discovery.ts'

/** Longest a request may take, answer included (Synapse: 60 s). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000
/** Largest answer read; send_join and state callers raise it per request. */
export const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
/** Largest error answer read from a streamed request that failed. */
const DEFAULT_ERROR_BYTES = 64 * 1024

export class FederationError extends Error {
  readonly kind: 'unreachable' | 'blocked' | 'timeout' | 'too_large' | 'http' | 'invalid'
  /** The remote status and errcode of an 'http' failure. */
  readonly status: number | null
  readonly errcode: string | null
  /** The remote's JSON error body of an 'http' failure (an M_INCOMPATIBLE_ROOM_VERSION's room_version, say). */
  readonly body: Record<string, unknown> | null
  constructor(kind: FederationError['kind'], message: string, status: number | null = null, errcode: string | null = null, body: Record<string, unknown> | null = null) {
    super(message)
    this.name = 'FederationError'
    this.kind = kind
    this.status = status
    this.errcode = errcode
    this.body = body
  }
}

export interface FederationRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** "/_matrix/federation/v1/..." with no query string. */
  path: string
  query?: Record<string, string | number | boolean | Array<string | number>>
  body?: unknown
  /** Unsigned: only the key server's /_matrix/key/v2/server, which needs no authentication. */
  signed?: boolean
  timeoutMs?: number
  maxBytes?: number
}

export interface FederationClientOptions {
  serverName: string
  signingKey: () => SigningKey
  discovery: ServerDiscovery
  guard: OutboundGuard
  secureContext: SecureContext
}

function queryString(query: FederationRequest['query']): string {
  if (!query) return ''
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) for (const item of Array.isArray(v) ? v : [v]) params.append(k, String(item))
  const text = params.toString()
  return text ? `?${text}` : ''
}

export class FederationClient {
  readonly serverName: string
  private readonly signingKey: () => SigningKey
  private readonly discovery: ServerDiscovery
  private readonly guard: OutboundGuard
  private readonly secureContext: SecureContext
  // Keeps connections open between requests; sockets are pooled per host, port and TLS name.
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 32, scheduling: 'lifo' })

  constructor(options: FederationClientOptions) {
    this.serverName = options.serverName
    this.signingKey = options.signingKey
    this.discovery = options.discovery
    this.guard = options.guard
    this.secureContext = options.secureContext
  }

  async get<T = unknown>(destination: string, path: string, query?: FederationRequest['query']): Promise<T> {
    return this.request<T>(destination, { method: 'GET', path, ...(query ? { query } : {}) })
  }

  async post<T = unknown>(destination: string, path: string, body: unknown): Promise<T> {
    return this.request<T>(destination, { method: 'POST', path, body })
  }

  async put<T = unknown>(destination: string, path: string, body: unknown): Promise<T> {
    return this.request<T>(destination, { method: 'PUT', path, body })
  }

  /** Sends one request and returns its parsed JSON answer; throws FederationError for anything else. */
  async request<T = unknown>(destination: string, req: FederationRequest): Promise<T> {
    const signal = AbortSignal.timeout(req.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS)
    const response = await this.send(destination, req, signal)
    return this.read<T>(destination, response, req.maxBytes ?? DEFAULT_MAX_RESPONSE_BYTES, signal)
  }

  /**
   * Sends one request and hands back a 2xx answer's headers and body unread (media downloads): the body
   * fails with OutboundError past maxBytes and is cut off at the timeout, which bounds the whole transfer.
   * Any other status throws FederationError as request() does.
   */
  async stream(destination: string, req: FederationRequest): Promise<{ status: number; headers: IncomingMessage['headers']; body: Readable }> {
    const signal = AbortSignal.timeout(req.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS)
    const response = await this.send(destination, req, signal)
    const status = response.statusCode ?? 0
    if (status < 200 || status >= 300) return this.read<never>(destination, response, DEFAULT_ERROR_BYTES, signal)
    return { status, headers: response.headers, body: limitBody(response, req.maxBytes ?? DEFAULT_MAX_RESPONSE_BYTES) }
  }

  /** Signs and sends a request to the first of the destination's targets that answers. */
  private async send(destination: string, req: FederationRequest, signal: AbortSignal): Promise<IncomingMessage> {
    const uri = req.path + queryString(req.query)
    const headers: Record<string, string> = { 'user-agent': 'Homestead' }
    let payload: Buffer | undefined
    if (req.body !== undefined) {
      payload = Buffer.from(JSON.stringify(req.body))
      headers['content-type'] = 'application/json'
    }
    if (req.signed !== false) {
      const content = req.body === undefined ? {} : { content: req.body }
      headers.authorization = signRequest({ method: req.method, uri, origin: this.serverName, destination, ...content }, this.signingKey())
    }
    let resolved
    try {
      resolved = await this.discovery.resolve(destination)
    } catch (err) {
      if (err instanceof DiscoveryError) throw new FederationError('invalid', err.message)
      throw err
    }
    headers.host = resolved.hostHeader
    let lastError: FederationError | null = null
    for (const target of resolved.targets) {
      let address
      try {
        address = await this.guard.check(target.host)
      } catch (err) {
        lastError = err instanceof BlockedAddressError ? new FederationError('blocked', err.message) : new FederationError('unreachable', (err as Error).message)
        continue
      }
      try {
        return await new Promise<IncomingMessage>((resolve, reject) => {
          // https passes secureContext on to tls.connect; its RequestOptions type does not list it.
          const options: RequestOptions & { secureContext: SecureContext } = {
              host: target.host,
              port: target.port,
              method: req.method,
              path: uri,
              headers,
              agent: this.agent,
              lookup: pinnedLookup(address),
              secureContext: this.secureContext,
              // SNI and the certificate check name the server, not the SRV target; no SNI for an IP address.
              servername: resolved.tlsName ?? '',
              signal,
            }
          const outgoing = httpsRequest(options, resolve)
          outgoing.on('error', reject)
          outgoing.end(payload)
        })
      } catch (err) {
        if (signal.aborted) throw new FederationError('timeout', `${destination} did not answer in time`)
        lastError = new FederationError('unreachable', `${destination}: ${(err as Error).message}`)
        continue
      }
    }
    throw lastError ?? new FederationError('unreachable', `${destination} has no address`)
  }

  private async read<T>(destination: string, response: IncomingMessage, maxBytes: number, signal: AbortSignal): Promise<T> {
    const chunks: Buffer[] = []
    // An error answer is a small JSON object, whatever the success answer may be allowed to weigh.
    const ok = (response.statusCode ?? 0) >= 200 && (response.statusCode ?? 0) < 300
    if (!ok) maxBytes = Math.min(maxBytes, DEFAULT_ERROR_BYTES)
    try {
      for await (const chunk of limitBody(response, maxBytes)) chunks.push(chunk as Buffer)
    } catch (err) {
      if (err instanceof OutboundError && err.kind === 'too_large') throw new FederationError('too_large', `${destination} answered more than ${maxBytes} bytes`)
      if (signal.aborted) throw new FederationError('timeout', `${destination} did not finish its answer in time`)
      throw new FederationError('unreachable', `${destination}: ${(err as Error).message}`)
    }
    const status = response.statusCode ?? 0
    let body: unknown
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      throw new FederationError(status >= 200 && status < 300 ? 'invalid' : 'http', `${destination} answered ${status} without JSON`, status)
    }
    if (status < 200 || status >= 300) {
      const fields = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : null
      const errcode = typeof fields?.errcode === 'string' ? fields.errcode : null
      const said = typeof fields?.error === 'string' ? `: ${fields.error.slice(0, 200)}` : ''
      throw new FederationError('http', `${destination} answered ${status}${errcode ? ` ${errcode}` : ''}${said}`, status, errcode, fields)
    }
    return body as T
  }

  close(): void {
    this.agent.destroy()
  }
}
