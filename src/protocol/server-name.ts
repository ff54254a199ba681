// Server names (appendices, "Server Name"): hostname [ ":" port ], the hostname an IPv4 literal, a
// bracketed IPv6 literal or a DNS name. Parsed once here so discovery, signing and the notary agree on
// what a name is.
import { isIPv6 } from 'node:net'

export interface ServerName {
  /** The name exactly as given (server names are case-sensitive). */
  readonly name: string
  /** The hostname without brackets: "matrix.org", "1.2.3.4", "1234:5678::abcd". */
  readonly host: string
  /** The hostname as written in a URL or a Host header: IPv6 in brackets. */
  readonly hostForUrl: string
  readonly kind: 'dns' | 'ipv4' | 'ipv6'
  /** The explicit port, or null when none was given. */
  readonly port: number | null
}

const DNS_NAME = /^[A-Za-z0-9.-]{1,255}$/
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/
const IPV6_CHARS = /^[0-9A-Fa-f:.]{2,45}$/
const PORT = /^\d{1,5}$/

/** Parses a server name; null when it does not follow the grammar. */
export function parseServerName(name: string): ServerName | null {
  let hostPart: string
  let portPart: string | undefined
  if (name.startsWith('[')) {
    const close = name.indexOf(']')
    if (close < 0) return null
    hostPart = name.slice(0, close + 1)
    const rest = name.slice(close + 1)
    if (rest !== '' && !rest.startsWith(':')) return null
    portPart = rest === '' ? undefined : rest.slice(1)
  } else {
    const colon = name.lastIndexOf(':')
    hostPart = colon < 0 ? name : name.slice(0, colon)
    portPart = colon < 0 ? undefined : name.slice(colon + 1)
  }
  let port: number | null = null
  if (portPart !== undefined) {
    // The grammar allows 1*5DIGIT; a number past 65535 names no port anyone can reach.
    if (!PORT.test(portPart) || Number(portPart) > 65535) return null
    port = Number(portPart)
  }
  if (hostPart.startsWith('[')) {
    const inner = hostPart.slice(1, -1)
    if (!IPV6_CHARS.test(inner) || !isIPv6(inner)) return null
    return { name, host: inner, hostForUrl: hostPart, kind: 'ipv6', port }
  }
  const v4 = IPV4.exec(hostPart)
  if (v4) {
    // Four dotted numbers are an IPv4 literal, whose parts must be 0 to 255; "999.1.1.1" is neither that nor a name.
    if (v4.slice(1).some((part) => Number(part) > 255)) return null
    return { name, host: hostPart, hostForUrl: hostPart, kind: 'ipv4', port }
  }
  if (!DNS_NAME.test(hostPart)) return null
  return { name, host: hostPart, hostForUrl: hostPart, kind: 'dns', port }
}

/** Whether a string is a valid server name. */
export function isServerName(name: string): boolean {
  return parseServerName(name) !== null
}
