// History visibility over hits from many rooms.
import { filterVisibleByRoom } from '../rooms/visibility.ts'
import type { EventRow, Repositories } from '../storage/index.ts'

/**
 * Keeps the rows `userId` may see (history visibility), in their order, an erased sender's redacted where
 * the user was not joined: three queries for all the rooms.
 */
export async function visibleTo<T extends EventRow>(repos: Repositories, userId: string, rows: T[]): Promise<T[]> {
  const byRoom = new Map<string, EventRow[]>()
  for (const row of rows) {
    const list = byRoom.get(row.room_id)
    if (list) list.push(row)
    else byRoom.set(row.room_id, [row])
  }
  const visible = new Map<string, string>()
  for (const kept of (await filterVisibleByRoom(repos, userId, byRoom)).values()) for (const row of kept) visible.set(row.event_id, row.json)
  return rows.flatMap((r) => {
    const json = visible.get(r.event_id)
    return json === undefined ? [] : [json === r.json ? r : { ...r, json }]
  })
}
