// GET /_matrix/client/v3/events (client-server API r0, deprecated "Listen on the event stream", and its
// room-scoped "peeking" form): the user's events after a stream position, oldest first, long-polled like
// /sync. Its tokens are /sync's ("s<position>"), so each can continue the other. A page holds the room events
// of the rooms the user is joined to (and of rooms left in the range, up to the leave), the user's own
// membership events (invites to rooms this server is not in included), then the typing, receipt, presence and
// account data changes of the same range as events, each with its room_id where it has one.
import type { JsonObject } from '../protocol/events/types.ts'
import type { Clock } from '../shared/clock.ts'
import { forbidden } from '../shared/errors.ts'
import { formatSyncToken, parseSyncTokenOrThrow } from '../shared/sync-token.ts'
import type { EventRow, MembershipRow, Storage } from '../storage/index.ts'
import { legacyEvent, toClientEvents, viewerOf } from '../rooms/client-events.ts'
import { filterVisibleByRoom, isWorldReadable } from '../rooms/visibility.ts'
import { ignoredUsers, invitesBlocked, withoutIgnored, withoutIgnoredInvites } from '../directory/index.ts'
import type { Requester } from '../users/index.ts'
import type { StreamNotifier } from './notifier.ts'
import { SYNCED_MEMBERSHIPS } from './rooms.ts'
import type { SyncSources } from './sync.ts'

export interface EventsRequest {
  from?: string | undefined
  timeoutMs: number
  /** The most room events a page holds (the caller bounds it). */
  limit: number
  /** Only this room: one the user is joined to, or a world_readable one they peek into. */
  roomId?: string | undefined
}

export interface EventsResponse {
  chunk: JsonObject[]
  start: string
  end: string
}

/** How a long-poll waits: until the watch fires, `ms` pass or the server drains (SyncService). */
export interface LongPollWaiter {
  wait(change: Promise<void>, ms: number): Promise<void>
  readonly closing: boolean
}

interface Page {
  chunk: JsonObject[]
  /** The position the page ends at: the next one starts after it. */
  end: number
}

interface Positioned {
  position: number
  row: EventRow
}

export class EventStream {
  private readonly storage: Storage
  private readonly notifier: StreamNotifier
  private readonly clock: Clock
  private readonly sources: SyncSources
  private readonly waiter: LongPollWaiter

  constructor(storage: Storage, notifier: StreamNotifier, clock: Clock, sources: SyncSources, waiter: LongPollWaiter) {
    this.storage = storage
    this.notifier = notifier
    this.clock = clock
    this.sources = sources
    this.waiter = waiter
  }

  async events(requester: Requester, request: EventsRequest): Promise<EventsResponse> {
    let from = request.from !== undefined ? parseSyncTokenOrThrow(request.from, 'from').position : null
    // As /sync: a request that will not wait (or starts now, or from a token of an instance that is ahead)
    // reads the fence first, so it includes every write that completed before it.
    if (from === null || request.timeoutMs <= 0 || from > this.notifier.current) {
      await this.notifier.refresh()
      if (from !== null && from > this.notifier.current) from = this.notifier.current
    }
    // Without `from`, the stream starts now.
    from ??= this.notifier.current
    const start = request.from ?? formatSyncToken({ position: from })
    const peek = request.roomId !== undefined ? await this.peekable(requester.userId, request.roomId) : null
    const deadline = this.clock.now() + Math.max(0, request.timeoutMs)
    for (;;) {
      // Watch before reading (see SyncService.sync): a change landing meanwhile still wakes this request.
      const interest = { userId: requester.userId, rooms: new Set<string>() }
      const watch = this.notifier.watch(interest)
      const upTo = Math.max(this.notifier.current, from)
      let page: Page
      try {
        page = await this.read(requester, from, upTo, request.limit, request.roomId, peek === true, interest.rooms)
      } catch (err) {
        watch.cancel()
        throw err
      }
      const remaining = deadline - this.clock.now()
      if (page.chunk.length > 0 || remaining <= 0 || this.waiter.closing) {
        watch.cancel()
        return { chunk: page.chunk, start, end: formatSyncToken({ position: page.end }) }
      }
      // A full page that visibility emptied, or a change for this user that came before its rooms were known:
      // read on at once.
      if (page.end < upTo || this.notifier.concerns(interest, upTo)) {
        watch.cancel()
        from = page.end
        continue
      }
      await this.waiter.wait(watch.promise, remaining)
      watch.cancel()
      from = page.end
    }
  }

  /**
   * For a room-scoped stream: false when the user is joined to the room (an ordinary stream of that room),
   * true when they may only peek (its history is world_readable now); refused otherwise.
   */
  private async peekable(userId: string, roomId: string): Promise<boolean> {
    const repos = this.storage.repos
    const [membership, worldReadable] = await Promise.all([repos.memberships.get(roomId, userId), isWorldReadable(repos, roomId)])
    if (membership?.membership === 'join') return false
    if (!worldReadable) throw forbidden('You are not in this room, and its history is not world_readable')
    return true
  }

