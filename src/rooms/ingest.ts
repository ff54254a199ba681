// Remote events into a room's DAG (server-server API, "Checks performed on receipt of a PDU", "Soft
// failure", "Rejection"): the caller (the federation routes, the outbound join) has checked signatures and
// hashes; this authorizes the event against its auth events, the state before it and the room's current
// state, and stores it as accepted, soft-failed or rejected. An accepted event is appended exactly as a local
// one (RoomWriter.persist, in a stream transaction holding the room's lock): stream position, state group,
// forward extremities, memberships, append hooks, notifier. When forks meet, the room's current state is
// the resolution (protocol/state-res) of its forward extremities' states.
import { checkAuthEventsList, checkEventAuth, authStateFromEvents, redactLevel, userPowerLevel, type AuthResult } from '../protocol/auth/index.ts'
import { redact as redactPdu, serverNameOf } from '../protocol/events/index.ts'
import { stateKey, type Pdu, type RoomEvent, type StateKey } from '../protocol/events/types.ts'
import { roomVersion, type RoomVersion } from '../protocol/room-versions.ts'
import { MissingEventError, authEventIds, createEventIdForRoom, resolveState } from '../protocol/state-res/index.ts'
import { notFound } from '../shared/errors.ts'
import type { Repositories, RoomRow, Storage, StateEntry } from '../storage/index.ts'
import { refreshRoomSummaries } from '../directory/summaries.ts'
import { remoteProfileOf } from '../search/indexer.ts'
import { authOrder, diff, entriesOf, pick, stateBeforeEvent, stateIdsOf, StoredEvents, type StateIds } from './state-store.ts'
import { eventColumns, eventEdges, keysFor, parseStored, type RoomWriteState, type RoomWriter } from './writer.ts'

/** The room left below an event after a gap for the events missing there (see depthAfterGap). */
const MAX_GAP_ROOM = 10_000

/** At most this many events in an auth chain served (a send_join answer's, as /event_auth's). */
export const AUTH_CHAIN_MAX = 100_000

export type IngestOutcome = 'accepted' | 'soft-failed' | 'rejected' | 'duplicate' | 'missing'

export interface IngestResult {
  outcome: IngestOutcome
  /** Why the event was rejected or soft-failed (the auth rule that refused it). */
  reason?: string
  /** 'missing': the prev_events or auth_events this server lacks (fetch them, or pass stateBefore). */
  missing?: string[]
}

export interface IngestOptions {
  /** The server that sent the event (its PDU's origin, or the joining server). */
  origin: string
  /**
   * The room's state before the event, when its prev_events are unknown here (a join's state from
   * send_join, the state at a gap from /state). Stored as outliers if they are not stored yet.
   */
  stateBefore?: RoomEvent[]
  /**
   * The states after those of the event's prev_events that are not stored here with a state (the gap
   * filler's, from their origin): resolved with the states after its known prev_events.
   */
  prevStates?: RoomEvent[][]
  /**
   * The event is this server's join to a room it had left, with its state before (stateBefore, from
   * send_join): what this server kept of the room is stale (nothing reached it since), so the join is not
   * checked against that state, and the state after the join replaces it.
   */
  rejoin?: boolean
  /**
   * Whether this server must send the event on to the room's other servers (a join, leave or knock that came
   * through send_join, send_leave or send_knock: only this server has it). Told to the append hooks.
   */
  relay?: boolean
}

/** Where a backfilled event goes (the backfiller decides both for its whole batch; see src/federation/backfill.ts). */
export interface BackfillPlace {
  /** Its stream position: negative, from the backfill sequence (migration 0035). */
  position: number
  /** The depth the timeline orders it by: below every timeline event after it. */
  orderDepth: number
}

/** What storeOutliers did with a batch. */
export interface OutliersResult {
  /** Events refused by the auth rules against their own auth events (stored as rejected). */
  rejected: string[]
  /** Events whose auth events are neither in the batch nor stored (stored unchecked). */
  unchecked: string[]
}

/** What a join's send_join answer holds (the outbound join's call into ingestJoinedRoom). */
export interface JoinedRoom {
  /** The room's state before the join. */
  state: RoomEvent[]
  /** The auth chain of that state and of the join. */
  authChain: RoomEvent[]
  /** The join event itself, as the resident server signed it. */
  join: RoomEvent
  /** The resident server the join went through. */
  origin: string
}

