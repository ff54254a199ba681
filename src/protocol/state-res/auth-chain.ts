// rooms/v2 and v12 "State resolution", Definitions: auth chain, auth difference, conflicted state subgraph.
import type { EventCache } from './store.ts'

/**
 * Loads every event reachable from `ids` through auth_events into the cache, one store call per level of
 * the walk. Events the store lacks end their branch of the walk.
 */
export async function loadAuthChains(cache: EventCache, ids: Iterable<string>): Promise<void> {
  const seen = new Set<string>(ids)
  let frontier = [...seen]
  while (frontier.length > 0) {
    await cache.load(frontier)
    const next: string[] = []
    for (const id of frontier) {
      for (const authId of cache.authIds(id)) {
        if (!seen.has(authId)) {
          seen.add(authId)
          next.push(authId)
        }
      }
    }
    frontier = next
  }
}

/** The union of the auth chains of `ids` (not the events themselves), over events already in the cache. */
export function authChainOf(cache: EventCache, ids: Iterable<string>): Set<string> {
  const chain = new Set<string>()
  const stack = [...ids].flatMap((id) => cache.authIds(id))
  while (stack.length > 0) {
    const id = stack.pop() as string
    if (chain.has(id)) continue
    chain.add(id)
    for (const authId of cache.authIds(id)) if (!chain.has(authId)) stack.push(authId)
  }
  return chain
}

/**
 * The auth difference: ∪Cᵢ − ∩Cᵢ over the state sets' full auth chains. Like Synapse (whose storage
 * computes it this way), each Cᵢ also holds the state set's own events, so an event that is in one
 * set's state and in another set's auth chain is in both and not part of the difference.
 */
export async function authDifference(cache: EventCache, stateSets: readonly ReadonlySet<string>[]): Promise<Set<string>> {
  let chains: Set<string>[]
  const accelerated = cache.store.getAuthChainIds?.bind(cache.store)
  if (accelerated) {
    chains = await Promise.all(stateSets.map(async (ids) => new Set([...ids, ...(await accelerated([...ids]))])))
  } else {
    await loadAuthChains(cache, stateSets.flatMap((ids) => [...ids]))
    chains = stateSets.map((ids) => new Set([...ids, ...authChainOf(cache, ids)]))
  }
  const union = new Set<string>()
  for (const chain of chains) for (const id of chain) union.add(id)
  const difference = new Set<string>()
  for (const id of union) if (!chains.every((chain) => chain.has(id))) difference.add(id)
  return difference
}

/**
 * v12's conflicted state subgraph: every event on an auth_events path from one conflicted event to
 * another, endpoints included. That is the conflicted events plus each event of their auth chains whose
 * own auth chain reaches a conflicted event (Synapse: backwards ∩ forwards reachable).
 */
export async function conflictedSubgraph(cache: EventCache, conflicted: ReadonlySet<string>): Promise<Set<string>> {
  const accelerated = cache.store.getAuthChainIds?.bind(cache.store)
  let below: Set<string>
  if (accelerated) {
    below = await accelerated([...conflicted])
    await cache.load([...conflicted, ...below])
  } else {
    await loadAuthChains(cache, conflicted)
    below = authChainOf(cache, conflicted)
  }

  // Whether an event's auth chain holds a conflicted event, by an iterative post-order walk (auth chains
  // can be far deeper than the call stack). `open` guards against a malformed, cyclic auth graph.
  const reaches = new Map<string, boolean>()
  const open = new Set<string>()
  for (const start of below) {
    const stack: [id: string, expanded: boolean][] = [[start, false]]
    while (stack.length > 0) {
      const [id, expanded] = stack.pop() as [string, boolean]
      const authIds = cache.authIds(id)
      if (expanded) {
        open.delete(id)
        reaches.set(id, authIds.some((a) => conflicted.has(a) || reaches.get(a) === true))
      } else if (!reaches.has(id) && !open.has(id)) {
        open.add(id)
        stack.push([id, true])
        for (const a of authIds) if (!reaches.has(a) && !open.has(a)) stack.push([a, false])
      }
    }
  }

  const subgraph = new Set(conflicted)
  for (const id of below) if (reaches.get(id)) subgraph.add(id)
  return subgraph
}
