// GET /_matrix/client/v3/sync (client-server API, "Syncing"): initial and incremental sync with long-poll.
// A response covers the stream range (since, upTo], where upTo is a position every lower write has
// committed below (the notifier's fence), so no event is ever skipped or delivered twice.
import type { JsonObject } from '../protocol/events/types.ts'
import type { Clock } from '../shared/clock.ts'
import { MatrixError } from '../shared/errors.ts'
import { formatSyncToken, parseSyncTokenOrThrow, type SyncToken } from '../shared/sync-token.ts'
import type { MembershipRow, SharingChanges, Storage } from '../storage/index.ts'
import { ignoredUsers, invitesBlocked } from '../directory/index.ts'
import type { Requester } from '../users/index.ts'
import { DEFAULT_FILTER_LIMITS, checkFilterIds, parseFilter, typeAllowed, validateFilter, type FilterDefinition, type FilterLimits } from './filter.ts'
import type { StreamNotifier } from './notifier.ts'
import { LocalDelivery, type KeyCounts, type LocalObserver, type LocalTimeline, type UnreadCountsAt } from './local.ts'
import { SYNCED_MEMBERSHIPS, syncRooms, type RoomsSync, type UnreadCounts } from './rooms.ts'
import { EventStream } from './events-stream.ts'
import { InitialSnapshot } from './initial-sync.ts'
import { SentMembersCache } from './lazy-members.ts'

/** What other modules contribute to /sync: ephemeral events and notification counts. */
export interface SyncSources {
  /** Typing and receipts for the user's joined rooms in (since, upTo], by room. */
  ephemeral(requester: Requester, rooms: string[], since: number | null, upTo: number): Promise<Map<string, JsonObject[]>>
  /** Up to `upTo`, a position below which every write has committed (see Push.unreadCounts). */
  unreadCounts(userId: string, roomIds: string[], upTo: number): Promise<UnreadCountsAt>
  /** Presence of users sharing a room with the requester, changed in (since, upTo]. */
  presence?(requester: Requester, since: number | null, upTo: number, filter: FilterDefinition['presence']): Promise<JsonObject[]>
  /** Presence of a room's members changed in (since, upTo]: for a peek into a room (GET /events?room_id=). */
  roomPresence?(roomId: string, since: number, upTo: number): Promise<JsonObject[]>
  /** The user's push rules ({global: …}), sent on an initial sync when no m.push_rules account data exists yet. */
  pushRules?(userId: string): Promise<JsonObject>
  /** End-to-end encryption: to-device messages, device list changes and key counts for the device. */
  e2ee?: E2eeSyncSource
}

export interface E2eeSyncSource {
  toDevice(requester: Requester, since: SyncToken | null, upTo: number, changed: boolean): Promise<{ events: object[]; lastPosition: number | undefined }>
  deviceLists(userId: string, since: number, upTo: number, keysChanged: boolean): Promise<SharingChanges>
  keyCounts(userId: string, deviceId: string): Promise<KeyCounts>
}

/** Sources with nothing to contribute (until typing, receipts and push rules are wired in). */
export const NO_SOURCES: SyncSources = {
  ephemeral: async () => new Map(),
  unreadCounts: async () => ({ counts: new Map(), exact: new Map() }),
}

export interface SyncRequest {
  since?: string | undefined
  timeoutMs: number
  fullState: boolean
  useStateAfter: boolean
  /** A filter ID or inline JSON. */
  filter?: string | undefined
  /** The most timeline events per room: a filter asking for more gets this many (and a limited timeline). */
  timelineLimit?: number | undefined
}

export interface SyncResponse {
  next_batch: string
  rooms: RoomsSync
  account_data: { events: JsonObject[] }
  presence: { events: JsonObject[] }
  to_device: { events: object[] }
  device_lists: SharingChanges
  device_one_time_keys_count: Record<string, number>
  device_unused_fallback_key_types: string[]
}

/** A user's memberships and ignored users, as read when the stream was at `position`. */
interface ViewerState {
  position: number
  memberships: MembershipRow[]
  ignored: Set<string>
  /** m.invite_permission_config blocks every invite: none is shown. */
  invitesBlocked: boolean
}