/** U+0000 as JSON escapes it (see RoomWriter): PostgreSQL's JSON operators cannot read such a document. */
const NUL_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u0000/

/**
 * The JSON an event is stored as: its PDU as the caller hands it over, `unsigned` included (checkIncomingPdu
 * keeps only what a remote server may say there); null when it holds U+0000, which this server cannot store.
 */
function storedJson(event: RoomEvent): string | null {
  const json = JSON.stringify(event.pdu)
  return NUL_ESCAPE.test(json) ? null : json
}

/** A transaction rolled back on purpose, answering `result`. */
class Abandon extends Error {
  readonly result: IngestResult
  constructor(result: IngestResult) {
    super(result.reason ?? result.outcome)
    this.result = result
  }
}

export class RemoteEvents {
  private readonly storage: Storage
  private readonly writer: RoomWriter

  private readonly keptOutside: Array<(repos: Repositories, event: RoomEvent) => Promise<void>> = []

  constructor(deps: { storage: Storage; writer: RoomWriter }) {
    this.storage = deps.storage
    this.writer = deps.writer
  }

  /** Work done in the transaction that keeps a membership outside its room (keepMembershipOutside): pushing an invite. */
  onKeptOutside(hook: (repos: Repositories, event: RoomEvent) => Promise<void>): void {
    this.keptOutside.push(hook)
  }

  /**
   * Authorizes and stores one remote event (signatures and hashes already checked). Rooms this server has no
   * row for are M_NOT_FOUND (a join creates them: ingestJoinedRoom).
   */
  async ingest(event: RoomEvent, options: IngestOptions): Promise<IngestResult> {
    const result = await this.storage.streamTransaction((repos) => this.ingestIn(repos, event, options), { lockRoom: event.room_id })
    // What this instance kept of the room is out of date once the DAG moved (its check would find out; no
    // need to try); a duplicate, missing or rejected event left it as it was.
    if (result.outcome === 'accepted' || result.outcome === 'soft-failed') this.writer.forget(event.room_id)
    return result
  }

  /**
   * Stores events known only as state or auth events (a join's state and auth chain), outside every
   * timeline: no stream position, no state group. Each is checked against its auth events (in the batch or
   * stored): those the rules refuse are stored as rejected, never to be state.
   */
  storeOutliers(roomId: string, version: RoomVersion, events: RoomEvent[]): Promise<OutliersResult> {
    return this.storage.transaction((repos) => this.storeOutliersIn(repos, roomId, version, events))
  }

  /**
   * A room this server joins through another (the outbound join, after send_join): the room's row, its
   * state and auth chain as outliers, then the join appended on that state. All or nothing: unless the join
   * is accepted, nothing is stored.
   */
  async ingestJoinedRoom(roomId: string, version: RoomVersion, joined: JoinedRoom): Promise<IngestResult> {
    const create = joined.state.find((e) => e.type === 'm.room.create' && e.state_key === '')
    if (!create) return { outcome: 'rejected', reason: 'the room state has no m.room.create event' }
    if (joined.join.room_id !== roomId || create.room_id !== roomId) return { outcome: 'rejected', reason: 'events of another room' }
    try {
      return await this.storage.streamTransaction(
        async (repos) => {
          const created = await repos.rooms.insert({ room_id: roomId, room_version: version.id, creator: create.sender, created_ts: create.origin_server_ts })
          // A room this server had left: its forward extremities and state are from before, and the room moved
          // on without it. The join takes their place.
          const joiner = serverNameOf(joined.join.state_key)
          const rejoin = !created && joiner !== null && !(await repos.memberships.hasJoinedOfServer(roomId, joiner))
          if (rejoin) await repos.rooms.forgetExtremities(roomId)
          // The auth chain first, so that the state is checked against it as it is stored (ingestIn).
          await this.storeOutliersIn(repos, roomId, version, joined.authChain)
          const result = await this.ingestIn(repos, joined.join, { origin: joined.origin, stateBefore: joined.state, rejoin })
          if (result.outcome !== 'accepted') throw new Abandon(result)
          return result
        },
        { lockRoom: roomId },
      )
    } catch (err) {
      if (err instanceof Abandon) return err.result
      throw err
    } finally {
      this.writer.forget(roomId)
    }
  }

