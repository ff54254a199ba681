// The outbound module's public surface: the guard every request to another host goes through.
import type { Config } from '../config/schema.ts'
import { OutboundGuard, type Resolve } from './guard.ts'

export { OutboundGuard, BlockedAddressError, OutboundError, limitBody, pinnedLookup } from './guard.ts'
export type { FetchOptions, GuardedResponse, GuardOptions, Resolve } from './guard.ts'
export { DEFAULT_IP_RANGE_BLOCKLIST, parseCidr } from './ranges.ts'

/** The guard configured by outbound.ip_range_blocklist / ip_range_allowlist, one per process. */
export function createOutboundGuard(config: Config, resolve?: Resolve): OutboundGuard {
  return new OutboundGuard({ blocklist: config.outbound.ip_range_blocklist, allowlist: config.outbound.ip_range_allowlist, ...(resolve ? { resolve } : {}) })
}