/**
 * How many membership rows of ViewerStates an instance keeps in all (the most recently syncing users first):
 * a user in 1,000 rooms weighs 1,000; 200,000 rows are some tens of MB.
 */
const VIEWER_STATE_ROWS = 200_000

const NO_DEVICE_LISTS: SharingChanges = { changed: [], left: [] }

/** Beyond this many positions, checking which kinds changed costs more than it saves. */
export const MAX_KIND_CHECK_RANGE = 10_000


function isEmpty(r: SyncResponse): boolean {
  const { join, invite, knock, leave } = r.rooms
  return (
    Object.keys(join).length === 0 &&
    Object.keys(invite).length === 0 &&
    Object.keys(knock).length === 0 &&
    Object.keys(leave).length === 0 &&
    r.account_data.events.length === 0 &&
    r.presence.events.length === 0 &&
    r.to_device.events.length === 0 &&
    r.device_lists.changed.length === 0 &&
    r.device_lists.left.length === 0
  )
}

/** Validated stored filters an instance keeps (each is at most filters.max_bytes). */
const STORED_FILTERS_KEPT = 10_000

export class SyncService {
  private readonly storage: Storage
  private readonly notifier: StreamNotifier
  private readonly clock: Clock
  readonly sources: SyncSources
  private draining = false
  private readonly closeWaiters = new Set<() => void>()
  private readonly viewerStates = new Map<string, ViewerState>()
  private viewerStateRows = 0
  private readonly local: LocalDelivery
  private readonly filterLimits: FilterLimits
  private readonly storedFilters = new Map<string, FilterDefinition>()
  /** Member events sent to each device under lazy loading, left out of its later syncs. */
  private readonly sentMembers = new SentMembersCache()
  /** GET /events, the legacy event stream, on the same stream, notifier and long-poll. */
  readonly eventStream: EventStream
  /** GET /initialSync, the legacy snapshot of all the user's rooms, ending where /events and /sync continue. */
  readonly initialSnapshot: InitialSnapshot

  constructor(storage: Storage, notifier: StreamNotifier, clock: Clock, sources: SyncSources = NO_SOURCES, observe?: LocalObserver, filterLimits = DEFAULT_FILTER_LIMITS) {
    this.storage = storage
    this.filterLimits = filterLimits
    this.notifier = notifier
    this.clock = clock
    this.sources = sources
    this.local = new LocalDelivery(notifier, observe)
    this.eventStream = new EventStream(storage, notifier, clock, sources, this)
    this.initialSnapshot = new InitialSnapshot(storage, notifier, clock, sources)
  }

  /** Whether the server is draining: long-polls answer at once. */
  get closing(): boolean {
    return this.draining
  }

  /** Answers every waiting long-poll now (graceful shutdown). */
  drain(): void {
    this.draining = true
    for (const wake of this.closeWaiters) wake()
  }

  async createFilter(requester: Requester, userId: string, body: unknown): Promise<string> {
    if (userId !== requester.userId) throw new MatrixError('M_FORBIDDEN', 'Cannot create filters for other users')
    const filter = validateFilter(body, this.filterLimits)
    checkFilterIds(filter)
    return this.storage.repos.filters.insert(userId, filter as JsonObject)
  }

  async getFilter(requester: Requester, userId: string, filterId: string): Promise<JsonObject> {
    if (userId !== requester.userId) throw new MatrixError('M_FORBIDDEN', "Cannot read other users' filters")
    const filter = await this.storage.repos.filters.get(userId, filterId)
    if (!filter) throw new MatrixError('M_NOT_FOUND', 'Unknown filter')
    return filter
  }

  async resolveFilter(userId: string, filter: string | undefined): Promise<FilterDefinition> {
    if (filter === undefined || filter === '') return {}
    if (filter.trimStart().startsWith('{')) return parseFilter(filter, this.filterLimits)
    // A stored filter never changes: validated once per instance, not on every long-poll.
    const key = `${userId}\n${filter}`
    const known = this.storedFilters.get(key)
    if (known) return known
    const stored = await this.storage.repos.filters.get(userId, filter)
    if (!stored) throw new MatrixError('M_INVALID_PARAM', `Unknown filter ${filter}`)
    // A filter stored before the limits (or under larger ones) is held to them too.
    const valid = validateFilter(stored, this.filterLimits)
    if (this.storedFilters.size >= STORED_FILTERS_KEPT) this.storedFilters.delete(this.storedFilters.keys().next().value as string)
    this.storedFilters.set(key, valid)
    return valid
  }

