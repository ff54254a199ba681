// Simplified sliding sync (MSC4186; POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync), on the
// same stream, notifier and room reads as /sync. A response covers the stream up to `upTo` (the notifier's
// fence), as /sync's do. Per room it sends, once, the room whole (`initial`: name, avatar, heroes, counts,
// required_state, the latest timeline_limit events) and later only what changed since what it sent; the
// rooms built by syncRooms (sync/rooms.ts), so visibility, ignored users, lazy members and unread counts work
// as in /sync. What a connection has sent is kept in PostgreSQL (migration 0052) per position, so any
// instance serves the next request; an instance keeps the last position's room statuses in memory as a
// cache only.
import type { JsonObject } from '../../protocol/events/types.ts'
import type { ClientEvent } from '../../rooms/client-events.ts'
import type { Clock } from '../../shared/clock.ts'
import { MatrixError } from '../../shared/errors.ts'
import { ignoredUsers, invitesBlocked, withoutIgnoredInvites } from '../../directory/index.ts'
import type { BumpedMembership, SlidingRoomStatus, SlidingSummary, Storage } from '../../storage/index.ts'
import type { Requester } from '../../users/index.ts'
import type { FilterDefinition } from '../filter.ts'
import type { SentMembers } from '../lazy-members.ts'
import type { StreamNotifier } from '../notifier.ts'
import { SYNCED_MEMBERSHIPS, syncRooms, type RoomsSync, type UnreadCounts } from '../rooms.ts'
import type { SyncService } from '../sync.ts'
import { buildExtensions, parseExtensions, type ExtensionsRequest } from './extensions.ts'
import { directRooms, filterData, filtersReadSummaries, inRanges, orderRooms, passes, type ListedRoom, type RoomFacts } from './lists.ts'
import { MAX_LISTS, MAX_SUBSCRIPTIONS, combineConfigs, configCovers, invalid, patternMatches, type ListFilters, type RoomConfig, type SlidingRequest } from './request.ts'

/** A connection unused this long expires: its pos answers M_UNKNOWN_POS. */
export const CONNECTION_LIFETIME_MS = 7 * 86_400_000
/** Connections one device keeps (the least recently used beyond go). */
const CONNECTIONS_PER_DEVICE = 10
/** Member events remembered per room and connection as sent under lazy loading. */
const LAZY_MEMBERS_KEPT = 1000
/** Room statuses an instance keeps in memory in all, the least recently used connections' first to go (a cache; PostgreSQL has them all). */
const STATUSES_CACHED = 200_000
const NO_STATE: RoomConfig['requiredState'] = { include: [], exclude: [], lazy: false }
const HEROES_SHOWN = 5

/** The most a connection's sticky settings (lists, room subscriptions, extensions) may weigh as JSON. */
const MAX_STICKY_CHARS = 256 * 1024
/** Membership rows of users' ViewerRooms an instance keeps in all (some tens of MB at most). */
const VIEWER_ROWS_KEPT = 200_000

/** A user's rooms and what filters them, as read at `position` (SlidingSyncService.viewerRooms). */
interface ViewerRooms {
  position: number
  memberships: BumpedMembership[]
  ignored: Set<string>
  blocked: boolean
  direct: Record<string, unknown> | null
}

/** The sticky parts of a connection's requests, as stored with each position. */
interface Sticky {
  lists: Record<string, { timelineLimit: number; requiredState: RoomConfig['requiredState']; filters: ListFilters }>
  subscriptions: Record<string, RoomConfig>
  extensions: ExtensionsRequest
  /** Each list's count in the last response (a change is news for a long-poll). */
  counts: Record<string, number>
}

interface Connection {
  connectionId: number
  positionId: number
  since: number
  sticky: Sticky
  statuses: Map<string, SlidingRoomStatus>
}

interface ActiveList {
  name: string
  ranges: Array<[number, number]> | null
  config: RoomConfig
  filters: ListFilters
}

/** A room of this response: why it is in scope, and how it is sent. */
interface Planned {
  room: ListedRoom
  config: RoomConfig
  lists: string[]
  /** Sent whole (first time on the connection, a wider config, or a new membership); else from `after`. */
  initial: boolean
  after: number
}

