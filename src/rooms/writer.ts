// The only writer of room DAGs: build → authorize → persist → advance state, inside a stream
// transaction that holds the room's row lock, so a room's events are appended one at a time.
import { CanonicalJsonError } from '../protocol/canonical-json.ts'
import type { SigningKey } from '../protocol/signing.ts'
import { checkEventAuth, authEventKeys } from '../protocol/auth/index.ts'
import { buildEvent, builtEventLimitError, parsePdu, referenceHash } from '../protocol/events/index.ts'
import { stateKey, type JsonObject, type RoomEvent, type StateKey } from '../protocol/events/types.ts'
import { roomVersion, type RoomVersion } from '../protocol/room-versions.ts'
import { authEventIds } from '../protocol/state-res/index.ts'
import type { Clock } from '../shared/clock.ts'
import { MatrixError, notFound } from '../shared/errors.ts'
import type { EventRecord, Repositories } from '../storage/index.ts'
import { KeptRooms, type KeptRoom } from './kept-rooms.ts'
import type { RoomExpectation } from '../storage/repositories/rooms.ts'

/** What a new event needs to know of its room; kept up to date as events are appended. */
export interface RoomWriteState {
  roomId: string
  version: RoomVersion
  /** Forward extremities: the new event's prev_events (each with its own depth, as its sender claimed it). */
  prev: RoomEvent[]
  /**
   * The highest depth the timeline orders `prev` by here (see PersistPlan.orderDepth): a new event is ordered
   * right after it. Unset: the prev events' own depths.
   */
  prevOrderDepth?: number
  /** Every forward extremity's ID (prev holds at most MAX_PREV_EVENTS of them). */
  extremities: string[]
  /** The room's only forward extremity when opened (null: it had several). */
  openedFrom: string | null
  stateGroup: number | null
  /** The state loaded so far (all of it while creating a room, the auth-relevant part otherwise). */
  state: Map<StateKey, RoomEvent>
  /** The state keys read (those absent from `state` are known to be unset). */
  known: Set<StateKey>
  /** The push rules version read with the room (see WriteLoad). */
  pushRulesVersion: number
  /** Reads sent with the room's load for the one event opened (see RoomWriter.onPrepare); used by its append. */
  prepared: PreparedReads | null
  /** The prepared reads the last append used (what KeptRooms.remember keeps). */
  used: PreparedReads | null
  /** Opened from what this instance kept of the room, not read (see RoomWriter.open). */
  reused: boolean
}

/** The write state of a room being created (its m.room.create is the first event appended; '' for a v12 room's ID until then). */
export function newRoomState(roomId: string, version: RoomVersion): RoomWriteState {
  return {
    roomId,
    version,
    prev: [],
    extremities: [],
    openedFrom: null,
    stateGroup: null,
    state: new Map(),
    known: new Set(),
    pushRulesVersion: 0,
    prepared: null,
    used: null,
    reused: false,
  }
}

interface PreparedReads {
  template: EventTemplate
  reads: Map<symbol, Promise<unknown>>
}

/** A kept room claimed for one send (RoomWriter.claimKept). */
export interface KeptClaim {
  room: KeptRoom
  template: EventTemplate
  /** What the room must still be when the send's transaction holds its lock. */
  expect: RoomExpectation
}

/** How an open() found the room: read from the database, or kept from the previous send. */
export type OpenOutcome = 'read' | 'reused'

export interface EventTemplate {
  type: string
  state_key?: string
  sender: string
  content: JsonObject
  redacts?: string
}

export interface AppendedEvent {
  event: RoomEvent
  /** Null for an event of a kept room (RoomWriter.open with `kept`): the transaction's reserved position, RESERVED_POSITION in SQL. */
  streamOrdering: number | null
  /** Whom the event notifies, set by the push hook (absent: nobody); handed to the notifier with the event. */
  notifications?: EventRecord
  /** The server a remote event came from (absent: an event of this server's users). */
  origin?: string
  /** A remote event this server must still send to the room's other servers (a join through its send_join). */
  relay?: boolean
  /** The state event this one replaced, when the writer had it at hand (absent: unknown or none). */
  replaced?: RoomEvent
}

