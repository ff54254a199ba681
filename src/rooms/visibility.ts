// History visibility (client-server API, "Room History Visibility"): which events a user may see, from
// the room's history_visibility and the user's membership at each event (taken in stream order).
import type { EventRow, Repositories } from '../storage/index.ts'

interface Change {
  stream: number
  value: string
}

function valueAt(changes: Change[], stream: number, fallback: string): string {
  let value = fallback
  for (const c of changes) {
    if (c.stream > stream) break
    value = c.value
  }
  return value
}

/** Keeps the events `userId` may see; rows must all belong to `roomId`. Two small queries per call. */
export async function filterVisible(repos: Repositories, roomId: string, userId: string, rows: EventRow[]): Promise<EventRow[]> {
  if (rows.length === 0) return rows
  const [visibility, membership, current] = await Promise.all([
    repos.events.stateHistory(roomId, 'm.room.history_visibility', ''),
    repos.events.stateHistory(roomId, 'm.room.member', userId),
    repos.memberships.get(roomId, userId),
  ])
  const parse = (list: Array<{ stream_ordering: number; json: string }>, key: string): Change[] =>
    list.map((r) => {
      const content = (JSON.parse(r.json) as { content?: Record<string, unknown> }).content ?? {}
      return { stream: r.stream_ordering, value: typeof content[key] === 'string' ? (content[key] as string) : '' }
    })
  const visibilityChanges = parse(visibility, 'history_visibility')
  const membershipChanges = parse(membership, 'membership')
  const joinedNow = current?.membership === 'join'
  return rows.filter((row) => {
    // One's own membership events are always visible (e.g. the leave that ends a membership).
    if (row.type === 'm.room.member' && row.state_key === userId) return true
    const visibilityAt = valueAt(visibilityChanges, row.stream_ordering, 'shared')
    const membershipAt = valueAt(membershipChanges, row.stream_ordering, 'leave')
    if (visibilityAt === 'world_readable') return true
    if (membershipAt === 'join') return true
    if (visibilityAt === 'shared' && joinedNow) return true
    if (visibilityAt === 'invited' && membershipAt === 'invite') return true
    return false
  })
}
