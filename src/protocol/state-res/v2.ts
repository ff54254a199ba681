// rooms/v2 "State resolution" (fragments/v2-state-res.md) and its v12 variant, state resolution v2.1.
import { stateKey, type RoomEvent, type StateKey } from '../events/types.ts'
import type { RoomVersion } from '../room-versions.ts'
import { authDifference, conflictedSubgraph } from './auth-chain.ts'
import { iterativeAuthChecks } from './iterative-auth.ts'
import { mainlineSort, reverseTopologicalPowerSort } from './ordering.ts'
import { EventCache, type StateResStore } from './store.ts'

const POWER_LEVELS_KEY = stateKey('m.room.power_levels', '')

export interface SeparatedState {
  unconflicted: Map<StateKey, string>
  /** For each conflicted key, the distinct event IDs the state sets hold for it. */
  conflicted: Map<StateKey, Set<string>>
}

/**
 * The unconflicted state map and the conflicted state set. A key is unconflicted only when every state
 * set holds it with the same event; a key some sets lack is conflicted (unlike the v1 algorithm).
 */
export function separateV2(stateSets: readonly ReadonlyMap<StateKey, string>[]): SeparatedState {
  const unconflicted = new Map<StateKey, string>()
  const conflicted = new Map<StateKey, Set<string>>()
  const keys = new Set<StateKey>()
  for (const set of stateSets) for (const key of set.keys()) keys.add(key)
  for (const key of keys) {
    const ids = new Set<string>()
    let missing = false
    for (const set of stateSets) {
      const id = set.get(key)
      if (id === undefined) missing = true
      else ids.add(id)
    }
    if (!missing && ids.size === 1) unconflicted.set(key, ids.values().next().value as string)
    else conflicted.set(key, ids)
  }
  return { unconflicted, conflicted }
}

/**
 * Power events: m.room.power_levels, m.room.join_rules, and m.room.member leaves and bans whose sender is
 * not the target. Like Synapse and Ruma, m.room.create counts too (the spec's list omits it; it only
 * matters for the create event's place in the ordering, and the create event is always the oldest).
 */
export function isPowerEvent(event: RoomEvent): boolean {
  if (event.state_key === '' && (event.type === 'm.room.power_levels' || event.type === 'm.room.join_rules' || event.type === 'm.room.create')) {
    return true
  }
  if (event.type !== 'm.room.member' || typeof event.state_key !== 'string') return false
  const membership = event.content.membership
  return (membership === 'leave' || membership === 'ban') && event.sender !== event.state_key
}

/** State resolution v2 (room versions 2–11) or v2.1 (room version 12), per `version.stateResolution`. */
export async function resolveV2(
  version: RoomVersion,
  stateSets: readonly ReadonlyMap<StateKey, string>[],
  store: StateResStore,
): Promise<Map<StateKey, string>> {
  const { unconflicted, conflicted } = separateV2(stateSets)
  if (conflicted.size === 0) return unconflicted
  const v21 = version.stateResolution === 2.1
  const cache = new EventCache(store, version)

  // The full conflicted set: the conflicted state set, the auth difference and (v2.1) the conflicted
  // state subgraph. Events the store lacks are left out, as in Synapse.
  const conflictedIds = new Set<string>()
  for (const ids of conflicted.values()) for (const id of ids) conflictedIds.add(id)
  const full = new Set(conflictedIds)
  // Sequential on purpose: the subgraph walk then finds the auth chains already cached.
  for (const id of await authDifference(cache, stateSets.map((set) => new Set(set.values())))) full.add(id)
  if (v21) for (const id of await conflictedSubgraph(cache, conflictedIds)) full.add(id)
  await cache.loadWithAuthEvents(full)
  for (const id of full) if (!cache.get(id)) full.delete(id)

  // Steps 1–2: the power events (and the conflicted events in their auth chains) in reverse topological
  // power order, applied on top of the unconflicted state (v2) or an empty state (v2.1).
  const powerEvents = [...full].filter((id) => isPowerEvent(cache.require(id)))
  const sortedPower = await reverseTopologicalPowerSort(cache, powerEvents, full)
  const partial = await iterativeAuthChecks(cache, sortedPower, v21 ? new Map() : unconflicted)

  // Steps 3–4: everything else, in mainline order based on the partially resolved power levels.
  const picked = new Set(sortedPower)
  const others = [...full].filter((id) => !picked.has(id))
  const sortedOthers = await mainlineSort(cache, others, partial.get(POWER_LEVELS_KEY))
  const resolved = await iterativeAuthChecks(cache, sortedOthers, partial)

  // Step 5: the unconflicted state always wins.
  for (const [key, id] of unconflicted) resolved.set(key, id)
  return resolved
}
