// Authorization rules, m.room.member invites with third_party_invite (rooms/v1–v5 5.3.1, v6–v7 4.3.1, v8+ 4.4.1/5.4.1).
import { verify as cryptoVerify } from 'node:crypto'
import { decodeBase64 } from '../base64.ts'
import { canonicalJsonBytes } from '../canonical-json.ts'
import { stateKey, type JsonObject, type RoomEvent } from '../events/types.ts'
import { verifyKeyFromBase64 } from '../signing.ts'
import { ALLOWED, isObject, membershipOf, refuse, type AuthResult, type AuthState } from './room-state.ts'

/**
 * Most public keys of an m.room.third_party_invite, and most ed25519 signatures of a signed block, the rule
 * looks at: an identity server offers one or two keys and signs once. Past either, the invite is refused
 * outright rather than cut short, so every server decides it alike whatever order the JSON came in.
 */
export const MAX_INVITE_PUBLIC_KEYS = 10
export const MAX_SIGNED_SIGNATURES = 10

/** One public key an m.room.third_party_invite offers, with the URL that says whether it is still valid. */
export interface InvitePublicKey {
  public_key: string
  key_validity_url?: string
}

/** The public keys an m.room.third_party_invite event offers: public_key (with key_validity_url), then public_keys[]. */
export function thirdPartyInvitePublicKeys(invite: RoomEvent): InvitePublicKey[] {
  const keys: InvitePublicKey[] = []
  const add = (publicKey: unknown, url: unknown) => {
    if (typeof publicKey === 'string') keys.push({ public_key: publicKey, ...(typeof url === 'string' ? { key_validity_url: url } : {}) })
  }
  add(invite.content.public_key, invite.content.key_validity_url)
  const list = invite.content.public_keys
  if (Array.isArray(list)) for (const entry of list) if (isObject(entry)) add(entry.public_key, entry.key_validity_url)
  return keys
}

/**
 * The first of `publicKeys` that verifies an ed25519 signature in `signed` (any signing entity, any
 * ed25519 key ID), or null; a string when the block or the keys are past the bounds above.
 */
export function verifyingKey(signed: JsonObject, publicKeys: readonly InvitePublicKey[]): InvitePublicKey | null | string {
  if (publicKeys.length > MAX_INVITE_PUBLIC_KEYS) return `the m.room.third_party_invite offers more than ${MAX_INVITE_PUBLIC_KEYS} public keys`
  const signatures: Buffer[] = []
  if (isObject(signed.signatures)) {
    for (const block of Object.values(signed.signatures)) {
      if (!isObject(block)) continue
      for (const [keyId, encoded] of Object.entries(block)) {
        if (!keyId.startsWith('ed25519:')) continue
        if (signatures.length === MAX_SIGNED_SIGNATURES) return `third_party_invite.signed carries more than ${MAX_SIGNED_SIGNATURES} signatures`
        const bytes = typeof encoded === 'string' ? decodeBase64(encoded) : null
        if (bytes && bytes.length === 64) signatures.push(bytes)
      }
    }
  }
  if (signatures.length === 0) return null
  let message: Buffer
  try {
    const { signatures: _s, unsigned: _u, ...rest } = signed
    message = canonicalJsonBytes(rest)
  } catch {
    return null
  }
  for (const candidate of publicKeys) {
    const key = verifyKeyFromBase64(candidate.public_key)
    if (key && signatures.some((signature) => cryptoVerify(null, message, key, signature))) return candidate
  }
  return null
}

/**
 * An invite made by accepting a third-party invite. The sender need not be joined: the rule allows (or
 * refuses) before the ordinary invite checks. Key revocation (key_validity_url) is the caller's concern.
 */
export function checkThirdPartyInvite(event: RoomEvent, authState: AuthState): AuthResult {
  const target = event.state_key as string
  if (membershipOf(target, authState) === 'ban') return refuse(`${target} is banned`)
  const thirdPartyInvite = event.content.third_party_invite
  const signed = isObject(thirdPartyInvite) ? thirdPartyInvite.signed : undefined
  if (!isObject(signed)) return refuse('third_party_invite has no signed object')
  if (typeof signed.mxid !== 'string' || typeof signed.token !== 'string') return refuse('third_party_invite.signed needs mxid and token')
  if (signed.mxid !== target) return refuse('third_party_invite.signed.mxid does not match state_key')
  const invite = authState.get(stateKey('m.room.third_party_invite', signed.token))
  if (!invite) return refuse(`no m.room.third_party_invite for token ${signed.token}`)
  if (invite.sender !== event.sender) return refuse('the sender did not send the m.room.third_party_invite')
  const key = verifyingKey(signed, thirdPartyInvitePublicKeys(invite))
  if (typeof key === 'string') return refuse(key)
  if (key) return ALLOWED
  return refuse('no signature in third_party_invite.signed matches the invite public keys')
}
