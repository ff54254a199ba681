// The rooms section of /sync: joined rooms (timeline, state, summary), invites, knocks and left rooms.
// Every read is batched across rooms; only rooms whose history might be hidden get per-room checks.
import type { JsonObject } from '../protocol/events/types.ts'
import { STRIPPED_STATE_TYPES, strippedState, strippedStateOf, toClientEvents, type ClientEvent, type Viewer } from '../rooms/client-events.ts'
import { formatToken, tokenOf } from '../rooms/read.ts'
import { filterVisibleByRoom } from '../rooms/visibility.ts'
import { withoutIgnored, withoutIgnoredInvites } from '../directory/index.ts'
import type { EventRow, MembershipRow, Repositories } from '../storage/index.ts'
import type { LocalTimeline } from './local.ts'
import type { SentMembers } from './lazy-members.ts'
import { roomAllowed, toEventFilter, typeAllowed, type FilterDefinition } from './filter.ts'

export interface JoinedRoomSync {
  timeline: { events: ClientEvent[]; limited: boolean; prev_batch?: string }
  state: { events: ClientEvent[] }
  state_after?: { events: ClientEvent[] }
  ephemeral: { events: JsonObject[] }
  account_data: { events: JsonObject[] }
  summary: JsonObject
  unread_notifications: { notification_count: number; highlight_count: number }
  unread_thread_notifications?: Record<string, { notification_count: number; highlight_count: number }>
}

export interface RoomsSync {
  join: Record<string, JoinedRoomSync>
  invite: Record<string, { invite_state: { events: JsonObject[] } }>
  knock: Record<string, { knock_state: { events: JsonObject[] } }>
  leave: Record<string, LeftRoomSync>
}

export interface LeftRoomSync {
  timeline: { events: ClientEvent[]; limited: boolean; prev_batch?: string }
  /** Omitted with use_state_after, which sends state_after instead. */
  state?: { events: ClientEvent[] }
  state_after?: { events: ClientEvent[] }
  account_data: { events: JsonObject[] }
}

export interface RoomsSyncInput {
  repos: Repositories
  viewer: Viewer
  since: number | null
  upTo: number
  fullState: boolean
  useStateAfter: boolean
  filter: FilterDefinition
  now: number
  /** Per-room account data changed in range, by room. */
  roomAccountData: Map<string, JsonObject[]>
  /** False when no room event at all was written in the range (the timeline queries are skipped). */
  eventsChanged: boolean
  /** The rooms with events in the range, if the caller knows them. */
  roomsWithEvents?: Set<string>
  /** Every event of the range in the joined rooms, by room, when this instance committed them all (LocalDelivery.timeline). */
  localTimeline?: LocalTimeline
  /** Told whether an incremental sync's timelines came from localTimeline or from the database. */
  observeTimeline?: (outcome: 'local' | 'read') => void
  /** Ephemeral events (typing, receipts) for the range, by room. */
  ephemeral: Map<string, JsonObject[]>
  /** The viewer's current memberships of the SYNCED_MEMBERSHIPS kinds (read by the caller, which watches their rooms). */
  memberships: MembershipRow[]
  /** The users the viewer ignores. */
  ignored: Set<string>
  /** Whether the viewer blocks every invite (m.invite_permission_config): invites are then left out. */
  invitesBlocked: boolean
  /** With lazy-loaded members: the member events this device already holds, as earlier responses it acknowledged sent them. */
  sentMembers?: SentMembers
  /** Unread notification counts by room (push rule evaluation), for every joined room in the response. */
  unreadCounts: (roomIds: string[]) => Promise<Map<string, UnreadCounts>>
}

export interface UnreadCounts {
  notification_count: number
  highlight_count: number
  /** The threads' share of the counts above, by thread root (sent with unread_thread_notifications). */
  threads?: Record<string, { notification_count: number; highlight_count: number }>
}

/** The state that names a room (when not empty), so that its summary has no heroes. */
const NAMING_TYPES = ['m.room.name', 'm.room.canonical_alias']
const DEFAULT_TIMELINE_LIMIT = 10
/** The memberships /sync reports a room for. */
export const SYNCED_MEMBERSHIPS = ['join', 'invite', 'knock', 'leave', 'ban']
const HEROES = 5

