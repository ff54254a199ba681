// GET /rooms/{roomId}/hierarchy (client-server API, "Spaces", "Discovering rooms within spaces"): a
// depth-first walk of m.space.child links over the rooms this server has, showing the rooms the requester
// may see. Also GET /room_summary/{roomIdOrAlias} ("Room summaries"), one room by the same rules. Rooms are loaded in batches (every queued room at once), never one query per room; where the
// walk stops is stored under the next_batch token.
import type { JsonObject } from '../protocol/events/types.ts'
import { roomVersion } from '../protocol/room-versions.ts'
import { compileServerAcl, serverAllowedByAcl } from '../protocol/server-acl.ts'
import type { Clock } from '../shared/clock.ts'
import { forbidden, invalidParam, notFound } from '../shared/errors.ts'
import { randomString } from '../shared/random.ts'
import type { EventRow, Repositories, RoomSummaryRow, Storage } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'
import { publicChunk } from './summaries.ts'

export const HIERARCHY_MAX_DEPTH = 50
/** Rooms loaded per batch: the next ones the walk will visit. */
const BATCH = 100
const SESSION_TTL_MS = 5 * 60_000

export interface HierarchyRequest {
  from?: string | undefined
  limit?: number | undefined
  maxDepth?: number | undefined
  suggestedOnly?: boolean | undefined
}

interface Child {
  roomId: string
  order: string | null
  ts: number
  stripped: JsonObject
  suggested: boolean
}

interface RoomInfo {
  summary: RoomSummaryRow & { room_version: string }
  membership: string | undefined
  children: Child[]
}

/** A valid `order`: at most 50 characters between \x20 and \x7E. */
function validOrder(value: unknown): string | null {
  return typeof value === 'string' && value.length <= 50 && /^[\x20-\x7E]*$/.test(value) ? value : null
}

/** "Ordering of children within a space": valid orders first (by code point), then by timestamp, then room ID. */
function compareChildren(a: Child, b: Child): number {
  if ((a.order === null) !== (b.order === null)) return a.order === null ? 1 : -1
  if (a.order !== null && b.order !== null && a.order !== b.order) return a.order < b.order ? -1 : 1
  if (a.ts !== b.ts) return a.ts - b.ts
  return a.roomId < b.roomId ? -1 : a.roomId > b.roomId ? 1 : 0
}

/** The m.space.child events that link a child: a non-empty `via` list of strings. */
function childOf(row: EventRow): Child | null {
  const pdu = JSON.parse(row.json) as { content?: JsonObject; origin_server_ts?: number }
  const content = pdu.content ?? {}
  const via = content.via
  if (!Array.isArray(via) || via.length === 0 || !via.every((v) => typeof v === 'string')) return null
  const ts = Number(pdu.origin_server_ts)
  return {
    roomId: row.state_key as string,
    order: validOrder(content.order),
    ts,
    suggested: content.suggested === true,
    stripped: { type: row.type, state_key: row.state_key, content, sender: row.sender, origin_server_ts: ts },
  }
}

/**
 * Whether the requester may see a room in the hierarchy: a member or invitee, or a room anyone may join,
 * knock on or read, or a restricted room whose allowed rooms the requester is in.
 */
function accessible(info: RoomInfo, joinedRooms: Set<string>): boolean {
  const s = info.summary
  const version = roomVersion(s.room_version)
  const rule = s.join_rule
  if (open(info)) return true
  if (info.membership === 'join' || info.membership === 'invite') return true
  const restricted = (rule === 'restricted' && version?.restrictedJoinRule) || (rule === 'knock_restricted' && version?.knockRestricted)
  return Boolean(restricted && s.allowed_room_ids?.some((id) => joinedRooms.has(id)))
}

/** The RoomSummary fields (the public rooms chunk, room_version, encryption, allowed_room_ids). */
function summaryOf(info: RoomInfo): JsonObject {
  const s = info.summary
  const out: JsonObject = { ...publicChunk(s), room_version: s.room_version }
  if (s.encryption !== null) out.encryption = s.encryption
  if (s.allowed_room_ids && s.allowed_room_ids.length > 0) out.allowed_room_ids = s.allowed_room_ids
  return out
}

function entry(info: RoomInfo, suggestedOnly: boolean): JsonObject {
  return { ...summaryOf(info), children_state: info.children.filter((c) => !suggestedOnly || c.suggested).map((c) => c.stripped) }
}

