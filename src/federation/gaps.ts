// Received events whose prev_events are not stored here (server-server API, "Retrieving events":
// get_missing_events, then the state at the event when too many are missing): what the /send sink does
// before it gives up on an event as 'missing'. Every fetched PDU passes the same checks as a sent one
// (signatures and hashes), and every request is bounded in count, size and time.
import { MAX_PDU_BYTES, type RoomEvent } from '../protocol/events/index.ts'
import type { RoomVersion } from '../protocol/room-versions.ts'
import type { Logger } from '../shared/logger.ts'
import type { Storage } from '../storage/index.ts'
import type { RemoteEvents, IngestResult } from '../rooms/ingest.ts'
import { parseStored } from '../rooms/writer.ts'
import type { FederationClient, FederationRequest } from './client.ts'
import { ingestAnswer, type PduSink } from './pdu-sink.ts'
import { isObject } from '../protocol/auth/room-state.ts'
import { oldestFirst } from './backfill.ts'

/** Checks a fetched PDU (signatures, hashes); null when it must be dropped. */
export type FetchedPduCheck = (raw: unknown, version: RoomVersion) => Promise<RoomEvent | null>

export interface GapLimits {
  /** get_missing_events' limit (at most 20, as Synapse asks). */
  missingEvents: number
  /** At most this many state and auth events fetched one by one; more: the whole /state at once. */
  fetchOneByOne: number
  /** A state at a gap holding more event IDs than this is refused. */
  maxStateIds: number
  /** All the requests of one gap's filling together take at most this long. */
  timeoutMs: number
}

export const DEFAULT_GAP_LIMITS: GapLimits = { missingEvents: 20, fetchOneByOne: 100, maxStateIds: 100_000, timeoutMs: 60_000 }

/** Answer size bounds: one PDU (with its envelope), a page of missing events, a state's IDs, a whole state. */
const EVENT_ANSWER_BYTES = 2 * MAX_PDU_BYTES
const MISSING_ANSWER_BYTES = (DEFAULT_GAP_LIMITS.missingEvents + 1) * MAX_PDU_BYTES
const STATE_IDS_ANSWER_BYTES = 16 * 1024 * 1024
const STATE_ANSWER_BYTES = 256 * 1024 * 1024

/** At most this many of an event's prev_events unknown here get their state fetched (each a /state_ids). */
const MAX_PREVS_FETCHED = 10

const path = (what: string, roomId: string) => `/_matrix/federation/v1/${what}/${encodeURIComponent(roomId)}`


function stringList(value: unknown, max: number): string[] | null {
  if (!Array.isArray(value) || value.length > max || !value.every((v) => typeof v === 'string')) return null
  return value as string[]
}

export class GapFiller implements PduSink {
  private readonly client: FederationClient
  private readonly remoteEvents: RemoteEvents
  private readonly storage: Storage
  private readonly check: FetchedPduCheck
  private readonly logger: Logger
  private readonly limits: GapLimits
  /** The gaps this instance is filling, by room: a second event of the room waits for the first's. */
  private readonly filling = new Map<string, Promise<unknown>>()

  constructor(deps: { client: FederationClient; remoteEvents: RemoteEvents; storage: Storage; check: FetchedPduCheck; logger: Logger; limits?: GapLimits }) {
    this.client = deps.client
    this.remoteEvents = deps.remoteEvents
    this.storage = deps.storage
    this.check = deps.check
    this.logger = deps.logger
    this.limits = deps.limits ?? DEFAULT_GAP_LIMITS
  }