/** What RoomWriter.persist writes besides the event: decided by append (a local event) or the ingest (a remote one). */
export interface PersistPlan {
  /**
   * The depth the event is ordered by in the room's timeline (/messages pages by depth), when it is not the
   * event's own: a remote event's `depth` is its sender's claim, bounded by what this server knows of the DAG.
   */
  orderDepth?: number
  /** The state group after the event. */
  stateGroup: number | null
  /** The state event this one replaced in the state before it (clients get its content as prev_content). */
  replaces: string | null
  /** Whether the room's current state group becomes `stateGroup` (default: for state events). */
  movesRoomState?: boolean
  /** Member events whose memberships take effect with this event, at its stream position. */
  members: RoomEvent[]
  txn?: AppendOptions['txn']
  /** The template a local event was built from (it finds the reads prepared for it). */
  template?: EventTemplate
  /** The server a remote event came from (absent: this server's own event). */
  origin?: string
  /** A remote event this server must send on to the room's other servers (see IngestOptions.relay). */
  relay?: boolean
}

export interface AppendOptions {
  /** The sending device's transaction ID, recorded with the event; one it used before fails the transaction. */
  txn?: { userId: string; deviceId: string; txnId: string; now: number }
}

/**
 * Auth event selection reads only the room version's restricted-join flag (for join_authorised_via_users_server);
 * the newest version has every flag, so its selection is a superset of any version's: load with it.
 */
const ANY_VERSION = roomVersion('12') as RoomVersion

/** U+0000 as JSON.stringify escapes it: a backslash that is not itself escaped, then u0000. */
const NUL_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u0000/

/**
 * buildEvent, with what a client sent that canonical JSON forbids (floats, integers beyond ±(2^53 - 1), in
 * rooms v6+) answered M_BAD_JSON, as Synapse does, instead of failing the request.
 */
function buildOrRefuse(...args: Parameters<typeof buildEvent>): ReturnType<typeof buildEvent> {
  try {
    return buildEvent(...args)
  } catch (err) {
    if (err instanceof CanonicalJsonError) throw new MatrixError('M_BAD_JSON', `Event is not canonical JSON: ${err.message}`)
    throw err
  }
}

/** At most this many prev_events per event, as Synapse does, so a wide DAG converges. */
const MAX_PREV_EVENTS = 10

/** A stored event's JSON as an event; with its stored `eventId`, the ID is not computed again (parsePdu). */
export function parseStored(json: string, version: RoomVersion, eventId?: string): RoomEvent {
  const parsed = parsePdu(JSON.parse(json), version, eventId === undefined ? undefined : { eventId })
  if (!parsed.ok) throw new Error(`stored event does not parse: ${parsed.reason}`)
  return parsed.event
}

function stateMap(rows: Array<{ type: string; state_key: string; json: string; event_id?: string }>, version: RoomVersion): Map<StateKey, RoomEvent> {
  return new Map(rows.map((r) => [stateKey(r.type, r.state_key), parseStored(r.json, version, r.event_id)]))
}

/** The columns of an event's row that come from the event itself. */
export function eventColumns(event: RoomEvent, json: string) {
  return {
    room_id: event.room_id,
    event_id: event.event_id,
    depth: event.depth,
    type: event.type,
    state_key: event.state_key ?? null,
    sender: event.sender,
    origin_server_ts: event.origin_server_ts,
    json,
  }
}

/** An event's edges in the room DAG as storage keeps them (event_edges, event_auth_edges): v12's implied create event among its auth events. */
export function eventEdges(event: RoomEvent, version: RoomVersion): { prevEvents: string[]; authEvents: string[] } {
  return { prevEvents: event.prev_events, authEvents: authEventIds(event, version) }
}

/** The state keys the auth rules read for an event: its auth events plus the create event. */
export function keysFor(template: EventTemplate, version: RoomVersion): Array<[string, string]> {
  const keys = new Set<StateKey>(authEventKeys(template, version))
  keys.add(stateKey('m.room.create', ''))
  keys.add(stateKey('m.room.power_levels', ''))
  keys.add(stateKey('m.room.join_rules', ''))
  return [...keys].map((k) => {
    const i = k.indexOf('\u0000')
    return [k.slice(0, i), k.slice(i + 1)]
  })
}

/**
 * Called inside the writing transaction after each event is persisted (e.g. push rule evaluation), with
 * the reads prepared for it (by onPrepare's key; empty when the event had none).
 */
