// rooms/v2 "State resolution", Definitions: iterative auth checks (and v12's use of them).
import { isState, stateKey, type RoomEvent, type StateKey } from '../events/types.ts'
import { authEventKeys, checkEventAuth } from '../auth/index.ts'
import { createEventIdForRoom, type EventCache } from './store.ts'

const CREATE_KEY = stateKey('m.room.create', '')

/**
 * The state keys an event is authorised against: the auth events selection plus, always, m.room.create
 * (v12 auth_events leave it out, but the rules still read it; Synapse's auth_types_for_event keeps it).
 */
export function authKeys(event: RoomEvent, cache: EventCache): StateKey[] {
  if (event.type === 'm.room.create') return []
  const keys = authEventKeys(event, cache.version)
  return keys.includes(CREATE_KEY) ? keys : [CREATE_KEY, ...keys]
}

/**
 * Applies `eventIds`, in order, on top of `base`: each event is checked against its auth state and, if
 * allowed, replaces its key. The auth state is the event's own auth events (those not rejected; missing
 * ones skipped, as Synapse does) with every key the rules need taken from the state built so far
 * wherever that state has it.
 *
 * Rejected events themselves are checked like any other (rooms/v2, "Rejected events"). Synapse instead
 * never admits a previously rejected event, a deviation its own code flags as not spec compliant.
 */
export async function iterativeAuthChecks(
  cache: EventCache,
  eventIds: readonly string[],
  base: ReadonlyMap<StateKey, string>,
): Promise<Map<StateKey, string>> {
  const resolved = new Map(base)
  await cache.loadWithAuthEvents(eventIds)
  // The base-state events any of these checks may read, in one batch. Later entries come from the list.
  const needed = new Set<string>()
  for (const id of eventIds) {
    const event = cache.get(id)
    if (!event) continue
    for (const key of authKeys(event, cache)) {
      const baseId = base.get(key)
      if (baseId !== undefined) needed.add(baseId)
    }
  }
  await cache.load(needed)

  for (const id of eventIds) {
    const event = cache.get(id)
    if (!event || !isState(event)) continue
    const authState = new Map<StateKey, RoomEvent>()
    for (const authEvent of cache.authEvents(id)) {
      if (isState(authEvent) && !cache.isRejected(authEvent.event_id)) {
        authState.set(stateKey(authEvent.type, authEvent.state_key as string), authEvent)
      }
    }
    for (const key of authKeys(event, cache)) {
      const stateId = resolved.get(key)
      // A state entry the rules need must exist: Synapse fails the resolution when it does not.
      if (stateId !== undefined) authState.set(key, cache.require(stateId))
    }
    const options = cache.version.roomIdFromCreateEvent
      ? { isCreateEventAccepted: !cache.isRejected(createEventIdForRoom(event.room_id)) }
      : {}
    if (checkEventAuth(event, authState, cache.version, options).allowed) {
      resolved.set(stateKey(event.type, event.state_key as string), id)
    }
  }
  return resolved
}