interface RoomPlan {
  roomId: string
  /** Send the state from scratch (initial sync, newly joined, full_state). */
  full: boolean
  /** Joined since the last sync (an incremental sync): its timeline is limited, the client has none of its history. */
  newlyJoined: boolean
  /** Timeline bounds: events in (after, upTo]. */
  after: number
  upTo: number
}

/** Rows grouped by room, each room's in the order given. */
export function byRoom(rows: EventRow[]): Map<string, EventRow[]> {
  const map = new Map<string, EventRow[]>()
  for (const r of rows) {
    const list = map.get(r.room_id)
    if (list) list.push(r)
    else map.set(r.room_id, [r])
  }
  return map
}

/** Whether a state row gives its room a name: a non-empty m.room.name or m.room.canonical_alias, unredacted. */
function namesRoom(r: EventRow): boolean {
  if (r.state_key !== '' || r.redacted_by !== null || !NAMING_TYPES.includes(r.type)) return false
  const content = (JSON.parse(r.json) as { content?: Record<string, unknown> }).content ?? {}
  const value = r.type === 'm.room.name' ? content.name : content.alias
  return typeof value === 'string' && value !== ''
}

const stateKeyOf = (r: EventRow) => `${r.type}\u0000${r.state_key}`

/**
 * The state at the start of a timeline, from the current state and the timeline's own state events:
 * a key the timeline changes goes back to the event its first change replaced (exact for a linear history).
 */
function stateBeforeTimeline(current: EventRow[], timeline: EventRow[], replacedRows: Map<string, EventRow>): EventRow[] {
  const firstChange = new Map<string, EventRow>()
  for (const e of timeline) if (e.state_key !== null && !firstChange.has(stateKeyOf(e))) firstChange.set(stateKeyOf(e), e)
  const out: EventRow[] = []
  for (const c of current) {
    const change = firstChange.get(stateKeyOf(c))
    if (!change) out.push(c)
    else if (change.replaces_state) {
      const before = replacedRows.get(change.replaces_state)
      if (before) out.push(before)
    }
  }
  return out
}

/** Rounds of refilling a timeline that history visibility emptied, and how many events each reads (at least). */
const REFILL_ROUNDS = 3
const REFILL_BATCH = 20

/**
 * Keeps what the viewer may see of each timeline whose first event is older than their membership (oldest
 * first), refilling from further back in its range while fewer than limit + 1 remain and older events exist.
 * A state event that is the room's current state stays, even from a time the viewer could not see (a client
 * must learn of it, as in Synapse). `complete`: the rooms whose list already holds their whole range. Returns
 * the rooms whose refill stopped with older events unread (their timelines are limited).
 */
async function keepVisibleTimelines(
  repos: Repositories,
  userId: string,
  timelines: Map<string, EventRow[]>,
  complete: Set<string>,
  membershipAt: Map<string, number>,
  rangeStart: Map<string, number>,
  limit: number,
  filter: ReturnType<typeof toEventFilter>,
): Promise<Set<string>> {
  let batches = new Map<string, EventRow[]>()
  for (const [roomId, list] of timelines) {
    const at = membershipAt.get(roomId)
    if (at !== undefined && list.length > 0 && (list[0] as EventRow).stream_ordering < at) batches.set(roomId, list)
  }
  const shown = new Map<string, EventRow[]>()
  const more = new Set([...batches.keys()].filter((r) => !complete.has(r)))
  const load = Math.max(REFILL_BATCH, 2 * limit) + 1
  for (let round = 0; batches.size > 0; round++) {
    const visible = await filterVisibleByRoom(repos, userId, batches)
    const visibleIds = new Set([...visible.values()].flat().map((r) => r.event_id))
    const current = await repos.sync.currentOf([...batches.values()].flat().filter((r) => !visibleIds.has(r.event_id)))
    const next: Array<{ roomId: string; after: number; upTo: number }> = []
    for (const [roomId, rows] of batches) {
      // The visible rows as the filter gives them (an erased sender's redacted), in stream order.
      const shownAs = new Map((visible.get(roomId) ?? []).map((r) => [r.event_id, r]))
      const keptRows = rows.filter((r) => shownAs.has(r.event_id) || current.has(r.event_id)).map((r) => shownAs.get(r.event_id) ?? r)
      const kept = [...keptRows, ...(shown.get(roomId) ?? [])]
      shown.set(roomId, kept)
      const oldest = rows[0]
      if (kept.length <= limit && more.has(roomId) && oldest && round < REFILL_ROUNDS) {
        next.push({ roomId, after: rangeStart.get(roomId) ?? 0, upTo: oldest.stream_ordering - 1 })
      }
    }
    batches = new Map()
    if (next.length === 0) break
    const older = byRoom(await repos.timeline.recentInRanges(next, load, filter))
    for (const { roomId } of next) {
      const rows = (older.get(roomId) ?? []).reverse()
      if (rows.length < load) more.delete(roomId)
      if (rows.length > 0) batches.set(roomId, rows)
    }
  }
  for (const [roomId, rows] of shown) timelines.set(roomId, rows)
  return new Set([...more].filter((r) => (shown.get(r)?.length ?? 0) <= limit))
}

