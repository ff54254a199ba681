// Other servers' media, fetched over authenticated federation media (server-server API, "Content
// Repository": GET /_matrix/federation/v1/media/download/{mediaId}, a multipart/mixed answer). The media
// part is either the bytes or a Location, which is fetched through the outbound guard like any other URL.
// A server that does not know the endpoint (404 M_UNRECOGNIZED) is asked on the legacy one, allow_remote=false.
// Sizes are bounded by media.max_upload_size; failures become the client API's answers: a 404 stays a 404,
// media too large is 502 M_TOO_LARGE, anything else 502 (Synapse's answers).
import type { SecureContext } from 'node:tls'
import type { Readable } from 'node:stream'
import { FederationError, type FederationClient } from '../federation/client.ts'
import { OutboundError, type OutboundGuard } from '../outbound/index.ts'
import { MatrixError, notFound } from '../shared/errors.ts'
import { boundaryOf, fileNameOf, readMultipartMedia } from './multipart.ts'

/** Time allowed for the bytes to arrive, beyond the wait for a pending upload the client asked for. */
const TRANSFER_MS = 120_000
/** Room for the multipart framing around the media. */
const FRAMING_BYTES = 64 * 1024

/** Media of another server, opened: what it says it is and its bytes, to be read by the caller. */
export interface OpenedRemoteMedia {
  contentType: string | undefined
  fileName: string | null
  body: Readable
}

export interface RemoteMediaSource {
  open(serverName: string, mediaId: string, waitMs: number, maxBytes: number): Promise<OpenedRemoteMedia>
}

export const remoteTooLarge = () => new MatrixError('M_TOO_LARGE', 'The remote media is too large', 502)
export const remoteFailed = () => new MatrixError('M_UNKNOWN', 'Failed to fetch remote media', 502)

/** The client API's error for a failure while reading remote media (opening or streaming it). */
export function remoteMediaError(err: unknown): MatrixError {
  if (err instanceof FederationError) {
    if (err.kind === 'too_large') return remoteTooLarge()
    if (err.kind === 'http' && err.status === 404) return notFound('Remote media not found')
    if (err.kind === 'http' && err.errcode === 'M_NOT_YET_UPLOADED') return new MatrixError('M_NOT_YET_UPLOADED', 'Media has not been uploaded yet', 504)
    if (err.kind === 'http' && err.errcode === 'M_TOO_LARGE') return remoteTooLarge()
    return remoteFailed()
  }
  if (err instanceof OutboundError && err.kind === 'too_large') return remoteTooLarge()
  if (err instanceof MatrixError && err.errcode === 'M_TOO_LARGE') return remoteTooLarge()
  return remoteFailed()
}

export class FederationMediaSource implements RemoteMediaSource {
  private readonly client: FederationClient
  private readonly guard: OutboundGuard
  private readonly secureContext: SecureContext

  constructor(options: { client: FederationClient; guard: OutboundGuard; secureContext: SecureContext }) {
    this.client = options.client
    this.guard = options.guard
    this.secureContext = options.secureContext
  }

  async open(serverName: string, mediaId: string, waitMs: number, maxBytes: number): Promise<OpenedRemoteMedia> {
    const deadline = Date.now() + waitMs + TRANSFER_MS
    let part
    try {
      const answer = await this.client.stream(serverName, {
        method: 'GET',
        path: `/_matrix/federation/v1/media/download/${encodeURIComponent(mediaId)}`,
        query: { timeout_ms: waitMs },
        timeoutMs: deadline - Date.now(),
        maxBytes: maxBytes + FRAMING_BYTES,
      })
      const boundary = boundaryOf(answer.headers['content-type'])
      if (!boundary) {
        answer.body.destroy()
        throw remoteFailed()
      }
      part = await readMultipartMedia(answer.body, boundary)
    } catch (err) {
      // A server from before authenticated media (Matrix 1.11) is asked on its old endpoint, as the spec allows.
      if (err instanceof FederationError && err.kind === 'http' && err.errcode === 'M_UNRECOGNIZED') return this.openLegacy(serverName, mediaId, waitMs, maxBytes, deadline)
      throw err instanceof MatrixError ? err : remoteMediaError(err)
    }
    const location = part.headers.location
    if (location === undefined) {
      return { contentType: part.headers['content-type'], fileName: fileNameOf(part.headers['content-disposition']), body: part.body }
    }
    // The server points elsewhere (a CDN, a signed bucket URL): fetched once, through the guard, not kept.
    part.body.destroy()
    try {
      const fetched = await this.guard.fetch(location, { maxBytes, timeoutMs: Math.max(deadline - Date.now(), 1), secureContext: this.secureContext })
      if (fetched.status !== 200) {
        fetched.body.destroy()
        throw fetched.status === 404 ? notFound('Remote media not found') : remoteFailed()
      }
      return { contentType: fetched.headers['content-type'], fileName: fileNameOf(fetched.headers['content-disposition']), body: fetched.body }
    } catch (err) {
      throw err instanceof MatrixError ? err : remoteMediaError(err)
    }
  }

  /** GET /_matrix/media/v3/download/{serverName}/{mediaId} with allow_remote=false: the bytes, unframed. */
  private async openLegacy(serverName: string, mediaId: string, waitMs: number, maxBytes: number, deadline: number): Promise<OpenedRemoteMedia> {
    try {
      const answer = await this.client.stream(serverName, {
        method: 'GET',
        path: `/_matrix/media/v3/download/${encodeURIComponent(serverName)}/${encodeURIComponent(mediaId)}`,
        query: { allow_remote: false, timeout_ms: waitMs },
        timeoutMs: Math.max(deadline - Date.now(), 1),
        maxBytes,
      })
      const header = (name: string) => {
        const value = answer.headers[name]
        return Array.isArray(value) ? value[0] : value
      }
      return { contentType: header('content-type'), fileName: fileNameOf(header('content-disposition')), body: answer.body }
    } catch (err) {
      throw remoteMediaError(err)
    }
  }
}
