// Authorizing a set of events against their own auth events alone: what a joining server does with the
// `state` and `auth_chain` of a send_join answer (server-server API, "Joining Rooms": "the returned
// state and auth chain must be validated"), where nothing else of the room is known yet.
import type { RoomEvent } from '../events/types.ts'
import type { RoomVersion } from '../room-versions.ts'
import { checkAuthEventsList, authStateFromEvents } from './auth-events.ts'
import { checkEventAuth } from './check.ts'

export interface AuthChainVerdict {
  /** The events that pass the authorization rules against their auth events, in an order where every
   * event comes after its auth events. */
  accepted: RoomEvent[]
  /** Why each other event was rejected: a failed rule, an auth event missing from the set, rejected or in a cycle. */
  rejected: Map<string, string>
}

/**
 * Checks every event of `events` (any order; one event per ID) against the auth events it cites, which must
 * be among `events`: the auth_events list rule (checkAuthEventsList) and every other rule (checkEventAuth).
 * An event whose auth event is missing, rejected or part of an auth cycle is rejected too. In v12 the create
 * event is the one the room ID names and must be in the set. Linear in the events and their auth events: an
 * iterative depth-first walk, never recursion, so a hostile chain cannot exhaust the stack.
 */
export function authorizeAuthChain(events: readonly RoomEvent[], version: RoomVersion): AuthChainVerdict {
  const byId = new Map<string, RoomEvent>()
  for (const event of events) byId.set(event.event_id, event)
  const rejected = new Map<string, string>()
  const accepted: RoomEvent[] = []
  const done = new Set<string>()
  const onPath = new Set<string>()

  const createFor = (event: RoomEvent): RoomEvent | undefined =>
    version.roomIdFromCreateEvent && event.room_id.startsWith('!') ? byId.get(`$${event.room_id.slice(1)}`) : undefined

  const decide = (event: RoomEvent): void => {
    const create = createFor(event)
    const cited = version.roomIdFromCreateEvent && create && event.type !== 'm.room.create' ? [create.event_id] : []
    for (const id of [...cited, ...event.auth_events]) {
      if (!byId.has(id)) return void rejected.set(event.event_id, `auth event ${id} is missing`)
      const reason = rejected.get(id)
      if (reason !== undefined) return void rejected.set(event.event_id, `auth event ${id} was rejected`)
    }
    const authEvents = event.auth_events.map((id) => byId.get(id) as RoomEvent)
    const listed = checkAuthEventsList(event, authEvents, version)
    if (!listed.allowed) return void rejected.set(event.event_id, listed.reason)
    const result = checkEventAuth(event, authStateFromEvents(authEvents, create), version)
    if (!result.allowed) return void rejected.set(event.event_id, result.reason)
    accepted.push(event)
  }

  for (const start of byId.values()) {
    if (done.has(start.event_id)) continue
    // Each frame: an event and the index of the next auth event to visit.
    const stack: Array<{ event: RoomEvent; next: number; deps: string[] }> = []
    const push = (event: RoomEvent) => {
      const create = createFor(event)
      const deps = create && event.type !== 'm.room.create' ? [create.event_id, ...event.auth_events] : event.auth_events
      stack.push({ event, next: 0, deps })
      onPath.add(event.event_id)
    }
    push(start)
    while (stack.length > 0) {
      const frame = stack[stack.length - 1] as (typeof stack)[number]
      if (frame.next < frame.deps.length) {
        const id = frame.deps[frame.next++] as string
        const dep = byId.get(id)
        if (!dep || done.has(id)) continue
        if (onPath.has(id)) {
          rejected.set(id, 'auth events form a cycle')
          continue
        }
        push(dep)
        continue
      }
      stack.pop()
      onPath.delete(frame.event.event_id)
      done.add(frame.event.event_id)
      if (!rejected.has(frame.event.event_id)) decide(frame.event)
    }
  }
  return { accepted, rejected }
}