export async function syncRooms(input: RoomsSyncInput): Promise<RoomsSync> {
  const { repos, viewer, since, upTo, filter } = input
  const roomFilter = filter.room
  const timelineFilter = roomFilter?.timeline
  const limit = timelineFilter?.limit ?? DEFAULT_TIMELINE_LIMIT
  const lazyMembers = roomFilter?.state?.lazy_load_members === true
  const result: RoomsSync = { join: {}, invite: {}, knock: {}, leave: {} }
  const { ignored, memberships: currentRows } = input
  // A membership that committed after upTo (this instance's safe position has not reached it yet) is taken
  // as it was at upTo; otherwise the room would be sent as newly joined now and again once upTo passes it.
  const ahead = currentRows.filter((m) => m.stream_ordering > upTo).map((m) => m.room_id)
  const asOfUpTo = ahead.length === 0 ? [] : await repos.sync.membershipRowsAt(viewer.userId, ahead, upTo)
  const memberships = [...currentRows.filter((m) => m.stream_ordering <= upTo), ...asOfUpTo.filter((m) => SYNCED_MEMBERSHIPS.includes(m.membership))].filter((m) =>
    roomAllowed(m.room_id, roomFilter),
  )
  const changed = (m: MembershipRow) => since === null || m.stream_ordering > since
  const joined = memberships.filter((m) => m.membership === 'join')
  const joinedIds = joined.map((m) => m.room_id)

  // Which joined rooms were already joined at `since` (the others are new to the client: full state).
  const [before, withEvents] = await Promise.all([
    since === null ? new Map<string, string>() : repos.sync.membershipsAt(viewer.userId, joined.filter(changed).map((m) => m.room_id), since),
    since === null
      ? new Set(joinedIds)
      : !input.eventsChanged
        ? new Set<string>()
        : (input.roomsWithEvents ?? repos.timeline.roomsWithEvents(joinedIds, since, upTo)),
  ])
  const plans: RoomPlan[] = []
  for (const m of joined) {
    const isNew = since === null || (changed(m) && before.get(m.room_id) !== 'join')
    const full = isNew || input.fullState
    if (!full && !withEvents.has(m.room_id) && !input.roomAccountData.has(m.room_id) && !input.ephemeral.has(m.room_id)) continue
    plans.push({ roomId: m.room_id, full, newlyJoined: isNew && since !== null, after: isNew ? 0 : (since as number), upTo })
  }

  // Unread counts depend only on which rooms are sent: they are read while the rest is assembled.
  const planIds = plans.map((p) => p.roomId)
  const unreadPromise = input.unreadCounts(planIds)
  unreadPromise.catch(() => {}) // awaited below; a failure must not go unobserved meanwhile

  // What rooms sent whole need does not depend on their timelines: read alongside them. The current state
  // of full plans (the state before the timeline is derived from it below) and their summaries.
  const fullRooms = plans.filter((p) => p.full).map((p) => p.roomId)
  const currentStatePart = repos.sync.currentState(fullRooms, null, lazyMembers)
  const fullSummaryPart = Promise.all([repos.directory.memberCounts(fullRooms), repos.sync.heroes(fullRooms, viewer.userId, HEROES)])
  currentStatePart.catch(() => {})
  fullSummaryPart.catch(() => {})

  // Timelines: the events this instance committed in the range when they are all of them (local delivery:
  // no room is sent whole and the filter selects by nothing but the limit); otherwise one query for all rooms
  // sharing the same range, newest `limit + 1` each (the extra tells `limited`).
  const timelines = new Map<string, EventRow[]>()
  const timelineFilterOf = toEventFilter(timelineFilter)
  const local = input.localTimeline && plans.every((p) => !p.full) && Object.keys(timelineFilterOf ?? {}).length === 0 ? input.localTimeline : null
  let txnIds: Map<string, string> | undefined
  if (plans.length > 0 && since !== null) input.observeTimeline?.(local ? 'local' : 'read')
  if (local) {
    for (const p of plans) timelines.set(p.roomId, local.rows.get(p.roomId) ?? [])
    txnIds = local.txnIds(viewer.userId, viewer.deviceId)
  } else {
    const ranges = new Map<number, string[]>()
    for (const p of plans) ranges.set(p.after, [...(ranges.get(p.after) ?? []), p.roomId])
    const perRange = await Promise.all([...ranges].map(([after, rooms]) => repos.timeline.recentInRooms(rooms, after, upTo, limit + 1, timelineFilterOf)))
    for (const rows of perRange) for (const [roomId, list] of byRoom(rows)) timelines.set(roomId, list.reverse())
  }
  // History visibility can only hide events older than the viewer's latest membership change; a timeline
  // that loses events to it is refilled from further back, as a client would paginate.
  const complete = new Set<string>()
  for (const [roomId, list] of timelines) if (local || list.length <= limit) complete.add(roomId)
  const partial = await keepVisibleTimelines(repos, viewer.userId, timelines, complete, new Map(joined.map((m) => [m.room_id, m.stream_ordering])), new Map(plans.map((p) => [p.roomId, p.after])), limit, timelineFilterOf)
  const limitedRooms = new Set<string>()
  // Rooms sent from their first event whose whole visible history fits the timeline.
  const wholeHistory = new Set<string>()
  const fromStart = new Set(plans.filter((p) => p.after === 0).map((p) => p.roomId))
  for (const [roomId, list] of timelines) {
    if (list.length > limit || partial.has(roomId)) limitedRooms.add(roomId)
    else if (fromStart.has(roomId)) wholeHistory.add(roomId)
    if (list.length > limit) list.splice(0, list.length - limit)
  }
  if (ignored.size > 0) for (const [roomId, list] of timelines) timelines.set(roomId, withoutIgnored(list, ignored))

  // State: from scratch for full plans; for limited incremental ones, what changed between since and the timeline.
  // With lazy-loaded members, member events are fetched below only for the senders that need them.
  const replacedIds = [...timelines.values()].flat().map((e) => e.replaces_state).filter((id): id is string => id !== null)
  // (A local timeline holds no state event, and neither does the rest of its range.)
  const incrementalLimited = local ? [] : plans.filter((p) => !p.full && limitedRooms.has(p.roomId))
  // One query for all of them; each room keeps what changed before its own timeline began, latest per key.
  const [currentRowsOfState, replacedList, changedRows] = await Promise.all([
    currentStatePart,
    repos.events.getByIds(replacedIds),
    repos.timeline.stateChanges(incrementalLimited.map((p) => p.roomId), since ?? 0, upTo),
  ])
  const current = byRoom(currentRowsOfState)
  const replacedRows = new Map(replacedList.map((r) => [r.event_id, r]))
  const deltas = new Map<string, EventRow[]>()
  const changes = byRoom(changedRows)
  for (const p of incrementalLimited) {
    const first = timelines.get(p.roomId)?.[0]
    const end = first ? first.stream_ordering - 1 : upTo
    const latest = new Map<string, EventRow>()
    for (const c of changes.get(p.roomId) ?? []) if (c.stream_ordering <= end) latest.set(stateKeyOf(c), c)
    deltas.set(p.roomId, [...latest.values()])
  }

  const stateRows = new Map<string, EventRow[]>()
  for (const p of plans) {
    const timeline = timelines.get(p.roomId) ?? []
    let rows = p.full ? stateBeforeTimeline(current.get(p.roomId) ?? [], timeline, replacedRows) : (deltas.get(p.roomId) ?? [])
    if (roomFilter?.state) rows = rows.filter((r) => typeAllowed(r.type, roomFilter.state))
    stateRows.set(p.roomId, rows)
  }

  // Summaries and heroes: for new rooms and rooms whose membership changed in range (the spec lets an
  // unchanged summary be omitted, and most incremental syncs carry messages only).
  const touchesMembers = (rows: EventRow[] | undefined) => (rows ?? []).some((r) => r.type === 'm.room.member')
  const summaryIds = plans.filter((p) => p.full || touchesMembers(timelines.get(p.roomId)) || touchesMembers(deltas.get(p.roomId))).map((p) => p.roomId)
  const moreIds = plans.filter((p) => !p.full && (touchesMembers(timelines.get(p.roomId)) || touchesMembers(deltas.get(p.roomId)))).map((p) => p.roomId)
  const [[fullCounts, fullHeroes], [moreCounts, moreHeroes], moreNames] = await Promise.all([
    fullSummaryPart,
    Promise.all([repos.directory.memberCounts(moreIds), repos.sync.heroes(moreIds, viewer.userId, HEROES)]),
    repos.sync.currentState(moreIds, NAMING_TYPES),
  ])
  const counts = [...fullCounts, ...moreCounts]
  // A room with a name or canonical alias has no heroes (as in Synapse): its clients need neither them nor,
  // with lazy-loaded members, their member events (which would be every member of a small named room).
  const named = new Set([...currentRowsOfState, ...moreNames].filter(namesRoom).map((r) => r.room_id))
  const heroes = [...fullHeroes, ...moreHeroes].filter((h) => !named.has(h.room_id))
  const withSummary = new Set(summaryIds)
  const heroesByRoom = new Map<string, string[]>()
  for (const h of heroes) heroesByRoom.set(h.room_id, [...(heroesByRoom.get(h.room_id) ?? []), h.user_id])

  // Lazy-loaded members: only senders of the timeline (and the heroes), from the current state; the
  // syncing user's own on a room's first sync only, so that the client knows it is in the room.
  if (lazyMembers) {
    const pairs: Array<[string, string]> = []
    for (const p of plans) {
      // A room sent whole gets members from the lookup below only; an incremental one keeps the member
      // changes of its gap (state the client lacks, whoever sent the timeline).
      if (p.full) stateRows.set(p.roomId, (stateRows.get(p.roomId) ?? []).filter((r) => r.type !== 'm.room.member'))
      const wanted = new Set([...(timelines.get(p.roomId) ?? []).map((e) => e.sender), ...(heroesByRoom.get(p.roomId) ?? [])])
      if (p.full) wanted.add(viewer.userId)
      for (const u of wanted) pairs.push([p.roomId, u])
    }
    const members = byRoom(typeAllowed('m.room.member', roomFilter?.state) ? await repos.sync.memberEvents(pairs) : [])
    const redundant = roomFilter?.state?.include_redundant_members === true
    for (const p of plans) {
      const timeline = timelines.get(p.roomId) ?? []
      const rows = members.get(p.roomId) ?? []
      const state = stateRows.get(p.roomId) ?? []
      // A room sent whole gets each member as at the timeline's start (the event a change in the timeline
      // replaced); an incremental one what the client lacks: not what the timeline or the gap carries, nor
      // (unless include_redundant_members) a member event an earlier response to this device held.
      const carried = new Set([...timeline, ...state].map((e) => e.event_id))
      const known = p.full || redundant ? undefined : input.sentMembers?.known(p.roomId)
      state.push(...(p.full ? stateBeforeTimeline(rows, timeline, replacedRows) : rows.filter((r) => !carried.has(r.event_id) && known?.get(r.state_key ?? '') !== r.event_id)))
      stateRows.set(p.roomId, state)
      const sent = [...timeline, ...state].filter((r) => r.type === 'm.room.member' && r.state_key !== null).map((r): [string, string] => [r.state_key as string, r.event_id])
      input.sentMembers?.record(p.roomId, sent, p.full)
    }
  }

  // Format everything in one batch, then distribute.
  const allRows = [...[...timelines.values()].flat(), ...[...stateRows.values()].flat()]
  const federation = filter.event_format === 'federation'
  const formatted = await toClientEvents(repos, allRows, viewer, input.now, { depth: 0, ignored: [...ignored] }, { roomId: false, federation, ...(txnIds ? { txnIds } : {}) })
  const formattedById = new Map(allRows.map((r, i) => [r.event_id, formatted[i] as ClientEvent]))
  const fmt = (rows: EventRow[]) => rows.map((r) => formattedById.get(r.event_id) as ClientEvent)
  const countsByRoom = new Map(counts.map((c) => [c.room_id, c]))
  const unread = await unreadPromise
  const threadCounts = timelineFilter?.unread_thread_notifications === true

  for (const p of plans) {
    const timeline = timelines.get(p.roomId) ?? []
    // A room joined since the last sync is limited even when its whole history fits: the client holds
    // none of it, and a client that trusts `limited: false` would not paginate back (as Synapse does).
    const limited = limitedRooms.has(p.roomId) || p.newlyJoined
    const room: JoinedRoomSync = {
      timeline: { events: fmt(timeline), limited },
      state: { events: fmt(stateRows.get(p.roomId) ?? []) },
      ephemeral: { events: (input.ephemeral.get(p.roomId) ?? []).filter((e) => typeAllowed(String(e.type), roomFilter?.ephemeral)) },
      account_data: { events: (input.roomAccountData.get(p.roomId) ?? []).filter((e) => typeAllowed(String(e.type), roomFilter?.account_data)) },
      summary: withSummary.has(p.roomId)
        ? {
            ...(named.has(p.roomId) ? {} : { 'm.heroes': heroesByRoom.get(p.roomId) ?? [] }),
            'm.joined_member_count': countsByRoom.get(p.roomId)?.joined ?? 0,
            'm.invited_member_count': countsByRoom.get(p.roomId)?.invited ?? 0,
          }
        : {},
      unread_notifications: { notification_count: 0, highlight_count: 0 },
    }
    const counts = unread.get(p.roomId)
    if (counts) {
      room.unread_notifications = { notification_count: counts.notification_count, highlight_count: counts.highlight_count }
      if (threadCounts && counts.threads) {
        room.unread_thread_notifications = counts.threads
        // With thread counts requested, unread_notifications covers the main timeline only.
        for (const t of Object.values(counts.threads)) {
          room.unread_notifications.notification_count -= t.notification_count
          room.unread_notifications.highlight_count -= t.highlight_count
        }
      }
    }
    // An incremental update with nothing left once filtered (a hidden message, a filtered-out member event)
    // is not sent: the client has nothing to apply (as Synapse does).
    if (!p.full && room.timeline.events.length === 0 && room.state.events.length === 0 && room.ephemeral.events.length === 0 && room.account_data.events.length === 0) continue
    const first = timeline[0]
    // A room sent from its first event with all its history in the timeline gets prev_batch at the end of
    // the range, as from Synapse: /messages from it gives the timeline again and then its end (clients
    // written against Synapse page back from there and drop the events they hold).
    if (first && !wholeHistory.has(p.roomId)) room.timeline.prev_batch = formatToken(tokenOf(first))
    else room.timeline.prev_batch = `s${p.upTo}`
    if (input.useStateAfter) {
      // state_after: the state at the end of the timeline = the state before it plus the timeline's changes.
      const after = new Map<string, ClientEvent>()
      for (const e of [...room.state.events, ...room.timeline.events]) if (e.state_key !== undefined) after.set(`${e.type}\u0000${e.state_key}`, e)
      const changedKeys = p.full ? null : new Set(room.timeline.events.concat(room.state.events).filter((e) => e.state_key !== undefined).map((e) => `${e.type}\u0000${e.state_key}`))
      room.state_after = { events: [...after.entries()].filter(([k]) => changedKeys === null || changedKeys.has(k)).map(([, e]) => e) }
      delete (room as Partial<JoinedRoomSync>).state
    }
    result.join[p.roomId] = room
  }

  await addInvitesKnocksLeaves(input, withoutIgnoredInvites(memberships.filter(changed), ignored, input.invitesBlocked), ignored, result)
  return result
}

