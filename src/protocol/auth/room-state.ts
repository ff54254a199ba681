// The room state the authorization rules read (rooms/v1–v12, "Authorization rules"): create, members, join rule.
import { stateKey, type JsonObject, type RoomEvent, type StateKey } from '../events/types.ts'
import type { RoomVersion } from '../room-versions.ts'
import { parseUserId } from '../../shared/ids.ts'

/** The state an event is authorized against: its auth events or the room state, keyed by stateKey(). */
export type AuthState = ReadonlyMap<StateKey, RoomEvent>

export type AuthResult = { allowed: true } | { allowed: false; reason: string }

export const ALLOWED: AuthResult = Object.freeze({ allowed: true })

export function refuse(reason: string): AuthResult {
  return { allowed: false, reason }
}

export const CREATE_KEY = stateKey('m.room.create', '')
export const POWER_LEVELS_KEY = stateKey('m.room.power_levels', '')
export const JOIN_RULES_KEY = stateKey('m.room.join_rules', '')

export function memberKey(userId: string): StateKey {
  return stateKey('m.room.member', userId)
}

/** The content key naming the user whose server authorised a restricted join (v8+). */
export const AUTHORISING_USER = 'join_authorised_via_users_server'

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * The server part of a user, room or (v1/v2) event ID: everything after the first ':' (server names may
 * carry a port). Null when there is no ':'.
 */
export function domainOf(id: string): string | null {
  const colon = id.indexOf(':')
  return colon === -1 ? null : id.slice(colon + 1)
}

/** The user ID grammar the spec applies to `sender` (appendices, "User Identifiers", historical form). */
export function isValidUserId(value: unknown): value is string {
  return typeof value === 'string' && parseUserId(value) !== null
}

/** A user's membership in `state` (content.membership of their m.room.member event), if any. */
export function membershipOf(userId: string, state: AuthState): string | undefined {
  const membership = state.get(memberKey(userId))?.content.membership
  return typeof membership === 'string' ? membership : undefined
}

/**
 * The room's join rule. With no m.room.join_rules event (or no join_rule in it) the spec says nothing;
 * like Synapse we treat the room as invite-only. A join_rule that is not a string matches no rule ('').
 */
export function joinRuleOf(state: AuthState): string {
  const content = state.get(JOIN_RULES_KEY)?.content
  if (!content || !Object.hasOwn(content, 'join_rule')) return 'invite'
  return typeof content.join_rule === 'string' ? content.join_rule : ''
}

/**
 * The single "creator" of the older rules: content.creator before v11, the create event's sender from
 * v11 on (v12's additional creators are not "the creator" for the first-join rule).
 */
export function originalCreator(create: RoomEvent, version: RoomVersion): string | undefined {
  if (version.implicitRoomCreator) return create.sender
  const creator = create.content.creator
  return typeof creator === 'string' ? creator : undefined
}

/**
 * The room creators: v12 counts the create event's sender plus content.additional_creators; earlier
 * versions have one creator (see originalCreator).
 */
export function roomCreators(create: RoomEvent | undefined, version: RoomVersion): string[] {
  if (!create) return []
  if (!version.privilegedCreators) {
    const creator = originalCreator(create, version)
    return creator === undefined ? [] : [creator]
  }
  const additional = create.content.additional_creators
  const extra = Array.isArray(additional) ? additional.filter((u): u is string => typeof u === 'string') : []
  return [create.sender, ...extra]
}
