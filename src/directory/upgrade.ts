// Room upgrades (client-server API, "Room Upgrades", server behaviour): a replacement room in the new
// version with the old room's transferable state, the old room tombstoned and restricted, its aliases and
// directory listing moved and its members' tags and push rules copied (succession.ts, as on any server that
// sees the upgrade). Everything commits in one transaction, as Synapse's steps would in sequence.
import { POWER_LEVEL_PROPERTIES, parsePowerLevelValue, roomCreators } from '../protocol/auth/index.ts'
import { stateKey, type JsonObject, type RoomEvent } from '../protocol/events/types.ts'
import { roomVersion, type RoomVersion } from '../protocol/room-versions.ts'
import type { RoomBatch, Rooms, SendOptions } from '../rooms/rooms.ts'
import { parseStored, type EventTemplate } from '../rooms/writer.ts'
import { MatrixError, forbidden, invalidParam, notFound } from '../shared/errors.ts'
import { isUserId } from '../shared/ids.ts'
import { randomString } from '../shared/random.ts'
import type { Repositories, Storage } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'
import { authView, canSendState, type RoomAuthView } from './power.ts'
import type { RoomSuccession } from './succession.ts'

/** State copied to the replacement room (the spec's recommended list), in the order it is sent. */
const COPIED_TYPES = [
  'm.room.join_rules',
  'm.room.history_visibility',
  'm.room.guest_access',
  'm.room.name',
  'm.room.topic',
  'm.room.avatar',
  'm.room.encryption',
  'm.room.server_acl',
]

export interface UpgradeRequest {
  newVersion: string
  additionalCreators?: string[] | undefined
}

/** What building the replacement room needs to know. */
interface Upgrade {
  batch: RoomBatch
  userId: string
  oldRoomId: string
  version: RoomVersion
  /** The upgrader's view of the old room (its version, power levels and create event). */
  view: RoomAuthView
  /** The old room's state read by the upgrade, by type (m.space.child by type and state key). */
  state: Map<string, RoomEvent>
  request: UpgradeRequest
}

/** Power levels content with every value readable by any room version (v10+ refuses string levels). */
function fixupPowerLevels(content: JsonObject | undefined, version: RoomVersion): JsonObject {
  const out: JsonObject = {}
  const named = new Set<string>(POWER_LEVEL_PROPERTIES)
  for (const [key, value] of Object.entries(content ?? {})) {
    if (named.has(key)) {
      const level = parsePowerLevelValue(value, version)
      if (level !== undefined) out[key] = level
    } else if (key === 'users' || key === 'events' || key === 'notifications') {
      const map: Record<string, number> = {}
      for (const [k, v] of Object.entries(typeof value === 'object' && value !== null ? value : {})) {
        const level = parsePowerLevelValue(v, version)
        if (level !== undefined && (key !== 'users' || isUserId(k))) map[k] = level
      }
      out[key] = map
    } else {
      out[key] = value
    }
  }
  if (typeof out.users !== 'object') out.users = {}
  return out
}

const levelOf = (content: JsonObject, key: string, fallback: number): number => (typeof content[key] === 'number' ? (content[key] as number) : fallback)

/**
 * The replacement room's canonical alias content and what remains in the old room's: this server's
 * aliases move, others stay (Synapse's _move_aliases_to_new_room).
 */
function splitCanonicalAlias(content: JsonObject, serverName: string): { moved: JsonObject; kept: JsonObject } {
  const ours = (alias: unknown): alias is string => typeof alias === 'string' && alias.slice(alias.indexOf(':') + 1) === serverName
  const moved: JsonObject = {}
  const kept: JsonObject = { ...content }
  if (ours(content.alias)) {
    moved.alias = content.alias
    delete kept.alias
  }
  if (Array.isArray(content.alt_aliases)) {
    const alt = content.alt_aliases as unknown[]
    if (alt.some(ours)) moved.alt_aliases = alt.filter(ours)
    const rest = alt.filter((a) => !ours(a))
    if (rest.length > 0) kept.alt_aliases = rest
    else delete kept.alt_aliases
  }
  return { moved, kept }
}

export class RoomUpgrades {
  private readonly storage: Storage
  private readonly rooms: Rooms
  private readonly serverName: string
  private readonly succession: RoomSuccession

  constructor(deps: { storage: Storage; rooms: Rooms; serverName: string; succession: RoomSuccession }) {
    this.storage = deps.storage
    this.rooms = deps.rooms
    this.serverName = deps.serverName
    this.succession = deps.succession
  }

