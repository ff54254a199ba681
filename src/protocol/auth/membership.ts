// Authorization rules for m.room.member (rooms/v1–v5 rule 5, v6–v11 rule 4, v12 rule 5).
import type { RoomEvent } from '../events/types.ts'
import type { RoomVersion } from '../room-versions.ts'
import { banLevel, inviteLevel, kickLevel, powerLevelsContent, userPowerLevel } from './power-levels.ts'
import {
  ALLOWED,
  AUTHORISING_USER,
  CREATE_KEY,
  joinRuleOf,
  membershipOf,
  originalCreator,
  refuse,
  type AuthResult,
  type AuthState,
} from './room-state.ts'
import { checkThirdPartyInvite } from './third-party-invite.ts'
import { parseUserId } from '../../shared/ids.ts'

export interface MembershipOptions {
  /** Whether the event is validly signed by this server; see CheckEventAuthOptions.isSignedBy. */
  isSignedBy: (serverName: string) => boolean
}

export function checkMembership(event: RoomEvent, authState: AuthState, version: RoomVersion, options: MembershipOptions): AuthResult {
  if (typeof event.state_key !== 'string') return refuse('m.room.member has no state_key')
  const membership = event.content.membership
  if (typeof membership !== 'string') return refuse('m.room.member has no membership')

  // v8+: the spec applies this to any membership carrying the key; Synapse only checks joins. We follow the
  // spec: a non-join carrying someone else's authorisation without their server's signature is refused.
  if (version.restrictedJoinRule && Object.hasOwn(event.content, AUTHORISING_USER)) {
    const authoriser = event.content[AUTHORISING_USER]
    const server = typeof authoriser === 'string' ? parseUserId(authoriser)?.serverName : undefined
    if (!server) return refuse(`${AUTHORISING_USER} is not a user ID`)
    if (!options.isSignedBy(server)) return refuse(`not signed by ${server}, the server of ${AUTHORISING_USER}`)
  }

  switch (membership) {
    case 'join':
      return checkJoin(event, authState, version)
    case 'invite':
      return checkInvite(event, authState, version)
    case 'leave':
      return checkLeave(event, authState, version)
    case 'ban':
      return checkBan(event, authState, version)
    case 'knock':
      if (version.knock) return checkKnock(event, authState, version)
      break
  }
  return refuse(`unknown membership ${membership}`)
}

function checkJoin(event: RoomEvent, authState: AuthState, version: RoomVersion): AuthResult {
  const target = event.state_key as string
  const create = authState.get(CREATE_KEY)
  // The creator's own join, right after the create event.
  if (create && event.prev_events.length === 1 && event.prev_events[0] === create.event_id && target === originalCreator(create, version)) {
    return ALLOWED
  }
  if (event.sender !== target) return refuse('cannot join on behalf of another user')
  const current = membershipOf(event.sender, authState)
  if (current === 'ban') return refuse(`${event.sender} is banned`)
  const joinRule = joinRuleOf(authState)

  if (joinRule === 'invite' || (version.knock && joinRule === 'knock')) {
    return current === 'invite' || current === 'join' ? ALLOWED : refuse(`join rule ${joinRule} needs an invite`)
  }
  if ((version.restrictedJoinRule && joinRule === 'restricted') || (version.knockRestricted && joinRule === 'knock_restricted')) {
    if (current === 'invite' || current === 'join') return ALLOWED
    const authoriser = event.content[AUTHORISING_USER]
    if (typeof authoriser !== 'string') return refuse(`join rule ${joinRule} needs ${AUTHORISING_USER}`)
    if (membershipOf(authoriser, authState) !== 'join') return refuse(`authorising user ${authoriser} is not joined`)
    if (userPowerLevel(authoriser, authState, version) < inviteLevel(powerLevelsContent(authState), version)) {
      return refuse(`authorising user ${authoriser} may not invite`)
    }
    return ALLOWED
  }
  if (joinRule === 'public') return ALLOWED
  return refuse(`join rule ${joinRule} does not allow joining`)
}

function checkInvite(event: RoomEvent, authState: AuthState, version: RoomVersion): AuthResult {
  if (Object.hasOwn(event.content, 'third_party_invite')) return checkThirdPartyInvite(event, authState)
  const target = event.state_key as string
  if (membershipOf(event.sender, authState) !== 'join') return refuse(`${event.sender} is not joined`)
  const targetMembership = membershipOf(target, authState)
  if (targetMembership === 'join' || targetMembership === 'ban') return refuse(`${target} is ${targetMembership === 'join' ? 'already joined' : 'banned'}`)
  if (userPowerLevel(event.sender, authState, version) < inviteLevel(powerLevelsContent(authState), version)) {
    return refuse(`${event.sender} may not invite`)
  }
  return ALLOWED
}

function checkLeave(event: RoomEvent, authState: AuthState, version: RoomVersion): AuthResult {
  const target = event.state_key as string
  const senderMembership = membershipOf(event.sender, authState)
  if (event.sender === target) {
    const ok = senderMembership === 'invite' || senderMembership === 'join' || (version.knock && senderMembership === 'knock')
    return ok ? ALLOWED : refuse(`cannot leave with membership ${senderMembership ?? 'none'}`)
  }
  if (senderMembership !== 'join') return refuse(`${event.sender} is not joined`)
  const levels = powerLevelsContent(authState)
  const senderLevel = userPowerLevel(event.sender, authState, version)
  if (membershipOf(target, authState) === 'ban' && senderLevel < banLevel(levels, version)) return refuse(`${event.sender} may not unban`)
  if (senderLevel >= kickLevel(levels, version) && userPowerLevel(target, authState, version) < senderLevel) return ALLOWED
  return refuse(`${event.sender} may not kick ${target}`)
}

function checkBan(event: RoomEvent, authState: AuthState, version: RoomVersion): AuthResult {
  const target = event.state_key as string
  if (membershipOf(event.sender, authState) !== 'join') return refuse(`${event.sender} is not joined`)
  const senderLevel = userPowerLevel(event.sender, authState, version)
  if (senderLevel >= banLevel(powerLevelsContent(authState), version) && userPowerLevel(target, authState, version) < senderLevel) {
    return ALLOWED
  }
  return refuse(`${event.sender} may not ban ${target}`)
}

function checkKnock(event: RoomEvent, authState: AuthState, version: RoomVersion): AuthResult {
  const joinRule = joinRuleOf(authState)
  if (joinRule !== 'knock' && !(version.knockRestricted && joinRule === 'knock_restricted')) {
    return refuse(`join rule ${joinRule} does not allow knocking`)
  }
  if (event.sender !== event.state_key) return refuse('cannot knock on behalf of another user')
  const current = membershipOf(event.sender, authState)
  if (current === 'ban' || current === 'invite' || current === 'join') return refuse(`cannot knock with membership ${current}`)
  return ALLOWED
}
