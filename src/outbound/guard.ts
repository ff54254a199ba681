// The outbound guard: the one gate every request Homestead makes to another host goes through (federation,
// URL previews, identity servers, push gateways), configured by outbound.ip_range_blocklist / ip_range_allowlist. It resolves
// the name itself, checks every address, and the connection goes to the checked address (so a second
// resolution, a DNS rebinding, cannot swap it); redirects are checked again the same way.
import { BlockList, isIP } from 'node:net'
import { lookup as dnsLookup } from 'node:dns/promises'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { SecureContext } from 'node:tls'
import type { LookupFunction } from 'node:net'
import { Transform, type Readable } from 'node:stream'
import { DEFAULT_IP_RANGE_BLOCKLIST, parseCidr } from './ranges.ts'

export class BlockedAddressError extends Error {
  readonly address: string
  constructor(host: string, address: string) {
    super(`${host} resolves to ${address}, which is not allowed`)
    this.name = 'BlockedAddressError'
    this.address = address
  }
}

export class OutboundError extends Error {
  readonly kind: 'too_large' | 'timeout' | 'http' | 'network' | 'url'
  constructor(kind: OutboundError['kind'], message: string) {
    super(message)
    this.name = 'OutboundError'
    this.kind = kind
  }
}

function addCidr(list: BlockList, cidr: string): void {
  const parsed = parseCidr(cidr)
  if (!parsed) throw new Error(`not a CIDR range: ${cidr}`)
  list.addSubnet(parsed.network, parsed.prefix, parsed.family)
}

/** The 16 bytes of an IPv6 address that isIP already accepted (hex groups, ::, a trailing dotted quad). */
function v6Bytes(address: string): number[] {
  const groups = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((g) => {
          if (!g.includes('.')) return [parseInt(g, 16)]
          const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number]
          return [(a << 8) | b, (c << 8) | d]
        })
  const [head, tail] = address.split('::') as [string, string | undefined]
  const left = groups(head)
  const right = tail === undefined ? [] : groups(tail)
  const words = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right]
  return words.flatMap((w) => [w >> 8, w & 255])
}

const v4At = (b: number[], at: number, mask = 0): string => [0, 1, 2, 3].map((i) => ((b[at + i] as number) ^ mask).toString()).join('.')
const zero = (b: number[], from: number, to: number): boolean => b.slice(from, to).every((x) => x === 0)

/**
 * The IPv4 address an IPv6 one stands for on the wire: IPv4-compatible ::a.b.c.d, IPv4-mapped
 * ::ffff:a.b.c.d and IPv4-translated ::ffff:0:a.b.c.d, in any spelling (::7f00:1 is 127.0.0.1). Null otherwise.
 */
function sameHostV4(b: number[]): string | null {
  if (zero(b, 0, 12)) return v4At(b, 12)
  if (zero(b, 0, 10) && b[10] === 0xff && b[11] === 0xff) return v4At(b, 12)
  if (zero(b, 0, 8) && b[8] === 0xff && b[9] === 0xff && zero(b, 10, 12)) return v4At(b, 12)
  return null
}

/**
 * The IPv4 addresses a tunnelling or translating prefix carries, which a gateway would reach on the sender's
 * behalf: NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo 2001:0::/32 (its server, and its client stored inverted).
 */
function tunnelledV4(b: number[]): string[] {
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(b, 4, 12)) return [v4At(b, 12)]
  if (b[0] === 0x20 && b[1] === 0x02) return [v4At(b, 2)]
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0 && b[3] === 0) return [v4At(b, 4), v4At(b, 12, 0xff)]
  return []
}

export interface FetchOptions {
  maxBytes: number
  timeoutMs: number
  maxRedirects?: number
  headers?: Record<string, string>
  /** GET by default. A POST sends `form` (URL-encoded) or else `json` as its body and follows no redirect. */
  method?: 'GET' | 'POST'
  json?: unknown
  form?: Record<string, string>
  /** Only https URLs, on the first request and every redirect (federation's .well-known). */
  httpsOnly?: boolean
  /** The trusted CAs for https (federation adds its extra CA file); Node's defaults otherwise. */
  secureContext?: SecureContext
  /** False: an https peer's certificate is not checked (only for test setups whose servers have none valid). */
  tlsVerify?: boolean
}

