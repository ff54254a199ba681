// Federation's public surface. What the federation routes and the sender build on:
//
//   ServerDiscovery.resolve(serverName) → Destination   server name → targets, Host header, TLS name
//                                                        (IP literal, port, .well-known, SRV, 8448), cached
//   FederationClient.request(dest, {method, path, …})   signed (X-Matrix), guarded (outbound.ip_range_*),
//                                                        CA-verified (system + federation.ca_file), timed,
//                                                        size-bounded; FederationError on any failure
//   RemoteKeys.verifyKey(server, keyId, validity)       another server's key, cached in PostgreSQL,
//                                                        fetched directly or through notaries, deduplicated
//   RemoteKeys.fetchDirect / fetchFromNotary / notaryAnswer   the key-exchange API both ways
//   RequestAuthenticator.authenticate(request)          inbound X-Matrix check → { origin } or 401
//   DnsResolver (systemDns, dnsAt)                      the DNS behind discovery and the guard
//
// Everything is built once per process by createFederation and reached through ctx.federation.
import type { SecureContext } from 'node:tls'
import type { Config } from '../config/schema.ts'
import type { ServerKeys } from '../keys/server-keys.ts'
import type { OutboundGuard } from '../outbound/index.ts'
import type { Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import type { Storage } from '../storage/index.ts'
import { RequestAuthenticator } from './auth.ts'
import { FederationClient } from './client.ts'
import { ServerDiscovery } from './discovery.ts'
import type { DnsResolver } from './dns.ts'
import { RemoteKeys } from './keys.ts'
import { federationSecureContext } from './tls.ts'

export { RequestAuthenticator, type InboundRequest } from './auth.ts'
export { FederationClient, FederationError, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_REQUEST_TIMEOUT_MS, type FederationRequest } from './client.ts'
export { ServerDiscovery, DiscoveryError, DEFAULT_FEDERATION_PORT, wellKnownCacheMs, type Destination } from './discovery.ts'
export { systemDns, dnsAt, type DnsResolver, type SrvTarget } from './dns.ts'
export { RemoteKeys, type KeyCriteria, type KeyValidity, type NotaryQuery, type TrustedKeyServer } from './keys.ts'
export { federationSecureContext } from './tls.ts'

export interface Federation {
  discovery: ServerDiscovery
  client: FederationClient
  keys: RemoteKeys
  auth: RequestAuthenticator
  /** The CAs trusted for outbound federation (system + federation.ca_file), for fetches a remote points us to. */
  secureContext: SecureContext
}

export function createFederation(options: {
  config: Config
  storage: Storage
  serverKeys: ServerKeys
  guard: OutboundGuard
  dns: DnsResolver
  clock: Clock
  logger: Logger
}): Federation {
  const { config, storage, serverKeys, guard, dns, clock, logger } = options
  const secureContext = federationSecureContext(config.federation.ca_file)
  const discovery = new ServerDiscovery({ dns, guard, secureContext, clock })
  const client = new FederationClient({ serverName: config.server_name, signingKey: () => serverKeys.signingKey, discovery, guard, secureContext })
  const keys = new RemoteKeys({ storage, client, ownKeys: serverKeys, clock, logger, notaries: config.federation.trusted_key_servers })
  return { discovery, client, keys, auth: new RequestAuthenticator({ serverName: config.server_name, keys, clock }), secureContext }
}