  async sync(requester: Requester, request: SyncRequest): Promise<SyncResponse> {
    const filter = capTimeline(await this.resolveFilter(requester.userId, request.filter), request.timelineLimit)
    let since = request.since !== undefined ? parseSyncTokenOrThrow(request.since) : null
    // A sync that will not wait reads the fence first, so it includes every write that completed before it
    // was made (a client that sends and then syncs sees its own event); long-polls need not, as a write the
    // notifier has not reached yet wakes them. A token from an instance that is ahead of this one: catch up.
    if (since === null || request.timeoutMs <= 0 || since.position > this.notifier.current) {
      await this.notifier.refresh()
      if (since !== null && since.position > this.notifier.current) since = { ...since, position: this.notifier.current }
    }
    const deadline = this.clock.now() + Math.max(0, request.timeoutMs)
    for (;;) {
      // Watch before reading, so a change landing while we build the response still wakes us. The rooms
      // are filled in once read (below); a change to them that came before is checked for before waiting.
      const interest = { userId: requester.userId, rooms: new Set<string>() }
      const watch = this.notifier.watch(interest)
      const upTo = Math.max(this.notifier.current, since?.position ?? 0)
      let response: SyncResponse
      try {
        const viewerState = await this.viewerState(requester.userId, since === null ? null : upTo)
        for (const m of viewerState.memberships) if (m.membership === 'join') interest.rooms.add(m.room_id)
        response = await this.build(requester, since, upTo, filter, request, viewerState)
      } catch (err) {
        watch.cancel()
        throw err
      }
      const remaining = deadline - this.clock.now()
      if (since === null || request.fullState || !isEmpty(response) || remaining <= 0 || this.draining) {
        watch.cancel()
        return response
      }
      if (this.notifier.concerns(interest, upTo)) {
        // Something for this user came past upTo before its rooms were known to the watch: answer it now.
        watch.cancel()
        since = { position: upTo }
        continue
      }
      await this.wait(watch.promise, remaining)
      watch.cancel()
      // This empty round consumed every to-device message up to upTo: the next one starts there.
      since = { position: upTo }
    }
  }

  /**
   * The user's unread counts in these rooms up to `upTo`: kept from an earlier read plus what this instance
   * committed since, when it knows (local delivery), else read (and kept for the next request).
   */
  async unreadCounts(userId: string, roomIds: string[], upTo: number, ignored: ReadonlySet<string>): Promise<Map<string, UnreadCounts>> {
    if (roomIds.length === 0) return new Map()
    const kept = this.local.unreadCounts(userId, roomIds, upTo, ignored)
    this.local.observe('unread', kept ? 'local' : 'read')
    if (kept) return kept
    const { counts, exact } = await this.sources.unreadCounts(userId, roomIds, upTo)
    for (const [roomId, threads] of exact) this.local.rememberUnread(userId, roomId, upTo, threads)
    return counts
  }

  /** The events of these rooms in (since, upTo], when this instance committed all of them (local delivery). */
  localTimeline(since: number, upTo: number, rooms: ReadonlySet<string>): LocalTimeline | undefined {
    const seen = this.notifier.changesBetween(since, upTo)
    return seen ? (this.local.timeline(seen, rooms) ?? undefined) : undefined
  }

