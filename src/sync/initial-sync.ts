// GET /_matrix/client/v3/initialSync (client-server API r0, deprecated "Get the user's current state"): a
// snapshot of every room of the user, the presence of the users sharing one, and the user's account data.
// Its `end` is a /sync token ("s<position>"), so GET /events and /sync continue from it; each room's
// `messages` tokens continue with /messages. Every read is batched over all the rooms: a user in 1,000 rooms
// costs the same dozen queries as a user in one.
import type { JsonObject } from '../protocol/events/types.ts'
import type { Clock } from '../shared/clock.ts'
import type { EventRow, MembershipRow, Storage } from '../storage/index.ts'
import { legacyEvent, toClientEvents, viewerOf } from '../rooms/client-events.ts'
import { formatToken, tokenOf } from '../rooms/read.ts'
import { filterVisibleByRoom } from '../rooms/visibility.ts'
import { ignoredUsers, invitesBlocked, withoutIgnored, withoutIgnoredInvites } from '../directory/index.ts'
import type { Requester } from '../users/index.ts'
import type { StreamNotifier } from './notifier.ts'
import { byRoom, inviteStates } from './rooms.ts'
import type { SyncSources } from './sync.ts'

export interface InitialSyncRequest {
  /** The most messages per room (the caller bounds it). */
  limit: number
  /** Include the rooms the user left (or was banned from), as they were then. */
  archived: boolean
}

export interface InitialSyncRoom {
  room_id: string
  membership: string
  invite?: JsonObject
  messages?: { chunk: JsonObject[]; start: string; end: string }
  state?: JsonObject[]
  visibility: 'public' | 'private'
  account_data: JsonObject[]
}

export interface InitialSyncResponse {
  end: string
  rooms: InitialSyncRoom[]
  presence: JsonObject[]
  account_data: JsonObject[]
  /** The m.receipt events of the joined rooms, each with its room_id. */
  receipts: JsonObject[]
}

export class InitialSnapshot {
  private readonly storage: Storage
  private readonly notifier: StreamNotifier
  private readonly clock: Clock
  private readonly sources: SyncSources

  constructor(storage: Storage, notifier: StreamNotifier, clock: Clock, sources: SyncSources) {
    this.storage = storage
    this.notifier = notifier
    this.clock = clock
    this.sources = sources
  }

