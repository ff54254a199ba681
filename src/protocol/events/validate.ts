// Server-server API "Checks performed on receipt of a PDU" step 1: the pdu_v1…v12 formats and "Size limits".
import type { RoomVersion } from '../room-versions.ts'
import { eventIdOf, isCreateEvent, roomIdFromCreateEventId } from './event-id.ts'
import { eventJsonBytes } from './event-json.ts'
import { serverNameOf } from './signatures.ts'
import type { JsonObject, Pdu, RoomEvent } from './types.ts'

/** The complete event, as canonical JSON with its signatures. */
export const MAX_PDU_BYTES = 65536
/** sender, room_id, event_id (appendices "Identifier Grammar"), type and state_key. */
export const MAX_FIELD_BYTES = 255
/** The schemas' "Must contain less than or equal to 20 / 10 events"; Synapse drops events with more. */
export const MAX_PREV_EVENTS = 20
export const MAX_AUTH_EVENTS = 10
/** Pre-v6 depth limit (2^63 - 1); from v6 canonical JSON caps every integer at 2^53 - 1. */
const MAX_LEGACY_DEPTH = 2 ** 63

export type ParsePduResult =
  | { ok: true; event: RoomEvent }
  /**
   * `rejectedEvent` is set when the event breaks a limit that Synapse enforced only loosely in this room
   * version: the event is still well-formed and should be stored as rejected rather than dropped, so that
   * rooms which already contain it keep working. Without it, drop the event.
   */
  | { ok: false; reason: string; rejectedEvent?: RoomEvent }

