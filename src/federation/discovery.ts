// Server discovery (server-server-api, "Resolving server names"): from a server name to the hosts and
// ports to connect to, the Host header to send and the name the TLS certificate must carry.
// Per instance, two bounded caches: .well-known answers (for as long as their Cache-Control/Expires
// say, 5 minutes to 48 hours, 24 hours without headers; invalid answers 1 hour, unreachable 2 minutes,
// as Synapse) and SRV answers (node:dns does not expose SRV TTLs, so a fixed 10 minutes).
// Addresses are not cached here: the outbound guard resolves and checks them at each new connection.
import type { SecureContext } from 'node:tls'
import type { OutboundGuard } from '../outbound/index.ts'
import { parseServerName, type ServerName } from '../protocol/server-name.ts'
import type { Clock } from '../shared/clock.ts'
import type { DnsResolver, SrvTarget } from './dns.ts'

export const DEFAULT_FEDERATION_PORT = 8448

export interface Destination {
  serverName: string
  /** Where to connect, in order: several when SRV names several targets. */
  targets: Array<{ host: string; port: number }>
  /** The Host header (and :authority) of every request. */
  hostHeader: string
  /** The name the certificate must be valid for, sent as SNI; null for an IP address (no SNI). */
  tlsName: string | null
}

export class DiscoveryError extends Error {}

const WELL_KNOWN_MAX_BYTES = 50 * 1024
const WELL_KNOWN_TIMEOUT_MS = 10_000
const WELL_KNOWN_MAX_REDIRECTS = 5
const MIN_CACHE_MS = 5 * 60_000
const DEFAULT_CACHE_MS = 24 * 3600_000
const MAX_CACHE_MS = 48 * 3600_000
const INVALID_CACHE_MS = 3600_000
const UNREACHABLE_CACHE_MS = 2 * 60_000
const SRV_CACHE_MS = 10 * 60_000

/** A map that forgets its oldest entries past `max` and each entry at its expiry. */
class ExpiringCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>()
  private readonly max: number
  constructor(max: number) {
    this.max = max
  }
  get(key: string, now: number): V | undefined {
    const entry = this.entries.get(key)
    if (!entry) return undefined
    if (entry.expires <= now) {
      this.entries.delete(key)
      return undefined
    }
    return entry.value
  }
  set(key: string, value: V, expires: number): void {
    this.entries.delete(key)
    this.entries.set(key, { value, expires })
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string)
  }
}

/** How long a .well-known answer may be reused, from its Cache-Control or Expires header. */
export function wellKnownCacheMs(headers: Record<string, string | string[] | undefined>, now: number): number {
  const control = String(headers['cache-control'] ?? '').toLowerCase()
  let ms: number | null = null
  if (/(^|,)\s*(no-store|no-cache)\s*(,|$)/.test(control)) ms = 0
  else {
    const maxAge = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/.exec(control)
    if (maxAge) ms = Number(maxAge[1]) * 1000
    else if (typeof headers.expires === 'string') {
      const at = Date.parse(headers.expires)
      if (Number.isFinite(at)) ms = at - now
    }
  }
  return Math.min(MAX_CACHE_MS, Math.max(MIN_CACHE_MS, ms ?? DEFAULT_CACHE_MS))
}

/** SRV targets in the order to try: by priority, then heavier weight first; "." means no service. */
function orderSrv(records: SrvTarget[]): Array<{ host: string; port: number }> {
  return records
    .filter((r) => r.name !== '' && r.name !== '.')
    .sort((a, b) => a.priority - b.priority || b.weight - a.weight)
    .map((r) => ({ host: r.name.replace(/\.$/, ''), port: r.port }))
}

export class ServerDiscovery {
  private readonly dns: DnsResolver
  private readonly guard: OutboundGuard
  private readonly secureContext: SecureContext
  private readonly clock: Clock
  private readonly wellKnown: ExpiringCache<ServerName | null>
  private readonly srv: ExpiringCache<Array<{ host: string; port: number }>>

