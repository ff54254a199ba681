// rooms/v1, v2 and v12 "State resolution": the public surface of protocol/state-res.
import type { StateKey } from '../events/types.ts'
import type { RoomVersion } from '../room-versions.ts'
import type { StateResStore } from './store.ts'
import { resolveV1 } from './v1.ts'
import { resolveV2 } from './v2.ts'

export { MissingEventError, authEventIds, createEventIdForRoom, type StateResStore } from './store.ts'
export { isPowerEvent, separateV2 } from './v2.ts'
export { separateV1 } from './v1.ts'
export { compareCodePoints, lexicographicalTopologicalSort } from './ordering.ts'

/**
 * Resolves state sets (maps of stateKey(type, state_key) → event ID) into one, by the algorithm the room
 * version names: the original one (v1), state resolution v2 (v2–v11) or v2.1 (v12). The result does
 * not depend on the order of the state sets.
 */
export async function resolveState(
  version: RoomVersion,
  stateSets: readonly ReadonlyMap<StateKey, string>[],
  store: StateResStore,
): Promise<Map<StateKey, string>> {
  if (stateSets.length === 0) return new Map()
  if (stateSets.length === 1) return new Map(stateSets[0])
  switch (version.stateResolution) {
    case 1:
      return resolveV1(version, stateSets, store)
    case 2:
    case 2.1:
      return resolveV2(version, stateSets, store)
  }
}
