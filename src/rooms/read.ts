// Reading rooms for local users: events, state, members, /messages and /context, always through history
// visibility.
import type { JsonObject } from '../protocol/events/types.ts'
import type { Clock } from '../shared/clock.ts'
import { MatrixError, forbidden, notFound } from '../shared/errors.ts'
import type { EventFilter, EventRow, MembershipRow, Repositories, Storage, TimelineToken } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'
import { toClientEvents, viewerOf, type ClientEvent } from './client-events.ts'
import { filterVisible, isWorldReadable } from './visibility.ts'
import { ignoredUsers, withoutIgnored } from '../directory/index.ts'
import { parseSyncToken } from '../shared/sync-token.ts'

export function formatToken(token: TimelineToken): string {
  return token.kind === 's' ? `s${token.stream}` : `t${token.depth}_${token.stream}`
}

export function parseToken(text: string): TimelineToken {
  const sync = parseSyncToken(text)
  if (sync) return { kind: 's', stream: sync.position }
  const m = /^t(-?\d{1,15})_(-?\d{1,15})$/.exec(text)
  if (m) return { kind: 't', depth: Number(m[1]), stream: Number(m[2]) }
  throw new MatrixError('M_INVALID_PARAM', `Invalid pagination token: ${text}`)
}

export function tokenOf(row: EventRow): TimelineToken {
  return { kind: 't', depth: row.depth, stream: row.stream_ordering }
}

export interface MessagesRequest {
  from?: string | undefined
  to?: string | undefined
  dir: 'b' | 'f'
  limit: number
  filter?: (EventFilter & { lazyLoadMembers?: boolean | undefined }) | undefined
}

/** GET /rooms/{roomId}/initialSync's answer, less presence and receipts (and with the joined members they are read for). */
export interface RoomSnapshot {
  room_id: string
  membership?: string
  messages: { chunk: ClientEvent[]; start: string; end: string }
  state: ClientEvent[]
  visibility: 'public' | 'private'
  account_data: JsonObject[]
  /** The members joined now (none for a former member): whose presence the answer carries. */
  joined: string[]
}

/** Which of the room's state to read: some types (null: all), some keys, or all but the member events of users other than these. */
type StateSelection = { types: string[] | null } | { keys: Array<[string, string]> } | { membersOf: string[] }

/**
 * Where the history before a room's oldest stored events comes from: other servers (federation's
 * Backfiller). /messages waits for it when a backwards page reaches the end of what is stored.
 */
export interface HistorySource {
  /** Whether a backwards page should wait (it was `exhausted`, or reached down to `lowestDepth`, null: read nothing). */
  wanted(roomId: string, exhausted: boolean, lowestDepth: number | null): Promise<boolean>
  /** Fetches more of the room's history: the number of events added to its timeline. */
  backfill(roomId: string): Promise<number>
}

export class RoomReader {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly history: HistorySource | null

  constructor(storage: Storage, clock: Clock, history: HistorySource | null = null) {
    this.storage = storage
    this.clock = clock
    this.history = history
  }

  format(repos: Repositories, rows: EventRow[], requester: Requester): Promise<ClientEvent[]> {
    return toClientEvents(repos, rows, viewerOf(requester), this.clock.now())
  }

  private async refusal(roomId: string): Promise<MatrixError> {
    if (!(await this.storage.repos.rooms.get(roomId))) return forbidden('You are not in this room (or it does not exist)')
    return forbidden('You are not in this room')
  }

  /**
   * Who reads the room: a member (joined, or departed: reading as it was when they left), or, when the
   * room's history is world_readable now, anyone else (null: a non-member, who reads it as it is now, as
   * the spec's "Room History Visibility" allows); M_FORBIDDEN otherwise.
   */
  private async readerOf(roomId: string, userId: string): Promise<MembershipRow | null> {
    const repos = this.storage.repos
    const [membership, worldReadable] = await Promise.all([repos.memberships.get(roomId, userId), isWorldReadable(repos, roomId)])
    if (membership?.membership === 'join' || membership?.membership === 'leave') return membership
    if (worldReadable) return null
    if (membership) throw forbidden('You are not joined to this room')
    throw await this.refusal(roomId)
  }

  /** GET /events/{eventId} (deprecated): an event of whichever room holds it, if the requester may see it. */
  async eventById(requester: Requester, eventId: string): Promise<ClientEvent> {
    const [row] = await this.storage.repos.events.getByIds([eventId])
    if (!row) throw notFound('Event not found')
    return this.event(requester, row.room_id, eventId)
  }

