// Authorization rules, m.room.member invites with third_party_invite (rooms/v1–v5 5.3.1, v6–v7 4.3.1, v8+ 4.4.1/5.4.1).
import { stateKey, type JsonObject, type RoomEvent } from '../events/types.ts'
import { verifyJsonSignature, verifyKeyFromBase64 } from '../signing.ts'
import { ALLOWED, isObject, membershipOf, refuse, type AuthResult, type AuthState } from './room-state.ts'

/** The public keys an m.room.third_party_invite event offers: public_key and public_keys[].public_key. */
export function thirdPartyInvitePublicKeys(invite: RoomEvent): string[] {
  const keys: string[] = []
  const single = invite.content.public_key
  if (typeof single === 'string') keys.push(single)
  const list = invite.content.public_keys
  if (Array.isArray(list)) {
    for (const entry of list) {
      if (isObject(entry) && typeof entry.public_key === 'string') keys.push(entry.public_key)
    }
  }
  return keys
}

/** Whether any ed25519 signature in `signed` verifies with any of the public keys. */
export function signedByAnyKey(signed: JsonObject, publicKeys: readonly string[]): boolean {
  const signatures = signed.signatures
  if (!isObject(signatures)) return false
  const verifyKeys = publicKeys.map((k) => verifyKeyFromBase64(k)).filter((k) => k !== null)
  for (const [entity, block] of Object.entries(signatures)) {
    if (!isObject(block)) continue
    for (const keyId of Object.keys(block)) {
      if (!keyId.startsWith('ed25519:')) continue
      for (const verifyKey of verifyKeys) {
        if (verifyJsonSignature(signed, entity, keyId, verifyKey)) return true
      }
    }
  }
  return false
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
  if (signedByAnyKey(signed, thirdPartyInvitePublicKeys(invite))) return ALLOWED
  return refuse('no signature in third_party_invite.signed matches the invite public keys')
}
