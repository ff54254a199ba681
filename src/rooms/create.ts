// POST /createRoom semantics (client-server API, "Creation"): the events, in the spec's order, all in one
// transaction so a room exists completely or not at all.
import { stateKey, type JsonObject } from '../protocol/events/types.ts'
import { roomVersion, type RoomVersion } from '../protocol/room-versions.ts'
import { MatrixError, invalidParam } from '../shared/errors.ts'
import { isUserId, parseUserId } from '../shared/ids.ts'
import { randomString } from '../shared/random.ts'
import type { EventTemplate } from './writer.ts'

export type Preset = 'private_chat' | 'public_chat' | 'trusted_private_chat'

export interface CreateRoomRequest {
  visibility?: 'public' | 'private' | undefined
  room_alias_name?: string | undefined
  name?: string | undefined
  topic?: string | undefined
  invite?: string[] | undefined
  room_version?: string | undefined
  creation_content?: JsonObject | undefined
  initial_state?: Array<{ type: string; state_key?: string | undefined; content: JsonObject }> | undefined
  preset?: Preset | undefined
  is_direct?: boolean | undefined
  power_level_content_override?: JsonObject | undefined
}

export interface CreatePlan {
  version: RoomVersion
  /** Pre-v12 rooms get an ID up front; v12 rooms take theirs from the create event. */
  roomId: string | null
  alias: string | null
  templates: EventTemplate[]
  isPublic: boolean
  /** Invites of other servers' users: sent over federation once the room exists, with this content. */
  remoteInvites: Array<{ userId: string; content: JsonObject }>
}

/**
 * What each preset sets. public_chat sends no m.room.guest_access: its absence forbids guests (the spec's
 * default), and its rooms then carry the same creation state as Synapse's.
 */
const PRESETS: Record<Preset, { join_rule: string; history_visibility: string; guest_access: string | null }> = {
  private_chat: { join_rule: 'invite', history_visibility: 'shared', guest_access: 'can_join' },
  trusted_private_chat: { join_rule: 'invite', history_visibility: 'shared', guest_access: 'can_join' },
  public_chat: { join_rule: 'public', history_visibility: 'shared', guest_access: null },
}