export type Resolve = (host: string) => Promise<Array<{ address: string; family: number }>>

export interface GuardOptions {
  /** CIDRs refused (default: DEFAULT_IP_RANGE_BLOCKLIST). */
  blocklist?: readonly string[]
  /** CIDRs allowed even when the blocklist covers them. */
  allowlist?: readonly string[]
  /** Name → addresses (default: the system resolver, getaddrinfo). */
  resolve?: Resolve
}

export interface GuardedResponse {
  url: string
  status: number
  headers: IncomingMessage['headers']
  /** The body, to be read (or destroyed) by the caller; it fails with OutboundError past maxBytes. */
  body: Readable
}

export class OutboundGuard {
  private readonly blocked = new BlockList()
  private readonly allowed = new BlockList()
  private readonly resolve: Resolve

  constructor(options: GuardOptions = {}) {
    for (const cidr of options.blocklist ?? DEFAULT_IP_RANGE_BLOCKLIST) addCidr(this.blocked, cidr)
    for (const cidr of options.allowlist ?? []) addCidr(this.allowed, cidr)
    this.resolve = options.resolve ?? ((host) => dnsLookup(host, { all: true, verbatim: true }))
  }

  /**
   * Whether an address may be reached. An IPv6 address that carries an IPv4 one is judged by it too: as that
   * address when it is the same host (mapped, compatible, translated forms), and refused when a gateway would
   * carry it to a refused IPv4 address (NAT64, 6to4, Teredo), even if the operator allowlisted the prefix.
   */
  isAllowed(address: string): boolean {
    const family = isIP(address)
    if (family === 0) return false
    // The unspecified address reaches this host on most systems; no list can allow it (as Synapse).
    if (address === '0.0.0.0' || /^[0:]+$/.test(address)) return false
    if (family === 4) return this.allowed.check(address, 'ipv4') || !this.blocked.check(address, 'ipv4')
    const bytes = v6Bytes(address.split('%')[0] as string)
    const same = sameHostV4(bytes)
    if (same !== null) return this.isAllowed(same)
    if (tunnelledV4(bytes).some((v4) => !this.isAllowed(v4))) return false
    return this.allowed.check(address, 'ipv6') || !this.blocked.check(address, 'ipv6')
  }

  /** Resolves a host and returns one address, if every address it resolves to is allowed. */
  async check(host: string): Promise<{ address: string; family: 4 | 6 }> {
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
    const literal = isIP(bare)
    const addresses = literal ? [{ address: bare, family: literal }] : await this.resolve(bare).catch(() => [])
    if (addresses.length === 0) throw new OutboundError('network', `cannot resolve ${host}`)
    for (const { address } of addresses) if (!this.isAllowed(address)) throw new BlockedAddressError(host, address)
    const first = addresses[0] as { address: string; family: number }
    return { address: first.address, family: first.family === 6 ? 6 : 4 }
  }

  /** GET (redirects followed by hand, each hop resolved and checked) or POST; the caller reads the body. */
  async fetch(url: string, options: FetchOptions): Promise<GuardedResponse> {
    const deadline = AbortSignal.timeout(options.timeoutMs)
    let current = url
    const maxRedirects = options.method === 'POST' ? 0 : (options.maxRedirects ?? 5)
    for (let hop = 0; hop <= maxRedirects; hop++) {
      let parsed: URL
      try {
        parsed = new URL(current)
      } catch {
        throw new OutboundError('url', 'invalid URL')
      }
      if (parsed.protocol !== 'https:' && (options.httpsOnly || parsed.protocol !== 'http:')) {
        throw new OutboundError('url', options.httpsOnly ? 'only https URLs can be fetched' : 'only http and https URLs can be fetched')
      }
      if (parsed.username || parsed.password) throw new OutboundError('url', 'URLs with credentials are not fetched')
      const target = await this.check(parsed.hostname)
      const response = await this.once(parsed, target, options, deadline)
      const location = response.headers.location
      if (options.method !== 'POST' && response.statusCode && [301, 302, 303, 307, 308].includes(response.statusCode) && location) {
        response.destroy()
        current = new URL(location, parsed).toString()
        continue
      }
      return { url: current, status: response.statusCode ?? 0, headers: response.headers, body: limitBody(response, options.maxBytes) }
    }
    throw new OutboundError('http', 'too many redirects')
  }