export type AppendHook = (repos: Repositories, appended: AppendedEvent, room: RoomWriteState, prepared: ReadonlyMap<symbol, Promise<unknown>>) => Promise<void>

/** Reads an append hook wants for an event still to be built: sent with the room's load, not waited for. */
export type PrepareHook = (repos: Repositories, roomId: string, template: EventTemplate) => Promise<unknown>

/**
 * Whether what a PrepareHook read for `earlier` (`read`: what it read) serves `next` too, in the same room,
 * while the room's history and the push rules are unchanged (what a kept room's check proves).
 */
export type PreparedReuse = (earlier: EventTemplate, next: EventTemplate, read: unknown) => boolean

const NOTHING_PREPARED: ReadonlyMap<symbol, Promise<unknown>> = new Map()

export class RoomWriter {
  private readonly serverName: string
  private readonly clock: Clock
  private readonly signingKey: () => SigningKey
  private readonly hooks: AppendHook[] = []
  private readonly preparers = new Map<symbol, { read: PrepareHook; reuse: PreparedReuse }>()
  private searchText: ((event: RoomEvent) => string | null) | null = null
  /** What this instance kept of the rooms it sent to (claimKept, then open with `kept`). */
  private readonly kept = new KeptRooms()
  private readonly observe: (outcome: OpenOutcome) => void

  constructor(serverName: string, clock: Clock, signingKey: () => SigningKey, observe: (outcome: OpenOutcome) => void = () => {}) {
    this.serverName = serverName
    this.clock = clock
    this.signingKey = signingKey
    this.observe = observe
  }

  onAppend(hook: AppendHook): void {
    this.hooks.push(hook)
  }

  /**
   * Registers reads an append hook needs, sent in the same round trip as the room's load when a transaction
   * opens the room for one event that is not a state event: nothing appended before it in the transaction
   * could change what they read. The hook finds their promise under the returned key (absent otherwise).
   */
  onPrepare(hook: PrepareHook, reuse: PreparedReuse): symbol {
    const key = Symbol('prepared')
    this.preparers.set(key, { read: hook, reuse })
    return key
  }

  /** What full-text search indexes of an event (null: nothing), written with the event itself. */
  indexWith(searchText: (event: RoomEvent) => string | null): void {
    this.searchText = searchText
  }

  /**
   * What this instance kept of the room after its last send there (remember()), when it serves appending
   * `template` alone (not a state event): the send can be built on it (open with `kept`), reading nothing.
   * Nothing of it is trusted: `expect` is what the room must still be, checked under the room's lock (best in
   * the transaction's BEGIN: Storage.streamTransaction's expectRoom), and the transaction fails with
   * ROOM_WRITE_STATE_CHANGED otherwise.
   */
  claimKept(roomId: string, template: EventTemplate): KeptClaim | null {
    if (template.state_key !== undefined) return null
    const room = this.kept.take(roomId, (kept) => this.covers(kept, template))
    return room && { room, template, expect: { roomId, extremities: [room.prev.event_id], pushRulesVersion: room.pushRulesVersion } }
  }