  /** One page of (from, upTo]; fills `rooms` with the rooms whose changes concern it. */
  private async read(requester: Requester, from: number, upTo: number, limit: number, roomId: string | undefined, peeking: boolean, rooms: Set<string>): Promise<Page> {
    const repos = this.storage.repos
    const userId = requester.userId
    const [allMemberships, ignored, blocked] = await Promise.all([
      peeking ? Promise.resolve([] as MembershipRow[]) : repos.memberships.roomsOf(userId, SYNCED_MEMBERSHIPS),
      ignoredUsers(repos, userId),
      invitesBlocked(repos, userId),
    ])
    const memberships = roomId === undefined ? allMemberships : allMemberships.filter((m) => m.room_id === roomId)
    const joined = peeking ? [roomId as string] : memberships.filter((m) => m.membership === 'join').map((m) => m.room_id)
    for (const r of joined) rooms.add(r)
    // The user's other membership changes in range: their own events, and a left room's events up to the leave.
    const changed = withoutIgnoredInvites(
      memberships.filter((m) => m.membership !== 'join' && m.stream_ordering > from && m.stream_ordering <= upTo),
      ignored,
      blocked,
    )
    const ranges = [
      ...joined.map((r) => ({ roomId: r, after: from, upTo })),
      ...changed.filter((m) => m.membership === 'leave' || m.membership === 'ban').map((m) => ({ roomId: m.room_id, after: from, upTo: m.stream_ordering })),
    ]
    const rows = await repos.sync.firstInRanges(ranges, limit)
    // With a full page, everything up to its last event is known, and nothing after it.
    const last = rows[rows.length - 1]
    const cut = rows.length >= limit && last ? last.stream_ordering : upTo
    const inPage = new Set(rows.map((r) => r.event_id))
    // Membership events outside the ranges read (an invite, a knock, a rejection: maybe outliers here).
    const extra = changed.filter((m) => m.stream_ordering <= cut && !inPage.has(m.event_id))
    const extraRows = new Map((await repos.events.getByIds(extra.map((m) => m.event_id))).map((r) => [r.event_id, r]))
    let items: Positioned[] = rows.map((row) => ({ position: row.stream_ordering, row }))
    for (const m of extra) {
      const row = extraRows.get(m.event_id)
      if (row) items.push({ position: m.stream_ordering, row })
    }
    items.sort((a, b) => a.position - b.position)
    let end = cut
    if (items.length > limit) {
      items = items.slice(0, limit)
      end = (items[items.length - 1] as Positioned).position
    }

    // History visibility (two queries for every room) for the timeline rows; the user's own membership events always show.
    const byRoom = new Map<string, EventRow[]>()
    for (const { row } of items) if (inPage.has(row.event_id)) byRoom.set(row.room_id, [...(byRoom.get(row.room_id) ?? []), row])
    // The rows as the user may see them (an erased sender's redacted).
    const visible = new Map([...(await filterVisibleByRoom(repos, userId, byRoom)).values()].flat().map((r) => [r.event_id, r]))
    const shown = withoutIgnored(
      items.map((i) => i.row).flatMap((r) => (!inPage.has(r.event_id) ? [r] : (visible.get(r.event_id) ?? []))),
      ignored,
    )
    const chunk: JsonObject[] = (await toClientEvents(repos, shown, viewerOf(requester), this.clock.now())) as unknown as JsonObject[]
    chunk.push(...(await this.streamEvents(requester, from, end, joined, roomId)))
    return { chunk: chunk.map(legacyEvent), end }
  }

  /**
   * The typing, receipt and presence changes in (from, end], as events; for a stream of every room, the
   * account data changes too. A room-scoped stream has the presence of that room's members.
   */
  private async streamEvents(requester: Requester, from: number, end: number, rooms: string[], roomId: string | undefined): Promise<JsonObject[]> {
    if (end <= from) return []
    // The notifier usually knows which kinds changed in the range: the queries for the others are skipped.
    const seen = this.notifier.changesBetween(from, end)
    const changed = (...kinds: string[]) => seen === null || seen.some((c) => kinds.includes(c.kind))
    const presence = !changed('presence')
      ? null
      : roomId === undefined
        ? this.sources.presence?.(requester, from, end, undefined)
        : this.sources.roomPresence?.(roomId, from, end)
    const [ephemeral, presenceEvents, accountData] = await Promise.all([
      rooms.length > 0 && changed('typing', 'receipt') ? this.sources.ephemeral(requester, rooms, from, end) : Promise.resolve(new Map<string, JsonObject[]>()),
      presence ?? Promise.resolve([]),
      roomId === undefined && changed('account_data') ? this.storage.repos.accountData.changed(requester.userId, from, end) : Promise.resolve([]),
    ])
    const out: JsonObject[] = []
    for (const [room, events] of ephemeral) for (const e of events) out.push({ ...e, room_id: room })
    for (const e of presenceEvents) out.push(e)
    for (const a of accountData) out.push(a.room_id === '' ? { type: a.type, content: a.content as JsonObject } : { type: a.type, room_id: a.room_id, content: a.content as JsonObject })
    return out
  }
}