  /** Waits for a change (a notifier watch), `ms`, or the server's drain, whichever comes first. */
  async wait(change: Promise<void>, ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    let wakeOnClose: (() => void) | undefined
    await Promise.race([
      change,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms)
      }),
      new Promise<void>((resolve) => {
        wakeOnClose = resolve
        this.closeWaiters.add(resolve)
      }),
    ])
    clearTimeout(timer)
    if (wakeOnClose) this.closeWaiters.delete(wakeOnClose)
  }

  /**
   * The user's memberships and ignored users. An incremental sync (upTo given) reuses what an earlier one
   * read at a position the stream shows no membership or account-data change of the user since: a woken
   * long-poll then goes straight to the timeline.
   */
  private async viewerState(userId: string, upTo: number | null): Promise<ViewerState> {
    if (upTo !== null) {
      const cached = this.viewerStates.get(userId)
      if (cached && cached.position <= upTo) {
        const changes = this.notifier.changesBetween(cached.position, upTo)
        if (changes && !changes.some((c) => c.user_id === userId && (c.kind === 'member' || c.kind === 'account_data'))) {
          // Still what it was at upTo: the next check scans only what comes after (not every change since the read).
          cached.position = upTo
          return cached
        }
      }
    }
    const [memberships, ignored, blocked] = await Promise.all([
      this.storage.repos.memberships.roomsOf(userId, SYNCED_MEMBERSHIPS),
      ignoredUsers(this.storage.repos, userId),
      invitesBlocked(this.storage.repos, userId),
    ])
    const state = { position: upTo ?? 0, memberships, ignored, invitesBlocked: blocked }
    if (upTo !== null) {
      const previous = this.viewerStates.get(userId)
      if (previous) this.viewerStateRows -= previous.memberships.length
      this.viewerStates.delete(userId)
      this.viewerStates.set(userId, state)
      this.viewerStateRows += memberships.length
      for (const [oldest, old] of this.viewerStates) {
        if (this.viewerStateRows <= VIEWER_STATE_ROWS) break
        this.viewerStates.delete(oldest)
        this.viewerStateRows -= old.memberships.length
      }
    }
    return state
  }

  /** The device's key counts: kept from an earlier /sync while nothing changed the user's keys (local delivery), else read. */
  private async keyCounts(e2ee: E2eeSyncSource, requester: Requester, upTo: number): Promise<KeyCounts> {
    const kept = this.local.deviceKeyCounts(requester.userId, requester.deviceId, upTo)
    this.local.observe('keys', kept ? 'local' : 'read')
    if (kept) return kept
    const counts = await e2ee.keyCounts(requester.userId, requester.deviceId)
    // Read after every position up to upTo had committed: a later change takes a later position.
    this.local.rememberKeyCounts(requester.userId, requester.deviceId, upTo, counts)
    return counts
  }

  private async build(
    requester: Requester,
    sinceToken: SyncToken | null,
    upTo: number,
    filter: FilterDefinition,
    request: SyncRequest,
    viewerState: ViewerState,
  ): Promise<SyncResponse> {
    const repos = this.storage.repos
    const since = sinceToken?.position ?? null
    // On an incremental sync, the stream log says which kinds of change happened at all: the queries for
    // kinds that did not are skipped (most long-poll wake-ups carry one new message and nothing else). The
    // notifier has usually seen the range already, while long-polls waited.
    let kinds: Set<string> | null = null
    // Which rooms have new events, when the notifier knows (else syncRooms asks the database).
    let eventRooms: Set<string> | undefined
    const seen = since === null ? null : this.notifier.changesBetween(since, upTo)
    // The new events themselves, when this instance committed all of them (local delivery).
    const joinedSet = new Set(viewerState.memberships.filter((m) => m.membership === 'join').map((m) => m.room_id))
    const localTimeline = seen ? (this.local.timeline(seen, joinedSet) ?? undefined) : undefined
    if (seen) {
      kinds = new Set(seen.map((c) => c.kind))
      eventRooms = new Set(seen.filter((c) => (c.kind === 'event' || c.kind === 'member') && c.room_id !== null).map((c) => c.room_id as string))
    }
    if (since !== null && kinds === null && upTo - since <= MAX_KIND_CHECK_RANGE) {
      const inRange = await repos.stream.kindsInRange(since, upTo)
      if (inRange.complete) kinds = inRange.kinds
    }
    const changed = (kind: string) => kinds === null || kinds.has(kind)
    // The sections below read independent things: their queries all start now, side by side on pool connections.
    const joinedRooms = [...joinedSet]
    const accountDataPart = changed('account_data') ? repos.accountData.changed(requester.userId, since ?? 0, upTo) : Promise.resolve([])
    // An initial sync sends the push rules when no m.push_rules account data exists yet (known once read).
    const pushRulesPart = since === null && this.sources.pushRules && typeAllowed('m.push_rules', filter.account_data) ? this.sources.pushRules(requester.userId) : null
    const ephemeralPart =
      changed('typing') || changed('receipt') ? this.sources.ephemeral(requester, joinedRooms, since, upTo) : Promise.resolve(new Map<string, JsonObject[]>())
    // A membership change in one of the user's rooms can make new room-mates, whose presence is sent even
    // when it did not change in range.
    const memberChange = seen ? seen.some((c) => c.kind === 'member' && c.room_id !== null && joinedSet.has(c.room_id)) : changed('member')
    const presencePart = this.sources.presence && (changed('presence') || memberChange) ? this.sources.presence(requester, since, upTo, filter.presence) : Promise.resolve([])
    // The E2EE sections are independent of the rooms too.
    const e2ee = this.sources.e2ee
    type E2eeParts = [Awaited<ReturnType<E2eeSyncSource['toDevice']>>, SharingChanges, Awaited<ReturnType<E2eeSyncSource['keyCounts']>>]
    const e2eePart: Promise<E2eeParts> = e2ee
      ? Promise.all([
          e2ee.toDevice(requester, sinceToken, upTo, changed('to_device')),
          // Device lists change with keys and with memberships, not with ordinary messages.
          since === null || (!changed('device_list') && !changed('member')) ? NO_DEVICE_LISTS : e2ee.deviceLists(requester.userId, since, upTo, changed('device_list')),
          this.keyCounts(e2ee, requester, upTo),
        ])
      : Promise.resolve([{ events: [], lastPosition: undefined }, NO_DEVICE_LISTS, { device_one_time_keys_count: {}, device_unused_fallback_key_types: [] }])
    // A failure in one part must not leave the others' rejections unobserved.
    for (const part of [accountDataPart, pushRulesPart, ephemeralPart, presencePart, e2eePart]) part?.catch(() => {})

    const [accountData, ephemeral] = await Promise.all([accountDataPart, ephemeralPart])
    const global: JsonObject[] = []
    const perRoom = new Map<string, JsonObject[]>()
    for (const a of accountData) {
      const event = { type: a.type, content: a.content }
      if (a.room_id === '') {
        if (typeAllowed(a.type, filter.account_data)) global.push(event)
      } else perRoom.set(a.room_id, [...(perRoom.get(a.room_id) ?? []), event])
    }
    if (pushRulesPart && !global.some((e) => e.type === 'm.push_rules')) global.push({ type: 'm.push_rules', content: { global: await pushRulesPart } })
    const rooms = await syncRooms({
      repos,
      viewer: { userId: requester.userId, deviceId: requester.deviceId },
      since,
      upTo,
      fullState: request.fullState,
      useStateAfter: request.useStateAfter,
      filter,
      now: this.clock.now(),
      roomAccountData: perRoom,
      memberships: viewerState.memberships,
      ...(filter.room?.state?.lazy_load_members === true ? { sentMembers: this.sentMembers.forRequest(requester.userId, requester.deviceId, since, upTo) } : {}),
      ignored: viewerState.ignored,
      invitesBlocked: viewerState.invitesBlocked,
      eventsChanged: changed('event') || changed('member'),
      ...(eventRooms ? { roomsWithEvents: eventRooms } : {}),
      ...(localTimeline ? { localTimeline } : {}),
      observeTimeline: (outcome) => this.local.observe('timeline', outcome),
      ephemeral,
      unreadCounts: (roomIds) => this.unreadCounts(requester.userId, roomIds, upTo, viewerState.ignored),
    })
    const [[toDevice, deviceLists, keyCounts], presence] = await Promise.all([e2eePart, presencePart])
    return {
      next_batch: formatSyncToken({ position: upTo, ...(toDevice.lastPosition !== undefined ? { toDevice: toDevice.lastPosition } : {}) }),
      rooms,
      account_data: { events: global },
      presence: { events: presence },
      to_device: { events: toDevice.events },
      device_lists: deviceLists,
      ...keyCounts,
    }
  }
}

/** The filter with its room timeline limit lowered to `max` (a stored filter keeps what it asked for). */
function capTimeline(filter: FilterDefinition, max: number | undefined): FilterDefinition {
  const timeline = filter.room?.timeline
  if (max === undefined || timeline?.limit === undefined || timeline.limit <= max) return filter
  return { ...filter, room: { ...filter.room, timeline: { ...timeline, limit: max } } }
}