  /**
   * Locks the room and loads what appending `templates` needs. M_NOT_FOUND for rooms this server does not have.
   * With `kept` (claimKept for the lone template), the room is what this instance kept of it and nothing is
   * read; the check of it is sent unless the transaction's BEGIN made it. What such a transaction decides on
   * that state (a refusal too) only stands once it has committed: the caller tries a failed one again
   * without `kept` (Rooms.send).
   */
  async open(repos: Repositories, roomId: string, templates: EventTemplate[], options: { kept?: KeptClaim | null } = {}): Promise<RoomWriteState> {
    const lone = templates.length === 1 && templates[0]?.state_key === undefined ? (templates[0] as EventTemplate) : null
    const claim = options.kept
    if (claim && lone === claim.template && claim.expect.roomId === roomId) {
      const kept = claim.room
      this.observe('reused')
      void repos.rooms.expectWriteState(claim.expect)
      const reads = new Map<symbol, Promise<unknown>>()
      for (const [key, { value }] of kept.prepared) reads.set(key, Promise.resolve(value))
      return {
        roomId,
        version: kept.version,
        prev: [kept.prev],
        prevOrderDepth: kept.prevOrderDepth,
        extremities: [kept.prev.event_id],
        openedFrom: kept.prev.event_id,
        stateGroup: kept.stateGroup,
        state: new Map(kept.state),
        known: kept.known,
        pushRulesVersion: kept.pushRulesVersion,
        prepared: { template: lone, reads },
        used: null,
        reused: true,
      }
    }
    this.observe('read')
    // The keys depend on the room version only through flags that do not change these kinds of key,
    // so they can be listed before the room (and its version) is read.
    const keys = new Map<string, [string, string]>()
    for (const t of templates) for (const k of keysFor(t, ANY_VERSION)) keys.set(k.join('\u0000'), k)
    const loading = repos.rooms.lockForWrite(roomId, [...keys.values()], MAX_PREV_EVENTS)
    let prepared: RoomWriteState['prepared'] = null
    if (lone && this.preparers.size > 0) {
      prepared = { template: lone, reads: new Map() }
      for (const [key, hook] of this.preparers) {
        const read = hook.read(repos, roomId, lone)
        read.catch(() => {}) // waited for by the append hook; a transaction that fails before leaves it unread
        prepared.reads.set(key, read)
      }
    }
    const loaded = await loading
    if (!loaded) throw notFound('Unknown room')
    const version = roomVersion(loaded.room.room_version)
    if (!version) throw new MatrixError('M_UNSUPPORTED_ROOM_VERSION', `Room version ${loaded.room.room_version} is not supported`, 500)
    return {
      roomId,
      version,
      prev: loaded.extremities.slice(0, MAX_PREV_EVENTS).map((x) => parseStored(x.json as string, version, x.event_id)),
      // The new event's place here follows the depth each is ordered by, not a remote sender's claim.
      prevOrderDepth: loaded.extremities.reduce((max, x) => Math.max(max, x.depth), 0),
      extremities: loaded.extremities.map((x) => x.event_id),
      openedFrom: loaded.extremities.length === 1 ? (loaded.extremities[0] as { event_id: string }).event_id : null,
      stateGroup: loaded.room.state_group,
      state: stateMap(loaded.state, version),
      known: new Set(keys.keys()),
      pushRulesVersion: loaded.pushRulesVersion,
      prepared,
      used: null,
      reused: false,
    }
  }

  /** Whether what was kept of a room covers appending `template`: its auth state was read, and every prepare hook's reads serve it. */
  private covers(kept: KeptRoom, template: EventTemplate): boolean {
    for (const [type, key] of keysFor(template, ANY_VERSION)) if (!kept.known.has(stateKey(type, key))) return false
    for (const [key, { reuse }] of this.preparers) {
      const earlier = kept.prepared.get(key)
      if (!earlier || !reuse(earlier.template, template, earlier.value)) return false
    }
    return true
  }

  /** Keeps what a committed transaction knew of its room for the next send there (KeptRooms.remember). */
  remember(room: RoomWriteState): Promise<void> {
    return this.kept.remember(room, this.preparers.size)
  }

  /** Drops what this instance kept of a room. */
  forget(roomId: string): void {
    this.kept.forget(roomId)
  }

  /** Builds, signs, authorizes and persists one event; M_FORBIDDEN when the auth rules refuse it. */
  /**
   * An event built on the room as opened (its extremities, state and depth), hashed, signed and allowed by
   * the auth rules against the room's state, but not stored: an invite that the invitee's server must sign
   * before it is appended (through the ingest, as the co-signed event it then is).
   */
  buildChecked(room: RoomWriteState, template: EventTemplate): RoomEvent {
    const { event } = this.buildAt(room, template, this.clock.now())
    const verdict = checkEventAuth(event, room.state, room.version)
    if (!verdict.allowed) throw new MatrixError('M_FORBIDDEN', verdict.reason)
    return event
  }

