// The Synapse anchor's host names for a Homestead federating with its Synapses: the anchor's `hosts` file
// (lines "127.0.0.1 name") resolved here, as the anchor's Synapses resolve them in their chroot; any other
// name goes to the system's DNS. Used by scripts/interop-homeserver.ts and the federation benchmark.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { systemDns, type DnsResolver } from '../src/federation/index.ts'

/** The names of `<anchorRoot>/hosts` as it is now (127.0.0.1 each), then the system's DNS for anything else. */
export function anchorDns(anchorRoot: string): DnsResolver {
  const names = new Map<string, string>()
  for (const line of readFileSync(join(anchorRoot, 'hosts'), 'utf8').split('\n')) {
    const [address, ...hosts] = line.trim().split(/\s+/)
    if (address && !address.startsWith('#')) for (const h of hosts) names.set(h.toLowerCase(), address)
  }
  const system = systemDns()
  return {
    resolveSrv: async (name) => (names.has(name.replace(/^_matrix(-fed)?\._tcp\./, '').toLowerCase()) ? [] : system.resolveSrv(name)),
    lookup: async (h) => {
      const address = names.get(h.toLowerCase())
      return address ? [{ address, family: address.includes(':') ? 6 : 4 }] : system.lookup(h)
    },
  }
}
