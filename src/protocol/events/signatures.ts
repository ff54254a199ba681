// Server-server API "Signing Events" (signing, and "Validating hashes and signatures on received events").
import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { decodeBase64, encodeBase64 } from '../base64.ts'
import type { RoomVersion } from '../room-versions.ts'
import type { SigningKey } from '../signing.ts'
import { referenceBytes } from './hashes.ts'
import type { JsonObject, Pdu } from './types.ts'

type Signatures = Record<string, Record<string, string>>

/**
 * The server name in a user ID or v1/v2 event ID: everything after the first ':' (as Synapse's
 * get_domain_from_id). Null when there is no ':' or nothing after it.
 */
export function serverNameOf(id: unknown): string | null {
  if (typeof id !== 'string') return null
  const colon = id.indexOf(':')
  if (colon === -1 || colon === id.length - 1) return null
  return id.slice(colon + 1)
}

/**
 * Adds this server's signature over the redacted event to a copy of `pdu`, keeping the signatures already
 * there (a resident server co-signing a send_join, an invited server signing an invite). `hashes` must
 * already be set: the signature covers them. The signed bytes are referenceBytes (`bytes`, when the caller
 * has them already).
 */
export function signEvent<T extends JsonObject>(
  pdu: T,
  version: RoomVersion,
  serverName: string,
  key: SigningKey,
  bytes: Buffer = referenceBytes(pdu, version),
): T & { signatures: Signatures } {
  const signature = encodeBase64(cryptoSign(null, bytes, key.privateKey))
  const existing = (typeof pdu.signatures === 'object' && pdu.signatures !== null ? pdu.signatures : {}) as Signatures
  return { ...pdu, signatures: { ...existing, [serverName]: { ...existing[serverName], [key.keyId]: signature } } }
}

/**
 * Checks one server's signature with one key over the redacted event, so it holds for the full event and
 * for a redacted copy alike. False when the signature is missing, malformed or wrong, or the event cannot be
 * encoded in this room version.
 */
export function verifyEventSignature(pdu: Pdu | JsonObject, version: RoomVersion, serverName: string, keyId: string, verifyKey: KeyObject): boolean {
  const signatures = pdu.signatures as Record<string, Record<string, unknown> | undefined> | undefined
  const encoded = typeof signatures === 'object' && signatures !== null ? signatures[serverName]?.[keyId] : undefined
  if (typeof encoded !== 'string') return false
  const signature = decodeBase64(encoded)
  if (!signature || signature.length !== 64) return false
  let bytes: Buffer
  try {
    bytes = referenceBytes(pdu, version)
  } catch {
    return false
  }
  return cryptoVerify(null, bytes, verifyKey, signature)
}

export type RequiredSignatures = { ok: true; servers: string[] } | { ok: false; reason: string }

/** The fields requiredSignatureServers reads; a Pdu or a RoomEvent both fit. */
export interface SignedEventFields {
  type: string
  sender: string
  content: JsonObject
  event_id?: string | undefined
}

/**
 * The servers whose valid signatures a received event must carry ("Validating hashes and signatures on
 * received events"), as Synapse's _check_sigs_on_pdu applies it:
 * - the sender's server, except for an invite made from a third-party invite (membership invite with
 *   content.third_party_invite): its sender must match the 3PID invite's, but any server may send it;
 * - v1/v2: also the server in the event ID;
 * - v8+ (restricted join rules): for a join carrying content.join_authorised_via_users_server, that user's
 *   server. (The auth rules separately require that signature for any membership with the key.)
 * Other signatures (an invited server's on an invite, a policy server's) are not required here.
 * Not ok when an ID these rules read has no server name: Synapse drops such events.
 */
export function requiredSignatureServers(event: SignedEventFields, version: RoomVersion): RequiredSignatures {
  const servers = new Set<string>()
  const content = event.content
  const membership = content.membership
  const senderServer = serverNameOf(event.sender)
  if (senderServer === null) return { ok: false, reason: `sender ${String(event.sender)} has no server name` }
  const inviteVia3pid = event.type === 'm.room.member' && membership === 'invite' && Object.hasOwn(content, 'third_party_invite')
  if (!inviteVia3pid) servers.add(senderServer)
  if (version.eventFormat === 1) {
    const eventServer = serverNameOf(event.event_id)
    if (eventServer === null) return { ok: false, reason: `event ID ${String(event.event_id)} has no server name` }
    servers.add(eventServer)
  }
  if (version.restrictedJoinRule && event.type === 'm.room.member' && membership === 'join' && Object.hasOwn(content, 'join_authorised_via_users_server')) {
    const authoriser = content.join_authorised_via_users_server
    const authoriserServer = serverNameOf(authoriser)
    if (authoriserServer === null) return { ok: false, reason: `join_authorised_via_users_server ${String(authoriser)} has no server name` }
    servers.add(authoriserServer)
  }
  return { ok: true, servers: [...servers] }
}
