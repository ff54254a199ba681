// Server-server API "Checks performed on receipt of a PDU", steps 1–3: the event is well-formed for its room
// version (else dropped), carries valid signatures of every server that must sign it (else dropped), and
// matches its content hash (else it continues redacted). Authorization (steps 4–6) is the ingest's work.
// Pure apart from the key lookup, which is injected (RemoteKeys.verifyKey in production).
import type { KeyObject } from 'node:crypto'
import {
  checkContentHash, eventJsonBytes, MAX_PDU_BYTES, parsePdu, redact, requiredSignatureServers, verifyEventSignature,
  type JsonObject, type RoomEvent,
} from '../protocol/events/index.ts'
import { eventIdOf } from '../protocol/events/event-id.ts'
import type { RoomVersion } from '../protocol/room-versions.ts'
import type { KeyValidity } from './keys.ts'

/** A server's verify key by ID, valid as asked, or null when it is unknown or not valid then. */
export type KeyLookup = (serverName: string, keyId: string, validity: KeyValidity) => Promise<KeyObject | null>

export type PduCheck =
  /** `redacted`: the content hash did not match, and `event` is the redacted copy. */
  | { ok: true; event: RoomEvent; redacted: boolean }
  /** Dropped. `eventId` when it could be computed (to name the PDU in the /send answer). */
  | { ok: false; eventId: string | null; reason: string }

/** Keys tried per signing server: a real server signs with one, or two while rotating. */
const MAX_KEYS_PER_SERVER = 4

/** What of `unsigned` a remote server may tell us; the rest (age, redacted_because, …) is ours to compute. */
const KEPT_UNSIGNED_MEMBER_KEYS = ['invite_room_state', 'knock_room_state']

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The PDU without the `unsigned` keys a remote server has no say in (unsigned is neither hashed nor signed). */
function withTrustedUnsigned(pdu: JsonObject): JsonObject {
  if (pdu.unsigned === undefined) return pdu
  const { unsigned, ...rest } = pdu
  if (pdu.type !== 'm.room.member' || !isObject(unsigned)) return rest
  const kept: JsonObject = {}
  for (const key of KEPT_UNSIGNED_MEMBER_KEYS) if (Object.hasOwn(unsigned, key)) kept[key] = unsigned[key]
  return Object.keys(kept).length > 0 ? { ...rest, unsigned: kept } : rest
}

function idOrNull(raw: JsonObject, version: RoomVersion): string | null {
  try {
    return eventIdOf(raw, version)
  } catch {
    return null
  }
}

/** The event ID a PDU has in a room of this version (read or computed), or null when it has none. */
export function pduEventId(raw: unknown, version: RoomVersion): string | null {
  return isObject(raw) ? idOrNull(raw, version) : null
}

/**
 * The signatures of every server that must sign the event (requiredSignatureServers), each checked with
 * its keys valid at the event's origin_server_ts (rooms v5+; earlier versions did not enforce validity).
 * Per server, every signature made with a key we can find must verify and at least one must be found:
 * signatures by unknown keys are skipped, as the spec says. Null when they hold, else why not.
 */
async function signatureError(event: RoomEvent, version: RoomVersion, keys: KeyLookup): Promise<string | null> {
  const required = requiredSignatureServers(event, version)
  if (!required.ok) return required.reason
  const validity: KeyValidity = { validAt: version.enforceKeyValidity ? event.origin_server_ts : 0, forRequest: false }
  const signatures = isObject(event.pdu.signatures) ? (event.pdu.signatures as Record<string, unknown>) : {}
  const errors = await Promise.all(required.servers.map(async (server) => {
    const byKey = signatures[server]
    const keyIds = isObject(byKey) ? Object.keys(byKey).filter((id) => id.startsWith('ed25519:')).slice(0, MAX_KEYS_PER_SERVER) : []
    if (keyIds.length === 0) return `not signed by ${server}`
    let verified = false
    for (const keyId of keyIds) {
      const key = await keys(server, keyId, validity)
      if (!key) continue
      if (!verifyEventSignature(event.pdu, version, server, keyId, key)) return `invalid signature of ${server} (${keyId})`
      verified = true
    }
    return verified ? null : `no valid key of ${server} to check its signature with`
  }))
  return errors.find((e) => e !== null) ?? null
}

/**
 * Steps 1–3 for a PDU received from another server in a room of `version`. The event comes back parsed
 * (a RoomEvent whose `pdu` keeps only the `unsigned` keys a remote server may set), redacted by the room
 * version's algorithm when its content hash does not match.
 *
 * Events that break a field limit Synapse enforced loosely before v11 (parsePdu's `rejectedEvent`) should be
 * stored as rejected; until the ingest can take them that way, they are dropped with the reason.
 */
export async function checkIncomingPdu(raw: unknown, version: RoomVersion, keys: KeyLookup): Promise<PduCheck> {
  if (!isObject(raw)) return { ok: false, eventId: null, reason: 'a PDU must be a JSON object' }
  // The size limit covers the event as it was sent, unsigned included ("Size limits").
  let size: number
  try {
    size = eventJsonBytes(raw, version).length
  } catch (error) {
    return { ok: false, eventId: null, reason: `not canonical JSON: ${(error as Error).message}` }
  }
  if (size > MAX_PDU_BYTES) return { ok: false, eventId: idOrNull(raw, version), reason: `event is ${size} bytes, over ${MAX_PDU_BYTES}` }

  const parsed = parsePdu(withTrustedUnsigned(raw), version)
  if (!parsed.ok) return { ok: false, eventId: parsed.rejectedEvent?.event_id ?? idOrNull(raw, version), reason: parsed.reason }
  const event = parsed.event

  const badSignature = await signatureError(event, version, keys)
  if (badSignature !== null) return { ok: false, eventId: event.event_id, reason: badSignature }

  if (checkContentHash(event.pdu, version)) return { ok: true, event, redacted: false }
  // "it is assumed that this is because we have only been given a redacted version of the event".
  const reparsed = parsePdu(redact(event.pdu, version), version)
  if (!reparsed.ok) return { ok: false, eventId: event.event_id, reason: `redacted copy is not valid: ${reparsed.reason}` }
  return { ok: true, event: reparsed.event, redacted: true }
}

/** checkIncomingPdu as a function of the PDU alone: the event (redacted on a hash mismatch), or null when dropped. */
export function pduVerifier(keys: KeyLookup): (raw: unknown, version: RoomVersion) => Promise<RoomEvent | null> {
  return async (raw, version) => {
    const checked = await checkIncomingPdu(raw, version, keys)
    return checked.ok ? checked.event : null
  }
}
