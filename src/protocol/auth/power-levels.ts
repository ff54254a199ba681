// Power levels (client-server "m.room.power_levels"; rooms/v1 "…accept values as strings"/"as floats"; v10; v12).
import type { JsonObject } from '../events/types.ts'
import type { RoomVersion } from '../room-versions.ts'
import { CREATE_KEY, POWER_LEVELS_KEY, isObject, isValidUserId, roomCreators, type AuthState } from './room-state.ts'

/** The integer-valued top-level properties of m.room.power_levels content. */
export const POWER_LEVEL_PROPERTIES = ['users_default', 'events_default', 'state_default', 'ban', 'redact', 'kick', 'invite'] as const
export type PowerLevelProperty = (typeof POWER_LEVEL_PROPERTIES)[number]

/**
 * Defaults of the schema, both when a property is missing and when there is no m.room.power_levels event.
 * Spec v1.7 removed the old text giving state_default 0 without a power levels event: it is 50 either way
 * (Synapse's get_send_level agrees).
 */
export const POWER_LEVEL_DEFAULTS: Readonly<Record<PowerLevelProperty, number>> = Object.freeze({
  users_default: 0,
  events_default: 0,
  state_default: 50,
  ban: 50,
  redact: 50,
  kick: 50,
  invite: 0,
})

/** notifications.room: the level needed for an @room notification. */
export const ROOM_NOTIFICATION_DEFAULT = 50

/** The level a room creator had with no m.room.power_levels event before v12. */
export const DEFAULT_CREATOR_LEVEL = 100

/** v1–v9 strings: base 10, optional sign, leading zeros and surrounding whitespace allowed. */
const STRINGY_INTEGER = /^\s*[+-]?[0-9]+\s*$/

/**
 * One power level value as the room version reads it; undefined when it is not one. Integers always;
 * integer strings in v1–v9 (stringy fragment); in v1–v5, where events need not be canonical JSON, finite
 * floats truncated toward zero (floaty fragment).
 */
export function parsePowerLevelValue(value: unknown, version: RoomVersion): number | undefined {
  if (typeof value === 'number') {
    if (Number.isInteger(value)) return value
    if (!version.strictCanonicalJson && Number.isFinite(value)) return Math.trunc(value)
    return undefined
  }
  if (typeof value === 'string' && !version.integerPowerLevels && STRINGY_INTEGER.test(value)) {
    return Number.parseInt(value.trim(), 10)
  }
  return undefined
}

/** The effective power levels of a room: every value parsed, every missing or unreadable value defaulted. */
export interface PowerLevels {
  readonly users: ReadonlyMap<string, number>
  readonly usersDefault: number
  readonly events: ReadonlyMap<string, number>
  readonly eventsDefault: number
  readonly stateDefault: number
  readonly ban: number
  readonly kick: number
  readonly redact: number
  readonly invite: number
  /** Always holds "room" (default 50). */
  readonly notifications: ReadonlyMap<string, number>
}

/** The readable entries of an events, notifications or users map (unreadable ones left out). */
export function powerLevelMap(value: unknown, version: RoomVersion): Map<string, number> {
  const map = new Map<string, number>()
  if (!isObject(value)) return map
  for (const [key, raw] of Object.entries(value)) {
    const level = parsePowerLevelValue(raw, version)
    if (level !== undefined) map.set(key, level)
  }
  return map
}

/** An explicit, readable top-level value of `content`, or undefined. */
export function explicitPowerLevel(content: JsonObject | undefined, name: string, version: RoomVersion): number | undefined {
  if (!content || !Object.hasOwn(content, name)) return undefined
  return parsePowerLevelValue(content[name], version)
}

/**
 * Power levels from m.room.power_levels content (undefined: the room has none). Values that the room
 * version cannot read fall back to their defaults: such content can only come from a power levels event
 * that predates today's checks, and Synapse would throw on it rather than choose.
 */
export function parsePowerLevels(content: JsonObject | undefined, version: RoomVersion): PowerLevels {
  const named = (name: PowerLevelProperty): number => explicitPowerLevel(content, name, version) ?? POWER_LEVEL_DEFAULTS[name]
  const notifications = powerLevelMap(content?.notifications, version)
  if (!notifications.has('room')) notifications.set('room', ROOM_NOTIFICATION_DEFAULT)
  return {
    users: powerLevelMap(content?.users, version),
    usersDefault: named('users_default'),
    events: powerLevelMap(content?.events, version),
    eventsDefault: named('events_default'),
    stateDefault: named('state_default'),
    ban: named('ban'),
    kick: named('kick'),
    redact: named('redact'),
    invite: named('invite'),
    notifications,
  }
}