  async receive(origin: string, event: RoomEvent, version: RoomVersion): Promise<{ error?: string }> {
    let result = await this.remoteEvents.ingest(event, { origin })
    if (result.outcome !== 'missing') return this.answer(origin, event, result)
    const busy = this.filling.get(event.room_id)
    if (busy) {
      // Another event's gap in this room is being filled: what it fetches may well close this one too.
      await busy.catch(() => {})
      return this.answer(origin, event, await this.remoteEvents.ingest(event, { origin }))
    }
    const filled = this.fill(origin, event, version, Date.now() + this.limits.timeoutMs)
    this.filling.set(event.room_id, filled)
    try {
      result = await filled
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, origin, event_id: event.event_id }, 'could not fill the gap before a received event')
    } finally {
      this.filling.delete(event.room_id)
    }
    return this.answer(origin, event, result)
  }

  /** The /send answer; an event not taken into the room is logged with why (the answer carries no reason). */
  private answer(origin: string, event: RoomEvent, result: IngestResult): { error?: string } {
    if (result.outcome === 'soft-failed' || result.outcome === 'rejected' || result.outcome === 'missing') {
      this.logger.info({ origin, room_id: event.room_id, event_id: event.event_id, outcome: result.outcome, reason: result.reason }, 'received event not taken into the room')
    }
    return ingestAnswer(result)
  }

  /**
   * The missing prev_events by get_missing_events (oldest first, each ingested as if sent; one whose own
   * prev_events are still unknown is ingested on the state after those, as its origin has it), then the
   * event again. A pushed event whose prev_events its origin would not give stays missing: its sender had
   * them, and taking its word for the state there would let any server rewrite the room's state
   * (server-server API, "Retrieving events": state is fetched for pulled events only).
   */
  private async fill(origin: string, event: RoomEvent, version: RoomVersion, deadline: number): Promise<IngestResult> {
    await this.fetchMissing(origin, event, version, deadline)
    const again = await this.remoteEvents.ingest(event, { origin })
    if (again.outcome === 'missing') return { ...again, reason: `${origin} did not give the prev_events of ${event.event_id}` }
    return again
  }

  /**
   * Ingests a pulled event (from get_missing_events or backfill) whose prev_events or auth events are not
   * all stored here: the missing auth events fetched, and the state after each prev_event still unknown
   * here, as `origin` has it (/state_ids at that prev_event, the events not stored here fetched).
   */
  private async ingestPulled(origin: string, event: RoomEvent, version: RoomVersion, deadline: number, missing: string[]): Promise<IngestResult> {
    const status = await this.storage.repos.events.statusOf(event.room_id, event.prev_events)
    const unknownPrevs = [...new Set(event.prev_events)].filter((id) => status.get(id)?.state_group == null).slice(0, MAX_PREVS_FETCHED)
    const prevStates: RoomEvent[][] = []
    for (const prevId of unknownPrevs) prevStates.push(await this.stateAfter(origin, event.room_id, prevId, version, deadline))
    const missingAuth = missing.filter((id) => !event.prev_events.includes(id)).slice(0, this.limits.fetchOneByOne)
    if (missingAuth.length > 0) await this.remoteEvents.storeOutliers(event.room_id, version, await this.fetchEach(origin, missingAuth, version, deadline))
    return this.remoteEvents.ingest(event, { origin, prevStates })
  }

  /** A request of a gap's filling: within what is left of its deadline, its answer bounded. */
  private ask(origin: string, deadline: number, maxBytes: number, req: Omit<FederationRequest, 'timeoutMs' | 'maxBytes'>): Promise<unknown> {
    const left = deadline - Date.now()
    if (left <= 0) return Promise.reject(new Error('the time to fill the gap ran out'))
    return this.client.request<unknown>(origin, { ...req, timeoutMs: left, maxBytes })
  }

  private async fetchMissing(origin: string, event: RoomEvent, version: RoomVersion, deadline: number): Promise<void> {
    const earliest = (await this.storage.repos.rooms.extremities(event.room_id)).map((x) => x.event_id)
    const answer = await this.ask(origin, deadline, MISSING_ANSWER_BYTES, {
      method: 'POST',
      path: path('get_missing_events', event.room_id),
      body: { earliest_events: earliest.slice(0, 20), latest_events: [event.event_id], limit: this.limits.missingEvents, min_depth: 0 },
    })
    if (!isObject(answer) || !Array.isArray(answer.events)) return
    const fetched: RoomEvent[] = []
    for (const raw of answer.events.slice(0, this.limits.missingEvents)) {
      const checked = await this.check(raw, version)
      if (checked && checked.room_id === event.room_id) fetched.push(checked)
    }
    for (const pulled of oldestFirst(fetched)) {
      const result = await this.remoteEvents.ingest(pulled, { origin })
      // A gap behind a pulled event (the oldest, when more were missing than one answer holds): the state there.
      if (result.outcome === 'missing') await this.ingestPulled(origin, pulled, version, deadline, result.missing ?? [])
    }
  }

  /**
   * The state before event `eventId` as `origin` has it: /state_ids, then the events not stored here
   * fetched (one by one, or the whole /state when there are many) and stored as outliers, with those of
   * `also` (the event itself, its auth events). Returns the state and the events of `also` not rejected.
   */
  async stateAt(origin: string, roomId: string, eventId: string, version: RoomVersion, deadline: number, also: string[] = []): Promise<{ state: RoomEvent[]; also: Map<string, RoomEvent> }> {
    const ids = await this.ask(origin, deadline, STATE_IDS_ANSWER_BYTES, { method: 'GET', path: path('state_ids', roomId), query: { event_id: eventId } })
    if (!isObject(ids)) throw new Error(`${origin} answered /state_ids without an object`)
    const stateIds = stringList(ids.pdu_ids, this.limits.maxStateIds)
    const authIds = stringList(ids.auth_chain_ids, this.limits.maxStateIds)
    if (!stateIds || !authIds) throw new Error(`${origin} answered /state_ids without bounded pdu_ids and auth_chain_ids`)
    const wanted = [...new Set([...stateIds, ...authIds, ...also])]
    const stored = await this.storage.repos.events.statusOf(roomId, wanted)
    const unknown = wanted.filter((id) => !stored.has(id))
    const fetched =
      unknown.length <= this.limits.fetchOneByOne
        ? await this.fetchEach(origin, unknown, version, deadline)
        : [...(await this.fetchState(origin, roomId, eventId, version, deadline)), ...(await this.fetchEach(origin, also.filter((id) => !stored.has(id)), version, deadline))]
    const byId = new Map(fetched.filter((e) => e.room_id === roomId).map((e) => [e.event_id, e]))
    if (byId.size > 0) await this.remoteEvents.storeOutliers(roomId, version, [...byId.values()])
    // Everything now stored is read back as stored: rejected events are never state.
    const kept = new Map((await this.storedEvents(roomId, version, [...new Set([...stateIds, ...also])])).map((e) => [e.event_id, e]))
    return {
      state: stateIds.flatMap((id) => kept.get(id) ?? []),
      also: new Map(also.flatMap((id) => (kept.has(id) ? [[id, kept.get(id) as RoomEvent] as const] : []))),
    }
  }

  /**
   * The state after a prev_event this server lacks, as `origin` has it: the state before it (stateAt) with
   * the event itself when it is state (and not rejected). The event is stored as an outlier.
   */
  private async stateAfter(origin: string, roomId: string, prevId: string, version: RoomVersion, deadline: number): Promise<RoomEvent[]> {
    const { state, also } = await this.stateAt(origin, roomId, prevId, version, deadline, [prevId])
    const prev = also.get(prevId)
    if (!prev || prev.state_key === undefined) return state
    return [...state.filter((e) => e.type !== prev.type || e.state_key !== prev.state_key), prev]
  }

  /** Events by ID through /event, a few at a time. */
  private async fetchEach(origin: string, ids: string[], version: RoomVersion, deadline: number): Promise<RoomEvent[]> {
    const out: RoomEvent[] = []
    let next = 0
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++] as string
        const answer = await this.ask(origin, deadline, EVENT_ANSWER_BYTES, { method: 'GET', path: `/_matrix/federation/v1/event/${encodeURIComponent(id)}` })
        const pdus = isObject(answer) && Array.isArray(answer.pdus) ? answer.pdus : []
        const checked = pdus.length === 1 ? await this.check(pdus[0], version) : null
        if (checked && checked.event_id === id) out.push(checked)
      }
    }
    await Promise.all(Array.from({ length: Math.min(10, ids.length) }, worker))
    return out
  }

  /** The whole state and auth chain at an event through /state, when too many events are unknown here. */
  private async fetchState(origin: string, roomId: string, eventId: string, version: RoomVersion, deadline: number): Promise<RoomEvent[]> {
    const answer = await this.ask(origin, deadline, STATE_ANSWER_BYTES, { method: 'GET', path: path('state', roomId), query: { event_id: eventId } })
    if (!isObject(answer) || !Array.isArray(answer.pdus) || !Array.isArray(answer.auth_chain)) throw new Error(`${origin} answered /state without pdus and auth_chain`)
    if (answer.pdus.length + answer.auth_chain.length > 2 * this.limits.maxStateIds) throw new Error(`${origin}'s /state holds too many events`)
    const out: RoomEvent[] = []
    for (const raw of [...answer.auth_chain, ...answer.pdus]) {
      const checked = await this.check(raw, version)
      if (checked) out.push(checked)
    }
    return out
  }

  /** Stored events (state here already), rejected ones left out: they are never state. */
  private async storedEvents(roomId: string, version: RoomVersion, ids: string[]): Promise<RoomEvent[]> {
    const rows = await this.storage.repos.events.pdus(roomId, ids)
    return rows.filter((r) => !r.rejected).map((r) => parseStored(r.json, version, r.event_id))
  }
}