  /** POST /rooms/{roomId}/upgrade: returns the replacement room's ID. */
  /** Upgrades in one transaction; `options.guard` runs first in it (a rate limit), as for send. */
  async upgrade(requester: Requester, oldRoomId: string, request: UpgradeRequest, options: SendOptions = {}): Promise<string> {
    const version = roomVersion(request.newVersion)
    if (!version) throw new MatrixError('M_UNSUPPORTED_ROOM_VERSION', `Room version ${request.newVersion} is not supported`)
    for (const u of request.additionalCreators ?? []) if (!isUserId(u)) throw invalidParam(`additional_creators: ${u} is not a user ID`)
    const userId = requester.userId
    const view = await authView(this.storage.repos, oldRoomId, userId)
    if (!view) throw notFound('Unknown room')
    if (view.membership !== 'join') throw forbidden('You are not in this room')
    if (!canSendState(view, userId, 'm.room.tombstone')) throw forbidden('You do not have the power to upgrade this room')

    return this.rooms.writeRooms(async (batch) => {
      const { repos } = batch
      await options.guard?.(repos)
      // Holding the old room's lock for the whole upgrade serializes concurrent upgrades of one room.
      const old = await repos.rooms.lock(oldRoomId)
      if (!old) throw notFound('Unknown room')
      const state = await this.oldState(repos, oldRoomId, view)
      const tombstone = (replacement: string): EventTemplate => ({
        type: 'm.room.tombstone',
        state_key: '',
        sender: userId,
        content: { body: 'This room has been replaced', replacement_room: replacement },
      })

      const upgrade: Upgrade = { batch, userId, oldRoomId, version, view, state, request }
      let newRoomId: string
      if (version.roomIdFromCreateEvent) {
        // The new room's ID is its create event's hash, so the tombstone can only follow it.
        newRoomId = await this.createReplacement(upgrade, null, '')
        await batch.append(oldRoomId, tombstone(newRoomId))
      } else {
        const chosen = `!${randomString(18)}:${this.serverName}`
        const tombstoneId = await batch.append(oldRoomId, tombstone(chosen))
        newRoomId = await this.createReplacement(upgrade, tombstoneId, chosen)
      }

      await this.succession.transferIn(repos, oldRoomId, newRoomId)
      const alias = state.get('m.room.canonical_alias')
      if (alias && canSendState(view, userId, 'm.room.canonical_alias')) {
        const { kept } = splitCanonicalAlias(alias.content, this.serverName)
        if (JSON.stringify(kept) !== JSON.stringify(alias.content)) {
          await tryAppend(batch, oldRoomId, { type: 'm.room.canonical_alias', state_key: '', sender: userId, content: kept })
        }
      }
      await this.restrictOldRoom(batch, oldRoomId, userId, state.get('m.room.power_levels'), view.version)
      return newRoomId
    })
  }

  /** The old room's state the upgrade reads: create, power levels, canonical alias, the copied types and space children. */
  private async oldState(repos: Repositories, roomId: string, view: RoomAuthView): Promise<Map<string, RoomEvent>> {
    const types = ['m.room.create', 'm.room.power_levels', 'm.room.canonical_alias', 'm.space.child', ...COPIED_TYPES]
    const rows = (await repos.state.currentStateEvents(roomId, types)).filter((r) => r.state_key === '' || r.type === 'm.space.child')
    return new Map(rows.map((r) => [r.type === 'm.space.child' ? stateKey(r.type, r.state_key) : r.type, parseStored(r.json, view.version)]))
  }

