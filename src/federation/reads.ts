// The server-server API's reads of a room's DAG (server-server-api, "Retrieving events", "Backfilling and
// retrieving missing events", "Authentication" /event_auth): /event, /state, /state_ids, /event_auth,
// /backfill and /get_missing_events. Every read of a room first checks the room's server ACL (403), then
// that the asking server is in the room (one of its users joined now) or may see the event asked about
// under history visibility (403 otherwise). Events it may not see are served redacted by the walks and
// refused by /event. Walks and auth chains are recursive statements over the DAG's edge tables
// (storage/repositories/event-graph.ts), every one bounded.
import { AUTH_CHAIN_MAX } from '../rooms/ingest.ts'
import { redact, type JsonObject } from '../protocol/events/index.ts'
import { roomVersion, type RoomVersion } from '../protocol/room-versions.ts'
import type { Clock } from '../shared/clock.ts'
import { MatrixError, forbidden, notFound } from '../shared/errors.ts'
import type { GraphEventRow, Repositories, StateEntry, Storage } from '../storage/index.ts'
import { assertServerAllowed, ServerView } from './room-access.ts'

/** The largest /backfill (Synapse caps it at 100 too). */
export const BACKFILL_MAX = 100
/** The largest /get_missing_events, and its default. */
export const MISSING_EVENTS_MAX = 20
export const MISSING_EVENTS_DEFAULT = 10
/** Rows one walk statement may visit, and depth windows per walk (a window normally serves the whole walk). */
const WALK_ROWS_MAX = 10_000
const WALK_ROUNDS_MAX = 8

export interface Transaction {
  origin: string
  origin_server_ts: number
  pdus: JsonObject[]
}

interface OpenedRoom {
  roomId: string
  version: RoomVersion
  view: ServerView
}

/** An event's prev_events as IDs (room versions 1 and 2 list [event_id, hashes] pairs). */
function prevIds(json: string): string[] {
  const prev = (JSON.parse(json) as { prev_events?: unknown }).prev_events
  if (!Array.isArray(prev)) return []
  return prev.map((p) => (Array.isArray(p) ? p[0] : p)).filter((p): p is string => typeof p === 'string')
}

export class FederationReads {
  private readonly serverName: string
  private readonly storage: Storage
  private readonly clock: Clock

  constructor(options: { serverName: string; storage: Storage; clock: Clock }) {
    this.serverName = options.serverName
    this.storage = options.storage
    this.clock = options.clock
  }

  private transaction(pdus: JsonObject[]): Transaction {
    return { origin: this.serverName, origin_server_ts: this.clock.now(), pdus }
  }

  /** The room (404 when unknown), its ACL checked for `origin` (403), and the origin's view of it. */
  private async open(repos: Repositories, origin: string, roomId: string): Promise<OpenedRoom> {
    const room = await repos.rooms.get(roomId)
    if (!room) throw notFound('Unknown room')
    const version = roomVersion(room.room_version)
    if (!version) throw new MatrixError('M_UNSUPPORTED_ROOM_VERSION', `Room version ${room.room_version} is not supported`, 500)
    await assertServerAllowed(repos, roomId, origin)
    return { roomId, version, view: await ServerView.load(repos, roomId, origin) }
  }

  /** The event, in this room; 404 when it is not stored (or not servable). */
  private async eventIn(repos: Repositories, roomId: string, eventId: string): Promise<GraphEventRow> {
    const [row] = await repos.eventGraph.events(roomId, [eventId])
    if (!row) throw notFound(`Could not find event ${eventId}`)
    return row
  }

  /** The origin is in the room now, or may see one of `rows`: otherwise 403. */
  private async assertCanRead(repos: Repositories, room: OpenedRoom, rows: GraphEventRow[]): Promise<void> {
    if (room.view.joinedNow) return
    if ((await room.view.visible(repos, rows)).size > 0) return
    throw forbidden('Server is not in the room, and may not see the event')
  }

  /**
   * The PDUs of `rows` as the origin may see them: visible ones as stored, the others redacted, and so are
   * those of erased senders (erasure is not shared over federation: other servers get redacted copies).
   */
  private async shown(repos: Repositories, room: OpenedRoom, rows: GraphEventRow[]): Promise<JsonObject[]> {
    const [visible, erased] = await Promise.all([room.view.visible(repos, rows), this.erasedSenders(repos, rows)])
    return rows.map((r) => {
      const pdu = JSON.parse(r.json) as JsonObject
      return visible.has(r.event_id) && !erased.has(r.sender) ? pdu : redact(pdu, room.version)
    })
  }

