// Event authorization (rooms/v1–v12 "Authorization rules", server-server-api "Auth events selection").
export { checkEventAuth, type CheckEventAuthOptions } from './check.ts'
export { checkAuthEventsList, authStateFromEvents, type AuthEventsListOptions } from './auth-events.ts'
export { authEventKeys, selectAuthEvents, type AuthSelectable } from './selection.ts'
export {
  POWER_LEVEL_DEFAULTS,
  POWER_LEVEL_PROPERTIES,
  ROOM_NOTIFICATION_DEFAULT,
  banLevel,
  inviteLevel,
  kickLevel,
  namedPowerLevel,
  notificationPowerLevel,
  parsePowerLevelValue,
  parsePowerLevels,
  powerLevelsContent,
  redactLevel,
  requiredPowerLevel,
  userPowerLevel,
  validatePowerLevelsContent,
  type PowerLevelProperty,
  type PowerLevels,
} from './power-levels.ts'
export { joinRuleOf, membershipOf, roomCreators, type AuthResult, type AuthState } from './room-state.ts'
export {
  MAX_INVITE_PUBLIC_KEYS,
  MAX_SIGNED_SIGNATURES,
  thirdPartyInvitePublicKeys,
  verifyingKey,
  type InvitePublicKey,
} from './third-party-invite.ts'
