// Rooms "Redactions": the v1, v6, v8, v9 and v11 algorithms (rooms/fragments/*-redactions.md, rooms/v8.md).
import type { RoomVersion } from '../room-versions.ts'
import type { JsonObject, Pdu } from './types.ts'

/** Top-level keys every room version keeps. */
const KEPT_KEYS = [
  'event_id', 'type', 'room_id', 'sender', 'state_key', 'content', 'hashes', 'signatures', 'depth',
  'prev_events', 'auth_events', 'origin_server_ts',
] as const
/** Kept before v11 only (v11 "The top-level origin, membership, and prev_state properties are no longer protected"). */
const KEPT_KEYS_BEFORE_V11 = ['prev_state', 'origin', 'membership'] as const

const POWER_LEVELS_KEYS = ['ban', 'events', 'events_default', 'kick', 'redact', 'state_default', 'users', 'users_default']

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function pick(from: JsonObject, keys: readonly string[], into: JsonObject): void {
  for (const key of keys) if (Object.hasOwn(from, key)) into[key] = from[key]
}

/** The content a redacted event keeps (the "content object must also be stripped" lists). */
export function redactContent(type: unknown, content: unknown, version: RoomVersion): JsonObject {
  const from = isObject(content) ? content : {}
  const kept: JsonObject = {}
  switch (type) {
    case 'm.room.member':
      pick(from, ['membership'], kept)
      if (version.restrictedJoinRuleRedactionFix) pick(from, ['join_authorised_via_users_server'], kept)
      if (version.updatedRedactionRules && isObject(from.third_party_invite)) {
        // The spec keeps "the signed key of the third_party_invite key". Synapse keeps an empty
        // third_party_invite object when there is no `signed` inside it; we do the same so hashes agree.
        const invite: JsonObject = {}
        pick(from.third_party_invite, ['signed'], invite)
        kept.third_party_invite = invite
      }
      break
    case 'm.room.create':
      if (version.updatedRedactionRules) return { ...from }
      pick(from, ['creator'], kept)
      break
    case 'm.room.join_rules':
      pick(from, ['join_rule'], kept)
      // v8 added `allow` to what join rules keep (rooms/v8 "Redactions").
      if (version.restrictedJoinRule) pick(from, ['allow'], kept)
      break
    case 'm.room.power_levels':
      pick(from, POWER_LEVELS_KEYS, kept)
      // `notifications` is not kept by any version's algorithm (nor by Synapse); `invite` is kept from v11.
      if (version.updatedRedactionRules) pick(from, ['invite'], kept)
      break
    case 'm.room.aliases':
      if (version.specialCaseAliasesAuth) pick(from, ['aliases'], kept)
      break
    case 'm.room.history_visibility':
      pick(from, ['history_visibility'], kept)
      break
    case 'm.room.redaction':
      if (version.updatedRedactionRules) pick(from, ['redacts'], kept)
      break
  }
  return kept
}

/**
 * The redacted form of an event under this room version's algorithm: a new object holding only the
 * protected top-level keys and content keys. `unsigned` is dropped too (it is not in any version's list).
 * Kept values are shared with the input, not copied: treat both as immutable.
 */
export function redact(event: Pdu, version: RoomVersion): Pdu
export function redact(event: JsonObject, version: RoomVersion): JsonObject
export function redact(event: JsonObject, version: RoomVersion): JsonObject {
  const redacted: JsonObject = {}
  pick(event, KEPT_KEYS, redacted)
  if (!version.updatedRedactionRules) pick(event, KEPT_KEYS_BEFORE_V11, redacted)
  redacted.content = redactContent(event.type, event.content, version)
  return redacted
}