const ALIAS_LOCALPART = /^[^:\s#]+$/

function defaultPowerLevels(version: RoomVersion, creator: string, preset: Preset, invitees: string[]): JsonObject {
  const users: Record<string, number> = {}
  if (!version.privilegedCreators) {
    users[creator] = 100
    // trusted_private_chat: invitees get the creator's level (in v12 they become additional creators instead).
    if (preset === 'trusted_private_chat') for (const u of invitees) users[u] = 100
  }
  return {
    users,
    users_default: 0,
    events: {
      'm.room.name': 50,
      'm.room.power_levels': 100,
      'm.room.history_visibility': 100,
      'm.room.canonical_alias': 50,
      'm.room.avatar': 50,
      // v12: explicitly above state_default and the creators' former level.
      'm.room.tombstone': version.privilegedCreators ? 150 : 100,
      'm.room.server_acl': 100,
      'm.room.encryption': 100,
    },
    events_default: 0,
    state_default: 50,
    ban: 50,
    kick: 50,
    redact: 50,
    invite: preset === 'public_chat' ? 50 : 0,
    historical: 100,
    notifications: { room: 50 },
  }
}

/**
 * Validates the request and lists the events to create, in order. `memberContent` gives the displayname and
 * avatar_url of the creator's join and of each invitee's invite; `defaultVersion` is the version of a room
 * created without a room_version (rooms.default_room_version).
 */
export function planRoom(
  request: CreateRoomRequest,
  creator: string,
  serverName: string,
  memberContent: (userId: string) => JsonObject,
  defaultVersion: string,
): CreatePlan {
  const versionId = request.room_version ?? defaultVersion
  const version = roomVersion(versionId)
  if (!version) throw new MatrixError('M_UNSUPPORTED_ROOM_VERSION', `Room version ${versionId} is not supported`)
  const preset: Preset = request.preset ?? (request.visibility === 'public' ? 'public_chat' : 'private_chat')
  const invitees = [...new Set(request.invite ?? [])]
  for (const u of invitees) if (!isUserId(u)) throw invalidParam(`Invalid user ID in invite: ${u}`)

  let alias: string | null = null
  if (request.room_alias_name !== undefined) {
    if (!ALIAS_LOCALPART.test(request.room_alias_name)) throw invalidParam('room_alias_name may not contain ":", "#" or spaces')
    alias = `#${request.room_alias_name}:${serverName}`
    if (Buffer.byteLength(alias) > 255) throw invalidParam('The alias is too long')
  }

  const createContent: JsonObject = { ...request.creation_content, room_version: version.id }
  if (!version.implicitRoomCreator) createContent.creator = creator
  else delete createContent.creator
  if (version.privilegedCreators) {
    const extra = createContent.additional_creators
    if (extra !== undefined && (!Array.isArray(extra) || !extra.every(isUserId))) {
      throw invalidParam('creation_content.additional_creators must be a list of user IDs')
    }
    const creators = new Set<string>(Array.isArray(extra) ? (extra as string[]) : [])
    if (preset === 'trusted_private_chat') for (const u of invitees) creators.add(u)
    creators.delete(creator)
    if (creators.size > 0) createContent.additional_creators = [...creators]
    else delete createContent.additional_creators
  } else {
    delete createContent.additional_creators
  }

  const templates: EventTemplate[] = [
    { type: 'm.room.create', state_key: '', sender: creator, content: createContent },
    { type: 'm.room.member', state_key: creator, sender: creator, content: { ...memberContent(creator), membership: 'join' } },
  ]
  const powerLevels = { ...defaultPowerLevels(version, creator, preset, invitees), ...request.power_level_content_override }
  templates.push({ type: 'm.room.power_levels', state_key: '', sender: creator, content: powerLevels })
  if (alias) templates.push({ type: 'm.room.canonical_alias', state_key: '', sender: creator, content: { alias } })

  // Preset, then initial_state (which overrides the preset's events), then name and topic.
  const later = new Map<string, EventTemplate>()
  const put = (type: string, key: string, content: JsonObject) => later.set(stateKey(type, key), { type, state_key: key, sender: creator, content })
  const p = PRESETS[preset]
  put('m.room.join_rules', '', { join_rule: p.join_rule })
  put('m.room.history_visibility', '', { history_visibility: p.history_visibility })
  if (p.guest_access !== null) put('m.room.guest_access', '', { guest_access: p.guest_access })
  for (const s of request.initial_state ?? []) {
    if (s.type === 'm.room.create' || s.type === 'm.room.power_levels' || s.type === 'm.room.member') {
      throw invalidParam(`initial_state may not contain ${s.type}`)
    }
    put(s.type, s.state_key ?? '', s.content)
  }
  if (request.name !== undefined) put('m.room.name', '', { name: request.name })
  if (request.topic !== undefined) {
    put('m.room.topic', '', { topic: request.topic, 'm.topic': [{ mimetype: 'text/plain', body: request.topic }] })
  }
  templates.push(...later.values())

  const remoteInvites: CreatePlan['remoteInvites'] = []
  for (const invitee of invitees) {
    if (invitee === creator) continue
    const local = parseUserId(invitee)?.serverName === serverName
    const content: JsonObject = { ...(local ? memberContent(invitee) : {}), membership: 'invite' }
    if (request.is_direct) content.is_direct = true
    if (local) templates.push({ type: 'm.room.member', state_key: invitee, sender: creator, content })
    else remoteInvites.push({ userId: invitee, content })
  }

  const roomId = version.roomIdFromCreateEvent ? null : `!${randomString(18)}:${serverName}`
  return { version, roomId, alias, templates, isPublic: request.visibility === 'public', remoteInvites }
}