/** Rooms a stranger may be shown without signing in: anyone may join, knock on or read them. */
function open(info: RoomInfo): boolean {
  const version = roomVersion(info.summary.room_version)
  const rule = info.summary.join_rule
  return (
    rule === 'public' ||
    info.summary.history_visibility === 'world_readable' ||
    (rule === 'knock' && Boolean(version?.knock)) ||
    (rule === 'knock_restricted' && Boolean(version?.knockRestricted))
  )
}

export class SpaceHierarchy {
  private readonly storage: Storage
  private readonly clock: Clock
  /** The largest page (limits.hierarchy_limit), also the default. */
  private readonly maxLimit: number

  constructor(deps: { storage: Storage; clock: Clock; maxLimit: number }) {
    this.storage = deps.storage
    this.clock = deps.clock
    this.maxLimit = deps.maxLimit
  }

  async hierarchy(requester: Requester, roomId: string, request: HierarchyRequest): Promise<{ rooms: JsonObject[]; next_batch?: string }> {
    const repos = this.storage.repos
    const userId = requester.userId
    const limit = Math.min(request.limit ?? this.maxLimit, this.maxLimit)
    const maxDepth = Math.min(request.maxDepth ?? HIERARCHY_MAX_DEPTH, HIERARCHY_MAX_DEPTH)
    const suggestedOnly = request.suggestedOnly ?? false
    const now = this.clock.now()
    const joinedRooms = new Set((await repos.memberships.roomsOf(userId, ['join'])).map((m) => m.room_id))
    const cache = new Map<string, RoomInfo | null>()

    let queue: Array<[string, number]>
    let processed: Set<string>
    if (request.from !== undefined) {
      const session = await repos.directory.hierarchySession(request.from)
      if (!session || session.created_ts < now - SESSION_TTL_MS || session.user_id !== userId || session.room_id !== roomId) {
        throw invalidParam('Unknown pagination token')
      }
      if (session.suggested_only !== suggestedOnly || session.max_depth !== maxDepth) {
        throw invalidParam('suggested_only and max_depth cannot change on paginated requests')
      }
      queue = session.queue
      processed = new Set(session.processed)
    } else {
      await this.load(repos, userId, [roomId], cache)
      const root = cache.get(roomId)
      if (!root || !accessible(root, joinedRooms)) throw forbidden('You are not allowed to view this room')
      queue = [[roomId, 0]]
      processed = new Set()
    }

    const rooms: JsonObject[] = []
    while (queue.length > 0 && rooms.length < limit) {
      const [id, depth] = queue.pop() as [string, number]
      if (processed.has(id)) continue
      if (!cache.has(id)) {
        const next = queue.slice(-BATCH).map((q) => q[0]).filter((q) => !cache.has(q) && !processed.has(q))
        await this.load(repos, userId, [id, ...next], cache)
      }
      processed.add(id)
      const info = cache.get(id)
      // Rooms this server does not have would need federation; rooms the requester may not see are left out.
      if (!info || !accessible(info, joinedRooms)) continue
      rooms.push(entry(info, suggestedOnly))
      if (depth < maxDepth) {
        const children = info.children.filter((c) => !suggestedOnly || c.suggested)
        for (let i = children.length - 1; i >= 0; i--) queue.push([(children[i] as Child).roomId, depth + 1])
      }
    }

    const result: { rooms: JsonObject[]; next_batch?: string } = { rooms }
    if (queue.some(([id]) => !processed.has(id))) {
      const token = randomString(32)
      await repos.directory.putHierarchySession(
        { token, user_id: userId, room_id: roomId, suggested_only: suggestedOnly, max_depth: maxDepth, queue, processed: [...processed], created_ts: now },
        now - SESSION_TTL_MS,
      )
      result.next_batch = token
    }
    return result
  }

  /**
   * GET /room_summary/{roomIdOrAlias}: the room's summary for a member, invitee or knocker, or anyone who may
   * join, knock on or read it (signed in or not), or a member of a room a restricted join rule allows;
   * M_NOT_FOUND otherwise, as for a room this server does not have (rooms elsewhere need federation).
   * `roomId` as Rooms.resolveRoom gives it.
   */
  async summary(requester: Requester | null, roomId: string): Promise<JsonObject> {
    const repos = this.storage.repos
    const missing = notFound('Room not found')
    const [summary] = await repos.directory.summaries([roomId])
    if (!summary) throw missing
    if (requester === null) {
      const info: RoomInfo = { summary, membership: undefined, children: [] }
      if (!open(info)) throw missing
      return summaryOf(info)
    }
    const [memberships, joined] = await Promise.all([
      repos.directory.membershipsIn(requester.userId, [roomId]),
      summary.allowed_room_ids?.length ? repos.directory.membershipsIn(requester.userId, summary.allowed_room_ids) : new Map<string, string>(),
    ])
    const info: RoomInfo = { summary, membership: memberships.get(roomId), children: [] }
    const joinedRooms = new Set([...joined].filter(([, m]) => m === 'join').map(([id]) => id))
    if (!accessible(info, joinedRooms) && info.membership !== 'knock') throw missing
    return { ...summaryOf(info), membership: info.membership ?? 'leave' }
  }

