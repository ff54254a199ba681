// History from other servers (server-server API, "Backfilling and retrieving missing events"): when a
// client paginates /messages back to where this server's copy of a room begins (the room's backward
// extremities: events named as prev_events that are not stored here, such as those before our join), the
// room's other servers are asked for what came before (/backfill). Every fetched PDU passes the same checks
// as a sent one (signatures, hashes, then the auth rules against its auth events and the state before it);
// accepted events join the timeline below the events after them, at negative stream positions, so /sync
// never delivers them as new (migration 0035). Bounded in count, size and time; a room's backward
// extremities that no server could fill are asked for again only after a backoff.
import { MAX_PDU_BYTES, type RoomEvent } from '../protocol/events/index.ts'
import { roomVersion, type RoomVersion } from '../protocol/room-versions.ts'
import { isObject } from '../protocol/auth/room-state.ts'
import type { Logger } from '../shared/logger.ts'
import type { Storage } from '../storage/index.ts'
import type { RemoteEvents } from '../rooms/ingest.ts'
import type { FederationClient } from './client.ts'
import type { FetchedPduCheck, GapFiller } from './gaps.ts'

export interface BackfillLimits {
  /** Events asked for per /backfill request (a server answers at most 100). */
  events: number
  /** One room's backfill, every request together, takes at most this long (the client's /messages waits). */
  timeoutMs: number
  /** At most this many of the room's servers are asked, one after the other. */
  servers: number
  /** A fruitless attempt is not repeated for this long, doubled after each further one (capped at an hour). */
  retryBaseMs: number
}

export const DEFAULT_BACKFILL_LIMITS: BackfillLimits = { events: 100, timeoutMs: 20_000, servers: 5, retryBaseMs: 30_000 }

/** Backward extremities named in one request (`v`), deepest first. */
const MAX_EXTREMITIES = 20

export class Backfiller {
  private readonly client: FederationClient
  private readonly remoteEvents: RemoteEvents
  private readonly storage: Storage
  private readonly check: FetchedPduCheck
  private readonly gaps: GapFiller
  private readonly logger: Logger
  private readonly serverName: string
  private readonly limits: BackfillLimits
  /** The rooms this instance is backfilling: a second request for the room waits for the first's outcome. */
  private readonly running = new Map<string, Promise<number>>()

  constructor(deps: { client: FederationClient; remoteEvents: RemoteEvents; storage: Storage; check: FetchedPduCheck; gaps: GapFiller; logger: Logger; serverName: string; limits?: BackfillLimits }) {
    this.client = deps.client
    this.remoteEvents = deps.remoteEvents
    this.storage = deps.storage
    this.check = deps.check
    this.gaps = deps.gaps
    this.logger = deps.logger
    this.serverName = deps.serverName
    this.limits = deps.limits ?? DEFAULT_BACKFILL_LIMITS
  }

  /**
   * Whether a backwards page of /messages should wait for backfill: it reached the end of the history
   * stored here (`exhausted`), or a gap lies among its events (a backward extremity whose timeline goes on
   * at `lowestDepth` or deeper), and an attempt is due.
   */
  async wanted(roomId: string, exhausted: boolean, lowestDepth: number | null): Promise<boolean> {
    const now = Date.now()
    if (exhausted || lowestDepth === null) return (await this.storage.repos.backfill.due(roomId, now, 1)).length > 0
    return this.storage.repos.backfill.dueAtOrAbove(roomId, now, lowestDepth)
  }

  /** Backfills the room: the number of events added to its timeline (0: none could be had). Never throws. */
  backfill(roomId: string): Promise<number> {
    const busy = this.running.get(roomId)
    if (busy) return busy
    const run = this.run(roomId, Date.now() + this.limits.timeoutMs)
      .catch((err: Error) => {
        this.logger.warn({ err: err.message, room_id: roomId }, 'backfill failed')
        return 0
      })
      .finally(() => this.running.delete(roomId))
    this.running.set(roomId, run)
    return run
  }

  private async run(roomId: string, deadline: number): Promise<number> {
    const repos = this.storage.repos
    const [extremities, room, servers] = await Promise.all([repos.backfill.due(roomId, Date.now(), MAX_EXTREMITIES), repos.rooms.get(roomId), repos.federationOutbound.serversIn(roomId)])
    const version = room ? roomVersion(room.room_version) : undefined
    if (extremities.length === 0 || !version) return 0
    const ids = extremities.map((x) => x.event_id)
    // The servers with the most members first: the likeliest to hold the room's whole history.
    const others = servers.filter((s) => s !== this.serverName).slice(0, this.limits.servers)
    for (const server of others) {
      const left = deadline - Date.now()
      if (left <= 0) break
      let events: RoomEvent[]
      try {
        events = await this.fetch(server, roomId, version, ids, left)
      } catch (err) {
        this.logger.info({ err: (err as Error).message, server, room_id: roomId }, 'a server did not backfill')
        continue
      }
      const added = await this.store(server, roomId, version, events, deadline)
      if (added > 0) return added
    }
    await repos.backfill.failed(roomId, ids, Date.now(), this.limits.retryBaseMs)
    return 0
  }

