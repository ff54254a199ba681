// Keeps the search tables current inside each event's own transaction: the full-text row of searchable
// events (written with the event by the room writer; dropped again when the event is redacted, from the
// append hook), and what the user directory reads: join rules, history visibility and the profiles other
// servers' users join with.
import type { AppendedEvent } from '../rooms/writer.ts'
import type { RoomEvent } from '../protocol/events/types.ts'
import type { Repositories } from '../storage/index.ts'
import { searchableText } from './text.ts'

/** The full-text row of a new event: the room writer stores it with the event (RoomWriter.indexWith). */
export function searchTextOf(event: RoomEvent): string | null {
  return searchableText(event.type, event.state_key, event.content)
}

export async function indexAppended(repos: Repositories, { event }: AppendedEvent): Promise<void> {
  switch (event.type) {
    case 'm.room.redaction': {
      // Rooms before version 11 carry `redacts` at the top level, later ones in content.
      const target = event.redacts ?? event.content.redacts
      if (typeof target === 'string') await repos.search.remove(event.room_id, target)
      break
    }
    case 'm.room.join_rules':
      if (event.state_key === '') {
        const rule = event.content.join_rule
        await repos.userDirectory.setJoinRule(event.room_id, typeof rule === 'string' ? rule : null)
      }
      break
    case 'm.room.member':
      if (event.state_key !== undefined && event.content.membership === 'join') await repos.userDirectory.putRemoteProfiles([remoteProfileOf(event)])
      break
    case 'm.room.history_visibility':
      if (event.state_key === '') {
        const visibility = event.content.history_visibility
        await repos.userDirectory.setHistoryVisibility(event.room_id, typeof visibility === 'string' ? visibility : null)
      }
      break
  }
}

/** The directory's view of a member from their join (putRemoteProfiles ignores this server's users). */
export function remoteProfileOf(join: RoomEvent): { userId: string; displayName: string | null; avatarUrl: string | null } {
  const { displayname, avatar_url: avatarUrl } = join.content
  return { userId: join.state_key as string, displayName: typeof displayname === 'string' ? displayname : null, avatarUrl: typeof avatarUrl === 'string' ? avatarUrl : null }
}