  /**
   * GET /_matrix/federation/v1/hierarchy/{roomId} (server-server-api, "Spaces"): the room and its direct
   * children, unpaginated, as `server` may see them: a room is accessible when anyone may join, knock on or
   * read it, one of the server's users is joined to it, or a restricted join rule names a room one of them
   * is joined to, and the room's server ACL lets the server in. An inaccessible root is 404; inaccessible
   * children are listed by ID; children this server does not have are left out.
   */
  async forServer(server: string, roomId: string, suggestedOnly: boolean): Promise<{ room: JsonObject; children: JsonObject[]; inaccessible_children: string[] }> {
    const repos = this.storage.repos
    const root = (await this.loadForServer(repos, server, [roomId])).get(roomId)
    if (!root) throw notFound('Room not found or not accessible')
    const childIds = root.children.filter((c) => !suggestedOnly || c.suggested).map((c) => c.roomId)
    const loaded = await this.loadForServer(repos, server, childIds.slice(0, this.maxLimit))
    const children: JsonObject[] = []
    const inaccessible: string[] = []
    for (const id of new Set(childIds.slice(0, this.maxLimit))) {
      const info = loaded.get(id)
      if (info === undefined) continue
      if (info === null) inaccessible.push(id)
      else children.push(entry(info, suggestedOnly))
    }
    return { room: entry(root, suggestedOnly), children, inaccessible_children: inaccessible }
  }

  /**
   * Rooms this server has, for another server: the room's info when it is accessible to `server`, null when
   * it is not, absent when this server does not have it. Four queries, whatever the number of rooms.
   */
  private async loadForServer(repos: Repositories, server: string, roomIds: string[]): Promise<Map<string, RoomInfo | null>> {
    const ids = [...new Set(roomIds)]
    const [summaries, stateRows, joined] = await Promise.all([
      repos.directory.summaries(ids),
      repos.sync.currentState(ids, ['m.space.child', 'm.room.server_acl']),
      repos.eventGraph.roomsJoinedBy(server, ids),
    ])
    const allowedElsewhere = [...new Set(summaries.flatMap((s) => s.allowed_room_ids ?? []))].filter((id) => !ids.includes(id))
    for (const id of await repos.eventGraph.roomsJoinedBy(server, allowedElsewhere)) joined.add(id)
    const children = new Map<string, Child[]>()
    const denied = new Set<string>()
    for (const row of stateRows) {
      if (row.type === 'm.room.server_acl') {
        if (row.state_key === '' && !serverAllowedByAcl(server, compileServerAcl((JSON.parse(row.json) as { content?: unknown }).content))) denied.add(row.room_id)
        continue
      }
      const child = childOf(row)
      if (!child) continue
      const list = children.get(row.room_id)
      if (list) list.push(child)
      else children.set(row.room_id, [child])
    }
    const out = new Map<string, RoomInfo | null>()
    for (const s of summaries) {
      const info: RoomInfo = {
        summary: s,
        membership: joined.has(s.room_id) ? 'join' : undefined,
        children: s.room_type === 'm.space' ? (children.get(s.room_id) ?? []).sort(compareChildren) : [],
      }
      out.set(s.room_id, !denied.has(s.room_id) && accessible(info, joined) ? info : null)
    }
    return out
  }

  /** Summaries, the requester's memberships and the space children of a batch of rooms: three queries. */
  private async load(repos: Repositories, userId: string, roomIds: string[], cache: Map<string, RoomInfo | null>): Promise<void> {
    const ids = [...new Set(roomIds)]
    const [summaries, memberships, childRows] = await Promise.all([
      repos.directory.summaries(ids),
      repos.directory.membershipsIn(userId, ids),
      repos.sync.currentState(ids, ['m.space.child']),
    ])
    const children = new Map<string, Child[]>()
    for (const row of childRows) {
      const child = childOf(row)
      if (!child) continue
      const list = children.get(row.room_id)
      if (list) list.push(child)
      else children.set(row.room_id, [child])
    }
    for (const id of ids) cache.set(id, null)
    for (const s of summaries) {
      const list = s.room_type === 'm.space' ? (children.get(s.room_id) ?? []).sort(compareChildren) : []
      cache.set(s.room_id, { summary: s, membership: memberships.get(s.room_id), children: list })
    }
  }
}