export interface SlidingSyncLimits {
  timelineCap: number
  maxTimeoutMs: number
}

export function unknownPos(): MatrixError {
  return new MatrixError('M_UNKNOWN_POS', 'Unknown or expired sliding sync position: start again without pos', 400)
}

export class SlidingSyncService {
  private readonly storage: Storage
  private readonly notifier: StreamNotifier
  private readonly clock: Clock
  private readonly sync: SyncService
  readonly limits: SlidingSyncLimits
  /** What the latest requests of each user read of their rooms (a cache; see viewerRooms). */
  private readonly viewers = new Map<string, ViewerRooms>()
  private viewerRows = 0
  /** The room statuses of each connection's latest position this instance answered (a cache). */
  private readonly statusCache = new Map<number, { positionId: number; statuses: Map<string, SlidingRoomStatus> }>()
  private cachedStatuses = 0

  constructor(options: { storage: Storage; notifier: StreamNotifier; clock: Clock; sync: SyncService; limits: SlidingSyncLimits }) {
    this.storage = options.storage
    this.notifier = options.notifier
    this.clock = options.clock
    this.sync = options.sync
    this.limits = options.limits
  }

  async handle(requester: Requester, req: SlidingRequest): Promise<JsonObject> {
    const extensionsRequest = parseExtensions(req.extensions)
    const conn = req.pos === null ? null : await this.connection(requester, req.connId, req.pos)
    const sticky = mergeSticky(conn?.sticky ?? null, req, extensionsRequest)
    // Stored with every position: its size is bounded however many requests added to it.
    if (JSON.stringify(sticky).length > MAX_STICKY_CHARS) throw invalid(`The connection's lists, room subscriptions and extension settings together exceed ${MAX_STICKY_CHARS} characters`)
    const lists = activeLists(req, sticky)
    // The extensions' settings for this request: the connection's, with the `since` this request sends.
    const extensions: ExtensionsRequest = { ...sticky.extensions }
    for (const [name, config] of Object.entries(extensionsRequest)) if (config.since !== undefined) extensions[name] = { ...extensions[name], since: config.since }
    const statuses = conn?.statuses ?? new Map<string, SlidingRoomStatus>()
    const since = conn?.since ?? null
    if (since === null || req.timeoutMs <= 0 || since > this.notifier.current) await this.notifier.refresh()
    const deadline = this.clock.now() + req.timeoutMs
    for (;;) {
      const interest = { userId: requester.userId, rooms: new Set<string>() }
      const watch = this.notifier.watch(interest)
      const upTo = Math.max(this.notifier.current, since ?? 0)
      let built: Awaited<ReturnType<SlidingSyncService['build']>>
      try {
        built = await this.build(requester, lists, sticky, extensions, statuses, since, upTo, interest.rooms)
      } catch (err) {
        watch.cancel()
        throw err
      }
      const countsChanged = Object.entries(built.counts).some(([name, n]) => sticky.counts[name] !== n)
      const remaining = deadline - this.clock.now()
      if (since === null || built.hasData || countsChanged || remaining <= 0 || this.sync.closing) {
        watch.cancel()
        sticky.counts = built.counts
        const pos = await this.persist(requester, req.connId, conn, upTo, sticky, statuses, built.sent)
        return {
          pos,
          lists: Object.fromEntries(Object.entries(built.counts).map(([name, count]) => [name, { count }])),
          rooms: built.rooms,
          extensions: built.extensions,
          ...(req.txnId !== undefined ? { txn_id: req.txnId } : {}),
        }
      }
      if (this.notifier.concerns(interest, upTo)) {
        watch.cancel()
        continue
      }
      await this.sync.wait(watch.promise, remaining)
      watch.cancel()
    }
  }

