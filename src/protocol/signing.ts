// Signing JSON (appendices, "Signing Details" and "Checking for a Signature") with ed25519 from node:crypto.
// KeyObjects are built once per key and reused: creating them costs more than the signature itself.
import { createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { canonicalJsonBytes } from './canonical-json.ts'
import { decodeBase64, encodeBase64 } from './base64.ts'

// DER prefixes that turn a raw 32-byte ed25519 seed / public key into PKCS#8 / SPKI.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

export interface SigningKey {
  /** e.g. "ed25519:a_AbCd" */
  readonly keyId: string
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  /** Unpadded Base64 of the 32-byte public key, as published in verify_keys. */
  readonly publicKeyBase64: string
}

export function signingKeyFromSeed(keyId: string, seed: Uint8Array): SigningKey {
  if (seed.length !== 32) throw new Error('an ed25519 seed is 32 bytes')
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
  const publicKey = createPublicKey(privateKey)
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length)
  return { keyId, privateKey, publicKey, publicKeyBase64: encodeBase64(raw) }
}

/** A verification key from its unpadded Base64 form; null when it is not a 32-byte key. */
export function verifyKeyFromBase64(publicKeyBase64: string): KeyObject | null {
  const raw = decodeBase64(publicKeyBase64)
  if (!raw || raw.length !== 32) return null
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
}

type JsonObject = Record<string, unknown>

function withoutSignaturesAndUnsigned(object: JsonObject): JsonObject {
  const { signatures: _s, unsigned: _u, ...rest } = object
  return rest
}

/** Returns a copy of `object` with this entity's signature added under `signatures[entity][keyId]`. */
export type Signatures = Record<string, Record<string, string>>

export function signJson<T extends JsonObject>(object: T, entity: string, key: SigningKey): T & { signatures: Signatures } {
  const signature = cryptoSign(null, canonicalJsonBytes(withoutSignaturesAndUnsigned(object)), key.privateKey)
  const existing = (object.signatures ?? {}) as Signatures
  return {
    ...object,
    signatures: { ...existing, [entity]: { ...existing[entity], [key.keyId]: encodeBase64(signature) } },
  }
}

/** Checks one entity's signature with one key; false when the signature is missing, malformed or wrong. */
export function verifyJsonSignature(object: JsonObject, entity: string, keyId: string, verifyKey: KeyObject): boolean {
  const signatures = object.signatures as Record<string, Record<string, unknown>> | undefined
  const encoded = signatures?.[entity]?.[keyId]
  if (typeof encoded !== 'string') return false
  const signature = decodeBase64(encoded)
  if (!signature || signature.length !== 64) return false
  let bytes: Buffer
  try {
    bytes = canonicalJsonBytes(withoutSignaturesAndUnsigned(object))
  } catch {
    return false
  }
  return cryptoVerify(null, bytes, verifyKey, signature)
}