  async snapshot(requester: Requester, request: InitialSyncRequest): Promise<InitialSyncResponse> {
    const repos = this.storage.repos
    const userId = requester.userId
    // As an initial /sync: everything that completed before the request is in it, nothing past `end`.
    await this.notifier.refresh()
    const upTo = this.notifier.current
    const kinds = request.archived ? ['join', 'invite', 'leave', 'ban'] : ['join', 'invite']
    const [current, ignored, blocked, accountData, presence] = await Promise.all([
      repos.memberships.roomsOf(userId, kinds),
      ignoredUsers(repos, userId),
      invitesBlocked(repos, userId),
      repos.accountData.changed(userId, 0, upTo),
      this.sources.presence ? this.sources.presence(requester, null, upTo, undefined) : Promise.resolve([]),
    ])
    // A membership committed past `end` is taken as it was at `end` (it reaches the client through /events).
    const ahead = current.filter((m) => m.stream_ordering > upTo).map((m) => m.room_id)
    const asOfEnd = ahead.length === 0 ? [] : await repos.sync.membershipRowsAt(userId, ahead, upTo)
    const memberships = withoutIgnoredInvites(
      [...current.filter((m) => m.stream_ordering <= upTo), ...asOfEnd.filter((m) => kinds.includes(m.membership))],
      ignored,
      blocked,
    )
    const joined = memberships.filter((m) => m.membership === 'join')
    const invited = memberships.filter((m) => m.membership === 'invite')
    const parted = memberships.filter((m) => m.membership === 'leave' || m.membership === 'ban')
    const joinedIds = joined.map((m) => m.room_id)
    const { limit } = request

    // The latest `limit` events of each room: a joined room's up to `end`, a left one's up to the leave.
    const [joinedRows, partedRows, currentState, stateAtLeave, invites, publicRooms, ephemeral] = await Promise.all([
      limit > 0 ? repos.timeline.recentInRooms(joinedIds, 0, upTo, limit) : Promise.resolve([]),
      limit > 0 ? repos.sync.rangesInRooms(parted.map((m) => ({ roomId: m.room_id, after: 0, upTo: m.stream_ordering })), limit) : Promise.resolve([]),
      repos.sync.currentState(joinedIds),
      repos.sync.stateAt(parted.map((m) => ({ roomId: m.room_id, at: m.stream_ordering }))),
      inviteStates(repos, userId, invited),
      repos.rooms.publicAmong(memberships.map((m) => m.room_id)),
      joinedIds.length > 0 ? this.sources.ephemeral(requester, joinedIds, null, upTo) : Promise.resolve(new Map<string, JsonObject[]>()),
    ])
    const timelines = byRoom(partedRows)
    for (const [roomId, rows] of byRoom(joinedRows)) timelines.set(roomId, rows.reverse())
    const visible = await filterVisibleByRoom(repos, userId, timelines)
    const states = byRoom([...currentState, ...stateAtLeave])

    // Format everything in one batch, then distribute.
    const chunks = new Map<string, EventRow[]>()
    for (const [roomId, rows] of visible) chunks.set(roomId, withoutIgnored(rows, ignored))
    const allRows = [...[...chunks.values()].flat(), ...[...states.values()].flat(), ...invites.events.values()]
    const formatted = await toClientEvents(repos, allRows, viewerOf(requester), this.clock.now())
    const byId = new Map(allRows.map((r, i) => [r.event_id, legacyEvent(formatted[i] as unknown as JsonObject) as JsonObject]))
    const fmt = (rows: EventRow[]): JsonObject[] => rows.map((r) => byId.get(r.event_id)).filter((e): e is JsonObject => e !== undefined)

    const globalData: JsonObject[] = []
    const roomData = new Map<string, JsonObject[]>()
    for (const a of accountData) {
      const event = { type: a.type, content: a.content as JsonObject }
      if (a.room_id === '') globalData.push(event)
      else roomData.set(a.room_id, [...(roomData.get(a.room_id) ?? []), event])
    }

    const rooms: InitialSyncRoom[] = []
    const base = (m: MembershipRow) => ({
      room_id: m.room_id,
      membership: m.membership,
      visibility: publicRooms.has(m.room_id) ? ('public' as const) : ('private' as const),
      account_data: roomData.get(m.room_id) ?? [],
    })
    for (const m of [...joined, ...parted]) {
      // A timeline's tokens: back from its oldest event, forward from where it ends (`end`, or the leave).
      const endAt = m.membership === 'join' ? upTo : m.stream_ordering
      const rows = timelines.get(m.room_id) ?? []
      const oldest = rows[0]
      rooms.push({
        ...base(m),
        messages: {
          chunk: fmt(chunks.get(m.room_id) ?? []),
          start: oldest ? formatToken(tokenOf(oldest)) : `s${endAt}`,
          end: `s${endAt}`,
        },
        state: fmt(states.get(m.room_id) ?? []),
      })
    }
    for (const m of invited) {
      const event = byId.get(m.event_id)
      // The invite carries the room's stripped state, as /sync's invite_state shows it.
      const invite = event ? { ...event, unsigned: { ...((event.unsigned as JsonObject | undefined) ?? {}), invite_room_state: invites.states.get(m.room_id) ?? [] } } : undefined
      rooms.push({ ...base(m), ...(invite ? { invite } : {}) })
    }

    const receipts: JsonObject[] = []
    for (const [roomId, events] of ephemeral) for (const e of events) if (e.type === 'm.receipt') receipts.push({ ...e, room_id: roomId })
    return {
      end: `s${upTo}`,
      rooms,
      presence: presence.map((e) => legacyEvent(e) as JsonObject),
      account_data: globalData,
      receipts,
    }
  }
}