  /** The connection and position a request's pos names, with what it had sent of each room. */
  private async connection(requester: Requester, connId: string, pos: string): Promise<Connection> {
    if (!/^\d{1,15}$/.test(pos)) throw unknownPos()
    const repo = this.storage.repos.slidingSync
    const position = await repo.position(requester.userId, requester.deviceId, connId, Number(pos), this.clock.now() - CONNECTION_LIFETIME_MS)
    if (position === null) throw unknownPos()
    const cached = this.statusCache.get(position.connectionId)
    const statuses = cached && cached.positionId === position.positionId ? cached.statuses : await repo.roomStatuses(position.connectionId, position.positionId)
    return { connectionId: position.connectionId, positionId: position.positionId, since: position.streamPosition, sticky: position.sticky as unknown as Sticky, statuses }
  }

  /** Records the response as a new position of the connection (a new connection without pos); returns its pos. */
  private async persist(requester: Requester, connId: string, conn: Connection | null, upTo: number, sticky: Sticky, statuses: Map<string, SlidingRoomStatus>, sent: Map<string, SlidingRoomStatus>): Promise<string> {
    const now = this.clock.now()
    let connectionId: number
    let positionId: number
    if (conn === null) {
      const limits = { maxPerDevice: CONNECTIONS_PER_DEVICE, expiredBefore: now - CONNECTION_LIFETIME_MS }
      ;({ connectionId, positionId } = await this.storage.repos.slidingSync.startConnection(requester.userId, requester.deviceId, connId, now, limits, upTo, sticky as unknown as Record<string, unknown>, sent))
    } else {
      const id = await this.storage.repos.slidingSync.advance(conn.connectionId, conn.positionId, upTo, sticky as unknown as Record<string, unknown>, sent, now)
      // Another request of the connection reset it meanwhile (or it expired): the client starts again.
      if (id === null) throw unknownPos()
      connectionId = conn.connectionId
      positionId = id
    }
    const next = new Map(statuses)
    for (const [roomId, s] of sent) next.set(roomId, s)
    const previous = this.statusCache.get(connectionId)
    if (previous) this.cachedStatuses -= previous.statuses.size
    this.statusCache.delete(connectionId)
    this.statusCache.set(connectionId, { positionId, statuses: next })
    this.cachedStatuses += next.size
    for (const [oldest, old] of this.statusCache) {
      if (this.cachedStatuses <= STATUSES_CACHED) break
      this.statusCache.delete(oldest)
      this.cachedStatuses -= old.statuses.size
    }
    return String(positionId)
  }

