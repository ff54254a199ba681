// History visibility over hits from many rooms.
import { filterVisible } from '../rooms/visibility.ts'
import type { EventRow, Repositories } from '../storage/index.ts'

/** Keeps the rows `userId` may see (history visibility), in their order; rooms are checked in parallel. */
export async function visibleTo<T extends EventRow>(repos: Repositories, userId: string, rows: T[]): Promise<T[]> {
  const byRoom = new Map<string, T[]>()
  for (const row of rows) byRoom.set(row.room_id, [...(byRoom.get(row.room_id) ?? []), row])
  const visible = new Set<string>()
  await Promise.all(
    [...byRoom].map(async ([roomId, roomRows]) => {
      for (const row of await filterVisible(repos, roomId, userId, roomRows)) visible.add(row.event_id)
    }),
  )
  return rows.filter((r) => visible.has(r.event_id))
}
