// The user's server-side room list for simplified sliding sync, and each requested list's window of it.
// The list holds the rooms the user is joined to, invited to or knocking on, those they were kicked or banned
// from, and those they left that this connection has sent (MSC4186); it is ordered by bump stamp: for a
// joined room the position of its latest message-like event (BUMP_TYPES: not every state change), for the
// others the position of the user's membership. Filters read only what they need, batched across rooms.
import type { BumpedMembership, MembershipRow, Repositories, SlidingSummary } from '../../storage/index.ts'
import type { ListFilters } from './request.ts'

export interface ListedRoom {
  roomId: string
  membership: MembershipRow
  /** The room's bump stamp (the order of the list, latest first). */
  bump: number
}

/** Facts about the listed rooms that filters and room results share, read once per request. */
export interface RoomFacts {
  dms: Set<string>
  /** Those of the listed rooms the filters need (all, when a filter reads them), and of the rooms sent. */
  summaries: Map<string, SlidingSummary>
}

/** The listed rooms, latest activity first (ties by room ID, so the order is stable). */
export function orderRooms(rows: BumpedMembership[], userId: string, sentBefore: (roomId: string) => boolean): ListedRoom[] {
  const out: ListedRoom[] = []
  for (const m of rows) {
    const left = m.membership === 'leave' || m.membership === 'ban'
    // Rooms the user left themselves are listed only if this connection sent them (it must learn they left).
    if (left && m.sender === userId && !sentBefore(m.room_id)) continue
    out.push({ roomId: m.room_id, membership: m, bump: m.membership === 'join' ? (m.bump ?? m.stream_ordering) : m.stream_ordering })
  }
  return out.sort((x, y) => y.bump - x.bump || (x.roomId < y.roomId ? -1 : x.roomId > y.roomId ? 1 : 0))
}

/** The room IDs the user marks as direct chats (m.direct account data). */
export function directRooms(content: Record<string, unknown> | null): Set<string> {
  const out = new Set<string>()
  if (content === null) return out
  for (const ids of Object.values(content)) if (Array.isArray(ids)) for (const id of ids) if (typeof id === 'string') out.add(id)
  return out
}

/** Whether any of these filters reads the rooms' summaries (type, encryption, name). */
export function filtersReadSummaries(filters: ListFilters[]): boolean {
  return filters.some((f) => f.is_encrypted !== undefined || f.room_types !== undefined || f.not_room_types !== undefined || f.room_name_like !== undefined)
}

/** What the filters of all lists need beyond RoomFacts: tags, and the children of the spaces they name. */
export async function filterData(repos: Repositories, userId: string, filters: ListFilters[], rooms: ListedRoom[]): Promise<{ tags: Map<string, string[]>; spaceChildren: Map<string, Set<string>> }> {
  const wantTags = filters.some((f) => f.tags !== undefined || f.not_tags !== undefined)
  const spaces = [...new Set(filters.flatMap((f) => f.spaces ?? []))]
  // Only spaces the user is joined to count.
  const joined = new Set(rooms.filter((r) => r.membership.membership === 'join').map((r) => r.roomId))
  const joinedSpaces = spaces.filter((s) => joined.has(s))
  const [tags, children] = await Promise.all([
    wantTags ? repos.slidingSync.tags(userId, rooms.map((r) => r.roomId)) : Promise.resolve(new Map<string, string[]>()),
    joinedSpaces.length > 0 ? repos.sync.currentState(joinedSpaces, ['m.space.child']) : Promise.resolve([]),
  ])
  const spaceChildren = new Map<string, Set<string>>()
  for (const row of children) {
    const content = (JSON.parse(row.json) as { content?: { via?: unknown } }).content
    // A child whose event has no via list was removed from the space.
    if (row.state_key === null || !Array.isArray(content?.via) || content.via.length === 0) continue
    const set = spaceChildren.get(row.room_id) ?? new Set<string>()
    set.add(row.state_key)
    spaceChildren.set(row.room_id, set)
  }
  return { tags, spaceChildren }
}

/** Whether a listed room passes a list's filters. */
export function passes(room: ListedRoom, f: ListFilters, facts: RoomFacts, data: { tags: Map<string, string[]>; spaceChildren: Map<string, Set<string>> }): boolean {
  const membership = room.membership.membership
  if (f.is_invite !== undefined && (membership === 'invite') !== f.is_invite) return false
  if (f.is_dm !== undefined && facts.dms.has(room.roomId) !== f.is_dm) return false
  const summary = facts.summaries.get(room.roomId)
  if (f.is_encrypted !== undefined && (summary?.encryption != null) !== f.is_encrypted) return false
  const type = summary?.room_type ?? null
  if (f.not_room_types !== undefined && f.not_room_types.includes(type)) return false
  if (f.room_types !== undefined && !f.room_types.includes(type)) return false
  if (f.spaces !== undefined && !f.spaces.some((s) => data.spaceChildren.get(s)?.has(room.roomId) === true)) return false
  const tags = data.tags.get(room.roomId) ?? []
  if (f.not_tags !== undefined && f.not_tags.some((t) => tags.includes(t))) return false
  if (f.tags !== undefined && !f.tags.some((t) => tags.includes(t))) return false
  if (f.room_name_like !== undefined && !(summary?.name ?? '').toLowerCase().includes(f.room_name_like.toLowerCase())) return false
  return true
}

/** The rooms of a filtered list within its ranges (all of them without ranges), in list order. */
export function inRanges(filtered: ListedRoom[], ranges: Array<[number, number]> | null): ListedRoom[] {
  if (ranges === null) return filtered
  // Overlapping ranges are merged first, so each room is looked at once however the client repeats them.
  const sorted = [...ranges].sort((a, b) => a[0] - b[0])
  const out: ListedRoom[] = []
  let next = 0
  for (const [start, end] of sorted) {
    for (let i = Math.max(start, next); i <= end && i < filtered.length; i++) out.push(filtered[i] as ListedRoom)
    next = Math.max(next, end + 1)
  }
  return out
}