  private async build(requester: Requester, lists: ActiveList[], sticky: Sticky, extensions: ExtensionsRequest, statuses: Map<string, SlidingRoomStatus>, since: number | null, upTo: number, watched: Set<string>) {
    const repos = this.storage.repos
    const userId = requester.userId
    const { memberships: current, ignored, blocked, direct } = await this.viewerRooms(userId, upTo)
    // A membership committed after upTo is taken as it was at upTo (as /sync does).
    const ahead = current.filter((m) => m.stream_ordering > upTo)
    const asOf = ahead.length === 0 ? [] : await repos.sync.membershipRowsAt(userId, ahead.map((m) => m.room_id), upTo)
    const bumpOf = new Map(ahead.map((m) => [m.room_id, m.bump]))
    const memberships = withoutIgnoredInvites(
      [...current.filter((m) => m.stream_ordering <= upTo), ...asOf.filter((m) => SYNCED_MEMBERSHIPS.includes(m.membership)).map((m) => ({ ...m, bump: bumpOf.get(m.room_id) ?? null }))],
      ignored,
      blocked,
    )
    for (const m of memberships) if (m.membership === 'join') watched.add(m.room_id)
    const rooms = orderRooms(memberships, userId, (roomId) => statuses.has(roomId))
    const filters = lists.map((l) => l.filters)
    const [summaries, data] = await Promise.all([
      filtersReadSummaries(filters) ? repos.slidingSync.summaries(rooms.map((r) => r.roomId)) : Promise.resolve(new Map<string, SlidingSummary>()),
      filterData(repos, userId, filters, rooms),
    ])
    const facts: RoomFacts = { dms: directRooms(direct), summaries }

    // Each list's window, and the subscriptions the user may see.
    const scope = new Map<string, { room: ListedRoom; config: RoomConfig; lists: string[] }>()
    const counts: Record<string, number> = {}
    const listRooms = new Map<string, string[]>()
    for (const list of lists) {
      const filtered = rooms.filter((r) => passes(r, list.filters, facts, data))
      counts[list.name] = filtered.length
      const window = inRanges(filtered, list.ranges)
      listRooms.set(list.name, window.map((r) => r.roomId))
      for (const r of window) {
        const entry = scope.get(r.roomId)
        if (entry) entry.lists.push(list.name)
        else scope.set(r.roomId, { room: r, config: list.config, lists: [list.name] })
      }
    }
    // A room in several lists gets their combined config: computed once per set of lists, not per room.
    const configOfList = new Map(lists.map((l) => [l.name, l.config]))
    const combined = new Map<string, RoomConfig>()
    for (const entry of scope.values()) {
      if (entry.lists.length < 2) continue
      const key = entry.lists.join('\u0000')
      let config = combined.get(key)
      if (config === undefined) {
        config = entry.lists.map((name) => configOfList.get(name) as RoomConfig).reduce(combineConfigs)
        combined.set(key, config)
      }
      entry.config = config
    }
    const byId = new Map(rooms.map((r) => [r.roomId, r]))
    const subscriptions: string[] = []
    for (const [roomId, config] of Object.entries(sticky.subscriptions)) {
      const r = byId.get(roomId)
      // Only rooms the user is in, invited to or knocking on (MSC4186); others are ignored.
      if (!r || !['join', 'invite', 'knock'].includes(r.membership.membership)) continue
      subscriptions.push(roomId)
      const entry = scope.get(roomId)
      if (entry) entry.config = combineConfigs(entry.config, config)
      else scope.set(roomId, { room: r, config, lists: [] })
    }

    // What to send of each room in scope: a joined room's latest event says whether it changed since it was
    // sent (for the others, the user's membership does). The notifier's recent changes tell it without a read
    // when they reach back to the oldest of those rooms' statuses; rooms never sent need no such check.
    const scoped = [...scope.values()]
    const tracked = scoped.filter((e) => e.room.membership.membership === 'join' && statuses.has(e.room.roomId))
    const oldest = Math.min(...tracked.map((e) => (statuses.get(e.room.roomId) as SlidingRoomStatus).streamPosition))
    const recent = tracked.length === 0 ? null : this.notifier.changesBetween(oldest, upTo)
    let latest: Map<string, number>
    if (recent !== null) {
      latest = new Map()
      for (const c of recent) if ((c.kind === 'event' || c.kind === 'member') && c.room_id !== null) latest.set(c.room_id, Math.max(latest.get(c.room_id) ?? 0, c.position))
    } else {
      latest = await repos.slidingSync.latest(tracked.map((e) => e.room.roomId), upTo)
    }
    const planned: Planned[] = []
    for (const { room, config, lists: names } of scoped) {
      const status = statuses.get(room.roomId)
      const membership = room.membership.membership
      const newMembership = status !== undefined && status.membership !== membership && ['join', 'invite', 'knock'].includes(membership)
      const changedAt = Math.max(room.membership.stream_ordering, membership === 'join' ? (latest.get(room.roomId) ?? 0) : 0)
      if (status === undefined || newMembership || !configCovers(status.config as unknown as RoomConfig, config)) {
        planned.push({ room, config, lists: names, initial: true, after: 0 })
      } else if (changedAt > status.streamPosition || status.membership !== membership) {
        planned.push({ room, config, lists: names, initial: false, after: status.streamPosition })
      }
    }
    // The summaries (name, avatar) of the rooms to send, if the filters did not read them already.
    const summariesPart = repos.slidingSync.summaries(planned.map((p) => p.room.roomId).filter((id) => !summaries.has(id)))
    summariesPart.catch(() => {})

    const built = await this.roomResults(requester, planned, statuses, facts, ignored, blocked, since, upTo, summariesPart)
    // Joined rooms sent before with nothing new but the user's own read receipt (read on another device): their
    // unread counts alone, so the badge clears.
    const plannedIds = new Set(planned.map((p) => p.room.roomId))
    const quiet = scoped.filter((e) => e.room.membership.membership === 'join' && statuses.has(e.room.roomId) && !plannedIds.has(e.room.roomId))
    if (since !== null && quiet.length > 0) {
      const seen = this.notifier.changesBetween(since, upTo)
      const read = seen !== null && !seen.some((c) => c.kind === 'receipt') ? [] : await repos.slidingSync.ownReceiptRooms(userId, quiet.map((e) => e.room.roomId), since, upTo)
      if (read.length > 0) {
        const unread = await this.sync.unreadCounts(userId, read, upTo, ignored)
        const listsOf = new Map(quiet.map((e) => [e.room.roomId, e.lists]))
        for (const roomId of read) {
          const c = unread.get(roomId)
          const names = listsOf.get(roomId) ?? []
          built.rooms[roomId] = { membership: 'join', ...(names.length > 0 ? { lists: names } : {}), notification_count: c?.notification_count ?? 0, highlight_count: c?.highlight_count ?? 0 }
        }
      }
    }
    const ext = await buildExtensions({
      storage: this.storage,
      sources: this.sync.sources,
      requester,
      since,
      upTo,
      scope: { lists: listRooms, subscriptions, rooms: new Map(planned.filter((p) => built.rooms[p.room.roomId] !== undefined).map((p) => [p.room.roomId, { initial: p.initial, membership: p.room.membership.membership }])) },
      config: extensions,
    })
    return { rooms: built.rooms, sent: built.sent, counts, extensions: ext.extensions, hasData: Object.keys(built.rooms).length > 0 || ext.hasData }
  }

