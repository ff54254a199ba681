// DNS as discovery needs it, behind one interface so the resolver can be the system's (production) or
// a given server (tests run one on loopback; an operator may point federation at its own resolver).
import { lookup as systemLookup, Resolver } from 'node:dns/promises'

export interface SrvTarget {
  name: string
  port: number
  priority: number
  weight: number
}

export interface DnsResolver {
  /** The SRV records of a name; [] when it has none (or the lookup fails: discovery then falls back). */
  resolveSrv(name: string): Promise<SrvTarget[]>
  /** A host's addresses (AAAA and A, following CNAMEs); the outbound guard checks each of them. */
  lookup(host: string): Promise<Array<{ address: string; family: number }>>
}

async function srv(resolver: Resolver, name: string): Promise<SrvTarget[]> {
  try {
    return await resolver.resolveSrv(name)
  } catch {
    // No record, or a failing resolver: either way the spec's next step (port 8448) applies.
    return []
  }
}

/** The system's DNS: SRV from its configured servers, addresses from getaddrinfo (so /etc/hosts applies). */
export function systemDns(): DnsResolver {
  const resolver = new Resolver({ timeout: 5000, tries: 2 })
  return {
    resolveSrv: (name) => srv(resolver, name),
    lookup: (host) => systemLookup(host, { all: true, verbatim: true }),
  }
}

/** DNS from the given servers ("127.0.0.1:5353") for everything, addresses included. */
export function dnsAt(servers: string[]): DnsResolver {
  const resolver = new Resolver({ timeout: 2000, tries: 1 })
  resolver.setServers(servers)
  const addresses = async (host: string, family: 4 | 6) => {
    try {
      const list = family === 4 ? await resolver.resolve4(host) : await resolver.resolve6(host)
      return list.map((address) => ({ address, family }))
    } catch {
      return []
    }
  }
  return {
    resolveSrv: (name) => srv(resolver, name),
    lookup: async (host) => [...(await addresses(host, 6)), ...(await addresses(host, 4))],
  }
}