function fail(reason: string): ParsePduResult {
  return { ok: false, reason }
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isInteger(value: unknown, version: RoomVersion): value is number {
  if (typeof value !== 'number' || !Number.isInteger(value)) return false
  return !version.strictCanonicalJson || Number.isSafeInteger(value)
}

function isSignatures(value: unknown): boolean {
  if (!isObject(value)) return false
  return Object.values(value).every((keys) => isObject(keys) && Object.values(keys).every((s) => typeof s === 'string'))
}

/** An event ID as prev/auth events reference it: v1/v2 need a server name (signatures depend on it). */
function isEventIdLike(value: unknown, version: RoomVersion): value is string {
  if (typeof value !== 'string' || !value.startsWith('$')) return false
  return version.eventFormat !== 1 || serverNameOf(value) !== null
}

/** The event IDs in prev_events / auth_events, or a reason they do not fit the version's format. */
function parseRefs(value: unknown, version: RoomVersion, name: string): string[] | string {
  if (!Array.isArray(value)) return `${name} must be an array`
  const ids: string[] = []
  for (const item of value) {
    if (version.eventFormat === 1) {
      // [event_id, {sha256: hash}]. Synapse itself writes {} for an event it cannot find, so a missing
      // sha256 is tolerated; a present one must be a string.
      if (!Array.isArray(item) || item.length !== 2) return `${name} entries must be [event_id, hashes] pairs in room version ${version.id}`
      const [id, hashes] = item as [unknown, unknown]
      if (!isEventIdLike(id, version)) return `${name} entries must start with an event ID`
      if (!isObject(hashes) || (hashes.sha256 !== undefined && typeof hashes.sha256 !== 'string')) return `${name} entries must end with a hashes object`
      ids.push(id)
    } else {
      if (!isEventIdLike(item, version)) return `${name} must be a list of event IDs in room version ${version.id}`
      ids.push(item)
    }
  }
  return ids
}

/** The checks that need no IDs computed: types and formats from the version's PDU schema. */
function shapeError(pdu: JsonObject, version: RoomVersion): string | null {
  if (typeof pdu.type !== 'string') return 'type must be a string'
  if (typeof pdu.sender !== 'string' || !pdu.sender.startsWith('@') || serverNameOf(pdu.sender) === null) return 'sender must be a user ID'
  if (!isObject(pdu.content)) return 'content must be an object'
  if (!isInteger(pdu.origin_server_ts, version)) return 'origin_server_ts must be an integer'
  if (!isInteger(pdu.depth, version) || pdu.depth < 0 || pdu.depth >= MAX_LEGACY_DEPTH) return 'depth must be a non-negative integer'
  if (pdu.state_key !== undefined && typeof pdu.state_key !== 'string') return 'state_key must be a string'
  if (!isObject(pdu.hashes)) return 'hashes must be an object'
  // A missing sha256 is not malformed: the content hash check fails and the event is redacted (as Synapse).
  if (pdu.hashes.sha256 !== undefined && typeof pdu.hashes.sha256 !== 'string') return 'hashes.sha256 must be a string'
  if (!isSignatures(pdu.signatures)) return 'signatures must map server names to key IDs to strings'
  if (pdu.unsigned !== undefined && !isObject(pdu.unsigned)) return 'unsigned must be an object'
  // v11 dropped the top-level `redacts` from the format; one found there is just an unknown key.
  if (!version.updatedRedactionRules && pdu.redacts !== undefined && typeof pdu.redacts !== 'string') return 'redacts must be a string'
  if (pdu.room_id !== undefined) {
    if (typeof pdu.room_id !== 'string' || !pdu.room_id.startsWith('!')) return 'room_id must be a room ID'
  } else if (!(version.roomIdFromCreateEvent && isCreateEvent(pdu))) {
    return 'room_id is required'
  }
  // A v12 create event that does carry a room_id is well-formed here; auth rule 1.2 rejects it.
  if (version.eventFormat === 1 && !isEventIdLike(pdu.event_id, version)) return `event_id must be an event ID with a server name in room version ${version.id}`
  return null
}

/**
 * The per-field limits. Synapse (and so the federation) long measured them in code points; from v11 it
 * measures bytes as the spec says. In v1–v10 an overlong field in bytes but not in code points is only
 * a rejection (Synapse's "unpersistable=False"). There is no room-version flag for this; the v11 flags
 * (updatedRedactionRules) mark the same boundary as Synapse's LENIENT_EVENT_BYTE_LIMITS_ROOM_VERSIONS.
 */
function fieldLimitError(event: RoomEvent, version: RoomVersion): { reason: string; soft: boolean } | null {
  const fields: [string, string | undefined][] = [
    ['sender', event.sender], ['room_id', event.room_id], ['state_key', event.state_key], ['type', event.type], ['event_id', event.event_id],
  ]
  let soft: string | null = null
  for (const [name, value] of fields) {
    if (value === undefined || Buffer.byteLength(value, 'utf8') <= MAX_FIELD_BYTES) continue
    const reason = `${name} exceeds ${MAX_FIELD_BYTES} bytes`
    if (version.updatedRedactionRules) return { reason, soft: false }
    let codePoints = 0
    for (const _ of value) codePoints++
    if (codePoints > MAX_FIELD_BYTES) return { reason: `${name} exceeds ${MAX_FIELD_BYTES} code points`, soft: false }
    soft ??= reason
  }
  return soft === null ? null : { reason: soft, soft: true }
}

/**
 * parsePdu's limits for an event this server built with buildEvent, which gives the format: the size of the
 * PDU and of its fields. `json` is the PDU as JSON.stringify writes it: in strict canonical JSON versions
 * (v6+) that has the canonical encoding's length (the same strings and integers; only key order differs).
 * `tooLarge`: the event or one of its fields is over its size limit (a client is told 413 M_TOO_LARGE), rather
 * than not being canonical JSON.
 */
export function builtEventLimitError(event: RoomEvent, json: string, version: RoomVersion): { reason: string; tooLarge: boolean } | null {
  let size: number
  try {
    size = version.strictCanonicalJson ? Buffer.byteLength(json, 'utf8') : eventJsonBytes(event.pdu, version).length
  } catch (error) {
    return { reason: `not canonical JSON: ${(error as Error).message}`, tooLarge: false }
  }
  if (size > MAX_PDU_BYTES) return { reason: `event is ${size} bytes, over ${MAX_PDU_BYTES}`, tooLarge: true }
  const field = fieldLimitError(event, version)
  return field === null ? null : { reason: field.reason, tooLarge: true }
}

/**
 * Checks that `json` is an event in this room version's format and within the size limits, and
 * normalises it to a RoomEvent (ID computed or read, prev/auth events as ID lists, room_id filled in for a
 * v12 create event, `redacts` read from where the version keeps it). It checks format only: not hashes,
 * signatures or auth rules. The input object becomes `event.pdu`; do not mutate it afterwards.
 *
 * `stored`: the event comes from this server's database with its ID, and passed these checks when it was
 * stored: its ID is taken as given and its size is not measured again (both encode the whole event).
 */
export function parsePdu(json: unknown, version: RoomVersion, stored?: { eventId: string }): ParsePduResult {
  if (!isObject(json)) return fail('a PDU must be a JSON object')
  const shape = shapeError(json, version)
  if (shape !== null) return fail(shape)
  const pdu = json as Pdu

  const prevEvents = parseRefs(pdu.prev_events, version, 'prev_events')
  if (typeof prevEvents === 'string') return fail(prevEvents)
  const authEvents = parseRefs(pdu.auth_events, version, 'auth_events')
  if (typeof authEvents === 'string') return fail(authEvents)
  if (prevEvents.length > MAX_PREV_EVENTS) return fail(`more than ${MAX_PREV_EVENTS} prev_events`)
  if (authEvents.length > MAX_AUTH_EVENTS) return fail(`more than ${MAX_AUTH_EVENTS} auth_events`)

  let eventId: string
  if (stored) {
    eventId = stored.eventId
  } else {
    // v6+: every number anywhere in the event must be an integer in canonical JSON's range.
    let size: number
    try {
      size = eventJsonBytes(pdu, version).length
    } catch (error) {
      return fail(`not canonical JSON: ${(error as Error).message}`)
    }
    if (size > MAX_PDU_BYTES) return fail(`event is ${size} bytes, over ${MAX_PDU_BYTES}`)
    try {
      eventId = eventIdOf(pdu, version)
    } catch (error) {
      return fail(`cannot compute the event ID: ${(error as Error).message}`)
    }
  }

  const event: RoomEvent = {
    event_id: eventId,
    room_id: pdu.room_id ?? roomIdFromCreateEventId(eventId),
    type: pdu.type,
    sender: pdu.sender,
    content: pdu.content,
    origin_server_ts: pdu.origin_server_ts,
    depth: pdu.depth,
    prev_events: prevEvents,
    auth_events: authEvents,
    pdu,
  }
  if (pdu.state_key !== undefined) event.state_key = pdu.state_key
  const redacts = version.updatedRedactionRules ? pdu.content.redacts : pdu.redacts
  if (typeof redacts === 'string') event.redacts = redacts

  const limit = fieldLimitError(event, version)
  if (limit !== null) return limit.soft ? { ok: false, reason: limit.reason, rejectedEvent: event } : fail(limit.reason)
  return { ok: true, event }
}