  /**
   * The user's memberships with their rooms' bump stamps, ignored users, invite blocking and m.direct. A later
   * request (any connection of the user on this instance) reuses what an earlier one read while the stream
   * shows no membership or account-data change of the user since, re-reading only the bump stamps of rooms
   * with new events: a woken long-poll then reads one row, not the user's every room.
   */
  private async viewerRooms(userId: string, upTo: number): Promise<ViewerRooms> {
    const repos = this.storage.repos
    const cached = this.viewers.get(userId)
    if (cached && cached.position <= upTo) {
      const changes = this.notifier.changesBetween(cached.position, upTo)
      if (changes && !changes.some((c) => c.user_id === userId && (c.kind === 'member' || c.kind === 'account_data'))) {
        const joined = new Set(cached.memberships.filter((m) => m.membership === 'join').map((m) => m.room_id))
        const bumped = [...new Set(changes.filter((c) => c.kind === 'event' && c.room_id !== null && joined.has(c.room_id)).map((c) => c.room_id as string))]
        if (bumped.length > 0) {
          const bumps = await repos.slidingSync.bumps(bumped)
          for (const m of cached.memberships) {
            const b = bumps.get(m.room_id)
            if (b !== undefined && (m.bump === null || b > m.bump)) m.bump = b
          }
        }
        cached.position = upTo
        // Most recently used last.
        this.viewers.delete(userId)
        this.viewers.set(userId, cached)
        return cached
      }
    }
    const [memberships, ignored, blocked, direct] = await Promise.all([
      repos.slidingSync.membershipsWithBumps(userId, SYNCED_MEMBERSHIPS),
      ignoredUsers(repos, userId),
      invitesBlocked(repos, userId),
      repos.accountData.get(userId, '', 'm.direct'),
    ])
    const fresh: ViewerRooms = { position: upTo, memberships, ignored, blocked, direct }
    if (cached) this.viewerRows -= cached.memberships.length
    this.viewers.delete(userId)
    this.viewers.set(userId, fresh)
    this.viewerRows += memberships.length
    for (const [oldest, old] of this.viewers) {
      if (this.viewerRows <= VIEWER_ROWS_KEPT) break
      this.viewers.delete(oldest)
      this.viewerRows -= old.memberships.length
    }
    return fresh
  }