  /** Creates the replacement room (pre-v12: under `roomId`, naming the tombstone already sent). */
  private async createReplacement(upgrade: Upgrade, tombstoneId: string | null, roomId: string): Promise<string> {
    const { batch, userId, oldRoomId, version, view, state, request } = upgrade
    const oldCreate = state.get('m.room.create')?.content ?? {}
    const predecessor: JsonObject = { room_id: oldRoomId }
    if (tombstoneId !== null) predecessor.event_id = tombstoneId
    const createContent: JsonObject = { room_version: version.id, predecessor }
    if (!version.implicitRoomCreator) createContent.creator = userId
    if (typeof oldCreate.type === 'string') createContent.type = oldCreate.type
    if (oldCreate['m.federate'] === false) createContent['m.federate'] = false
    const creators = new Set<string>([userId])
    if (version.privilegedCreators) {
      const extra = [...new Set(request.additionalCreators ?? [])].filter((u) => u !== userId)
      if (extra.length > 0) createContent.additional_creators = extra
      for (const u of extra) creators.add(u)
    }

    // The old power levels, with the upgrader raised (if need be) to send every copied event; restored after.
    const final = fixupPowerLevels(state.get('m.room.power_levels')?.content, view.version)
    const users = final.users as Record<string, number>
    // Without a power levels event the old room gave its creator 100; the upgrader gets that here.
    if (!state.has('m.room.power_levels') && !version.privilegedCreators) users[userId] = 100
    if (version.privilegedCreators) for (const c of creators) delete users[c]
    const events = Object.values((final.events ?? {}) as Record<string, number>)
    const needed = Math.max(levelOf(final, 'state_default', 50), levelOf(final, 'ban', 50), ...events)
    const usersDefault = levelOf(final, 'users_default', 0)
    if (!version.privilegedCreators && view.version.privilegedCreators && roomCreators(state.get('m.room.create'), view.version).includes(userId)) {
      // A v12 creator (infinitely powerful) moving to an older version keeps the level they need for good.
      users[userId] = Math.max(needed, 100, users[userId] ?? usersDefault)
    }
    const initial: JsonObject = { ...final, users: { ...users } }
    if (!version.privilegedCreators && (users[userId] ?? usersDefault) < needed) (initial.users as Record<string, number>)[userId] = needed

    const profile = (await batch.repos.profiles.get(userId)) ?? {}
    const member: JsonObject = { membership: 'join' }
    if (typeof profile.displayname === 'string') member.displayname = profile.displayname
    if (typeof profile.avatar_url === 'string' && profile.avatar_url !== '') member.avatar_url = profile.avatar_url

    const templates: EventTemplate[] = [
      { type: 'm.room.create', state_key: '', sender: userId, content: createContent },
      { type: 'm.room.member', state_key: userId, sender: userId, content: member },
      { type: 'm.room.power_levels', state_key: '', sender: userId, content: initial },
    ]
    for (const type of COPIED_TYPES) {
      const event = state.get(type)
      if (event) templates.push({ type, state_key: '', sender: userId, content: event.content })
      // The replacement always states its guest access, as Synapse's does: forbidden, what the old room's
      // lack of one meant (a public_chat room has none).
      else if (type === 'm.room.guest_access') templates.push({ type, state_key: '', sender: userId, content: { guest_access: 'forbidden' } })
    }
    if (oldCreate.type === 'm.space') {
      for (const [key, event] of state) {
        if (event.type === 'm.space.child' && Object.keys(event.content).length > 0) {
          templates.push({ type: 'm.space.child', state_key: event.state_key ?? key, sender: userId, content: event.content })
        }
      }
    }
    const alias = state.get('m.room.canonical_alias')
    if (alias) {
      const { moved } = splitCanonicalAlias(alias.content, this.serverName)
      if (Object.keys(moved).length > 0) templates.push({ type: 'm.room.canonical_alias', state_key: '', sender: userId, content: moved })
    }
    templates.push(...(await this.bans(upgrade, initial, creators)))
    if (JSON.stringify(initial) !== JSON.stringify(final)) {
      templates.push({ type: 'm.room.power_levels', state_key: '', sender: userId, content: final })
    }
    return (await batch.create(version, templates, roomId)).roomId
  }

  /** Bans carry over (as Synapse does), except of users the upgrader could not ban in the new room. */
  private async bans({ batch: { repos }, oldRoomId, view, userId, version }: Upgrade, levels: JsonObject, creators: Set<string>): Promise<EventTemplate[]> {
    const banned = await repos.memberships.members(oldRoomId, ['ban'])
    if (banned.length === 0) return []
    const rows = await repos.events.getMany(oldRoomId, banned.map((b) => b.event_id))
    const users = levels.users as Record<string, number>
    const own = version.privilegedCreators ? Infinity : (users[userId] ?? levelOf(levels, 'users_default', 0))
    const out: EventTemplate[] = []
    for (const row of rows) {
      const target = row.state_key as string
      const level = users[target] ?? levelOf(levels, 'users_default', 0)
      if (creators.has(target) || level >= own) continue
      const content = parseStored(row.json, view.version).content
      out.push({ type: 'm.room.member', state_key: target, sender: userId, content: { ...content, membership: 'ban' } })
    }
    return out
  }

  /** Raises events_default and invite in the old room to max(50, users_default + 1), if the upgrader may. */
  private async restrictOldRoom(batch: RoomBatch, roomId: string, userId: string, levelsEvent: RoomEvent | undefined, version: RoomVersion): Promise<void> {
    if (!levelsEvent) return
    const content = fixupPowerLevels(levelsEvent.content, version)
    const restricted = Math.max(levelOf(content, 'users_default', 0) + 1, 50)
    let changed = false
    for (const key of ['events_default', 'invite']) {
      if (levelOf(content, key, 0) < restricted) {
        content[key] = restricted
        changed = true
      }
    }
    if (changed) await tryAppend(batch, roomId, { type: 'm.room.power_levels', state_key: '', sender: userId, content })
  }
}

/** Appends an event the upgrade can do without: the writer refuses before writing, so the transaction goes on. */
async function tryAppend(batch: RoomBatch, roomId: string, template: EventTemplate): Promise<void> {
  try {
    await batch.append(roomId, template)
  } catch (err) {
    if (!(err instanceof MatrixError && err.errcode === 'M_FORBIDDEN')) throw err
  }
}
