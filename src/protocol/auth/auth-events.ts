// Authorization rules, "Considering the event's auth_events" (rooms/v1–v11 rule 2, v12 rule 3).
import { isState, stateKey, type RoomEvent, type StateKey } from '../events/types.ts'
import type { RoomVersion } from '../room-versions.ts'
import { ALLOWED, CREATE_KEY, refuse, type AuthResult } from './room-state.ts'
import { authEventKeys } from './selection.ts'

export interface AuthEventsListOptions {
  /** Whether an auth event was itself rejected on receipt (the caller knows; events carry no such flag). */
  isRejected?: (eventId: string) => boolean
}

/**
 * Checks `event.auth_events` given the events they name (`authEvents`, in any order): every ID must be
 * provided; no (type, state_key) twice; only pairs the auth events selection picks; none rejected; all in
 * the event's room; and before v12 an m.room.create among them. Create events pass: rule 1 decides them.
 */
export function checkAuthEventsList(
  event: RoomEvent,
  authEvents: readonly RoomEvent[],
  version: RoomVersion,
  options: AuthEventsListOptions = {},
): AuthResult {
  if (event.type === 'm.room.create') return ALLOWED
  const byId = new Map(authEvents.map((e) => [e.event_id, e]))
  const expected = new Set(authEventKeys(event, version))
  const seen = new Set<StateKey>()
  for (const id of event.auth_events) {
    const authEvent = byId.get(id)
    if (!authEvent) return refuse(`auth event ${id} was not provided`)
    if (!isState(authEvent)) return refuse(`auth event ${id} is not a state event`)
    const key = stateKey(authEvent.type, authEvent.state_key as string)
    if (seen.has(key)) return refuse(`duplicate auth events for (${authEvent.type}, ${authEvent.state_key})`)
    if (!expected.has(key)) return refuse(`unexpected auth event ${id} for (${authEvent.type}, ${authEvent.state_key})`)
    if (options.isRejected?.(id)) return refuse(`auth event ${id} was rejected`)
    if (authEvent.room_id !== event.room_id) return refuse(`auth event ${id} belongs to room ${authEvent.room_id}`)
    seen.add(key)
  }
  if (!version.roomIdFromCreateEvent && !seen.has(CREATE_KEY)) return refuse('no m.room.create event among the auth events')
  return ALLOWED
}

/**
 * The auth state made of an event's auth events, to pass to checkEventAuth. In v12 the create event is
 * not among them: pass the one the room ID names as `create`.
 */
export function authStateFromEvents(authEvents: readonly RoomEvent[], create?: RoomEvent): Map<StateKey, RoomEvent> {
  const state = new Map<StateKey, RoomEvent>()
  if (create) state.set(CREATE_KEY, create)
  for (const e of authEvents) {
    if (isState(e)) state.set(stateKey(e.type, e.state_key as string), e)
  }
  return state
}