  /** Builds `template` on the room at `ts` (see append), refusing what cannot be stored or breaks a size limit. */
  private buildAt(room: RoomWriteState, template: EventTemplate, ts: number): { pdu: RoomEvent['pdu']; event: RoomEvent; json: string } {
    const { version } = room
    const authKeys = template.type === 'm.room.create' ? [] : authEventKeys(template, version)
    const authEvents = authKeys.map((k) => room.state.get(k)).filter((e): e is RoomEvent => e !== undefined)
    // The depth every server reads: the prev events' highest, plus one (where it sorts here: prevOrderDepth).
    const depth = Math.min(room.prev.reduce((max, e) => Math.max(max, e.depth), 0) + 1, Number.MAX_SAFE_INTEGER)
    const ref = (e: RoomEvent) => ({ event_id: e.event_id, referenceHash: version.eventFormat === 1 ? referenceHash(e.pdu, version) : undefined })
    const built = buildOrRefuse(
      {
        type: template.type,
        ...(template.state_key !== undefined ? { state_key: template.state_key } : {}),
        sender: template.sender,
        content: template.content,
        ...(template.type === 'm.room.create' && version.roomIdFromCreateEvent ? {} : { room_id: room.roomId }),
        origin_server_ts: ts,
        depth,
        ...(template.redacts !== undefined ? { redacts: template.redacts } : {}),
      },
      {
        version,
        serverName: this.serverName,
        signingKey: this.signingKey(),
        prevEventRefs: room.prev.map(ref),
        authEventRefs: authEvents.map(ref),
      },
    )
    const json = JSON.stringify(built.pdu)
    // PostgreSQL cannot read a JSON string holding U+0000 (its JSON operators refuse the whole document),
    // and every query over event content would fail for such an event: refuse it up front.
    if (NUL_ESCAPE.test(json)) throw new MatrixError('M_BAD_JSON', 'Event content may not contain the NUL character (U+0000)')
    const limit = builtEventLimitError(built.event, json, version)
    // Over a size limit: 413 M_TOO_LARGE, as Synapse answers; otherwise the content is not valid JSON for an event.
    if (limit !== null) throw limit.tooLarge ? new MatrixError('M_TOO_LARGE', `Event is too large: ${limit.reason}`, 413) : new MatrixError('M_BAD_JSON', `Event is not valid: ${limit.reason}`)
    return { pdu: built.pdu, event: built.event, json }
  }

  async append(repos: Repositories, room: RoomWriteState, template: EventTemplate, options: AppendOptions = {}): Promise<AppendedEvent> {
    const { version } = room
    // An existing room's create event is its first; a second one cannot even be built in v12 (its room ID
    // would be its own hash). The auth rules refuse it anyway ("m.room.create has prev_events"), as Synapse.
    if (template.type === 'm.room.create' && room.prev.length > 0) throw new MatrixError('M_FORBIDDEN', 'm.room.create has prev_events')
    const build = (ts: number) => this.buildAt(room, template, ts)
    let ts = this.clock.now()
    let built = build(ts)
    if (template.type === 'm.room.create') {
      // In room version 12 the room ID is the create event's hash: two identical requests in the same
      // millisecond would build the same room. The next millisecond gives a different one.
      for (let attempt = 0; ; attempt++) {
        const e = built.event
        if (await repos.rooms.insert({ room_id: e.room_id, room_version: version.id, creator: e.sender, created_ts: e.origin_server_ts })) break
        if (!version.roomIdFromCreateEvent || attempt >= 100) throw new MatrixError('M_UNKNOWN', 'Could not allocate a room ID, try again', 503)
        built = build(++ts)
      }
    }
    const event = built.event
    if (room.roomId === '') room.roomId = event.room_id

    const verdict = checkEventAuth(event, room.state, version)
    if (!verdict.allowed) throw new MatrixError('M_FORBIDDEN', verdict.reason)

    let stateGroup = room.stateGroup
    let replaces: string | null = null
    if (event.state_key !== undefined) {
      stateGroup = await repos.state.createGroup(event.room_id, room.stateGroup, [
        { type: event.type, state_key: event.state_key, event_id: event.event_id },
      ])
      replaces = await repos.state.setCurrent(event.room_id, event.type, event.state_key, event.event_id, event.type === 'm.room.member' ? String(event.content.membership) : null)
    }
    return this.persist(repos, room, event, built.json, {
      orderDepth: room.prevOrderDepth === undefined ? event.depth : room.prevOrderDepth + 1,
      stateGroup,
      replaces,
      members: event.type === 'm.room.member' && event.state_key !== undefined ? [event] : [],
      template,
      ...(options.txn ? { txn: options.txn } : {}),
    })
  }

