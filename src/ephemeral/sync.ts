// The ephemeral section of /sync's joined rooms: m.typing and m.receipt events, read in a few batched
// queries over all the user's rooms (never one per room).
import type { JsonObject } from '../protocol/events/types.ts'
import type { ReceiptRow, Repositories } from '../storage/index.ts'

function receiptEvent(rows: ReceiptRow[]): JsonObject {
  // { $event: { m.read: { @user: { ts, thread_id? } } } }: the latest change of a key wins.
  const content: Record<string, Record<string, Record<string, JsonObject>>> = {}
  for (const r of rows) {
    const byType = (content[r.event_id] ??= {})
    const byUser = (byType[r.receipt_type] ??= {})
    byUser[r.user_id] = r.thread_id === null ? { ts: r.ts } : { ts: r.ts, thread_id: r.thread_id }
  }
  return { type: 'm.receipt', content }
}

/**
 * Typing and receipt events for the user's joined rooms (`rooms`) in the stream range (since, upTo]. An initial sync
 * (since null) gets who is typing now in every room that has seen typing, and the rooms' current receipts; an
 * incremental one gets the typing list of rooms whose typing changed and the receipts that changed. m.read.private only reaches its owner.
 */
export async function ephemeralForSync(
  repos: Repositories,
  userId: string,
  rooms: string[],
  since: number | null,
  upTo: number,
  now: number,
): Promise<Map<string, JsonObject[]>> {
  const out = new Map<string, JsonObject[]>()
  if (rooms.length === 0) return out

  // An initial sync lists every room that has seen typing, an empty m.typing where nobody types now (as
  // Synapse's does): a client starting afresh learns that the typing it may have shown has stopped.
  const [typingRooms, typing, receipts] = await Promise.all([
    repos.typing.roomsChanged(rooms, since ?? 0, upTo),
    since === null ? repos.typing.typingIn(rooms, now) : null,
    repos.receipts.changed(rooms, since ?? 0, upTo, userId),
  ])
  const typingNow = typing ?? (await repos.typing.typingIn(typingRooms, now))

  const typers = new Map<string, string[]>()
  for (const roomId of typingRooms) typers.set(roomId, [])
  for (const t of typingNow) typers.set(t.room_id, [...(typers.get(t.room_id) ?? []), t.user_id])
  for (const [roomId, userIds] of typers) out.set(roomId, [{ type: 'm.typing', content: { user_ids: userIds } }])

  const receiptsByRoom = new Map<string, ReceiptRow[]>()
  for (const r of receipts) {
    const list = receiptsByRoom.get(r.room_id)
    if (list) list.push(r)
    else receiptsByRoom.set(r.room_id, [r])
  }
  for (const [roomId, rows] of receiptsByRoom) out.set(roomId, [...(out.get(roomId) ?? []), receiptEvent(rows)])
  return out
}
