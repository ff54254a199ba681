// Push rules and notification counts (filled in by that work).
import type { UnreadCounts } from '../sync/rooms.ts'

export class Push {
  /** Unread notification and highlight counts of the user in these rooms. */
  async unreadCounts(_userId: string, _roomIds: string[]): Promise<Map<string, UnreadCounts>> {
    return new Map()
  }
}