  /**
   * A membership of one of our users in a room this server is not in (an invite received, an invite
   * rejected, a knock): the event as an outlier, with what the user is shown of the room in its `unsigned`
   * (invite_room_state, knock_room_state, as the spec carries them), and the user's membership row at a
   * stream position that wakes their /sync.
   */
  async keepMembershipOutside(event: RoomEvent, version: RoomVersion, unsigned: Record<string, unknown> = {}): Promise<void> {
    const userId = event.state_key as string
    const json = JSON.stringify({ ...event.pdu, unsigned })
    await this.storage.streamTransaction(async (repos) => {
      // A replay of a membership kept before changes nothing (it would undo a leave that followed it).
      if ((await repos.events.statusOf(event.room_id, [event.event_id])).size > 0) return
      await repos.events.insertUnordered([{ ...eventColumns(event, json), edges: eventEdges(event, version), state_group: null, rejected_reason: null, kind: 'outlier' }])
      const position = await repos.stream.next('member', event.room_id, userId)
      await repos.memberships.set({ room_id: event.room_id, user_id: userId, membership: String(event.content.membership), event_id: event.event_id, stream_ordering: position, sender: event.sender })
      for (const hook of this.keptOutside) await hook(repos, event)
    })
  }

  async storeOutliersIn(repos: Repositories, roomId: string, version: RoomVersion, events: RoomEvent[]): Promise<OutliersResult> {
    const result: OutliersResult = { rejected: [], unchecked: [] }
    const batch = new Map<string, RoomEvent>()
    for (const e of events) if (e.room_id === roomId) batch.set(e.event_id, e)
    if (batch.size === 0) return result
    const known = await repos.events.statusOf(roomId, [...batch.keys()])
    for (const id of known.keys()) batch.delete(id)
    const store = new StoredEvents(repos, roomId, version)
    // The stored auth events of the whole batch in one read.
    await store.getEvents([...new Set([...batch.values()].flatMap((e) => authEventIds(e, version)))].filter((id) => !batch.has(id)))
    const rows = []
    for (const event of authOrder(batch, version)) {
      const json = storedJson(event)
      if (json === null) continue
      const authIds = authEventIds(event, version)
      const found = await store.getEvents(authIds)
      let reason: string | null = null
      if (authIds.every((id) => found.has(id))) {
        const verdict = await this.checkAgainstAuthEvents(event, version, store)
        if (!verdict.allowed) reason = verdict.reason
      } else {
        result.unchecked.push(event.event_id)
      }
      store.add(event, reason !== null)
      if (reason !== null) result.rejected.push(event.event_id)
      rows.push({
        ...eventColumns(event, json),
        edges: eventEdges(event, version),
        state_group: null,
        rejected_reason: reason,
        kind: reason === null ? ('outlier' as const) : ('rejected' as const),
      })
    }
    await repos.events.insertUnordered(rows)
    return result
  }

  /** Rule 2/3 and the rest of the auth rules against the event's own auth events (all of them loaded). */
  private async checkAgainstAuthEvents(event: RoomEvent, version: RoomVersion, store: StoredEvents): Promise<AuthResult> {
    const authIds = authEventIds(event, version)
    const [found, rejected] = await Promise.all([store.getEvents(authIds), store.getRejectedIds(authIds)])
    const listed = event.auth_events.flatMap((id) => found.get(id) ?? [])
    const verdict = checkAuthEventsList(event, listed, version, { isRejected: (id) => rejected.has(id) })
    if (!verdict.allowed) return verdict
    const createId = version.roomIdFromCreateEvent && event.type !== 'm.room.create' ? createEventIdForRoom(event.room_id) : null
    const create = createId === null ? undefined : found.get(createId)
    return checkEventAuth(event, authStateFromEvents(listed, create), version, {
      isCreateEventAccepted: createId === null || !rejected.has(createId),
    })
  }