  async event(requester: Requester, roomId: string, eventId: string): Promise<ClientEvent> {
    const repos = this.storage.repos
    const row = await repos.events.get(roomId, eventId)
    // The row as the requester may see it (an erased sender's redacted).
    const [visible] = row ? await filterVisible(repos, roomId, requester.userId, [row]) : []
    if (!visible) throw notFound('Event not found')
    return (await this.format(repos, [visible], requester))[0] as ClientEvent
  }

  /**
   * The state a member sees: current while joined, as it was when they left after a leave (or kick); none after a ban. `select` keeps the
   * read to what is asked for (in a room of 10,000 members, the member events are most of the state).
   */
  private async stateRows(requester: Requester, roomId: string, select: StateSelection): Promise<EventRow[]> {
    const repos = this.storage.repos
    const membership = await this.readerOf(roomId, requester.userId)
    const memberKeys = 'membersOf' in select ? select.membersOf.map((u): [string, string] => ['m.room.member', u]) : []
    if (membership === null || membership.membership === 'join') {
      const current =
        'keys' in select
          ? await repos.state.currentEvents(roomId, select.keys)
          : 'membersOf' in select
            ? (await Promise.all([repos.state.currentStateEvents(roomId, null, true), repos.state.currentEvents(roomId, memberKeys)])).flat()
            : await repos.state.currentStateEvents(roomId, select.types)
      return repos.events.getMany(roomId, current.map((c) => c.event_id))
    }
    // Only a departure keeps the state as it was (a banned user is refused as one never in the room, as Synapse does).
    const leave = await repos.events.get(roomId, membership.event_id)
    const group = leave ? await repos.events.stateGroupAt(roomId, leave.stream_ordering) : null
    if (group === null) return []
    const wanted = 'keys' in select ? new Set(select.keys.map(([t, k]) => `${t}\u0000${k}`)) : null
    const members = 'membersOf' in select ? new Set(select.membersOf) : null
    const entries = (await repos.state.groupState(roomId, group, 'types' in select ? select.types : 'keys' in select ? [...new Set(select.keys.map(([t]) => t))] : null)).filter(
      (e) => (wanted === null || wanted.has(`${e.type}\u0000${e.state_key}`)) && (members === null || e.type !== 'm.room.member' || members.has(e.state_key)),
    )
    return repos.events.getMany(roomId, entries.map((e) => e.event_id))
  }

  async state(requester: Requester, roomId: string): Promise<ClientEvent[]> {
    return this.format(this.storage.repos, await this.stateRows(requester, roomId, { types: null }), requester)
  }

  async stateEvent(requester: Requester, roomId: string, type: string, key: string): Promise<ClientEvent> {
    const [row] = await this.stateRows(requester, roomId, { keys: [[type, key]] })
    if (!row) throw notFound('Event not found')
    return (await this.format(this.storage.repos, [row], requester))[0] as ClientEvent
  }

  /** GET /members: member events, optionally as of a token and filtered by membership. */
  async members(requester: Requester, roomId: string, options: { membership?: string; notMembership?: string; at?: string }): Promise<ClientEvent[]> {
    const repos = this.storage.repos
    let rows = await this.stateRows(requester, roomId, { types: ['m.room.member'] })
    if (options.at !== undefined) {
      // A former member sees the members as of their leave, never later ones.
      const own = await this.readerOf(roomId, requester.userId)
      const stream = own === null || own.membership === 'join' ? parseToken(options.at).stream : Math.min(parseToken(options.at).stream, own.stream_ordering)
      const group = await repos.events.stateGroupAt(roomId, stream)
      if (group !== null) {
        const entries = await repos.state.groupState(roomId, group, ['m.room.member'])
        rows = await repos.events.getMany(roomId, entries.map((e) => e.event_id))
      }
    }
    const content = (r: EventRow) => (JSON.parse(r.json) as { content?: JsonObject }).content ?? {}
    // Given together, the two are an 'or': the membership is `membership` or is not `notMembership`.
    const { membership, notMembership } = options
    if (membership || notMembership) {
      rows = rows.filter((r) => {
        const m = content(r).membership
        return (membership !== undefined && m === membership) || (notMembership !== undefined && m !== notMembership)
      })
    }
    rows.sort((a, b) => (a.state_key ?? '').localeCompare(b.state_key ?? ''))
    return this.format(repos, rows, requester)
  }