  /** The senders of `rows` who were erased; only this server's users can be. */
  private erasedSenders(repos: Repositories, rows: GraphEventRow[]): Promise<Set<string>> {
    const suffix = `:${this.serverName}`
    return repos.users.erasedAmong(rows.map((r) => r.sender).filter((s) => s.endsWith(suffix)))
  }

  /** GET /event/{eventId}: the event in a transaction, when the origin may see it (403 otherwise). */
  async event(origin: string, eventId: string): Promise<Transaction> {
    const repos = this.storage.repos
    const [row] = await repos.eventGraph.events(null, [eventId])
    if (!row) throw notFound(`Could not find event ${eventId}`)
    const room = await this.open(repos, origin, row.room_id)
    if (!(await room.view.visible(repos, [row])).has(eventId)) throw forbidden('Server may not see this event')
    const pdu = JSON.parse(row.json) as JsonObject
    const erased = (await this.erasedSenders(repos, [row])).has(row.sender)
    return this.transaction([erased ? redact(pdu, room.version) : pdu])
  }

  /**
   * The state before an event ("prior to considering any state changes induced by the requested event"):
   * a message's own state group; a state event's single prev event's group; otherwise the event's group
   * with its own key set back to what it replaced. 404 when the state there is unknown (an outlier's).
   */
  private async stateBefore(repos: Repositories, row: GraphEventRow): Promise<StateEntry[]> {
    if (row.outlier) throw notFound(`The state at event ${row.event_id} is not known`)
    if (row.state_key === null && row.state_group !== null) return repos.state.groupState(row.room_id, row.state_group)
    const prev = prevIds(row.json)
    if (prev.length === 0) return []
    if (prev.length === 1) {
      const [parent] = await repos.eventGraph.events(row.room_id, prev)
      if (parent?.state_group !== null && parent?.state_group !== undefined) return repos.state.groupState(row.room_id, parent.state_group)
    }
    if (row.state_group === null || row.state_key === null) throw notFound(`The state at event ${row.event_id} is not known`)
    const after = await repos.state.groupState(row.room_id, row.state_group)
    const own = after.filter((e) => !(e.type === row.type && e.state_key === row.state_key))
    return row.replaces_state === null ? own : [...own, { type: row.type, state_key: row.state_key, event_id: row.replaces_state }]
  }

  /** GET /state/{roomId}: the state before the event and its auth chain, as PDUs. */
  async state(origin: string, roomId: string, eventId: string): Promise<{ pdus: JsonObject[]; auth_chain: JsonObject[] }> {
    const repos = this.storage.repos
    const ids = await this.stateIdsAt(repos, origin, roomId, eventId)
    const [state, chain] = await Promise.all([repos.eventGraph.events(roomId, ids), repos.eventGraph.authChain(roomId, ids, AUTH_CHAIN_MAX, true)])
    return { pdus: state.map((r) => JSON.parse(r.json) as JsonObject), auth_chain: chain.map((r) => JSON.parse(r.json as string) as JsonObject) }
  }

  /** GET /state_ids/{roomId}: the same as event IDs. */
  async stateIds(origin: string, roomId: string, eventId: string): Promise<{ pdu_ids: string[]; auth_chain_ids: string[] }> {
    const repos = this.storage.repos
    const ids = await this.stateIdsAt(repos, origin, roomId, eventId)
    const chain = await repos.eventGraph.authChain(roomId, ids, AUTH_CHAIN_MAX, false)
    return { pdu_ids: ids, auth_chain_ids: chain.map((r) => r.event_id) }
  }

  /** The state before an event the origin may read, as event IDs. */
  private async stateIdsAt(repos: Repositories, origin: string, roomId: string, eventId: string): Promise<string[]> {
    const room = await this.open(repos, origin, roomId)
    const row = await this.eventIn(repos, roomId, eventId)
    await this.assertCanRead(repos, room, [row])
    const ids = (await this.stateBefore(repos, row)).map((e) => e.event_id)
    if (ids.length > AUTH_CHAIN_MAX) throw new MatrixError('M_TOO_LARGE', 'The state at this event is too large to serve', 413)
    return ids
  }

  /** GET /event_auth/{roomId}/{eventId}: the event's full auth chain. */
  async eventAuth(origin: string, roomId: string, eventId: string): Promise<{ auth_chain: JsonObject[] }> {
    const repos = this.storage.repos
    const room = await this.open(repos, origin, roomId)
    const row = await this.eventIn(repos, roomId, eventId)
    await this.assertCanRead(repos, room, [row])
    const chain = await repos.eventGraph.authChain(roomId, [eventId], AUTH_CHAIN_MAX, true)
    return { auth_chain: chain.map((r) => JSON.parse(r.json as string) as JsonObject) }
  }

