// Relations when events are written (client-server API, "Threading" and "Event annotations and reactions",
// server behaviour): refuses a thread rooted at an event that has a relation itself (400 M_UNKNOWN) and a
// second identical annotation (400 M_DUPLICATE_ANNOTATION), and keeps the threads table (latest reply per
// root) up to date, including when a reply is redacted. Runs as a RoomWriter append hook, inside the
// writing transaction, so a refusal rolls the event back.
import type { JsonObject } from '../protocol/events/types.ts'
import { MatrixError } from '../shared/errors.ts'
import type { AppendHook } from './writer.ts'

export const relationsOnAppend: AppendHook = async (repos, { event, streamOrdering, origin }) => {
  if (event.type === 'm.room.redaction') {
    const target = event.redacts ?? (typeof event.content.redacts === 'string' ? event.content.redacts : undefined)
    if (target === undefined) return
    // Redacting a reply breaks its relation: its thread's latest reply may change, or the thread end.
    const relation = await repos.relations.relationOf(event.room_id, target)
    if (relation?.rel_type === 'm.thread' && relation.relates_to !== null) {
      await repos.relations.recomputeThread(event.room_id, relation.relates_to, target)
    }
    return
  }
  const relation = event.content['m.relates_to'] as JsonObject | undefined
  if (relation === null || typeof relation !== 'object' || Array.isArray(relation)) return
  const parentId = relation.event_id
  const relType = relation.rel_type
  if (typeof parentId !== 'string' || typeof relType !== 'string' || event.state_key !== undefined) return

  if (relType === 'm.thread') {
    const parent = await repos.relations.relationOf(event.room_id, parentId)
    // A parent of another room, or unknown here, makes an invalid relation, ignored rather than refused.
    if (!parent) return
    // A remote server's event is not refused (other servers accepted it); it starts no thread here.
    if (parent.rel_type !== null) {
      if (origin !== undefined) return
      throw new MatrixError('M_UNKNOWN', 'Cannot start a thread from an event with a relation', 400)
    }
    await repos.relations.threadReply(event.room_id, parentId, event.event_id, streamOrdering)
  } else if (relType === 'm.annotation' && typeof relation.key === 'string' && origin === undefined) {
    if (await repos.relations.hasAnnotation(event.room_id, parentId, event.sender, event.type, relation.key, event.event_id)) {
      throw new MatrixError('M_DUPLICATE_ANNOTATION', 'You have already sent this annotation', 400)
    }
  }
}
