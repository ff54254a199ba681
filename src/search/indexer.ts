// Keeps the search tables current from the room writer's append hook, inside the event's own transaction:
// the full-text row of searchable events (dropped again when the event is redacted) and the join rule and
// history visibility the user directory reads.
import type { AppendedEvent } from '../rooms/writer.ts'
import type { Repositories } from '../storage/index.ts'
import { searchableText } from './text.ts'

export async function indexAppended(repos: Repositories, { event, streamOrdering }: AppendedEvent): Promise<void> {
  const text = searchableText(event.type, event.state_key, event.content)
  if (text !== null) await repos.search.index(event.room_id, event.event_id, streamOrdering, text)
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
    case 'm.room.history_visibility':
      if (event.state_key === '') {
        const visibility = event.content.history_visibility
        await repos.userDirectory.setHistoryVisibility(event.room_id, typeof visibility === 'string' ? visibility : null)
      }
      break
  }
}