  /** The rooms' results, built by syncRooms in groups sharing a starting point and a config. */
  private async roomResults(
    requester: Requester,
    planned: Planned[],
    statuses: Map<string, SlidingRoomStatus>,
    facts: RoomFacts,
    ignored: Set<string>,
    blocked: boolean,
    since: number | null,
    upTo: number,
    moreSummaries: Promise<Map<string, SlidingSummary>>,
  ): Promise<{ rooms: Record<string, JsonObject>; sent: Map<string, SlidingRoomStatus> }> {
    const repos = this.storage.repos
    const userId = requester.userId
    const groups = new Map<string, Planned[]>()
    for (const p of planned) {
      const key = `${p.initial ? 'i' : p.after}\u0000${JSON.stringify(p.config)}`
      groups.set(key, [...(groups.get(key) ?? []), p])
    }
    const lazyRecorded = new Map<string, Map<string, string>>()
    const unread = (roomIds: string[]): Promise<Map<string, UnreadCounts>> => this.sync.unreadCounts(userId, roomIds, upTo, ignored)
    const results = await Promise.all(
      [...groups.values()].map(async (group) => {
        const first = group[0] as Planned
        const sentMembers: SentMembers = {
          known: (roomId) => (first.initial ? undefined : new Map(Object.entries(statuses.get(roomId)?.lazyMembers ?? {}))),
          record: (roomId, members, reset) => {
            const base = reset || first.initial ? new Map<string, string>() : new Map(Object.entries(statuses.get(roomId)?.lazyMembers ?? {}))
            for (const [u, e] of members) {
              base.delete(u)
              base.set(u, e)
            }
            while (base.size > LAZY_MEMBERS_KEPT) base.delete(base.keys().next().value as string)
            lazyRecorded.set(roomId, base)
          },
        }
        const filter = filterOf(first.config)
        // Updates from the connection's last position: the events this instance committed since, when it has them all.
        const roomIds = new Set(group.map((p) => p.room.roomId))
        const local = !first.initial && since !== null && first.after === since ? this.sync.localTimeline(since, upTo, roomIds) : undefined
        const synced = await syncRooms({
          repos,
          viewer: { userId, deviceId: requester.deviceId },
          since: first.initial ? null : first.after,
          upTo,
          fullState: false,
          useStateAfter: true,
          filter,
          now: this.clock.now(),
          roomAccountData: new Map(),
          eventsChanged: true,
          roomsWithEvents: roomIds,
          ...(local ? { localTimeline: local } : {}),
          ephemeral: new Map(),
          memberships: group.map((p) => p.room.membership),
          ignored,
          invitesBlocked: blocked,
          sentMembers,
          unreadCounts: unread,
        })
        return { group, synced }
      }),
    )

    // Timelines that may hold events from before the connection's last response (rooms sent whole, or updated
    // from further back than it): their events' positions tell which are live.
    const mayHoldOld = (p: Planned) => since !== null && (p.initial || p.after < since)
    const timelineIds = results.flatMap(({ group, synced }) =>
      group.filter(mayHoldOld).flatMap((p) => (synced.join[p.room.roomId] ?? synced.leave[p.room.roomId])?.timeline.events.map((e) => e.event_id) ?? []),
    )
    const [positions, heroRows] = await Promise.all([
      timelineIds.length === 0 ? Promise.resolve([]) : repos.events.getByIds(timelineIds),
      repos.sync.memberEvents(
        results.flatMap(({ synced }) =>
          Object.entries(synced.join).flatMap(([roomId, r]) => ((r.summary['m.heroes'] as string[] | undefined) ?? []).slice(0, HEROES_SHOWN).map((u): [string, string] => [roomId, u])),
        ),
      ),
    ])
    const positionOf = new Map(positions.map((r) => [r.event_id, r.stream_ordering]))
    for (const [roomId, summary] of await moreSummaries) facts.summaries.set(roomId, summary)
    const heroContent = new Map(heroRows.map((r) => [`${r.room_id}\u0000${r.state_key}`, ((JSON.parse(r.json) as { content?: Record<string, unknown> }).content ?? {}) as Record<string, unknown>]))

    const rooms: Record<string, JsonObject> = {}
    const sent = new Map<string, SlidingRoomStatus>()
    for (const { group, synced } of results) {
      for (const p of group) {
        const out = roomResult(p, synced, userId, facts, heroContent, since, positionOf)
        const before = statuses.get(p.room.roomId)
        if (out === null) {
          // An update left empty (only events the user may not see): nothing to send, but the room is up to
          // date to upTo, so later requests do not read the same range again.
          if (!p.initial && before) sent.set(p.room.roomId, { ...before, streamPosition: upTo, membership: p.room.membership.membership })
          continue
        }
        rooms[p.room.roomId] = out
        sent.set(p.room.roomId, {
          streamPosition: upTo,
          membership: p.room.membership.membership,
          config: p.config as unknown as Record<string, unknown>,
          lazyMembers: Object.fromEntries(lazyRecorded.get(p.room.roomId) ?? (p.initial ? new Map() : new Map(Object.entries(before?.lazyMembers ?? {})))),
        })
      }
    }
    return { rooms, sent }
  }
}