  /** GET /backfill from one server: its checked events of the room, at most `limits.events`. */
  private async fetch(server: string, roomId: string, version: RoomVersion, from: string[], timeoutMs: number): Promise<RoomEvent[]> {
    const answer = await this.client.request<unknown>(server, {
      method: 'GET',
      path: `/_matrix/federation/v1/backfill/${encodeURIComponent(roomId)}`,
      query: { v: from, limit: String(this.limits.events) },
      timeoutMs,
      maxBytes: (this.limits.events + 1) * MAX_PDU_BYTES,
    })
    if (!isObject(answer) || !Array.isArray(answer.pdus)) throw new Error('the answer has no pdus')
    const events = new Map<string, RoomEvent>()
    for (const raw of answer.pdus.slice(0, this.limits.events)) {
      const checked = await this.check(raw, version)
      if (checked && checked.room_id === roomId) events.set(checked.event_id, checked)
    }
    return [...events.values()]
  }

  /**
   * Stores a batch oldest first (each event's state comes from its prev_events), after placing every event
   * newest first: its order depth just below the events after it (in the timeline or in the batch), its
   * stream position above the positions of those before it.
   */
  private async store(server: string, roomId: string, version: RoomVersion, events: RoomEvent[], deadline: number): Promise<number> {
    const repos = this.storage.repos
    if (events.length === 0) return 0
    const order = oldestFirst(events)
    const ids = order.map((e) => e.event_id)
    const [childDepths, lowest, positions] = await Promise.all([repos.backfill.childDepths(roomId, ids), repos.backfill.minDepth(roomId), repos.backfill.positions(order.length)])
    const children = new Map<string, string[]>()
    for (const e of order) for (const prev of e.prev_events) children.set(prev, [...(children.get(prev) ?? []), e.event_id])
    const orderDepth = new Map<string, number>()
    for (let i = order.length - 1; i >= 0; i--) {
      const id = (order[i] as RoomEvent).event_id
      const after = [...(childDepths.has(id) ? [childDepths.get(id) as number] : []), ...(children.get(id) ?? []).flatMap((c) => (orderDepth.has(c) ? [orderDepth.get(c) as number] : []))]
      orderDepth.set(id, (after.length > 0 ? Math.min(...after) : lowest) - 1)
    }
    let added = 0
    for (const [i, event] of order.entries()) {
      const place = { position: positions[order.length - 1 - i] as number, orderDepth: orderDepth.get(event.event_id) as number }
      let result = await this.remoteEvents.ingestBackfilled(event, place, { origin: server })
      if (result.outcome === 'missing' && Date.now() < deadline) {
        // Its prev_events are not here (the batch's oldest): the state before it, as the server has it.
        try {
          const stateBefore = (await this.gaps.stateAt(server, roomId, event.event_id, version, deadline, event.auth_events)).state
          result = await this.remoteEvents.ingestBackfilled(event, place, { origin: server, stateBefore })
        } catch (err) {
          this.logger.info({ err: (err as Error).message, server, event_id: event.event_id }, 'no state for a backfilled event')
        }
      }
      if (result.outcome === 'accepted') added++
    }
    return added
  }
}

/** The batch in an order where every event comes after those of its prev_events in the batch (Kahn's), ties by depth then ID. */
export function oldestFirst(events: RoomEvent[]): RoomEvent[] {
  const byId = new Map(events.map((e) => [e.event_id, e]))
  const waiting = new Map<string, number>()
  const next = new Map<string, string[]>()
  for (const e of events) {
    const prevs = [...new Set(e.prev_events)].filter((p) => byId.has(p) && p !== e.event_id)
    waiting.set(e.event_id, prevs.length)
    for (const p of prevs) next.set(p, [...(next.get(p) ?? []), e.event_id])
  }
  const cmp = (a: RoomEvent, b: RoomEvent) => a.depth - b.depth || (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0)
  const ready = events.filter((e) => waiting.get(e.event_id) === 0).sort(cmp)
  const out: RoomEvent[] = []
  while (ready.length > 0) {
    const e = ready.shift() as RoomEvent
    out.push(e)
    for (const n of next.get(e.event_id) ?? []) {
      const left = (waiting.get(n) as number) - 1
      waiting.set(n, left)
      if (left === 0) {
        ready.push(byId.get(n) as RoomEvent)
        ready.sort(cmp)
      }
    }
  }
  // A cycle (only a forged batch has one) leaves its events out.
  return out
}