  /** ingest, inside the room's stream transaction (its lock came with BEGIN). */
  async ingestIn(repos: Repositories, event: RoomEvent, options: IngestOptions): Promise<IngestResult> {
    const roomId = event.room_id
    const room = await repos.rooms.lock(roomId)
    if (!room) throw notFound('Unknown room')
    const opened = await this.open(repos, room, event, options.stateBefore)
    if ('outcome' in opened) return opened
    const { version, json, given } = opened
    const authIds = authEventIds(event, version)
    const status = await repos.events.statusOf(roomId, [event.event_id, ...event.prev_events, ...authIds])
    if (status.has(event.event_id)) return { outcome: 'duplicate' }
    const missing = new Set(authIds.filter((id) => !status.has(id)))
    // A prev event known only as an outlier has no state after it here: as good as missing, unless the
    // states after such prev events are handed over (prevStates).
    const prevGroups = event.prev_events.flatMap((id) => {
      const group = status.get(id)?.state_group
      return group == null ? [] : [group]
    })
    if (!given && !options.prevStates) for (const id of event.prev_events) if (status.get(id)?.state_group == null) missing.add(id)
    if (missing.size > 0) return this.missingOrElsewhere(repos, version, event, json, missing)
    if (!given && options.prevStates) {
      for (const state of options.prevStates) {
        const usable = await this.usableState(repos, roomId, version, state)
        if (usable === null) return { outcome: 'rejected', reason: 'prevStates hold events that are not state of this room' }
        prevGroups.push((await this.groupOf(repos, roomId, new Map(usable.map((e) => [stateKey(e.type, e.state_key as string), e.event_id])), null)).group)
      }
      if (prevGroups.length === 0) return { outcome: 'missing', missing: event.prev_events }
    }

    if (!given && event.prev_events.length === 0) return { outcome: 'rejected', reason: 'an event without prev_events needs the state before it' }
    const store = new StoredEvents(repos, roomId, version)
    // Known from here on, to the current state's entries and to state resolution.
    store.add(event)
    const keys = [...keysFor(event, version)]
    if (event.state_key !== undefined) keys.push([event.type, event.state_key])
    let before: { group: number | null; state: StateIds | null }
    try {
      before = given
        ? await this.groupOf(repos, roomId, new Map(given.map((e) => [stateKey(e.type, e.state_key as string), e.event_id])), null)
        : await this.stateAfterAll(repos, roomId, version, store, prevGroups)
    } catch (err) {
      if (err instanceof MissingEventError) return { outcome: 'missing', missing: [err.eventId] }
      throw err
    }

    // 1. Against its own auth events.
    let verdict = await this.checkAgainstAuthEvents(event, version, store)
    if (!verdict.allowed) return this.storeAside(repos, version, event, json, before.group, 'rejected', `auth events: ${verdict.reason}`)
    const elsewhere = await this.redactsElsewhere(repos, event)
    if (elsewhere) return this.storeAside(repos, version, event, json, before.group, 'rejected', elsewhere)
    // 2. Against the state before it.
    // The room's current state, read with its events (state events are never rejected).
    const currentIds = async (): Promise<StateIds> => {
      const rows = await repos.state.currentEvents(roomId, keys)
      for (const r of rows) store.add(parseStored(r.json, version, r.event_id))
      return new Map(rows.map((r) => [stateKey(r.type, r.state_key), r.event_id]))
    }
    const beforeIds = before.state
      ? pick(before.state, keys)
      : before.group === null
        ? new Map<StateKey, string>()
        : before.group === room.state_group
          ? await currentIds()
          : stateIdsOf(await repos.state.groupEntries(roomId, before.group, keys))
    const beforeState = await store.stateEvents(beforeIds)
    verdict = checkEventAuth(event, beforeState, version)
    if (!verdict.allowed) return this.storeAside(repos, version, event, json, before.group, 'rejected', `state before: ${verdict.reason}`)
    const ownKey = event.state_key === undefined ? null : stateKey(event.type, event.state_key)
    const afterGroup =
      ownKey === null ? before.group : await repos.state.createGroup(roomId, before.group, [{ type: event.type, state_key: event.state_key as string, event_id: event.event_id }])
    // 3. Against the room's current state (the same state when the event follows on from it).
    if (room.state_group !== null && before.group !== room.state_group && !options.rejoin) {
      verdict = checkEventAuth(event, await store.stateEvents(await currentIds()), version)
      if (!verdict.allowed) return this.storeAside(repos, version, event, json, afterGroup, 'soft-failed', `current state: ${verdict.reason}`)
    }

    // Accepted: the room's new forward extremities and the current state they resolve to.
    const extremities = await repos.rooms.extremities(roomId)
    const prevs = new Set(event.prev_events)
    const others = extremities.filter((x) => !prevs.has(x.event_id) && x.state_group !== null)
    const linear = others.length === 0 && before.group === room.state_group && room.state_group !== null
    let currentGroup = afterGroup
    let changes: { upserts: StateEntry[]; removed: Array<[string, string]> }
    if (linear) {
      changes = { upserts: ownKey === null ? [] : [{ type: event.type, state_key: event.state_key as string, event_id: event.event_id }], removed: [] }
    } else {
      const groups = [...new Set([afterGroup, ...others.map((x) => x.state_group as number)].filter((g): g is number => g !== null))]
      const wanted = [...new Set([...groups, ...(room.state_group === null ? [] : [room.state_group])])]
      const states = await repos.state.groupStates(roomId, wanted)
      const mapOf = (g: number | null) => (g === null ? new Map<StateKey, string>() : stateIdsOf(states.get(g) ?? []))
      let resolved = mapOf(afterGroup)
      if (groups.length > 1) {
        try {
          resolved = await resolveState(version, groups.map(mapOf), store)
        } catch (err) {
          if (err instanceof MissingEventError) return { outcome: 'missing', missing: [err.eventId] }
          throw err
        }
        currentGroup = (await this.groupOf(repos, roomId, resolved, afterGroup === null ? null : { group: afterGroup, state: mapOf(afterGroup) })).group
      }
      changes = diff(mapOf(room.state_group), resolved)
    }

    // The current state's new entries (with the memberships of member events), then the event itself.
    const upserted = await store.getEvents(changes.upserts.map((u) => u.event_id))
    const members = changes.upserts.flatMap((u) => (u.type === 'm.room.member' ? (upserted.get(u.event_id) ?? []) : []))
    await repos.state.applyCurrent(
      roomId,
      changes.upserts.map((u) => ({ ...u, membership: u.type === 'm.room.member' ? String(upserted.get(u.event_id)?.content.membership ?? 'leave') : null })),
      changes.removed,
    )
    const gone = changes.removed.filter(([type]) => type === 'm.room.member').map(([, key]) => key)
    if (gone.length > 0) await repos.memberships.removeMany(roomId, gone)
    const moves = currentGroup !== room.state_group && currentGroup === afterGroup
    if (currentGroup !== room.state_group && !moves) await repos.rooms.setStateGroup(roomId, currentGroup)

    const writeState: RoomWriteState = {
      roomId,
      version,
      prev: [],
      extremities: extremities.map((x) => x.event_id),
      openedFrom: null,
      stateGroup: before.group,
      state: beforeState,
      known: new Set(),
      pushRulesVersion: 0,
      prepared: null,
      used: null,
      reused: false,
    }
    // The sender's depth is a claim: the timeline orders the event right after its predecessors here (after
    // the room's newest event when they are unknown, a gap), so no server can sort its events last, or first.
    const prevDepths = event.prev_events.flatMap((id) => {
      const prev = status.get(id)
      return prev && prev.stream_ordering !== null ? [prev.depth] : []
    })
    const orderDepth = prevDepths.length > 0 ? Math.max(...prevDepths) + 1 : await this.depthAfterGap(repos, roomId, event)
    await this.writer.persist(repos, writeState, event, json, {
      orderDepth,
      stateGroup: afterGroup,
      replaces: ownKey === null ? null : (beforeIds.get(ownKey) ?? null),
      movesRoomState: moves,
      members,
      origin: options.origin,
      ...(options.relay ? { relay: true } : {}),
    })
    await repos.backfill.joinedTimeline(roomId, event.event_id, event.prev_events)
    if (event.type === 'm.room.redaction') await this.applyRedaction(repos, event, beforeState, version)
    // More of the state changed than the event itself (which the append hooks saw): what summarises the room
    // is read again.
    if (changes.removed.length > 0 || changes.upserts.some((u) => u.event_id !== event.event_id)) await this.stateChanged(repos, roomId, changes.upserts, upserted)
    return { outcome: 'accepted' }
  }

