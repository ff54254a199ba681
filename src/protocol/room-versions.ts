// Room versions 1–12 (rooms/*.md): what differs between them, as data. Everything version-dependent in
// the protocol core reads these flags instead of comparing version strings.
import { MatrixError } from '../shared/errors.ts'

export interface RoomVersion {
  readonly id: string
  /** 1: event_id inside the event, prev/auth_events as [id, hashes] pairs (v1, v2). 2: IDs are reference
   * hashes in standard Base64 (v3). 3: URL-safe Base64 (v4+). */
  readonly eventFormat: 1 | 2 | 3
  /** 1: the original algorithm (v1). 2: state resolution v2 (v2–v11). 2.1: v12's variant. */
  readonly stateResolution: 1 | 2 | 2.1
  /** v5+: signing keys' valid_until_ts is enforced. */
  readonly enforceKeyValidity: boolean
  /** v1–v5: m.room.aliases has its own auth rule (rule 4 in v1) and is redacted specially. */
  readonly specialCaseAliasesAuth: boolean
  /** v6+: strict canonical JSON (integers in range, no floats) for events. */
  readonly strictCanonicalJson: boolean
  /** v6+: the `notifications` key of power levels is checked by the auth rules. */
  readonly limitNotificationsPowerLevels: boolean
  /** v7+: the knock join rule and membership. */
  readonly knock: boolean
  /** v8+: restricted join rules (m.room.join_rules allow, join_authorised_via_users_server). */
  readonly restrictedJoinRule: boolean
  /** v9+: redaction keeps join_authorised_via_users_server in m.room.member content. */
  readonly restrictedJoinRuleRedactionFix: boolean
  /** v10+: knock_restricted join rule. */
  readonly knockRestricted: boolean
  /** v10+: power-level values must be integers (not strings). */
  readonly integerPowerLevels: boolean
  /** v11+: the create event's sender is the creator (no content.creator); v11 redaction rules. */
  readonly implicitRoomCreator: boolean
  readonly updatedRedactionRules: boolean
  /** v12: room ID = create event ID with '!', no room_id on the create event, creators have infinite power,
   * additional_creators, m.room.create never in auth_events. */
  readonly roomIdFromCreateEvent: boolean
  readonly privilegedCreators: boolean
}

const base = {
  eventFormat: 3,
  stateResolution: 2,
  enforceKeyValidity: true,
  specialCaseAliasesAuth: false,
  strictCanonicalJson: true,
  limitNotificationsPowerLevels: true,
  knock: false,
  restrictedJoinRule: false,
  restrictedJoinRuleRedactionFix: false,
  knockRestricted: false,
  integerPowerLevels: false,
  implicitRoomCreator: false,
  updatedRedactionRules: false,
  roomIdFromCreateEvent: false,
  privilegedCreators: false,
} as const satisfies Omit<RoomVersion, 'id'>

const v1 = { ...base, id: '1', eventFormat: 1, stateResolution: 1, enforceKeyValidity: false, specialCaseAliasesAuth: true, strictCanonicalJson: false, limitNotificationsPowerLevels: false } as const
const v2 = { ...v1, id: '2', stateResolution: 2 } as const
const v3 = { ...v2, id: '3', eventFormat: 2 } as const
const v4 = { ...v3, id: '4', eventFormat: 3 } as const
const v5 = { ...v4, id: '5', enforceKeyValidity: true } as const
const v6 = { ...v5, id: '6', specialCaseAliasesAuth: false, strictCanonicalJson: true, limitNotificationsPowerLevels: true } as const
const v7 = { ...v6, id: '7', knock: true } as const
const v8 = { ...v7, id: '8', restrictedJoinRule: true } as const
const v9 = { ...v8, id: '9', restrictedJoinRuleRedactionFix: true } as const
const v10 = { ...v9, id: '10', knockRestricted: true, integerPowerLevels: true } as const
const v11 = { ...v10, id: '11', implicitRoomCreator: true, updatedRedactionRules: true } as const
const v12 = { ...v11, id: '12', stateResolution: 2.1, roomIdFromCreateEvent: true, privilegedCreators: true } as const

export const ROOM_VERSIONS: ReadonlyMap<string, RoomVersion> = new Map(
  [v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12].map((v) => [v.id, v as RoomVersion]),
)

export const DEFAULT_ROOM_VERSION = '12'

export function roomVersion(id: string): RoomVersion | undefined {
  return ROOM_VERSIONS.get(id)
}

/**
 * make_join and make_knock (server-server API): the requesting server lists the room versions it supports
 * in its `ver` query parameters, and a room of any other version cannot be joined or knocked on through it.
 * Returns the spec's answer to such a request, 400 M_INCOMPATIBLE_ROOM_VERSION naming the room's version
 * (the requesting server passes it on to its client), or null when the room's version is listed. A make_join
 * without `ver` comes from a server older than room versions and means ["1"]; make_knock requires `ver`
 * (knocking only exists from v7), so its absence is 400 M_MISSING_PARAM, as Synapse answers.
 */
export function requesterVersionError(roomVersionId: string, ver: readonly string[] | undefined, membership: 'join' | 'knock'): MatrixError | null {
  if (ver === undefined && membership === 'knock') return new MatrixError('M_MISSING_PARAM', 'make_knock needs the ver parameter')
  const supported = ver ?? ['1']
  if (supported.includes(roomVersionId)) return null
  return new MatrixError('M_INCOMPATIBLE_ROOM_VERSION', `Your homeserver does not support the features required to ${membership} this room`, 400, {
    room_version: roomVersionId,
  })
}
