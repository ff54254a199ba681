// Rooms "Event IDs" (v1-event-ids, v3, v4-event-ids) and appendices "Room IDs" (v12: from the create event).
import { encodeBase64, encodeBase64Url } from '../base64.ts'
import type { RoomVersion } from '../room-versions.ts'
import { referenceHash } from './hashes.ts'
import type { JsonObject } from './types.ts'

/**
 * The event ID a reference hash gives in this room version: '$' + unpadded Base64 (v3) or URL-safe unpadded
 * Base64 (v4+). Throws for v1/v2, whose IDs are not derived from the event.
 */
export function eventIdFromReferenceHash(hash: Uint8Array, version: RoomVersion): string {
  if (version.eventFormat === 1) throw new Error(`room version ${version.id} event IDs are not reference hashes`)
  return '$' + (version.eventFormat === 2 ? encodeBase64(hash) : encodeBase64Url(hash))
}

/**
 * An event's ID: read from `event_id` in v1/v2 (throws when it is not a string), computed from the
 * reference hash from v3 on (throws CanonicalJsonError when the event cannot be encoded).
 */
export function eventIdOf(pdu: JsonObject, version: RoomVersion): string {
  if (version.eventFormat === 1) {
    if (typeof pdu.event_id !== 'string') throw new Error('a room version 1/2 event carries its event_id')
    return pdu.event_id
  }
  return eventIdFromReferenceHash(referenceHash(pdu, version), version)
}

/** v12: a room's ID is its create event's ID with the '!' sigil instead of '$'. */
export function roomIdFromCreateEventId(createEventId: string): string {
  if (!createEventId.startsWith('$')) throw new Error(`not an event ID: ${createEventId}`)
  return '!' + createEventId.slice(1)
}

/** v12: the create event's ID from the room ID (the inverse of roomIdFromCreateEventId). */
export function createEventIdFromRoomId(roomId: string): string {
  if (!roomId.startsWith('!')) throw new Error(`not a room ID: ${roomId}`)
  return '$' + roomId.slice(1)
}

/** Whether an event is the room's create event (type m.room.create with an empty state key). */
export function isCreateEvent(event: { type?: unknown; state_key?: unknown }): boolean {
  return event.type === 'm.room.create' && event.state_key === ''
}
