// Reading relations (client-server API, "Relationships API", GET /relations) and threads ("Querying threads
// in a room", GET /threads), always through history visibility and leaving out ignored users.
import { redact } from '../protocol/events/index.ts'
import type { JsonObject } from '../protocol/events/types.ts'
import { roomVersion } from '../protocol/room-versions.ts'
import type { Clock } from '../shared/clock.ts'
import { forbidden, invalidParam, notFound } from '../shared/errors.ts'
import type { EventRow, Storage } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'
import { toClientEvents, viewerOf, type ClientEvent } from './client-events.ts'
import { formatToken, parseToken, tokenOf } from './read.ts'
import { ignoredUsers } from '../directory/index.ts'
import { filterVisible } from './visibility.ts'

/** How many levels of relations `recurse=true` follows (the spec asks for at least 3). */
export const RECURSION_DEPTH = 3
/** GET /threads pages are refilled (when visibility hides roots) at most this many times. */
const THREAD_ROUNDS = 5

export interface RelationsRequest {
  relType?: string | undefined
  eventType?: string | undefined
  from?: string | undefined
  to?: string | undefined
  dir: 'b' | 'f'
  limit: number
  recurse?: boolean | undefined
}

export interface RelationsPage {
  chunk: ClientEvent[]
  next_batch?: string
  prev_batch?: string
  recursion_depth?: number
}

export interface ThreadsRequest {
  include: 'all' | 'participated'
  from?: string | undefined
  limit: number
}

/** GET /threads tokens: the latest_stream of the last root returned (opaque to clients). */
function parseThreadsToken(text: string): number {
  const m = /^(\d{1,15})$/.exec(text)
  if (!m) throw invalidParam(`Invalid pagination token: ${text}`)
  return Number(m[1])
}

export class RelationsReader {
  private readonly storage: Storage
  private readonly clock: Clock

  constructor(storage: Storage, clock: Clock) {
    this.storage = storage
    this.clock = clock
  }

  /** GET /relations/{eventId}[/{relType}[/{eventType}]]: 404 when the parent is unknown or hidden from the requester. */
  async relations(requester: Requester, roomId: string, eventId: string, request: RelationsRequest): Promise<RelationsPage> {
    const repos = this.storage.repos
    const from = request.from !== undefined ? parseToken(request.from) : null
    const to = request.to !== undefined ? parseToken(request.to) : null
    const parent = await repos.events.get(roomId, eventId)
    if (!parent || (await filterVisible(repos, roomId, requester.userId, [parent])).length === 0) throw notFound('Event not found')
    const ignored = [...(await ignoredUsers(repos, requester.userId))]
    const depth = request.recurse === true ? RECURSION_DEPTH : 1
    const page = await repos.relations.children(roomId, eventId, {
      relType: request.relType,
      eventType: request.eventType,
      from,
      to,
      dir: request.dir,
      limit: request.limit + 1,
      depth,
      notSenders: ignored,
    })
    const rows = page.slice(0, request.limit)
    const visible = await filterVisible(repos, roomId, requester.userId, rows)
    const result: RelationsPage = {
      chunk: await toClientEvents(repos, visible, viewerOf(requester), this.clock.now(), { depth: 0, ignored }),
    }
    const last = rows[rows.length - 1]
    if (page.length > request.limit && last) result.next_batch = formatToken(tokenOf(last))
    if (request.from !== undefined) result.prev_batch = request.from
    if (request.recurse !== undefined) result.recursion_depth = depth
    return result
  }

  /** GET /threads: thread roots by latest activity, newest first; 403 for users who were never in the room. */
  async threads(requester: Requester, roomId: string, request: ThreadsRequest): Promise<{ chunk: ClientEvent[]; next_batch?: string }> {
    const repos = this.storage.repos
    let before = request.from !== undefined ? parseThreadsToken(request.from) : null
    const [membership, room] = await Promise.all([repos.memberships.get(roomId, requester.userId), repos.rooms.get(roomId)])
    if (!membership || !room) throw forbidden('You are not in this room (or it does not exist)')
    const participant = request.include === 'participated' ? requester.userId : null
    const roots: EventRow[] = []
    let exhausted = false
    for (let round = 0; round < THREAD_ROUNDS && roots.length < request.limit && !exhausted; round++) {
      const want = request.limit - roots.length
      const page = await repos.relations.threadRoots(roomId, before, want, participant)
      if (page.length < want) exhausted = true
      const last = page[page.length - 1]
      if (!last) break
      before = last.latest_stream
      roots.push(...(await filterVisible(repos, roomId, requester.userId, page)))
    }
    // Roots sent by ignored users are served redacted, as a client aggregating locally would show them.
    const ignored = [...(await ignoredUsers(repos, requester.userId))]
    const version = roomVersion(room.room_version)
    const served = roots.map((row) =>
      ignored.includes(row.sender) && version && row.redacted_by === null
        ? { ...row, json: JSON.stringify(redact(JSON.parse(row.json) as JsonObject, version)) }
        : row,
    )
    const result: { chunk: ClientEvent[]; next_batch?: string } = {
      chunk: await toClientEvents(repos, served, viewerOf(requester), this.clock.now(), { depth: 0, ignored }),
    }
    if (!exhausted && before !== null) result.next_batch = String(before)
    return result
  }
}