  /**
   * GET /joined_members: display names and avatars of joined members (members, and anyone in a world_readable
   * room). Both keys are always there, null when the member event has none (as Synapse answers; clients test
   * for null).
   */
  async joinedMembers(requester: Requester, roomId: string): Promise<Record<string, { display_name: string | null; avatar_url: string | null }>> {
    const membership = await this.readerOf(roomId, requester.userId)
    if (membership !== null && membership.membership !== 'join') throw forbidden('You are not joined to this room')
    const rows = await this.storage.repos.state.currentStateEvents(roomId, ['m.room.member'])
    const joined: Record<string, { display_name: string | null; avatar_url: string | null }> = {}
    for (const r of rows) {
      const c = (JSON.parse(r.json) as { content?: JsonObject }).content ?? {}
      if (c.membership !== 'join') continue
      joined[r.state_key] = {
        display_name: typeof c.displayname === 'string' ? c.displayname : null,
        avatar_url: typeof c.avatar_url === 'string' ? c.avatar_url : null,
      }
    }
    return joined
  }

  async joinedRooms(userId: string): Promise<string[]> {
    return (await this.storage.repos.memberships.roomsOf(userId, ['join'])).map((m) => m.room_id)
  }

  /** GET /messages. Visibility may hide events, so pages are refilled until `limit` or the end of history. */
  async messages(requester: Requester, roomId: string, request: MessagesRequest) {
    const repos = this.storage.repos
    await this.readerOf(roomId, requester.userId)
    const ignored = await ignoredUsers(repos, requester.userId)
    const dir = request.dir
    let from: TimelineToken = request.from !== undefined ? parseToken(request.from) : dir === 'b' ? { kind: 's', stream: Number.MAX_SAFE_INTEGER } : { kind: 's', stream: 0 }
    const to = request.to !== undefined ? parseToken(request.to) : null
    const start = from
    const read = async () => {
      const chunk: EventRow[] = []
      let exhausted = false
      let lowestDepth: number | null = null
      for (let round = 0; round < 5 && chunk.length < request.limit && !exhausted; round++) {
        const want = request.limit - chunk.length
        const page = await repos.timeline.page(roomId, from, to, dir, want, request.filter)
        if (page.length < want) exhausted = true
        if (page.length === 0) break
        const last = page[page.length - 1] as EventRow
        from = tokenOf(last)
        lowestDepth = last.depth
        chunk.push(...withoutIgnored(await filterVisible(repos, roomId, requester.userId, page), ignored))
      }
      return { chunk, exhausted, lowestDepth }
    }
    let { chunk, exhausted, lowestDepth } = await read()
    // Backwards to where this server's copy of the room begins: its other servers are asked for the rest first.
    if (dir === 'b' && to === null && this.history && (await this.history.wanted(roomId, exhausted, lowestDepth)) && (await this.history.backfill(roomId)) > 0) {
      from = start
      ;({ chunk, exhausted, lowestDepth } = await read())
    }
    const events = await this.format(repos, chunk, requester)
    const result: { chunk: ClientEvent[]; start: string; end?: string; state?: ClientEvent[] } = {
      chunk: events,
      // Without `from`, the start is the end of the timeline the page was read from.
      start: request.from ?? (dir === 'b' ? `s${Number.MAX_SAFE_INTEGER}` : 's0'),
    }
    // As Synapse: a page with events carries `end` even when it reached the first event (the next page, empty,
    // has none), so a client always gets a token to continue from what it was given.
    if (!exhausted || events.length > 0) result.end = formatToken(from)
    if (request.filter?.lazyLoadMembers) result.state = await this.memberStateFor(repos, roomId, chunk, requester)
    return result
  }

  /** Lazy-loading members: the current member events of the chunk's senders. */
  private async memberStateFor(repos: Repositories, roomId: string, rows: EventRow[], requester: Requester): Promise<ClientEvent[]> {
    const senders = [...new Set(rows.map((r) => r.sender))]
    const current = await repos.state.currentEvents(roomId, senders.map((s) => ['m.room.member', s] as [string, string]))
    return this.format(repos, await repos.events.getMany(roomId, current.map((c) => c.event_id)), requester)
  }

