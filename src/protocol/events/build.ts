// Server-server API "Adding hashes and signatures to outgoing events", in the formats of the pdu_v1…v12 schemas.
import { encodeBase64 } from '../base64.ts'
import type { RoomVersion } from '../room-versions.ts'
import type { SigningKey } from '../signing.ts'
import { randomString } from '../../shared/random.ts'
import { createEventIdFromRoomId, eventIdFromReferenceHash, eventIdOf, isCreateEvent, roomIdFromCreateEventId } from './event-id.ts'
import { contentHash, referenceBytes, sha256 } from './hashes.ts'
import { signEvent } from './signatures.ts'
import type { JsonObject, Pdu, RoomEvent } from './types.ts'

/** What the caller decides about a new event; the builder adds the version-specific format around it. */
export interface EventTemplate {
  type: string
  state_key?: string
  sender: string
  content: JsonObject
  /** Absent only on a v12 create event, whose room ID is derived from its own event ID. */
  room_id?: string
  origin_server_ts: number
  depth: number
  /** For m.room.redaction: the redacted event (top-level before v11, content.redacts from v11). */
  redacts?: string
}

/** A prev or auth event. v1/v2 reference events as [event_id, {sha256: reference hash}] pairs. */
export interface EventRef {
  event_id: string
  /** The referenced event's raw reference hash; only v1/v2 use it. */
  referenceHash?: Uint8Array
}

export interface BuildEventOptions {
  version: RoomVersion
  serverName: string
  signingKey: SigningKey
  prevEventRefs: readonly EventRef[]
  authEventRefs: readonly EventRef[]
  /** v1/v2 only: the opaque part of `$opaque:serverName` (random when omitted; set it in tests). */
  eventIdLocalpart?: string
}

export interface BuiltEvent {
  pdu: Pdu
  event_id: string
  /** The same event normalised, as parsePdu would give it. */
  event: RoomEvent
}

function formatRefs(refs: readonly EventRef[], version: RoomVersion): unknown[] {
  if (version.eventFormat !== 1) return refs.map((ref) => ref.event_id)
  // Synapse writes an empty hash object for an event it cannot find; we do the same when no hash is given.
  return refs.map((ref) => [ref.event_id, ref.referenceHash ? { sha256: encodeBase64(ref.referenceHash) } : {}])
}

/**
 * Sets `hashes.sha256` to the content hash and adds this server's signature over the redacted event.
 * Whatever else is in the object (unsigned, other signatures) is kept. This is the spec's
 * hash_and_sign_event, the one the appendix test vectors exercise.
 */
export function hashAndSignEvent<T extends JsonObject>(pdu: T, version: RoomVersion, serverName: string, key: SigningKey): T & Pdu {
  return hashAndSignWithBytes(pdu, version, serverName, key).signed
}

/**
 * hashAndSignEvent, and the bytes it signed: referenceBytes, which leave signatures out, so they are also
 * the signed event's reference hash input.
 */
function hashAndSignWithBytes<T extends JsonObject>(pdu: T, version: RoomVersion, serverName: string, key: SigningKey): { signed: T & Pdu; bytes: Buffer } {
  const hashes = typeof pdu.hashes === 'object' && pdu.hashes !== null ? (pdu.hashes as JsonObject) : {}
  const hashed = { ...pdu, hashes: { ...hashes, sha256: contentHash(pdu, version) } }
  const bytes = referenceBytes(hashed, version)
  return { signed: signEvent(hashed, version, serverName, key, bytes) as unknown as T & Pdu, bytes }
}

/**
 * Builds, hashes and signs a new event in the wire format of the room version, and computes its ID.
 * Throws when the template does not fit the version (a v12 create event with a room_id, any other event
 * without one) or cannot be encoded as canonical JSON (floats in the content of a v6+ event).
 *
 * `origin` is never added: the PDU schemas have not had it since spec v1.3 and Synapse no longer writes
 * it; v1–v10 redaction still keeps it when a remote event carries one.
 */
export function buildEvent(template: EventTemplate, options: BuildEventOptions): BuiltEvent {
  const { version } = options
  const create = isCreateEvent(template)
  if (version.roomIdFromCreateEvent && create) {
    if (template.room_id !== undefined) throw new Error('a v12 create event has no room_id')
  } else if (typeof template.room_id !== 'string') {
    throw new Error('an event needs a room_id')
  }

  let authRefs = options.authEventRefs
  if (version.roomIdFromCreateEvent && !create) {
    // v12: the room ID stands for the create event, which "MUST NOT be selected" for auth_events.
    const createId = createEventIdFromRoomId(template.room_id as string)
    authRefs = authRefs.filter((ref) => ref.event_id !== createId)
  }

  const content: JsonObject = { ...template.content }
  const pdu: Pdu = {
    type: template.type,
    sender: template.sender,
    content,
    origin_server_ts: template.origin_server_ts,
    // "If the room's depth is already at the limit, the depth must be set to the limit." (2^53 - 1 from v6;
    // the 2^63 - 1 of older versions is beyond what a JavaScript number holds exactly.)
    depth: Math.min(template.depth, Number.MAX_SAFE_INTEGER),
    prev_events: formatRefs(options.prevEventRefs, version),
    auth_events: formatRefs(authRefs, version),
  }
  if (template.room_id !== undefined) pdu.room_id = template.room_id
  if (template.state_key !== undefined) pdu.state_key = template.state_key
  if (template.redacts !== undefined) {
    // v11 moved `redacts` into content (MSC2174); earlier versions carry it at the top level only.
    if (version.updatedRedactionRules) content.redacts = template.redacts
    else pdu.redacts = template.redacts
  }
  if (version.eventFormat === 1) {
    pdu.event_id = `$${options.eventIdLocalpart ?? randomString(24)}:${options.serverName}`
  }

  const { signed, bytes } = hashAndSignWithBytes(pdu, version, options.serverName, options.signingKey)
  const eventId = version.eventFormat === 1 ? eventIdOf(signed, version) : eventIdFromReferenceHash(sha256(bytes), version)
  const event: RoomEvent = {
    event_id: eventId,
    room_id: signed.room_id ?? roomIdFromCreateEventId(eventId),
    type: signed.type,
    sender: signed.sender,
    content: signed.content,
    origin_server_ts: signed.origin_server_ts,
    depth: signed.depth,
    prev_events: options.prevEventRefs.map((ref) => ref.event_id),
    auth_events: authRefs.map((ref) => ref.event_id),
    pdu: signed,
  }
  if (signed.state_key !== undefined) event.state_key = signed.state_key
  // Read back from where the version keeps it, as parsePdu does (v11+ callers may set content.redacts).
  const redacts = version.updatedRedactionRules ? signed.content.redacts : signed.redacts
  if (typeof redacts === 'string') event.redacts = redacts
  return { pdu: signed, event_id: eventId, event }
}