export function powerLevelsContent(authState: AuthState): JsonObject | undefined {
  return authState.get(POWER_LEVELS_KEY)?.content
}

/**
 * A user's power level. v12: room creators (create sender and content.additional_creators) are infinitely
 * powerful, power levels event or not. Otherwise the users map, then users_default; with no power levels
 * event the creator (content.creator before v11, the create sender from v11) has 100 and everyone else 0.
 */
export function userPowerLevel(userId: string, authState: AuthState, version: RoomVersion): number {
  const create = authState.get(CREATE_KEY)
  if (version.privilegedCreators && roomCreators(create, version).includes(userId)) return Infinity
  const content = powerLevelsContent(authState)
  if (content) {
    const levels = parsePowerLevels(content, version)
    return levels.users.get(userId) ?? levels.usersDefault
  }
  if (!version.privilegedCreators && roomCreators(create, version).includes(userId)) return DEFAULT_CREATOR_LEVEL
  return 0
}

/** The "required power level" of an event type: events[type], else state_default or events_default. */
export function requiredPowerLevel(eventType: string, isState: boolean, content: JsonObject | undefined, version: RoomVersion): number {
  const levels = parsePowerLevels(content, version)
  return levels.events.get(eventType) ?? (isState ? levels.stateDefault : levels.eventsDefault)
}

/** The invite, kick, ban or redact level (or another top-level property) with its default. */
export function namedPowerLevel(name: PowerLevelProperty, content: JsonObject | undefined, version: RoomVersion): number {
  return explicitPowerLevel(content, name, version) ?? POWER_LEVEL_DEFAULTS[name]
}

export function inviteLevel(content: JsonObject | undefined, version: RoomVersion): number {
  return namedPowerLevel('invite', content, version)
}

export function kickLevel(content: JsonObject | undefined, version: RoomVersion): number {
  return namedPowerLevel('kick', content, version)
}

export function banLevel(content: JsonObject | undefined, version: RoomVersion): number {
  return namedPowerLevel('ban', content, version)
}

export function redactLevel(content: JsonObject | undefined, version: RoomVersion): number {
  return namedPowerLevel('redact', content, version)
}

/**
 * The level needed to trigger a notification of this key ("room" defaults to 50). Undefined for other keys
 * the content does not set: push rules then treat the sender as not permitted (as Synapse does).
 */
export function notificationPowerLevel(key: string, content: JsonObject | undefined, version: RoomVersion): number | undefined {
  return parsePowerLevels(content, version).notifications.get(key)
}

function checkLevelMap(content: JsonObject, name: string, version: RoomVersion, userKeys: boolean): string | null {
  if (!Object.hasOwn(content, name)) return null
  const map = content[name]
  if (!isObject(map)) return `${name} must be an object`
  for (const [key, value] of Object.entries(map)) {
    if (userKeys && !isValidUserId(key)) return `${name} has a key that is not a user ID: ${key}`
    if (parsePowerLevelValue(value, version) === undefined) {
      return `${name}.${key} must be an integer${version.integerPowerLevels ? '' : ' or an integer string'}`
    }
  }
  return null
}

/**
 * The structural checks on new m.room.power_levels content (v10+ rules 9.1–9.3, v1–v9 rule 9.1/10.1);
 * null when it passes.
 *
 * v1–v9 only require the users map to be valid, but Synapse int()s every other value it compares and throws
 * on anything unreadable, so (like it, and regardless of a previous power levels event) we refuse top-level,
 * events and (where they count, v6+) notifications values that are not integers or integer strings.
 * A missing users map is fine in every version (Synapse reads it as {}).
 */
export function validatePowerLevelsContent(content: JsonObject, version: RoomVersion): string | null {
  for (const name of POWER_LEVEL_PROPERTIES) {
    if (Object.hasOwn(content, name) && parsePowerLevelValue(content[name], version) === undefined) {
      return `${name} must be an integer${version.integerPowerLevels ? '' : ' or an integer string'}`
    }
  }
  return (
    checkLevelMap(content, 'events', version, false) ??
    (version.limitNotificationsPowerLevels ? checkLevelMap(content, 'notifications', version, false) : null) ??
    checkLevelMap(content, 'users', version, true)
  )
}
