// Server-server API "Calculating the content hash for an event" and "Calculating the reference hash for an event".
import { hash } from 'node:crypto'
import { decodeBase64, encodeBase64 } from '../base64.ts'
import type { RoomVersion } from '../room-versions.ts'
import { eventJsonBytes } from './event-json.ts'
import { redact } from './redaction.ts'
import type { JsonObject } from './types.ts'

/** One-shot SHA-256 (no Hash object: every event built or received is hashed twice). */
export function sha256(bytes: Uint8Array): Buffer {
  return hash('sha256', bytes, 'buffer')
}

/**
 * The SHA-256 of the whole event without `unsigned`, `signatures` and `hashes`, as raw bytes. Throws
 * CanonicalJsonError when the event cannot be encoded in this room version (floats in v6+).
 */
export function contentHashBytes(pdu: JsonObject, version: RoomVersion): Buffer {
  const { unsigned: _u, signatures: _s, hashes: _h, ...rest } = pdu
  return sha256(eventJsonBytes(rest, version))
}

/**
 * The content hash as it goes in `hashes.sha256`: unpadded standard Base64. The room version is needed
 * because rooms v1–v5 encode floats (see event-json.ts).
 */
export function contentHash(pdu: JsonObject, version: RoomVersion): string {
  return encodeBase64(contentHashBytes(pdu, version))
}

/**
 * The redacted event without `signatures` and `unsigned`: what the reference hash covers, and what servers
 * sign ("Signing Events"), so an event built here encodes them once for both. Throws CanonicalJsonError
 * like contentHash.
 */
export function referenceBytes(pdu: JsonObject, version: RoomVersion): Buffer {
  const { signatures: _s, unsigned: _u, ...rest } = redact(pdu, version)
  return eventJsonBytes(rest, version)
}

/**
 * The reference hash (raw 32 bytes): SHA-256 of referenceBytes. It covers `hashes`, so it commits to the
 * full content too. Throws CanonicalJsonError like contentHash.
 */
export function referenceHash(pdu: JsonObject, version: RoomVersion): Buffer {
  return sha256(referenceBytes(pdu, version))
}

/**
 * Whether `hashes.sha256` matches the event's content. False when it is missing, not Base64, or the event
 * cannot be encoded: per "Validating hashes and signatures on received events", the caller then keeps the
 * redacted copy instead of the event it received.
 */
export function checkContentHash(pdu: JsonObject, version: RoomVersion): boolean {
  const hashes = pdu.hashes
  if (typeof hashes !== 'object' || hashes === null) return false
  const claimed = (hashes as JsonObject).sha256
  if (typeof claimed !== 'string') return false
  const expected = decodeBase64(claimed)
  if (!expected || expected.length !== 32) return false
  try {
    return expected.equals(contentHashBytes(pdu, version))
  } catch {
    return false
  }
}
