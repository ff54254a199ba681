// rooms/v1 "State resolution": the original algorithm (room version 1), as Synapse's state/v1.py runs it.
import { createHash } from 'node:crypto'
import { splitStateKey, stateKey, type RoomEvent, type StateKey } from '../events/types.ts'
import { checkEventAuth } from '../auth/index.ts'
import type { RoomVersion } from '../room-versions.ts'
import { authKeys } from './iterative-auth.ts'
import { EventCache, type StateResStore } from './store.ts'

const POWER_LEVELS_KEY = stateKey('m.room.power_levels', '')

/**
 * v1's split: a conflict is two sets holding different events for a key. A key only some sets hold is
 * not a conflict (unlike v2) and keeps its one event.
 */
export function separateV1(stateSets: readonly ReadonlyMap<StateKey, string>[]): {
  unconflicted: Map<StateKey, string>
  conflicted: Map<StateKey, Set<string>>
} {
  const unconflicted = new Map<StateKey, string>()
  const conflicted = new Map<StateKey, Set<string>>()
  for (const set of stateSets) {
    for (const [key, id] of set) {
      const ids = conflicted.get(key)
      if (ids) ids.add(id)
      else if (!unconflicted.has(key)) unconflicted.set(key, id)
      else if (unconflicted.get(key) !== id) {
        conflicted.set(key, new Set([unconflicted.get(key) as string, id]))
        unconflicted.delete(key)
      }
    }
  }
  return { unconflicted, conflicted }
}

function sha1Hex(value: string): string {
  return createHash('sha1').update(value, 'utf8').digest('hex')
}

/** Descending depth, then ascending sha1(event_id): the order in which "normal" conflicts are tried. */
function byDepthDescending(events: readonly RoomEvent[]): RoomEvent[] {
  const hashes = new Map(events.map((e) => [e.event_id, sha1Hex(e.event_id)]))
  return [...events].sort((a, b) => {
    if (a.depth !== b.depth) return b.depth - a.depth
    const ha = hashes.get(a.event_id) as string
    const hb = hashes.get(b.event_id) as string
    return ha < hb ? -1 : ha > hb ? 1 : 0
  })
}

/** The original state resolution algorithm. */
export async function resolveV1(
  version: RoomVersion,
  stateSets: readonly ReadonlyMap<StateKey, string>[],
  store: StateResStore,
): Promise<Map<StateKey, string>> {
  const { unconflicted, conflicted: conflictedIds } = separateV1(stateSets)
  if (conflictedIds.size === 0) return unconflicted
  const cache = new EventCache(store, version)
  await cache.load([...conflictedIds.values()].flatMap((ids) => [...ids]))

  // Conflicting events the store lacks drop out; a key left with one event is no longer conflicted.
  const conflicted = new Map<StateKey, RoomEvent[]>()
  for (const [key, ids] of conflictedIds) {
    const events = [...ids].flatMap((id) => cache.get(id) ?? [])
    if (events.length > 1) conflicted.set(key, events)
    else if (events.length === 1) unconflicted.set(key, (events[0] as RoomEvent).event_id)
  }

  // R, as far as authorising the conflicting events needs it: the unconflicted state at their auth keys.
  const rKeys = new Set<StateKey>()
  for (const events of conflicted.values()) for (const e of events) for (const k of authKeys(e, cache)) rKeys.add(k)
  const rIds = [...rKeys].flatMap((k) => unconflicted.get(k) ?? [])
  await cache.load(rIds)
  const r = new Map<StateKey, RoomEvent>()
  for (const key of rKeys) {
    const id = unconflicted.get(key)
    const event = id === undefined ? undefined : cache.get(id)
    if (event) r.set(key, event)
  }

  const allowed = (event: RoomEvent, state: ReadonlyMap<StateKey, RoomEvent>): boolean =>
    checkEventAuth(event, state, version).allowed

  /**
   * Power levels, join rules and memberships: ascending depth then descending sha1; the first is taken,
   * then each next one while it is allowed in R with its predecessor applied. Each key is resolved on
   * its own against R as it stood before that kind of event was resolved (Synapse's reading of the
   * spec's "repeat the above process for conflicts between m.room.member events").
   */
  const resolveAuthKey = (key: StateKey, events: readonly RoomEvent[]): RoomEvent => {
    const ascending = byDepthDescending(events).reverse()
    const state = new Map(r)
    let accepted = ascending[0] as RoomEvent
    for (const event of ascending.slice(1)) {
      state.set(key, accepted)
      if (!allowed(event, state)) return accepted
      accepted = event
    }
    return accepted
  }

  const resolved = new Map<StateKey, RoomEvent>()
  const resolveKind = (matches: (key: StateKey) => boolean): void => {
    for (const [key, events] of conflicted) {
      if (matches(key) && !resolved.has(key)) resolved.set(key, resolveAuthKey(key, events))
    }
    for (const [key, event] of resolved) r.set(key, event)
  }
  resolveKind((key) => key === POWER_LEVELS_KEY)
  resolveKind((key) => splitStateKey(key)[0] === 'm.room.join_rules')
  resolveKind((key) => splitStateKey(key)[0] === 'm.room.member')

  // Everything else: the highest depth, lowest sha1 event allowed in R; if none is, Synapse takes the
  // last one tried (the lowest depth), which the spec leaves open.
  for (const [key, events] of conflicted) {
    if (resolved.has(key)) continue
    const ordered = byDepthDescending(events)
    resolved.set(key, ordered.find((e) => allowed(e, r)) ?? (ordered.at(-1) as RoomEvent))
  }

  const result = new Map(unconflicted)
  for (const [key, event] of resolved) result.set(key, event.event_id)
  return result
}
