// Identifier grammars (appendices, "Identifier Grammar").

export type UserId = string & { readonly __brand: 'UserId' }
export type RoomId = string & { readonly __brand: 'RoomId' }

const SERVER_NAME = /^(\[[0-9A-Fa-f:.]{2,45}\]|[0-9]{1,3}(\.[0-9]{1,3}){3}|[A-Za-z0-9.-]{1,255})(:[0-9]{1,5})?$/
/** Localparts of users registered here (lower case only). */
const NEW_LOCALPART = /^[a-z0-9._=\-/+]+$/
/** Localparts Matrix tolerates from elsewhere: printable ASCII except ':'. */
const HISTORICAL_LOCALPART = /^[\x21-\x39\x3B-\x7E]+$/

export function isValidServerName(name: string): boolean {
  return SERVER_NAME.test(name)
}

export function isValidLocalpart(localpart: string): boolean {
  return NEW_LOCALPART.test(localpart)
}

/** Parses @localpart:server; null for anything that is not a user ID. */
export function parseUserId(value: string): { localpart: string; serverName: string } | null {
  if (typeof value !== 'string' || value.length > 255 || !value.startsWith('@')) return null
  const colon = value.indexOf(':')
  if (colon < 2) return null
  const localpart = value.slice(1, colon)
  const serverName = value.slice(colon + 1)
  if (!HISTORICAL_LOCALPART.test(localpart) || !isValidServerName(serverName)) return null
  return { localpart, serverName }
}

export function isUserId(value: unknown): value is UserId {
  return typeof value === 'string' && parseUserId(value) !== null
}

export function makeUserId(localpart: string, serverName: string): UserId {
  return `@${localpart}:${serverName}` as UserId
}

/** Room IDs: !opaque:server, or (room version 12) !<hash> with no server part. */
export function isRoomId(value: unknown): value is RoomId {
  if (typeof value !== 'string' || value.length > 255 || !value.startsWith('!') || value.length < 2) return false
  const colon = value.indexOf(':')
  if (colon === -1) return /^![A-Za-z0-9_-]{43}$/.test(value)
  return colon > 1 && isValidServerName(value.slice(colon + 1))
}

const MXC_URI = /^mxc:\/\/([A-Za-z0-9.:[\]-]+)\/([A-Za-z0-9_-]+)$/

/** The server name and media ID of an mxc:// URI (client-server API, "Matrix Content (mxc://) URIs"), or null. */
export function parseMxc(uri: string): { serverName: string; mediaId: string } | null {
  const match = MXC_URI.exec(uri)
  return match ? { serverName: match[1] as string, mediaId: match[2] as string } : null
}
