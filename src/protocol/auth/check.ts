// Authorization rules of room versions 1–12 (rooms/v1.md … v12.md, "Authorization rules"), event by event.
import { isState, type RoomEvent } from '../events/types.ts'
import { ROOM_VERSIONS, type RoomVersion } from '../room-versions.ts'
import { checkMembership } from './membership.ts'
import { checkPowerLevelsChange } from './power-levels-change.ts'
import { inviteLevel, powerLevelsContent, redactLevel, requiredPowerLevel, userPowerLevel } from './power-levels.ts'
import { ALLOWED, CREATE_KEY, domainOf, isObject, isValidUserId, membershipOf, refuse, type AuthResult, type AuthState } from './room-state.ts'

export interface CheckEventAuthOptions {
  /**
   * Whether the event carries a valid signature of this server (v8+: the server of
   * join_authorised_via_users_server). Signatures are verified on receipt, before authorization, so by
   * default a signature block for that server in the PDU is enough.
   */
  isSignedBy?: (serverName: string) => boolean
  /** v12 rule 2: whether the create event the room ID names was accepted (not rejected). Default true. */
  isCreateEventAccepted?: boolean
}

/**
 * Whether `event` passes the authorization rules of `version` against `authState` (its auth events or a
 * room state). The state must hold the room's m.room.create event, in v12 too, where auth_events do not
 * cite it (see authStateFromEvents). The rule on the auth_events list itself (v1–v11 rule 2, v12 rule 3)
 * needs the events behind the IDs and is checkAuthEventsList's; this applies every other rule.
 */
export function checkEventAuth(event: RoomEvent, authState: AuthState, version: RoomVersion, options: CheckEventAuthOptions = {}): AuthResult {
  if (event.type === 'm.room.create') return checkCreate(event, version)

  const create = authState.get(CREATE_KEY)
  if (!create) return refuse('no m.room.create event in the auth state')
  if (version.roomIdFromCreateEvent) {
    // v12 rule 2: the room ID is the create event's ID with '!' for '$'.
    if (!create.event_id.startsWith('$') || event.room_id !== `!${create.event_id.slice(1)}`) {
      return refuse(`room ID ${event.room_id} does not name the create event ${create.event_id}`)
    }
    if (options.isCreateEventAccepted === false) return refuse('the m.room.create event was rejected')
  } else if (create.room_id !== event.room_id) {
    return refuse(`the m.room.create event belongs to room ${create.room_id}`)
  }

  // m.federate. The schema makes it a boolean; like Synapse, anything but true (or its absence) keeps the
  // room to the creator's server.
  const federate = create.content['m.federate']
  if (federate !== undefined && federate !== true && domainOf(event.sender) !== domainOf(create.sender)) {
    return refuse('the room does not federate')
  }

  if (version.specialCaseAliasesAuth && event.type === 'm.room.aliases') {
    if (!isState(event)) return refuse('m.room.aliases has no state_key')
    if (event.state_key !== domainOf(event.sender)) return refuse("m.room.aliases state_key is not the sender's server")
    return ALLOWED
  }

  if (event.type === 'm.room.member') {
    const isSignedBy = options.isSignedBy ?? ((server: string) => hasSignatureBlock(event, server))
    return checkMembership(event, authState, version, { isSignedBy })
  }

  if (membershipOf(event.sender, authState) !== 'join') return refuse(`${event.sender} is not joined`)

  const levels = powerLevelsContent(authState)
  const senderLevel = userPowerLevel(event.sender, authState, version)

  if (event.type === 'm.room.third_party_invite') {
    return senderLevel >= inviteLevel(levels, version) ? ALLOWED : refuse(`${event.sender} may not invite`)
  }

  const required = requiredPowerLevel(event.type, isState(event), levels, version)
  if (senderLevel < required) return refuse(`${event.type} needs power level ${required}, ${event.sender} has ${senderLevel}`)

  if (isState(event) && event.state_key!.startsWith('@') && event.state_key !== event.sender) {
    return refuse("cannot set another user's state")
  }

  if (event.type === 'm.room.power_levels') return checkPowerLevelsChange(event, authState, version)

  // v1/v2 only (the event ID format with a server name): from v3 the redact level is checked when the
  // redaction is applied, not here.
  if (event.type === 'm.room.redaction' && version.eventFormat === 1) {
    if (senderLevel >= redactLevel(levels, version)) return ALLOWED
    // Synapse lets a redaction without a string `redacts` through here; with no event to compare, we refuse.
    const redactedDomain = typeof event.redacts === 'string' ? domainOf(event.redacts) : null
    if (redactedDomain !== null && redactedDomain === domainOf(event.event_id)) return ALLOWED
    return refuse(`${event.sender} may not redact events of other servers`)
  }

  return ALLOWED
}

function hasSignatureBlock(event: RoomEvent, server: string): boolean {
  const signatures = event.pdu.signatures
  return isObject(signatures) && isObject(signatures[server])
}

/** Rule 1: m.room.create. */
function checkCreate(event: RoomEvent, version: RoomVersion): AuthResult {
  if (event.prev_events.length > 0) return refuse('m.room.create has prev_events')
  if (version.roomIdFromCreateEvent) {
    if (Object.hasOwn(event.pdu, 'room_id')) return refuse('m.room.create has a room_id')
  } else {
    const roomDomain = domainOf(event.room_id)
    if (roomDomain === null || roomDomain !== domainOf(event.sender)) return refuse("the room ID's server is not the sender's")
  }
  const roomVersion = event.content.room_version
  if (roomVersion !== undefined && (typeof roomVersion !== 'string' || !ROOM_VERSIONS.has(roomVersion))) {
    return refuse(`unknown room version ${String(roomVersion)}`)
  }
  if (!version.implicitRoomCreator && !Object.hasOwn(event.content, 'creator')) return refuse('m.room.create has no creator')
  if (version.privilegedCreators && Object.hasOwn(event.content, 'additional_creators')) {
    const additional = event.content.additional_creators
    if (!Array.isArray(additional) || !additional.every((u) => isValidUserId(u))) {
      return refuse('additional_creators must be an array of user IDs')
    }
  }
  return ALLOWED
}
