// server-server-api, "Auth events selection": which state an event's auth_events must (and may) cite.
import { stateKey, type JsonObject, type RoomEvent, type StateKey } from '../events/types.ts'
import type { RoomVersion } from '../room-versions.ts'
import { AUTHORISING_USER, CREATE_KEY, JOIN_RULES_KEY, POWER_LEVELS_KEY, isObject, memberKey } from './room-state.ts'

/** The parts of an event (built or received) that decide its auth events. */
export interface AuthSelectable {
  type: string
  state_key?: string | undefined
  sender: string
  content: JsonObject
}

/**
 * The (type, state_key) pairs of the state an event's auth_events are chosen from, whether or not the
 * room has them: m.room.create (not in v12, where the room ID stands for it), m.room.power_levels, the
 * sender's membership and, for m.room.member events, the target's membership, the join rules (join,
 * invite, knock), the m.room.third_party_invite named by signed.token (3pid invites) and the authorising
 * user's membership (restricted joins, v8+). The create event itself has none.
 */
export function authEventKeys(event: AuthSelectable, version: RoomVersion): StateKey[] {
  if (event.type === 'm.room.create') return []
  const keys = new Set<StateKey>()
  if (!version.roomIdFromCreateEvent) keys.add(CREATE_KEY)
  keys.add(POWER_LEVELS_KEY)
  keys.add(memberKey(event.sender))
  if (event.type === 'm.room.member' && typeof event.state_key === 'string') {
    const membership = event.content.membership
    keys.add(memberKey(event.state_key))
    if (membership === 'join' || membership === 'invite' || membership === 'knock') keys.add(JOIN_RULES_KEY)
    if (membership === 'invite' && isObject(event.content.third_party_invite)) {
      const signed = event.content.third_party_invite.signed
      if (isObject(signed) && typeof signed.token === 'string') keys.add(stateKey('m.room.third_party_invite', signed.token))
    }
    if (membership === 'join' && version.restrictedJoinRule) {
      const authoriser = event.content[AUTHORISING_USER]
      if (typeof authoriser === 'string') keys.add(memberKey(authoriser))
    }
  }
  return [...keys]
}

/** The auth events for a new event: the selected pairs that `state` holds, in selection order. */
export function selectAuthEvents(event: AuthSelectable, state: ReadonlyMap<StateKey, RoomEvent>, version: RoomVersion): RoomEvent[] {
  const events: RoomEvent[] = []
  for (const key of authEventKeys(event, version)) {
    const found = state.get(key)
    if (found) events.push(found)
  }
  return events
}
