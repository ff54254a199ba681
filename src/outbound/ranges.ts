// The address ranges outbound requests may not reach by default, and the CIDR parser shared by the
// guard and the config loader (which must name a bad range before anything starts).
import { isIP } from 'node:net'

/**
 * Synapse's default ip_range_blacklist (loopback, private, CGNAT, link-local, documentation, benchmarking,
 * multicast, unique-local, site-local) plus the ranges it refuses outright or that no peer legitimately
 * uses: "this network", reserved 240/4, broadcast, the unspecified ::, NAT64, discard-only, IETF protocol
 * assignments (Teredo and others) and 6to4.
 */
export const DEFAULT_IP_RANGE_BLOCKLIST: readonly string[] = [
  '127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '192.0.0.0/24', '169.254.0.0/16',
  '192.88.99.0/24', '198.18.0.0/15', '192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '224.0.0.0/4',
  '0.0.0.0/8', '240.0.0.0/4', '255.255.255.255/32',
  '::1/128', 'fe80::/10', 'fc00::/7', '2001:db8::/32', 'ff00::/8', 'fec0::/10',
  '::/128', '64:ff9b::/96', '64:ff9b:1::/48', '100::/64', '2001::/23', '2002::/16',
]

export interface Cidr {
  network: string
  prefix: number
  family: 'ipv4' | 'ipv6'
}

/** "10.0.0.0/8", "fd00::/8" or a bare address (a /32 or /128); null when it is not one. */
export function parseCidr(cidr: string): Cidr | null {
  const [network, bits, extra] = cidr.split('/')
  if (extra !== undefined || !network) return null
  const family = isIP(network)
  if (family === 0) return null
  const max = family === 4 ? 32 : 128
  if (bits !== undefined && !/^\d{1,3}$/.test(bits)) return null
  const prefix = bits === undefined ? max : Number(bits)
  if (prefix > max) return null
  return { network, prefix, family: family === 4 ? 'ipv4' : 'ipv6' }
}