async function addInvitesKnocksLeaves(input: RoomsSyncInput, changedMemberships: MembershipRow[], ignored: Set<string>, result: RoomsSync): Promise<void> {
  const { repos, viewer, since, filter } = input
  const invites = changedMemberships.filter((m) => m.membership === 'invite' || m.membership === 'knock')
  const { states } = await inviteStates(repos, viewer.userId, invites)
  for (const m of invites) {
    const events = states.get(m.room_id) ?? []
    if (m.membership === 'invite') result.invite[m.room_id] = { invite_state: { events } }
    else result.knock[m.room_id] = { knock_state: { events } }
  }
  // Left rooms: after a leave or ban in range (and on an initial sync only with include_leave).
  const includeLeave = since !== null || filter.room?.include_leave === true
  const leaves = includeLeave ? changedMemberships.filter((m) => m.membership === 'leave' || m.membership === 'ban') : []
  const limit = filter.room?.timeline?.limit ?? DEFAULT_TIMELINE_LIMIT
  const roomFilter = filter.room
  // One more than the limit tells whether a timeline is limited; all left rooms in one query, through the
  // timeline filter as a joined room's.
  const [fetchedRows, joinedAtSince] = await Promise.all([
    repos.timeline.recentInRanges(leaves.map((m) => ({ roomId: m.room_id, after: since ?? 0, upTo: m.stream_ordering })), limit + 1, toEventFilter(roomFilter?.timeline)),
    since === null ? new Map<string, string>() : repos.sync.membershipsAt(viewer.userId, leaves.map((m) => m.room_id), since),
  ])
  const fetched = byRoom(fetchedRows)
  for (const list of fetched.values()) list.reverse()
  const limitedLeaves = new Set<string>()
  for (const [roomId, rows] of fetched) {
    if (rows.length > limit) {
      rows.splice(0, rows.length - limit)
      limitedLeaves.add(roomId)
    }
  }
  const visibleLeaves = await filterVisibleByRoom(repos, viewer.userId, fetched)
  for (const [roomId, rows] of visibleLeaves) visibleLeaves.set(roomId, withoutIgnored(rows, ignored))
  // A leave kept outside any timeline (an invite or knock to a room this server is not in, rejected or
  // withdrawn) is the left room's whole timeline.
  const outside = leaves.filter((m) => !(fetched.get(m.room_id) ?? []).some((r) => r.event_id === m.event_id))
  const outsideRows = (await repos.events.getByIds(outside.map((m) => m.event_id))).filter((r) => r.stream_ordering === null)
  const leaveStates = await leftRoomStates(input, leaves, visibleLeaves, limitedLeaves, joinedAtSince)
  const leaveEvents = await toClientEvents(repos, [...[...visibleLeaves.values()].flat(), ...outsideRows, ...[...leaveStates.values()].flat()], viewer, input.now, undefined, {
    roomId: true,
    federation: filter.event_format === 'federation',
  })
  const leaveById = new Map(leaveEvents.map((e) => [e.event_id, e]))
  for (const m of leaves) {
    const rows = fetched.get(m.room_id) ?? []
    const limited = limitedLeaves.has(m.room_id)
    const events = (visibleLeaves.get(m.room_id) ?? []).map((r) => leaveById.get(r.event_id)).filter((e): e is ClientEvent => e !== undefined)
    const own = outsideRows.some((r) => r.event_id === m.event_id) ? leaveById.get(m.event_id) : undefined
    if (own) events.push(own)
    const first = rows[0]
    const left: LeftRoomSync = {
      timeline: { events, limited, ...(first ? { prev_batch: formatToken(tokenOf(first)) } : {}) },
      account_data: { events: input.roomAccountData.get(m.room_id) ?? [] },
    }
    if (input.useStateAfter) {
      // The state updates up to the end of the timeline: the latest event of each state key in it.
      const after = new Map<string, ClientEvent>()
      for (const e of events) if (e.state_key !== undefined) after.set(`${e.type}\u0000${e.state_key}`, e)
      left.state_after = { events: [...after.values()] }
    } else {
      left.state = { events: (leaveStates.get(m.room_id) ?? []).map((r) => leaveById.get(r.event_id)).filter((e): e is ClientEvent => e !== undefined) }
    }
    result.leave[m.room_id] = left
  }
}

