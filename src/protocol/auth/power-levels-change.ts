// Authorization rules for m.room.power_levels (rooms/v1–v5 rule 10, v6–v11 rule 9, v12 rule 10).
import { stateKey, type RoomEvent } from '../events/types.ts'
import type { RoomVersion } from '../room-versions.ts'
import { POWER_LEVEL_PROPERTIES, explicitPowerLevel, powerLevelMap, userPowerLevel, validatePowerLevelsContent } from './power-levels.ts'
import { ALLOWED, CREATE_KEY, isObject, refuse, roomCreators, type AuthResult, type AuthState } from './room-state.ts'

/**
 * Checks an m.room.power_levels event whose sender has already passed the required power level rule.
 * "Current value" means an explicit value in the previous event, not a default (as Synapse reads it):
 * adding `ban: 0` where there was none only tests the new value. Values compare by what they mean, so "50"
 * replacing 50 in v1–v9 is no change.
 */
export function checkPowerLevelsChange(event: RoomEvent, authState: AuthState, version: RoomVersion): AuthResult {
  const content = event.content
  const invalid = validatePowerLevelsContent(content, version)
  if (invalid) return refuse(`invalid power levels: ${invalid}`)

  if (version.privilegedCreators) {
    const users = content.users
    if (isObject(users)) {
      for (const creator of roomCreators(authState.get(CREATE_KEY), version)) {
        if (Object.hasOwn(users, creator)) return refuse(`room creator ${creator} may not appear in users`)
      }
    }
  }

  // Synapse looks up the previous event under the event's own (type, state_key).
  const previous = authState.get(stateKey(event.type, event.state_key ?? ''))
  if (!previous) return ALLOWED
  const before = previous.content

  const senderLevel = userPowerLevel(event.sender, authState, version)

  for (const name of POWER_LEVEL_PROPERTIES) {
    const oldLevel = explicitPowerLevel(before, name, version)
    const newLevel = explicitPowerLevel(content, name, version)
    if (oldLevel === newLevel) continue
    if (oldLevel !== undefined && oldLevel > senderLevel) return refuse(`cannot change ${name} from ${oldLevel}, above the sender's ${senderLevel}`)
    if (newLevel !== undefined && newLevel > senderLevel) return refuse(`cannot set ${name} to ${newLevel}, above the sender's ${senderLevel}`)
  }

  const maps = version.limitNotificationsPowerLevels ? ['events', 'notifications'] : ['events']
  for (const name of maps) {
    const oldMap = powerLevelMap(before[name], version)
    const newMap = powerLevelMap(content[name], version)
    for (const key of new Set([...oldMap.keys(), ...newMap.keys()])) {
      const oldLevel = oldMap.get(key)
      const newLevel = newMap.get(key)
      if (oldLevel === newLevel) continue
      if (oldLevel !== undefined && oldLevel > senderLevel) return refuse(`cannot change ${name}[${key}] from ${oldLevel}, above the sender's ${senderLevel}`)
      if (newLevel !== undefined && newLevel > senderLevel) return refuse(`cannot set ${name}[${key}] to ${newLevel}, above the sender's ${senderLevel}`)
    }
  }

  const oldUsers = powerLevelMap(before.users, version)
  const newUsers = powerLevelMap(content.users, version)
  for (const user of new Set([...oldUsers.keys(), ...newUsers.keys()])) {
    const oldLevel = oldUsers.get(user)
    const newLevel = newUsers.get(user)
    if (oldLevel === newLevel) continue
    if (user !== event.sender && oldLevel !== undefined && oldLevel >= senderLevel) {
      return refuse(`cannot change the level of ${user} (${oldLevel}), not below the sender's ${senderLevel}`)
    }
    if (newLevel !== undefined && newLevel > senderLevel) return refuse(`cannot give ${user} ${newLevel}, above the sender's ${senderLevel}`)
  }

  return ALLOWED
}