/** The /sync filter that makes syncRooms read what a room config asks for (state narrowed further by roomResult). */
function filterOf(config: RoomConfig): FilterDefinition {
  const include = config.requiredState.include
  const anyType = include.some(([t]) => t === '*')
  const allMembers = include.some(([t, k]) => (t === '*' || t === 'm.room.member') && k === '*')
  const types = anyType ? undefined : [...new Set([...include.map(([t]) => t), ...(config.requiredState.lazy || include.some(([t]) => t === 'm.room.member') ? ['m.room.member'] : [])])]
  return {
    room: {
      timeline: { limit: config.timelineLimit },
      // Members are loaded lazily (the timeline's senders, the user) unless every member is asked for.
      state: { ...(types !== undefined ? { types } : {}), lazy_load_members: !allMembers },
      include_leave: true,
    },
  }
}

/** Whether a state event of the room's results is one the config asks for. */
function wanted(e: ClientEvent, config: RoomConfig, userId: string, lazySenders: Set<string>): boolean {
  const key = e.state_key ?? ''
  const { include, exclude, lazy } = config.requiredState
  if (e.type === 'm.room.member') {
    if (patternMatches(include, e.type, key, userId)) return true
    return lazy && lazySenders.has(key)
  }
  return patternMatches(include, e.type, key, userId) && !patternMatches(exclude, e.type, key, userId)
}

