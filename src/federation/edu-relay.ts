// What other servers hear of our users' ephemeral changes (server-server API, "Typing Notifications",
// "Receipts", "Presence"): each change queued as an EDU in the transaction that makes it, for the servers
// with members in the room (typing, receipts) or sharing a room with the user (presence). Remote users'
// changes are never relayed: their own server tells the others.
import type { JsonObject } from '../protocol/events/types.ts'
import { parseUserId } from '../shared/ids.ts'
import type { PresenceRow, Repositories } from '../storage/index.ts'
import type { FederationSender } from './sender.ts'

export interface EduRelay {
  typing(repos: Repositories, roomId: string, userId: string, typing: boolean): Promise<void>
  /** A public receipt (m.read); private ones stay here. */
  receipt(repos: Repositories, receipt: { roomId: string; receiptType: string; userId: string; eventId: string; ts: number; threadId: string | null }): Promise<void>
  presence(repos: Repositories, row: PresenceRow, now: number): Promise<void>
}

/** Relays through `sender` (read when a change happens: the sender is built after the services). */
export function eduRelay(serverName: string, sender: () => FederationSender): EduRelay {
  const ours = (userId: string) => parseUserId(userId)?.serverName === serverName
  return {
    async typing(repos, roomId, userId, typing) {
      if (!ours(userId)) return
      await sender().queueEduForIn(repos, 'room', roomId, 'm.typing', { room_id: roomId, user_id: userId, typing }, `${roomId}\n${userId}`)
    },
    async receipt(repos, r) {
      if (r.receiptType !== 'm.read' || !ours(r.userId)) return
      const data: JsonObject = { ts: r.ts }
      if (r.threadId !== null) data.thread_id = r.threadId
      const content = { [r.roomId]: { 'm.read': { [r.userId]: { event_ids: [r.eventId], data } } } }
      await sender().queueEduForIn(repos, 'room', r.roomId, 'm.receipt', content, `${r.roomId}\n${r.userId}\n${r.threadId ?? ''}`)
    },
    async presence(repos, row, now) {
      if (!ours(row.user_id)) return
      const update: JsonObject = { user_id: row.user_id, presence: row.state, last_active_ago: Math.max(0, now - row.last_active_ts), currently_active: row.state === 'online' }
      if (row.status_msg !== null) update.status_msg = row.status_msg
      await sender().queueEduForIn(repos, 'user', row.user_id, 'm.presence', { push: [update] }, row.user_id)
    },
  }
}
