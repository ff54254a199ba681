// The published room directory (client-server API, "Published room directory"): which rooms are listed,
// and GET/POST /publicRooms over them, largest rooms first, paginated by keyset tokens.
import type { JsonObject } from '../protocol/events/types.ts'
import { parseClientJsonBytes } from '../shared/client-json.ts'
import { MatrixError, forbidden, invalidParam, notFound } from '../shared/errors.ts'
import type { FederationClient } from '../federation/client.ts'
import { isServerName } from '../protocol/server-name.ts'
import type { Storage } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'
import { authView, canSendState } from './power.ts'
import { publicChunk } from './summaries.ts'

/** Another server's directory page: asked for at most this long, read up to this size. */
const REMOTE_TIMEOUT_MS = 15_000
const REMOTE_MAX_BYTES = 4 * 1024 * 1024

export interface PublicRoomsRequest {
  limit?: number | undefined
  since?: string | undefined
  server?: string | undefined
  genericSearchTerm?: string | undefined
  roomTypes?: Array<string | null> | undefined
  thirdPartyInstanceId?: string | undefined
}

export interface PublicRoomsResponse {
  chunk: JsonObject[]
  next_batch?: string
  prev_batch?: string
  total_room_count_estimate: number
}

interface Position {
  joined: number
  roomId: string
  forward: boolean
}

/** Tokens name the room a page ends at, and the direction to go from it. */
function formatToken(p: Position): string {
  return Buffer.from(JSON.stringify([p.forward ? 'n' : 'p', p.joined, p.roomId])).toString('base64url')
}

function parseToken(token: string): Position {
  try {
    const [dir, joined, roomId] = parseClientJsonBytes(Buffer.from(token, 'base64url')) as unknown[]
    if ((dir === 'n' || dir === 'p') && Number.isSafeInteger(joined) && typeof roomId === 'string') {
      return { forward: dir === 'n', joined: joined as number, roomId }
    }
  } catch {}
  throw invalidParam('Invalid pagination token')
}

/** A case-insensitive LIKE pattern matching the term anywhere (its wildcards taken literally). */
function containsPattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

export class PublishedRooms {
  private readonly storage: Storage
  private readonly serverName: string
  /** The largest page (limits.public_rooms_limit): a larger `limit` is lowered to it. */
  private readonly maxLimit: number

  /** Other servers' directories are asked through it (none: only this server's is listed). */
  private readonly federation: FederationClient | null

  constructor(deps: { storage: Storage; serverName: string; maxLimit: number; federation?: FederationClient | undefined }) {
    this.federation = deps.federation ?? null
    this.storage = deps.storage
    this.serverName = deps.serverName
    this.maxLimit = deps.maxLimit
  }

  /** A page's size: the limit asked for, up to the largest page; without one, the largest page (Synapse lists all). */
  private pageSize(request: PublicRoomsRequest): number {
    return Math.min(request.limit ?? this.maxLimit, this.maxLimit)
  }

  async visibility(roomId: string): Promise<{ visibility: 'public' | 'private' }> {
    const room = await this.storage.repos.rooms.get(roomId)
    if (!room) throw notFound('Room not found')
    return { visibility: room.is_public ? 'public' : 'private' }
  }

  /**
   * PUT /directory/list/room/{roomId}: like Synapse, publishing or unpublishing takes a member with the power
   * to send m.room.canonical_alias (creators of v12 rooms always have it), or a server admin.
   */
  async setVisibility(requester: Requester, roomId: string, visibility: 'public' | 'private'): Promise<void> {
    const repos = this.storage.repos
    const view = await authView(repos, roomId, requester.userId)
    if (!view) throw notFound('Room not found')
    if (!requester.isAdmin) {
      if (view.membership !== 'join') throw forbidden('You are not in the room')
      if (!canSendState(view, requester.userId, 'm.room.canonical_alias')) {
        throw forbidden('You need the power to change the canonical alias to change the room directory')
      }
    }
    await repos.rooms.setPublic(roomId, visibility === 'public')
  }