/** One room's result from its group's syncRooms output (null: nothing to send). */
function roomResult(
  p: Planned,
  synced: RoomsSync,
  userId: string,
  facts: RoomFacts,
  heroContent: Map<string, Record<string, unknown>>,
  since: number | null,
  positionOf: Map<string, number>,
): JsonObject | null {
  const roomId = p.room.roomId
  const membership = p.room.membership.membership
  const common: JsonObject = { bump_stamp: p.room.bump, membership, ...(p.lists.length > 0 ? { lists: p.lists } : {}) }
  if (p.initial) common.initial = true
  const invite = synced.invite[roomId]
  if (invite) return { ...common, invite_state: invite.invite_state.events }
  const knock = synced.knock[roomId]
  if (knock) return { ...common, knock_state: knock.knock_state.events }
  const joined = synced.join[roomId]
  const left = synced.leave[roomId]
  const section = joined ?? left
  if (!section) return null
  const timeline = section.timeline.events
  // Under lazy loading: the members of the timeline's senders and the targets of its member events.
  const lazySenders = new Set<string>([...timeline.map((e) => e.sender), ...timeline.filter((e) => e.type === 'm.room.member' && e.state_key !== undefined).map((e) => e.state_key as string)])
  const state = (section.state_after?.events ?? []).filter((e) => wanted(e, p.config, userId, lazySenders))
  const out: JsonObject = {
    ...common,
    timeline,
    required_state: state,
    limited: section.timeline.limited,
    ...(section.timeline.prev_batch !== undefined ? { prev_batch: section.timeline.prev_batch } : {}),
  }
  // Events after the connection's last response are live (an update from that response on: all of them).
  out.num_live = since === null ? 0 : timeline.filter((e) => (positionOf.get(e.event_id) ?? Infinity) > since).length
  if (!joined) return out
  const summary = facts.summaries.get(roomId)
  const changedName = [...timeline, ...state].some((e) => e.type === 'm.room.name' && e.state_key === '')
  const changedAvatar = [...timeline, ...state].some((e) => e.type === 'm.room.avatar' && e.state_key === '')
  if (p.initial ? summary?.name : changedName) out.name = summary?.name ?? null
  const avatar = summary?.avatar_url ?? null
  if (p.initial ? avatar : changedAvatar) out.avatar = avatar
  const heroes = joined.summary['m.heroes'] as string[] | undefined
  if (heroes !== undefined && !summary?.name) {
    out.heroes = heroes.slice(0, HEROES_SHOWN).map((u) => {
      const c = heroContent.get(`${roomId}\u0000${u}`) ?? {}
      return { user_id: u, ...(typeof c.displayname === 'string' ? { displayname: c.displayname } : {}), ...(typeof c.avatar_url === 'string' ? { avatar_url: c.avatar_url } : {}) }
    })
  }
  const joinedCount = joined.summary['m.joined_member_count']
  const invitedCount = joined.summary['m.invited_member_count']
  if (typeof joinedCount === 'number') out.joined_count = joinedCount
  if (typeof invitedCount === 'number') out.invited_count = invitedCount
  out.notification_count = joined.unread_notifications.notification_count
  out.highlight_count = joined.unread_notifications.highlight_count
  if (facts.dms.has(roomId)) out.is_dm = true
  else if (!p.initial) out.is_dm = false
  return out
}

/** The lists of this request, each with its settings (what the request leaves out, from the connection's earlier requests). */
function activeLists(req: SlidingRequest, sticky: Sticky): ActiveList[] {
  return [...req.lists].map(([name, l]) => {
    const s = sticky.lists[name] as Sticky['lists'][string]
    return { name, ranges: l.ranges ?? null, config: { timelineLimit: s.timelineLimit, requiredState: s.requiredState }, filters: s.filters }
  })
}

/** The connection's sticky settings after this request: lists' settings, room subscriptions and extension settings. */
function mergeSticky(previous: Sticky | null, req: SlidingRequest, extensions: ExtensionsRequest): Sticky {
  const lists: Sticky['lists'] = {}
  for (const [name, l] of req.lists) {
    const before = previous?.lists[name]
    lists[name] = {
      timelineLimit: l.timelineLimit ?? before?.timelineLimit ?? 0,
      requiredState: l.requiredState ?? before?.requiredState ?? NO_STATE,
      filters: l.filters ?? before?.filters ?? {},
    }
  }
  // Lists not in this request keep their settings for a later one, within the bound on lists.
  for (const [name, l] of Object.entries(previous?.lists ?? {})) {
    if (Object.keys(lists).length >= MAX_LISTS) break
    if (!(name in lists)) lists[name] = l
  }
  const subscriptions: Sticky['subscriptions'] = { ...(previous?.subscriptions ?? {}) }
  for (const roomId of req.unsubscribe) delete subscriptions[roomId]
  for (const [roomId, config] of req.subscriptions) {
    delete subscriptions[roomId]
    subscriptions[roomId] = config
  }
  // The oldest subscriptions go beyond the bound.
  const ids = Object.keys(subscriptions)
  for (const roomId of ids.slice(0, Math.max(0, ids.length - MAX_SUBSCRIPTIONS))) delete subscriptions[roomId]
  const merged: ExtensionsRequest = { ...(previous?.extensions ?? {}) }
  for (const [name, config] of Object.entries(extensions)) {
    // An extension's `since` belongs to the request that sends it, not to the connection.
    const { since: _since, ...rest } = config
    const { since: _before, ...kept } = merged[name] ?? {}
    merged[name] = { ...kept, ...rest }
  }
  return { lists, subscriptions, extensions: merged, counts: previous?.counts ?? {} }
}