/**
 * The state section of each left room: for a room the viewer was not joined to at `since` (or on an initial
 * sync), its state as they left it, before the timeline; for one they were, what changed in the gap before a
 * limited timeline; through the state filter (and lazy-loaded members: the timeline's senders and the viewer).
 */
async function leftRoomStates(
  input: RoomsSyncInput,
  leaves: MembershipRow[],
  timelines: Map<string, EventRow[]>,
  limited: Set<string>,
  joinedAtSince: Map<string, string>,
): Promise<Map<string, EventRow[]>> {
  const { repos, since, filter } = input
  const stateFilter = filter.room?.state
  const whole = leaves.filter((m) => since === null || joinedAtSince.get(m.room_id) !== 'join')
  const gapped = leaves.filter((m) => since !== null && joinedAtSince.get(m.room_id) === 'join' && limited.has(m.room_id))
  const timelineRows = [...timelines.values()].flat()
  const [atLeave, changes, replaced] = await Promise.all([
    repos.sync.stateAt(whole.map((m) => ({ roomId: m.room_id, at: m.stream_ordering }))),
    repos.timeline.stateChanges(gapped.map((m) => m.room_id), since ?? 0, Math.max(0, ...gapped.map((m) => m.stream_ordering))),
    repos.events.getByIds(timelineRows.map((r) => r.replaces_state).filter((id): id is string => id !== null)),
  ])
  const replacedRows = new Map(replaced.map((r) => [r.event_id, r]))
  const out = new Map<string, EventRow[]>()
  const atLeaveByRoom = byRoom(atLeave)
  for (const m of whole) out.set(m.room_id, stateBeforeTimeline(atLeaveByRoom.get(m.room_id) ?? [], timelines.get(m.room_id) ?? [], replacedRows))
  const changesByRoom = byRoom(changes)
  for (const m of gapped) {
    const first = timelines.get(m.room_id)?.[0]
    const end = first ? first.stream_ordering - 1 : m.stream_ordering
    const latest = new Map<string, EventRow>()
    for (const c of changesByRoom.get(m.room_id) ?? []) if (c.stream_ordering <= end) latest.set(stateKeyOf(c), c)
    out.set(m.room_id, [...latest.values()])
  }
  // With lazy-loaded members, a room sent whole keeps only the timeline senders' and the viewer's members.
  const lazy = stateFilter?.lazy_load_members === true
  const wholeIds = new Set(whole.map((m) => m.room_id))
  for (const [roomId, rows] of out) {
    const senders = new Set([input.viewer.userId, ...(timelines.get(roomId) ?? []).map((e) => e.sender)])
    out.set(roomId, rows.filter((r) => typeAllowed(r.type, stateFilter) && (!lazy || r.type !== 'm.room.member' || !wholeIds.has(roomId) || senders.has(r.state_key ?? ''))))
  }
  return out
}

