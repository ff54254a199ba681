// Server ACLs (client-server API, "Server Access Control Lists (ACLs) for rooms"; the m.room.server_acl
// event): which servers may take part in a room over federation. Pure: the caller reads the room's current
// m.room.server_acl content and asks about a server name.
import { compileGlob, globMatches, lowerForGlob, type CompiledGlob } from '../shared/glob.ts'
import { parseServerName } from './server-name.ts'

/** An ACL event's content compiled once, to be asked about many servers. */
export interface CompiledServerAcl {
  readonly allowIpLiterals: boolean
  readonly allow: readonly CompiledGlob[]
  readonly deny: readonly CompiledGlob[]
}

/** Patterns kept per list: an ACL event is at most 64 KiB, so this is never reached by a real one. */
const MAX_PATTERNS = 10_000

function patterns(value: unknown): CompiledGlob[] {
  // Entries that are not strings are ignored rather than voiding the whole list.
  if (!Array.isArray(value)) return []
  return value.slice(0, MAX_PATTERNS).filter((p): p is string => typeof p === 'string').map((p) => compileGlob(p))
}

/**
 * Compiles the content of an m.room.server_acl event. `allow` defaults to the empty list (nobody),
 * `deny` to the empty list, `allow_ip_literals` to true when missing or not a boolean.
 */
export function compileServerAcl(content: unknown): CompiledServerAcl {
  const c = typeof content === 'object' && content !== null && !Array.isArray(content) ? (content as Record<string, unknown>) : {}
  return {
    allowIpLiterals: typeof c.allow_ip_literals === 'boolean' ? c.allow_ip_literals : true,
    allow: patterns(c.allow),
    deny: patterns(c.deny),
  }
}

/**
 * Whether the ACL lets `serverName` take part in the room, in the event's order: an IP literal when IP
 * literals are not allowed is denied, then a `deny` match denies, then an `allow` match allows, else deny.
 * The port is not considered; a name that is not a server name is denied. With no ACL (null), allow.
 */
export function serverAllowedByAcl(serverName: string, acl: CompiledServerAcl | null): boolean {
  if (acl === null) return true
  const parsed = parseServerName(serverName)
  if (!parsed) return false
  if (!acl.allowIpLiterals && parsed.kind !== 'dns') return false
  // IPv6 literals are matched with their brackets, as the name is written without its port.
  const host = lowerForGlob(parsed.hostForUrl)
  if (acl.deny.some((g) => globMatches(g, host))) return false
  return acl.allow.some((g) => globMatches(g, host))
}