  /** The room's version, the event's stored JSON and the usable state handed over with it; or the event's refusal. */
  private async open(repos: Repositories, room: RoomRow, event: RoomEvent, stateBefore: RoomEvent[] | undefined): Promise<IngestResult | { version: RoomVersion; json: string; given: RoomEvent[] | undefined }> {
    const version = roomVersion(room.room_version)
    if (!version) throw new Error(`room ${room.room_id} has unsupported version ${room.room_version}`)
    const json = storedJson(event)
    if (json === null) return { outcome: 'rejected', reason: 'the event holds U+0000, which this server cannot store' }
    const given = stateBefore ? await this.usableState(repos, room.room_id, version, stateBefore) : undefined
    if (given === null) return { outcome: 'rejected', reason: 'stateBefore holds events that are not state of this room' }
    return { version, json, given }
  }

  /**
   * A state handed over with an event (stateBefore): stored as outliers, rejected events left out (never
   * state, whoever hands them over); null when it holds events that are not state of the room.
   */
  private async usableState(repos: Repositories, roomId: string, version: RoomVersion, state: RoomEvent[]): Promise<RoomEvent[] | null> {
    if (state.some((e) => e.room_id !== roomId || e.state_key === undefined)) return null
    await this.storeOutliersIn(repos, roomId, version, state)
    const stored = await repos.events.statusOf(roomId, state.map((e) => e.event_id))
    return state.filter((e) => stored.get(e.event_id)?.rejected_reason == null)
  }