  /**
   * GET /rooms/{roomId}/initialSync: the room's state and latest events. A member sees the room now, a
   * former member as it was when they left; anyone else may preview (peek into) a world_readable room, and
   * is refused any other (as Synapse: an invitee or knocker previews like a stranger).
   */
  async initialSync(requester: Requester, roomId: string, limit: number): Promise<RoomSnapshot> {
    const repos = this.storage.repos
    const [own, room, worldReadable] = await Promise.all([repos.memberships.get(roomId, requester.userId), repos.rooms.get(roomId), isWorldReadable(repos, roomId)])
    const membership = own?.membership
    const parted = membership === 'leave' || membership === 'ban'
    const peeking = membership !== 'join' && !parted
    if (!room || (peeking && !worldReadable)) {
      throw forbidden('You are not in this room, and it cannot be previewed')
    }
    // A former member's view ends with their leave (or ban), which the page includes.
    const end: TimelineToken = { kind: 's', stream: parted && own ? own.stream_ordering : Number.MAX_SAFE_INTEGER }
    const [stateRows, page, ignored, accountData] = await Promise.all([
      peeking ? repos.state.currentStateEvents(roomId).then((c) => repos.events.getMany(roomId, c.map((e) => e.event_id))) : this.stateRows(requester, roomId, { types: null }),
      // One event at least, even for limit 0: the newest gives the end token.
      repos.timeline.page(roomId, end, null, 'b', Math.max(limit, 1)),
      ignoredUsers(repos, requester.userId),
      repos.accountData.ofRoom(requester.userId, roomId),
    ])
    const newest = page[0]
    const rows = page.slice(0, limit)
    const oldest = rows[rows.length - 1]
    const chunk = withoutIgnored(await filterVisible(repos, roomId, requester.userId, rows.reverse()), ignored)
    const [messages, state] = await Promise.all([this.format(repos, chunk, requester), this.format(repos, stateRows, requester)])
    const joined = parted ? [] : stateRows.filter((r) => r.type === 'm.room.member' && (JSON.parse(r.json) as { content?: JsonObject }).content?.membership === 'join').map((r) => r.state_key as string)
    return {
      room_id: roomId,
      ...(peeking ? {} : { membership: membership as string }),
      messages: {
        chunk: messages,
        // The start continues backwards with /messages, the end forwards (from the newest event on).
        start: oldest ? formatToken(tokenOf(oldest)) : newest ? `s${newest.stream_ordering}` : formatToken(end),
        end: newest ? `s${newest.stream_ordering}` : formatToken(end),
      },
      state,
      visibility: room.is_public ? 'public' : 'private',
      account_data: accountData.map((a) => ({ type: a.type, content: a.content as JsonObject })),
      joined,
    }
  }

  /** GET /timestamp_to_event: the visible event closest to `ts` in direction `dir`. */
  async eventAt(requester: Requester, roomId: string, ts: number, dir: 'b' | 'f'): Promise<{ event_id: string; origin_server_ts: number }> {
    const repos = this.storage.repos
    await this.readerOf(roomId, requester.userId)
    // Visibility can hide the nearest events; look a little further before giving up.
    const candidates = await repos.timeline.nearTimestamp(roomId, ts, dir, 50)
    const [found] = await filterVisible(repos, roomId, requester.userId, candidates)
    if (!found) throw notFound(`Unable to find event from ${ts} in ${dir === 'f' ? 'forward' : 'backward'} direction`)
    return { event_id: found.event_id, origin_server_ts: Number((JSON.parse(found.json) as { origin_server_ts: number }).origin_server_ts) }
  }

  /** GET /context/{eventId}. */
  async context(requester: Requester, roomId: string, eventId: string, limit: number, filter?: EventFilter & { lazyLoadMembers?: boolean | undefined }) {
    const repos = this.storage.repos
    // Someone who may not read the room at all is refused as such, before any event is looked for (as Synapse).
    await this.readerOf(roomId, requester.userId)
    const stored = await repos.events.get(roomId, eventId)
    const [row] = stored ? await filterVisible(repos, roomId, requester.userId, [stored]) : []
    if (!row) throw notFound('Event not found')
    const before = Math.floor(limit / 2)
    const after = limit - before
    const token = tokenOf(row)
    const [b, a] = await Promise.all([
      repos.timeline.page(roomId, token, null, 'b', before, filter),
      repos.timeline.page(roomId, token, null, 'f', after, filter),
    ])
    const visibleBefore = await filterVisible(repos, roomId, requester.userId, b)
    const visibleAfter = await filterVisible(repos, roomId, requester.userId, a)
    const [event, eventsBefore, eventsAfter] = await Promise.all([
      this.format(repos, [row], requester),
      this.format(repos, visibleBefore, requester),
      this.format(repos, visibleAfter, requester),
    ])
    // With lazy-loaded members: the state without member events, plus the members who sent what is returned.
    const senders = [...new Set([row, ...visibleBefore, ...visibleAfter].map((e) => e.sender))]
    const stateRows = await this.stateRows(requester, roomId, filter?.lazyLoadMembers ? { membersOf: senders } : { types: null }).catch(() => [])
    return {
      event: event[0],
      events_before: eventsBefore,
      events_after: eventsAfter,
      start: formatToken(b.length > 0 ? tokenOf(b[b.length - 1] as EventRow) : token),
      end: formatToken(a.length > 0 ? tokenOf(a[a.length - 1] as EventRow) : token),
      state: await this.format(repos, stateRows, requester),
    }
  }
}