/**
 * The stripped state shown with each invite or knock, by room, and the invite and knock events themselves,
 * by event ID (three queries for all of them): the room's identifying state, the inviter's own member event
 * (whose name and avatar a client shows a DM invite by, as Synapse sends it) and, last, the invite or knock.
 */
export async function inviteStates(repos: Repositories, userId: string, invites: MembershipRow[]): Promise<{ states: Map<string, JsonObject[]>; events: Map<string, EventRow> }> {
  if (invites.length === 0) return { states: new Map(), events: new Map() }
  const inviters = invites.filter((m) => m.membership === 'invite' && m.sender !== userId).map((m): [string, string] => [m.room_id, m.sender])
  const [stripped, own, inviterRows] = await Promise.all([
    repos.sync.currentState(invites.map((m) => m.room_id), STRIPPED_STATE_TYPES).then(byRoom),
    repos.events.getByIds(invites.map((m) => m.event_id)),
    repos.sync.memberEvents(inviters).then(byRoom),
  ])
  const events = new Map(own.map((e) => [e.event_id, e]))
  const states = new Map<string, JsonObject[]>()
  for (const m of invites) {
    const mine = events.get(m.event_id)
    const known = [...(stripped.get(m.room_id) ?? []), ...(inviterRows.get(m.room_id) ?? [])]
    // A room this server is not in: the stripped state the inviting server sent with the invite.
    const list = known.length > 0 || !mine ? known.map(strippedState) : inviteRoomState(mine)
    if (mine) list.push(strippedState(mine))
    states.set(m.room_id, list)
  }
  return { states, events }
}

/**
 * The stripped state shown with an invite or a knock in a room this server is not in: what the inviting
 * server sent, or the knocked-on server answered (kept in the event's unsigned invite_room_state /
 * knock_room_state).
 */
function inviteRoomState(row: EventRow): JsonObject[] {
  const unsigned = (JSON.parse(row.json) as { unsigned?: { invite_room_state?: unknown; knock_room_state?: unknown } }).unsigned
  return strippedStateOf(unsigned?.invite_room_state ?? unsigned?.knock_room_state)
}