  /**
   * Walks prev_events back from `start`, deepest first, returning at most `limit` events (depth descending):
   * the start events themselves when `includeStart`, never `stop` nor anything only reachable through it,
   * nothing below `minDepth`. Each round is one statement over a window of depths that, in a DAG whose
   * depths grow by one per generation, holds the whole answer; a gap in depths takes another round.
   */
  private async walk(
    repos: Repositories,
    roomId: string,
    start: Array<{ event_id: string; depth: number }>,
    options: { limit: number; includeStart: boolean; stop: string[]; minDepth: number },
  ): Promise<string[]> {
    const taken: Array<{ id: string; depth: number }> = []
    const seen = new Set(options.stop)
    let frontier = start.filter((s) => !seen.has(s.event_id))
    let include = options.includeStart
    for (let round = 0; round < WALK_ROUNDS_MAX && frontier.length > 0 && taken.length < options.limit; round++) {
      const remaining = options.limit - taken.length
      const top = frontier.reduce((max, f) => Math.max(max, f.depth), -Infinity)
      const low = Math.max(options.minDepth, top - remaining)
      const rows = await repos.eventGraph.walkBack(roomId, frontier.map((f) => f.event_id), low, [...seen], WALK_ROWS_MAX)
      const byId = new Map<string, (typeof rows)[number]>()
      for (const r of rows) {
        const known = byId.get(r.event_id)
        if (!known || (r.start && !known.start)) byId.set(r.event_id, r)
      }
      const candidates = [...byId.values()]
        .filter((r) => (r.start ? include : !r.below) && !seen.has(r.event_id) && r.depth >= options.minDepth)
        .sort((a, b) => b.depth - a.depth || (a.event_id < b.event_id ? -1 : 1))
        .slice(0, remaining)
      for (const c of candidates) {
        taken.push({ id: c.event_id, depth: c.depth })
        seen.add(c.event_id)
      }
      if (taken.length >= options.limit) break
      frontier = [...byId.values()].filter((r) => r.below && !r.start && !seen.has(r.event_id) && r.depth >= options.minDepth)
      include = true
    }
    return taken.map((t) => t.id)
  }

  /** Rows for IDs in the given order (those not found dropped). */
  private async rowsInOrder(repos: Repositories, roomId: string, ids: string[]): Promise<GraphEventRow[]> {
    const rows = new Map((await repos.eventGraph.events(roomId, ids)).map((r) => [r.event_id, r]))
    return ids.map((id) => rows.get(id)).filter((r): r is GraphEventRow => r !== undefined)
  }

  /** GET /backfill/{roomId}?v=…&limit=: the given events and those before them, deepest first. */
  async backfill(origin: string, roomId: string, from: string[], limit: number): Promise<Transaction> {
    const repos = this.storage.repos
    const room = await this.open(repos, origin, roomId)
    const starts = await repos.eventGraph.events(roomId, [...new Set(from)])
    if (starts.length === 0) {
      if (!room.view.joinedNow) throw forbidden('Server is not in the room')
      return this.transaction([])
    }
    await this.assertCanRead(repos, room, starts)
    const ids = await this.walk(repos, roomId, starts, { limit: Math.min(limit, BACKFILL_MAX), includeStart: true, stop: [], minDepth: -Infinity })
    return this.transaction(await this.shown(repos, room, await this.rowsInOrder(repos, roomId, ids)))
  }

  /**
   * POST /get_missing_events/{roomId}: the events before `latest` (not those themselves) back to
   * `earliest`, at most `limit`, none below `minDepth`, oldest first.
   */
  async missingEvents(origin: string, roomId: string, request: { earliest: string[]; latest: string[]; limit?: number | undefined; minDepth?: number | undefined }): Promise<{ events: JsonObject[] }> {
    const repos = this.storage.repos
    const room = await this.open(repos, origin, roomId)
    const earliest = new Set(request.earliest)
    const starts = (await repos.eventGraph.events(roomId, [...new Set(request.latest)])).filter((r) => !earliest.has(r.event_id))
    if (starts.length === 0) {
      if (!room.view.joinedNow) throw forbidden('Server is not in the room')
      return { events: [] }
    }
    await this.assertCanRead(repos, room, starts)
    const limit = Math.min(request.limit ?? MISSING_EVENTS_DEFAULT, MISSING_EVENTS_MAX)
    const ids = await this.walk(repos, roomId, starts, { limit, includeStart: false, stop: [...earliest], minDepth: request.minDepth ?? 0 })
    const rows = await this.rowsInOrder(repos, roomId, ids.reverse())
    return { events: await this.shown(repos, room, rows) }
  }
}