  /**
   * Stores an event of the room's history fetched by backfill (server-server API, "Backfilling and
   * retrieving missing events"): authorized against its auth events and the state before it (its
   * prev_events' states, or `stateBefore` when they are not stored), then written into the timeline at
   * `place`, below the events after it. The room's current state, forward extremities and memberships stay
   * as they are, nothing is notified or sent on: history is not news. An event known only as an outlier
   * (state from a join) takes its place in the timeline.
   */
  ingestBackfilled(event: RoomEvent, place: BackfillPlace, options: { origin: string; stateBefore?: RoomEvent[] }): Promise<IngestResult> {
    return this.storage.transaction((repos) => this.backfillIn(repos, event, place, options.stateBefore))
  }

  private async backfillIn(repos: Repositories, event: RoomEvent, place: BackfillPlace, stateBefore: RoomEvent[] | undefined): Promise<IngestResult> {
    const roomId = event.room_id
    const room = await repos.rooms.get(roomId)
    if (!room) throw notFound('Unknown room')
    const opened = await this.open(repos, room, event, stateBefore)
    if ('outcome' in opened) return opened
    const { version, json, given } = opened
    const authIds = authEventIds(event, version)
    const status = await repos.events.statusOf(roomId, [event.event_id, ...event.prev_events, ...authIds])
    const stored = status.get(event.event_id)
    const outlier = stored !== undefined && stored.outlier && stored.rejected_reason === null
    if (stored && !outlier) return { outcome: 'duplicate' }
    const missing = new Set(authIds.filter((id) => !status.has(id)))
    if (!given) for (const id of event.prev_events) if (status.get(id)?.state_group == null) missing.add(id)
    if (missing.size > 0) return this.missingOrElsewhere(repos, version, event, json, missing)
    if (!given && event.prev_events.length === 0 && event.type !== 'm.room.create') return { outcome: 'rejected', reason: 'an event without prev_events needs the state before it' }

    const store = new StoredEvents(repos, roomId, version)
    store.add(event)
    let before: { group: number | null; state: StateIds | null }
    try {
      before = given
        ? await this.groupOf(repos, roomId, new Map(given.map((e) => [stateKey(e.type, e.state_key as string), e.event_id])), null)
        : event.prev_events.length === 0
          ? { group: null, state: new Map() }
          : await this.stateAfterAll(repos, roomId, version, store, event.prev_events.map((id) => status.get(id)?.state_group as number))
    } catch (err) {
      if (err instanceof MissingEventError) return { outcome: 'missing', missing: [err.eventId] }
      throw err
    }
    const keys = [...keysFor(event, version)]
    if (event.state_key !== undefined) keys.push([event.type, event.state_key])
    // 1. Against its own auth events, 2. against the state before it. An outlier the rules refuse here
    // stays what it was (it may be state the room resolved to).
    let verdict = await this.checkAgainstAuthEvents(event, version, store)
    if (!verdict.allowed) return outlier ? { outcome: 'rejected', reason: verdict.reason } : this.storeAside(repos, version, event, json, before.group, 'rejected', `auth events: ${verdict.reason}`)
    const beforeIds = before.state ? pick(before.state, keys) : before.group === null ? new Map<StateKey, string>() : stateIdsOf(await repos.state.groupEntries(roomId, before.group, keys))
    const beforeState = await store.stateEvents(beforeIds)
    verdict = checkEventAuth(event, beforeState, version)
    if (!verdict.allowed) return outlier ? { outcome: 'rejected', reason: verdict.reason } : this.storeAside(repos, version, event, json, before.group, 'rejected', `state before: ${verdict.reason}`)

    const ownKey = event.state_key === undefined ? null : stateKey(event.type, event.state_key)
    const afterGroup =
      ownKey === null ? before.group : await repos.state.createGroup(roomId, before.group, [{ type: event.type, state_key: event.state_key as string, event_id: event.event_id }])
    const written = await repos.backfill.insert({
      ...eventColumns(event, json),
      ...this.writer.relationColumns(event),
      stream_ordering: place.position,
      depth: place.orderDepth,
      state_group: afterGroup,
      replaces_state: ownKey === null ? null : (beforeIds.get(ownKey) ?? null),
      edges: eventEdges(event, version),
      searchText: this.writer.searchTextOf(event),
    })
    if (!written) return { outcome: 'duplicate' }
    await repos.backfill.joinedTimeline(roomId, event.event_id, event.prev_events)
    if (event.type === 'm.room.redaction') await this.applyRedaction(repos, event, beforeState, version)
    return { outcome: 'accepted' }
  }