  /**
   * POSTs a JSON body (push gateways): http or https, the host resolved and checked, no redirect followed.
   * Returns the status and the body read (failing past maxBytes); fails on a timeout over the whole exchange.
   */
  async postJson(url: string, json: unknown, options: { timeoutMs: number; maxBytes: number }): Promise<{ status: number; body: Buffer }> {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw new OutboundError('url', 'invalid URL')
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new OutboundError('url', 'only http and https URLs can be posted to')
    if (parsed.username || parsed.password) throw new OutboundError('url', 'URLs with credentials are not posted to')
    const signal = AbortSignal.timeout(options.timeoutMs)
    const target = await this.check(parsed.hostname)
    const payload = Buffer.from(JSON.stringify(json))
    const send = parsed.protocol === 'https:' ? httpsRequest : httpRequest
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(parsed, {
        method: 'POST',
        lookup: pinnedLookup(target),
        signal,
        headers: { 'user-agent': 'Homestead', 'content-type': 'application/json', 'content-length': String(payload.length) },
      }, resolve)
      req.on('error', (err) => reject(signal.aborted ? new OutboundError('timeout', 'timed out') : new OutboundError('network', err.message)))
      req.end(payload)
    })
    const chunks: Buffer[] = []
    try {
      for await (const chunk of limitBody(response, options.maxBytes)) chunks.push(chunk as Buffer)
    } catch (err) {
      throw signal.aborted ? new OutboundError('timeout', 'timed out') : err
    }
    return { status: response.statusCode ?? 0, body: Buffer.concat(chunks) }
  }

  private once(url: URL, target: { address: string; family: 4 | 6 }, options: FetchOptions, signal: AbortSignal): Promise<IncomingMessage> {
    const https = url.protocol === 'https:'
    const send = https ? httpsRequest : httpRequest
    const tls = {
      ...(https && options.secureContext ? { secureContext: options.secureContext } : {}),
      ...(https && options.tlsVerify === false ? { rejectUnauthorized: false } : {}),
    }
    const form = options.method === 'POST' && options.form !== undefined ? new URLSearchParams(options.form).toString() : undefined
    const body = options.method === 'POST' ? Buffer.from(form ?? JSON.stringify(options.json ?? {})) : undefined
    const type = form !== undefined ? 'application/x-www-form-urlencoded' : 'application/json'
    const headers: Record<string, string> = { 'user-agent': 'Homestead', ...(body ? { 'content-type': type } : {}), ...options.headers }
    return new Promise((resolve, reject) => {
      const req = send(url, { method: options.method ?? 'GET', lookup: pinnedLookup(target), signal, ...tls, headers }, resolve)
      req.on('error', (err) => reject(signal.aborted ? new OutboundError('timeout', 'timed out') : new OutboundError('network', err.message)))
      req.end(body)
    })
  }
}

/** A lookup that answers the address already checked, whatever DNS would answer now. */
export function pinnedLookup(target: { address: string; family: 4 | 6 }): LookupFunction {
  return (_host, opts, callback) => {
    if ((opts as { all?: boolean }).all) (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [target])
    else callback(null, target.address, target.family)
  }
}

/** The body as a stream that fails once more than maxBytes arrive (or are announced). */
export function limitBody(response: IncomingMessage, maxBytes: number): Readable {
  const announced = Number(response.headers['content-length'])
  let seen = 0
  const out = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length
      if (seen > maxBytes) return done(new OutboundError('too_large', 'response too large'))
      done(null, chunk)
    },
  })
  if (Number.isFinite(announced) && announced > maxBytes) {
    response.destroy()
    out.destroy(new OutboundError('too_large', 'response too large'))
    return out
  }
  response.on('error', (err) => out.destroy(err))
  out.on('close', () => response.destroy())
  response.pipe(out)
  return out
}
