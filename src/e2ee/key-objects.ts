// The signed key objects of end-to-end encryption (client-server API, "End-to-End Encryption"): their
// shape and their signatures. Pure functions, no storage.
import type { KeyObject } from 'node:crypto'
import { canonicalJson } from '../protocol/canonical-json.ts'
import { verifyJsonSignature, verifyKeyFromBase64 } from '../protocol/signing.ts'
import { MatrixError, badJson } from '../shared/errors.ts'

export type Json = Record<string, unknown>

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

const invalidSignature = (message: string) => new MatrixError('M_INVALID_SIGNATURE', message)

/** Canonical JSON of a key object without its signatures and unsigned data: equal keys, equal strings. */
export function unsignedForm(object: Json): string {
  const { signatures: _s, unsigned: _u, ...rest } = object
  return canonicalJson(rest)
}

function signaturesOf(object: Json, what: string): Record<string, Record<string, string>> {
  const signatures = object.signatures
  if (signatures === undefined) return {}
  if (!isObject(signatures)) throw badJson(`${what}: 'signatures' must be an object`)
  for (const [entity, byKey] of Object.entries(signatures)) {
    if (!isObject(byKey)) throw badJson(`${what}: signatures of ${entity} must be an object`)
    for (const sig of Object.values(byKey)) if (typeof sig !== 'string') throw badJson(`${what}: signatures must be strings`)
  }
  return signatures as Record<string, Record<string, string>>
}

/** Checks that the JSON can be signed at all (canonical JSON refuses floats and out-of-range integers). */
function canonicalOrBad(object: Json, what: string): void {
  try {
    canonicalJson(object)
  } catch {
    throw badJson(`${what} is not valid canonical JSON`)
  }
}

/** The most a device's keys object may weigh (canonical JSON): real ones are under 1 KiB, and each goes to every server sharing a room. */
const MAX_DEVICE_KEYS_BYTES = 16 * 1024
/** The most one one-time or fallback key object may weigh. */
const MAX_ONE_TIME_KEY_BYTES = 4 * 1024
const MAX_KEY_ID_LENGTH = 255

export interface DeviceKeys {
  /** The object as the client sent it. */
  json: Json
}

/**
 * Validates a device's `device_keys` (POST /keys/upload, and what another server says of its users'
 * devices): owner and device must be the ones given, `algorithms`, `keys` and `signatures` well formed
 * and the whole bounded. The keys and signatures are stored and served as the client made them: clients
 * check them against each other (the spec's "Device verification"), the server does not.
 */
export function parseDeviceKeys(value: unknown, userId: string, deviceId: string): DeviceKeys {
  if (!isObject(value)) throw badJson("'device_keys' must be an object")
  canonicalOrBad(value, "'device_keys'")
  if (value.user_id !== userId) throw new MatrixError('M_INVALID_PARAM', "'device_keys.user_id' must be your own user ID")
  if (value.device_id !== deviceId) throw new MatrixError('M_INVALID_PARAM', "'device_keys.device_id' must be the ID of the device uploading them")
  if (!Array.isArray(value.algorithms) || !value.algorithms.every((a) => typeof a === 'string')) throw badJson("'device_keys.algorithms' must be a list of strings")
  const keys = value.keys
  if (!isObject(keys) || !Object.values(keys).every((k) => typeof k === 'string')) throw badJson("'device_keys.keys' must map key IDs to strings")
  if (value.signatures === undefined) throw badJson("'device_keys.signatures' is required")
  signaturesOf(value, "'device_keys'")
  if (Buffer.byteLength(canonicalJson(value)) > MAX_DEVICE_KEYS_BYTES) throw new MatrixError('M_TOO_LARGE', `'device_keys' may weigh at most ${MAX_DEVICE_KEYS_BYTES} bytes`, 413)
  return { json: value }
}

export interface ParsedOneTimeKey {
  algorithm: string
  keyId: string
  json: string
}

/**
 * Validates `one_time_keys` / `fallback_keys`: "<algorithm>:<key id>" → a key string or a key object with
 * `key` (signed ones carry `signatures`, which the claiming client checks against the device's keys).
 */