  /** The room's state before one of its timeline events (null: not in its timeline); see stateBeforeEvent. */
  stateBefore(roomId: string, eventId: string): Promise<RoomEvent[] | null> {
    return stateBeforeEvent(this.storage.repos, roomId, eventId)
  }

  /** The union of these events' auth chains (one recursive statement over the auth edges, at most AUTH_CHAIN_MAX events). */
  async authChain(roomId: string, version: RoomVersion, eventIds: string[]): Promise<RoomEvent[]> {
    const rows = await this.storage.repos.eventGraph.authChain(roomId, eventIds, AUTH_CHAIN_MAX, true)
    return rows.map((r) => parseStored(r.json as string, version, r.event_id))
  }

  /** What the append hooks keep of single state events, for a change of many (see search's indexer, directory's summaries). */
  private async stateChanged(repos: Repositories, roomId: string, upserts: StateEntry[], events: Map<string, RoomEvent>): Promise<void> {
    await refreshRoomSummaries(repos, [roomId])
    const joins = upserts.flatMap((u) => {
      const event = u.type === 'm.room.member' ? events.get(u.event_id) : undefined
      return event?.content.membership === 'join' ? [remoteProfileOf(event)] : []
    })
    await repos.userDirectory.putRemoteProfiles(joins)
    for (const u of upserts) {
      const content = events.get(u.event_id)?.content
      if (u.state_key !== '' || !content) continue
      if (u.type === 'm.room.join_rules') await repos.userDirectory.setJoinRule(roomId, typeof content.join_rule === 'string' ? content.join_rule : null)
      if (u.type === 'm.room.history_visibility') {
        await repos.userDirectory.setHistoryVisibility(roomId, typeof content.history_visibility === 'string' ? content.history_visibility : null)
      }
    }
  }

  /** The state after all of these state groups: the group itself when they are one, else their resolution. */
  private async stateAfterAll(repos: Repositories, roomId: string, version: RoomVersion, store: StoredEvents, groupsOfPrevs: number[]): Promise<{ group: number | null; state: StateIds | null }> {
    const groups = [...new Set(groupsOfPrevs)]
    if (groups.length === 1) return { group: groups[0] as number, state: null }
    const states = await repos.state.groupStates(roomId, groups)
    const maps = groups.map((g) => stateIdsOf(states.get(g) ?? []))
    const resolved = await resolveState(version, maps, store)
    return this.groupOf(repos, roomId, resolved, { group: groups[0] as number, state: maps[0] as StateIds })
  }