  constructor(options: { dns: DnsResolver; guard: OutboundGuard; secureContext: SecureContext; clock: Clock; maxEntries?: number }) {
    this.dns = options.dns
    this.guard = options.guard
    this.secureContext = options.secureContext
    this.clock = options.clock
    this.wellKnown = new ExpiringCache(options.maxEntries ?? 10_000)
    this.srv = new ExpiringCache(options.maxEntries ?? 10_000)
  }

  async resolve(serverName: string): Promise<Destination> {
    const name = parseServerName(serverName)
    if (!name) throw new DiscoveryError(`not a server name: ${serverName}`)
    // 1. An IP literal, 2. an explicit port: no lookup of anything but the address.
    if (name.kind !== 'dns' || name.port !== null) return this.direct(serverName, name)
    // 3. .well-known delegation.
    const delegated = await this.delegation(name.host)
    if (delegated) {
      if (delegated.kind !== 'dns' || delegated.port !== null) return this.direct(serverName, delegated)
      const targets = await this.srvTargets(delegated.host)
      return { serverName, targets: targets ?? [{ host: delegated.host, port: DEFAULT_FEDERATION_PORT }], hostHeader: delegated.host, tlsName: delegated.host }
    }
    // 4–6. SRV on the server's own hostname, else port 8448.
    const targets = await this.srvTargets(name.host)
    return { serverName, targets: targets ?? [{ host: name.host, port: DEFAULT_FEDERATION_PORT }], hostHeader: name.host, tlsName: name.host }
  }

  /** An IP literal or a name with a port: connect there; the Host header is the name as written. */
  private direct(serverName: string, name: ServerName): Destination {
    return {
      serverName,
      targets: [{ host: name.host, port: name.port ?? DEFAULT_FEDERATION_PORT }],
      hostHeader: name.name,
      tlsName: name.kind === 'dns' ? name.host : null,
    }
  }

  /** _matrix-fed._tcp, then the deprecated _matrix._tcp; null when neither names a target. */
  private async srvTargets(host: string): Promise<Array<{ host: string; port: number }> | null> {
    const now = this.clock.now()
    let targets = this.srv.get(host, now)
    if (!targets) {
      targets = orderSrv(await this.dns.resolveSrv(`_matrix-fed._tcp.${host}`))
      if (targets.length === 0) targets = orderSrv(await this.dns.resolveSrv(`_matrix._tcp.${host}`))
      this.srv.set(host, targets, now + SRV_CACHE_MS)
    }
    return targets.length > 0 ? targets : null
  }

  /** The m.server of https://host/.well-known/matrix/server, null when there is no valid one. */
  private async delegation(host: string): Promise<ServerName | null> {
    const now = this.clock.now()
    const cached = this.wellKnown.get(host, now)
    if (cached !== undefined) return cached
    let result: ServerName | null = null
    let expires = now + INVALID_CACHE_MS
    try {
      const response = await this.guard.fetch(`https://${host}/.well-known/matrix/server`, {
        maxBytes: WELL_KNOWN_MAX_BYTES,
        timeoutMs: WELL_KNOWN_TIMEOUT_MS,
        maxRedirects: WELL_KNOWN_MAX_REDIRECTS,
        httpsOnly: true,
        secureContext: this.secureContext,
        headers: { accept: 'application/json' },
      })
      const body = await readAll(response.body)
      if (response.status === 200) {
        const parsed = JSON.parse(body.toString('utf8')) as { 'm.server'?: unknown }
        if (typeof parsed?.['m.server'] === 'string') result = parseServerName(parsed['m.server'])
        if (result) expires = now + wellKnownCacheMs(response.headers, now)
      }
    } catch (err) {
      // Bad JSON is an invalid answer; anything else (refused, timed out, blocked, too large) an unreachable one.
      if (!(err instanceof SyntaxError)) expires = now + UNREACHABLE_CACHE_MS
    }
    this.wellKnown.set(host, result, expires)
    return result
  }
}

async function readAll(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk)
  return Buffer.concat(chunks)
}