export function parseOneTimeKeys(value: unknown, field: string): ParsedOneTimeKey[] {
  if (value === undefined || value === null) return []
  if (!isObject(value)) throw badJson(`'${field}' must be an object`)
  const parsed: ParsedOneTimeKey[] = []
  for (const [id, key] of Object.entries(value)) {
    const colon = id.indexOf(':')
    if (colon <= 0 || colon === id.length - 1 || id.length > MAX_KEY_ID_LENGTH) throw badJson(`'${field}': '${id}' is not "<algorithm>:<key id>"`)
    const algorithm = id.slice(0, colon)
    const keyId = id.slice(colon + 1)
    if (typeof key !== 'string' && (!isObject(key) || typeof key.key !== 'string')) throw badJson(`'${field}.${id}' must be a key string or an object with 'key'`)
    if (isObject(key)) {
      canonicalOrBad(key, `'${field}.${id}'`)
      signaturesOf(key, `'${field}.${id}'`)
    }
    const json = JSON.stringify(key)
    if (Buffer.byteLength(json) > MAX_ONE_TIME_KEY_BYTES) throw new MatrixError('M_TOO_LARGE', `'${field}.${id}' may weigh at most ${MAX_ONE_TIME_KEY_BYTES} bytes`, 413)
    parsed.push({ algorithm, keyId, json })
  }
  return parsed
}

export type CrossSigningUsage = 'master' | 'self_signing' | 'user_signing'

export interface CrossSigningKey {
  json: Json
  usage: CrossSigningUsage
  /** The public key (unpadded Base64); its key ID is "ed25519:" + this. */
  publicKey: string
  verifyKey: KeyObject
}

/** Validates a cross-signing key object (owner, usage, exactly one ed25519 key). Signatures are checked by the caller. */
export function parseCrossSigningKey(value: unknown, field: string, userId: string, usage: CrossSigningUsage): CrossSigningKey {
  if (!isObject(value)) throw badJson(`'${field}' must be an object`)
  canonicalOrBad(value, `'${field}'`)
  if (value.user_id !== userId) throw new MatrixError('M_INVALID_PARAM', `'${field}.user_id' must be your own user ID`)
  if (!Array.isArray(value.usage) || !value.usage.includes(usage) || !value.usage.every((u) => typeof u === 'string')) {
    throw badJson(`'${field}.usage' must include "${usage}"`)
  }
  const keys = value.keys
  if (!isObject(keys) || Object.keys(keys).length !== 1) throw badJson(`'${field}.keys' must hold exactly one key`)
  const [keyId, publicKey] = Object.entries(keys)[0] as [string, unknown]
  if (typeof publicKey !== 'string' || keyId !== `ed25519:${publicKey}`) throw badJson(`'${field}.keys' must be {"ed25519:<public key>": "<public key>"}`)
  const verifyKey = verifyKeyFromBase64(publicKey)
  if (!verifyKey) throw badJson(`'${field}' does not hold an ed25519 public key`)
  signaturesOf(value, `'${field}'`)
  return { json: value, usage, publicKey, verifyKey }
}

/** Checks that `signed` carries a valid signature by `signer` (a key of `signerUser`). */
export function requireSignature(signed: Json, signerUser: string, signer: { keyId: string; verifyKey: KeyObject }, what: string): void {
  if (!verifyJsonSignature(signed, signerUser, signer.keyId, signer.verifyKey)) throw invalidSignature(`${what} is not signed by ${signer.keyId}`)
}

/** Adds signatures (entity → key ID → signature) to a key object, keeping those it already has. */
export function withSignatures(object: Json, extra: Array<{ signer_user_id: string; signer_key_id: string; signature: string }>): Json {
  if (extra.length === 0) return object
  const signatures: Record<string, Record<string, string>> = {}
  for (const [entity, byKey] of Object.entries((object.signatures ?? {}) as Record<string, Record<string, string>>)) signatures[entity] = { ...byKey }
  for (const s of extra) (signatures[s.signer_user_id] ??= {})[s.signer_key_id] = s.signature
  return { ...object, signatures }
}
