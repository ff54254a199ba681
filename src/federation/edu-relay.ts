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
  /**
   * A user joined a room: a server new to our users hears their presence (a remote joiner's server gets
   * that of our members of the room; our joiner's, the room's other servers), not only their next change.
   */
  joined(repos: Repositories, roomId: string, userId: string, now: number): Promise<void>
}

/** At most this many of our members' presence told to a server whose user joins a room. */
const PRESENCE_ON_JOIN_MAX = 100
/** Presence updates per m.presence EDU (each well under the EDU size bound). */
const PRESENCE_PER_EDU = 50

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
      await sender().queueEduForIn(repos, 'user', row.user_id, 'm.presence', { push: [presenceUpdate(row, now)] }, row.user_id)
    },
    async joined(repos, roomId, userId, now) {
      const joiner = parseUserId(userId)?.serverName
      if (!joiner) return
      if (joiner !== serverName) {
        const rows = await repos.presence.activeMembersOf(roomId, serverName, PRESENCE_ON_JOIN_MAX)
        for (let i = 0; i < rows.length; i += PRESENCE_PER_EDU) {
          await sender().queueEduIn(repos, joiner, 'm.presence', { push: rows.slice(i, i + PRESENCE_PER_EDU).map((r) => presenceUpdate(r, now)) })
        }
        return
      }
      const row = await repos.presence.get(userId)
      if (!row || row.state === 'offline') return
      await sender().queueEduForIn(repos, 'room', roomId, 'm.presence', { push: [presenceUpdate(row, now)] }, userId)
    },
  }
}

/** One update of an m.presence EDU. */
function presenceUpdate(row: PresenceRow, now: number): JsonObject {
  const update: JsonObject = { user_id: row.user_id, presence: row.state, last_active_ago: Math.max(0, now - row.last_active_ts), currently_active: row.state === 'online' }
  if (row.status_msg !== null) update.status_msg = row.status_msg
  return update
}