  /** A state group holding `state`: a delta on `base` when it only adds or replaces entries, else a snapshot. */
  private async groupOf(repos: Repositories, roomId: string, state: StateIds, base: { group: number; state: StateIds } | null): Promise<{ group: number; state: StateIds }> {
    if (base && [...base.state.keys()].every((k) => state.has(k))) {
      const changed = diff(base.state, state).upserts
      if (changed.length === 0) return { group: base.group, state }
      return { group: await repos.state.createGroup(roomId, base.group, changed), state }
    }
    return { group: await repos.state.createGroup(roomId, null, entriesOf(state)), state }
  }

  /**
   * Where an event whose prev_events are not in the timeline here (a gap before it) is ordered: after the
   * room's newest event, leaving room below it for as many events as the depths claimed say are missing
   * (at most MAX_GAP_ROOM), which backfill later fills in order.
   */
  private async depthAfterGap(repos: Repositories, roomId: string, event: RoomEvent): Promise<number> {
    const deepest = await repos.events.deepest(roomId)
    if (!deepest) return Math.min(event.depth, 1)
    return deepest.depth + 1 + Math.min(Math.max(event.depth - deepest.claimed - 1, 0), MAX_GAP_ROOM)
  }

  /** Why a redaction must be rejected: it names an event of another room (null: it does not). */
  private async redactsElsewhere(repos: Repositories, event: RoomEvent): Promise<string | null> {
    if (event.type !== 'm.room.redaction') return null
    const target = event.redacts ?? (typeof event.content.redacts === 'string' ? event.content.redacts : undefined)
    if (target === undefined) return null
    const other = (await repos.events.getByIds([target])).find((r) => r.room_id !== event.room_id)
    return other ? `it redacts ${target}, an event of another room` : null
  }

  /**
   * An event some of whose auth events or prev_events are not stored in its room: rejected when one of
   * its auth events is an event of another room (no server may authorize an event with those), else missing.
   */
  private async missingOrElsewhere(repos: Repositories, version: RoomVersion, event: RoomEvent, json: string, missing: Set<string>): Promise<IngestResult> {
    const auth = new Set(authEventIds(event, version))
    const elsewhere = (await repos.events.getByIds([...missing].filter((id) => auth.has(id)))).find((r) => r.room_id !== event.room_id)
    if (elsewhere) return this.storeAside(repos, version, event, json, null, 'rejected', `auth event ${elsewhere.event_id} belongs to another room`)
    return { outcome: 'missing', missing: [...missing] }
  }

  /** Stores a soft-failed or rejected event outside the timeline. */
  private async storeAside(repos: Repositories, version: RoomVersion, event: RoomEvent, json: string, group: number | null, kind: 'soft-failed' | 'rejected', reason: string): Promise<IngestResult> {
    await repos.events.insertUnordered([{ ...eventColumns(event, json), edges: eventEdges(event, version), state_group: group, rejected_reason: kind === 'rejected' ? reason : null, kind }])
    return { outcome: kind, reason }
  }

  /**
   * A remote redaction takes effect on an event of the timeline when its sender may redact it: the same
   * server as the original's sender, or the redact power level (rooms v3+, "Handling redactions").
   */
  private async applyRedaction(repos: Repositories, event: RoomEvent, state: Map<StateKey, RoomEvent>, version: RoomVersion): Promise<void> {
    const target = event.redacts ?? (typeof event.content.redacts === 'string' ? event.content.redacts : undefined)
    if (target === undefined) return
    const original = await repos.events.get(event.room_id, target)
    if (!original || original.redacted_by) return
    const serverOf = (userId: string) => userId.slice(userId.indexOf(':') + 1)
    const levels = state.get(stateKey('m.room.power_levels', ''))?.content
    if (serverOf(original.sender) !== serverOf(event.sender) && userPowerLevel(event.sender, state, version) < redactLevel(levels, version)) return
    const redacted = redactPdu(JSON.parse(original.json) as Pdu, version)
    await repos.events.redact(event.room_id, original.event_id, event.event_id, JSON.stringify(redacted))
  }
}