  /** The event's relation (m.relates_to) as the events table keeps it. */
  relationColumns(event: RoomEvent): { relates_to: string | null; rel_type: string | null } {
    const relation = event.content['m.relates_to'] as { event_id?: unknown; rel_type?: unknown } | undefined
    return {
      relates_to: typeof relation?.event_id === 'string' ? relation.event_id : null,
      rel_type: typeof relation?.rel_type === 'string' ? relation.rel_type : null,
    }
  }

  /** What full-text search indexes of the event (null: nothing). */
  searchTextOf(event: RoomEvent): string | null {
    return this.searchText?.(event) ?? null
  }

  /**
   * Persists an event that joins the room's timeline, local or remote (the one place both go through): its
   * stream position, row, edges and search row in one statement, the memberships its commit changes, then the
   * append hooks and the notifier's record. The state it brings was decided by the caller (plan): append for
   * a local event, the ingest of remote ones (src/rooms/ingest.ts), which also resolves forks.
   */
  async persist(repos: Repositories, room: RoomWriteState, event: RoomEvent, json: string, plan: PersistPlan): Promise<AppendedEvent> {
    const isMember = event.type === 'm.room.member' && event.state_key !== undefined
    const { stateGroup, replaces } = plan
    // The stream position, the event, the new extremities, the sender's transaction ID and the search row in one
    // statement. Its position is the transaction's reserved one (its first event), then the append is not
    // waited for; a kept room's event does not even wait for the BEGIN that reserved it.
    const relation = this.relationColumns(event)
    const relatesTo = relation.relates_to
    const depth = plan.orderDepth ?? event.depth
    const position = await repos.events.append(
      {
        ...eventColumns(event, json),
        ...relation,
        depth,
        state_group: stateGroup,
        replaces_state: replaces,
      },
      {
        position: room.reused && event.state_key === undefined ? (repos.stream.takeReservedInSql() ? 'reserved' : null) : await repos.stream.takeReserved(),
        memberTarget: isMember ? (event.state_key as string) : null,
        replacedExtremities: event.prev_events,
        txn: plan.txn ?? null,
        searchText: this.searchTextOf(event),
        ...(plan.movesRoomState !== undefined ? { movesRoomState: plan.movesRoomState } : {}),
        edges: eventEdges(event, room.version),
      },
    )
    repos.stream.tookPosition = true
    if (plan.members.length > 0) {
      if (position === null) throw new Error('a member event needs its stream position')
      await repos.memberships.setMany(
        plan.members.map((m) => ({
          room_id: event.room_id,
          user_id: m.state_key as string,
          membership: String(m.content.membership),
          event_id: m.event_id,
          stream_ordering: position,
          sender: m.sender,
        })),
      )
    }

    const replacedIds = new Set(event.prev_events)
    room.extremities = [...room.extremities.filter((id) => !replacedIds.has(id)), event.event_id]
    room.prev = [event]
    room.prevOrderDepth = depth
    room.stateGroup = stateGroup
    const key = event.state_key !== undefined ? stateKey(event.type, event.state_key) : null
    const before = key !== null ? room.state.get(key) : undefined
    if (key !== null) room.state.set(key, event)
    const appended: AppendedEvent = {
      event,
      streamOrdering: position,
      ...(plan.origin !== undefined ? { origin: plan.origin } : {}),
      ...(plan.relay ? { relay: true } : {}),
      ...(before !== undefined && before.event_id === replaces ? { replaced: before } : {}),
    }
    const used = room.prepared?.template === plan.template ? room.prepared : null
    const prepared = used ? used.reads : NOTHING_PREPARED
    room.used = used
    room.prepared = null
    for (const hook of this.hooks) await hook(repos, appended, room, prepared)
    repos.stream.appended.push({
      row: {
        room_id: event.room_id,
        event_id: event.event_id,
        stream_ordering: position ?? 0,
        depth,
        type: event.type,
        state_key: event.state_key ?? null,
        sender: event.sender,
        json,
        replaces_state: replaces,
        redacted_by: null,
        has_children: false,
      },
      relatesTo,
      txn: plan.txn ? { userId: plan.txn.userId, deviceId: plan.txn.deviceId, txnId: plan.txn.txnId } : null,
      notifications: appended.notifications ?? null,
    })
    return appended
  }
}
