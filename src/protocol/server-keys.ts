// Checking a server's published key document (server-server-api, "Retrieving server keys"): whether it is
// the named server's, self-signed with the keys it lists, and until when each key may be trusted.
import type { KeyObject } from 'node:crypto'
import { verifyJsonSignature, verifyKeyFromBase64 } from './signing.ts'
import { isObject } from './auth/room-state.ts'

/** "Servers MUST use the lesser of this field and 7 days into the future" (keys.yaml, valid_until_ts). */
export const MAX_KEY_VALIDITY_MS = 7 * 24 * 3600 * 1000

const KEY_ID = /^ed25519:[a-zA-Z0-9_]+$/

export interface CheckedKey {
  keyId: string
  /** Unpadded Base64 of the public key. */
  key: string
  verifyKey: KeyObject
  /** Until when the key is valid: valid_until_ts (capped) for a current key, expired_ts for an old one. */
  validUntilTs: number
  /** expired_ts for a key listed in old_verify_keys (valid for old events only, never for requests). */
  expiredTs: number | null
}

export type KeyResponseCheck = { ok: true; keys: CheckedKey[] } | { ok: false; reason: string }

/**
 * The most keys (current and old together) a key document may list. A server has one or two current keys
 * and a few retired ones; a document listing thousands would be stored and read back key by key.
 */
export const MAX_KEYS_PER_SERVER = 32

/**
 * Checks a key document for `serverName`: its server_name, valid_until_ts, keys, and the origin's
 * signature — at least one by a key it lists in verify_keys, and every such signature valid (as Synapse).
 * Keys of algorithms other than ed25519 are skipped.
 */
export function checkKeyResponse(json: unknown, serverName: string, now: number): KeyResponseCheck {
  if (!isObject(json)) return { ok: false, reason: 'not a JSON object' }
  if (json.server_name !== serverName) return { ok: false, reason: `server_name is not ${serverName}` }
  const validUntil = json.valid_until_ts
  if (typeof validUntil !== 'number' || !Number.isSafeInteger(validUntil)) return { ok: false, reason: 'valid_until_ts is not an integer' }
  if (!isObject(json.verify_keys)) return { ok: false, reason: 'verify_keys is not an object' }
  if (json.old_verify_keys !== undefined && !isObject(json.old_verify_keys)) return { ok: false, reason: 'old_verify_keys is not an object' }
  const listed = Object.keys(json.verify_keys).length + Object.keys(json.old_verify_keys ?? {}).length
  if (listed > MAX_KEYS_PER_SERVER) return { ok: false, reason: `lists ${listed} keys, more than ${MAX_KEYS_PER_SERVER}` }
  const keys: CheckedKey[] = []
  for (const [keyId, entry] of Object.entries(json.verify_keys)) {
    if (!KEY_ID.test(keyId)) continue
    const verifyKey = isObject(entry) && typeof entry.key === 'string' ? verifyKeyFromBase64(entry.key) : null
    if (!verifyKey) return { ok: false, reason: `verify_keys.${keyId} is not an ed25519 key` }
    keys.push({ keyId, key: (entry as { key: string }).key, verifyKey, validUntilTs: Math.min(validUntil, now + MAX_KEY_VALIDITY_MS), expiredTs: null })
  }
  const signatures = isObject(json.signatures) ? json.signatures[serverName] : undefined
  const signedBy = isObject(signatures) ? keys.filter((k) => k.keyId in signatures) : []
  if (signedBy.length === 0) return { ok: false, reason: 'not signed by any of its verify_keys' }
  for (const k of signedBy) {
    if (!verifyJsonSignature(json, serverName, k.keyId, k.verifyKey)) return { ok: false, reason: `the signature by ${k.keyId} is invalid` }
  }
  for (const [keyId, entry] of Object.entries(json.old_verify_keys ?? {})) {
    if (!KEY_ID.test(keyId) || keys.some((k) => k.keyId === keyId)) continue
    const verifyKey = isObject(entry) && typeof entry.key === 'string' ? verifyKeyFromBase64(entry.key) : null
    const expired = isObject(entry) ? entry.expired_ts : undefined
    if (!verifyKey || typeof expired !== 'number' || !Number.isSafeInteger(expired)) return { ok: false, reason: `old_verify_keys.${keyId} is malformed` }
    keys.push({ keyId, key: (entry as { key: string }).key, verifyKey, validUntilTs: expired, expiredTs: expired })
  }
  return { ok: true, keys }
}

/** Whether a notary signed the document with one of `notaryKeys` (key ID → key), and no signature of it fails. */
export function checkNotarySignature(json: Record<string, unknown>, notary: string, notaryKeys: ReadonlyMap<string, KeyObject>): boolean {
  const signatures = isObject(json.signatures) ? json.signatures[notary] : undefined
  if (!isObject(signatures)) return false
  const known = Object.keys(signatures).filter((keyId) => notaryKeys.has(keyId))
  return known.length > 0 && known.every((keyId) => verifyJsonSignature(json, notary, keyId, notaryKeys.get(keyId) as KeyObject))
}