  /**
   * The room directory of another server (server-server API, "Public Room Directory"): its answer to the
   * same request, bounded in time and size, its chunk kept to well-formed entries; 502 when it cannot be had.
   */
  private async remote(server: string, request: PublicRoomsRequest): Promise<PublicRoomsResponse> {
    if (!this.federation) throw notFound(`The room directory of ${server} cannot be fetched (federation is off)`)
    if (!isServerName(server)) throw invalidParam(`Not a server name: ${server}`)
    const limit = this.pageSize(request)
    const filter: JsonObject = {}
    if (request.genericSearchTerm !== undefined) filter.generic_search_term = request.genericSearchTerm
    if (request.roomTypes !== undefined) filter.room_types = request.roomTypes
    const body: JsonObject = { limit, ...(request.since ? { since: request.since } : {}), ...(Object.keys(filter).length > 0 ? { filter } : {}) }
    if (request.thirdPartyInstanceId !== undefined) body.third_party_instance_id = request.thirdPartyInstanceId
    let answer: unknown
    try {
      answer = await this.federation.request<unknown>(server, { method: 'POST', path: '/_matrix/federation/v1/publicRooms', body, timeoutMs: REMOTE_TIMEOUT_MS, maxBytes: REMOTE_MAX_BYTES })
    } catch (err) {
      throw new MatrixError('M_UNKNOWN', `The room directory of ${server} could not be fetched: ${(err as Error).message}`, 502)
    }
    const a = (answer !== null && typeof answer === 'object' ? answer : {}) as Record<string, unknown>
    const chunk = Array.isArray(a.chunk) ? a.chunk.filter((c): c is JsonObject => c !== null && typeof c === 'object' && typeof (c as JsonObject).room_id === 'string').slice(0, limit) : []
    const response: PublicRoomsResponse = { chunk, total_room_count_estimate: typeof a.total_room_count_estimate === 'number' ? a.total_room_count_estimate : chunk.length }
    if (typeof a.next_batch === 'string') response.next_batch = a.next_batch
    if (typeof a.prev_batch === 'string') response.prev_batch = a.prev_batch
    return response
  }

  /** GET and POST /publicRooms: this server's directory, or (with `server`) another's over federation. */
  async list(request: PublicRoomsRequest): Promise<PublicRoomsResponse> {
    if (request.server !== undefined && request.server !== this.serverName) return this.remote(request.server, request)
    const limit = this.pageSize(request)
    const after = request.since !== undefined && request.since !== '' ? parseToken(request.since) : undefined
    // No application service networks exist here, so a third-party network lists nothing.
    if (request.thirdPartyInstanceId !== undefined) return { chunk: [], total_room_count_estimate: 0 }
    const term = request.genericSearchTerm?.trim()
    const filter = {
      pattern: term ? containsPattern(term) : undefined,
      roomTypes: request.roomTypes && request.roomTypes.length > 0 ? request.roomTypes : undefined,
    }
    const repos = this.storage.repos
    const [rows, total] = await Promise.all([repos.directory.publicRooms({ ...filter, limit: limit + 1, after }), repos.directory.countPublicRooms(filter)])

    // One row more than asked for tells whether another page follows in the direction read.
    const more = rows.length > limit
    const forward = after?.forward ?? true
    const page = more ? (forward ? rows.slice(0, limit) : rows.slice(rows.length - limit)) : rows
    const response: PublicRoomsResponse = { chunk: page.map(publicChunk), total_room_count_estimate: total }
    const first = page[0]
    const last = page[page.length - 1]
    const hasNext = forward ? more : true
    const hasPrev = forward ? after !== undefined : more
    if (last && hasNext) response.next_batch = formatToken({ forward: true, joined: last.joined_members, roomId: last.room_id })
    if (first && hasPrev) response.prev_batch = formatToken({ forward: false, joined: first.joined_members, roomId: first.room_id })
    return response
  }
}
