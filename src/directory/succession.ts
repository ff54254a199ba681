// What a room upgrade carries over on this server, as Synapse's transfer_room_state_on_room_upgrade does:
// this server's aliases of the old room and its listing in the published room directory move to the
// replacement room, and each local member of the old room gets their tags on it, its place in their m.direct
// and their push rules naming it copied to the new room.
//
// It happens once per upgrade (room_upgrade_transfers), as soon as this server knows both halves of it: the
// old room's current m.room.tombstone names the replacement, and this server is in the replacement room,
// whose m.room.create names the old room as predecessor. On the upgrading server that is the upgrade itself;
// on another server, whichever comes last of its first join to the new room and the tombstone reaching it
// (they may arrive in either order). Asking for the tombstone, sent by someone with the power to in the old
// room, keeps a room that merely names another as its predecessor from taking that room's aliases.
import type { JsonObject, RoomEvent } from '../protocol/events/types.ts'
import { stateKey } from '../protocol/events/types.ts'
import type { AppendHook } from '../rooms/writer.ts'
import type { Clock } from '../shared/clock.ts'
import { isRoomId, parseUserId } from '../shared/ids.ts'
import type { Repositories } from '../storage/index.ts'
import { tagLockKey, tagsOf } from './tags.ts'

export interface SuccessionDeps {
  serverName: string
  clock: Clock
  /** Copies the users' push rules naming one room to another, in the caller's transaction (Push.copyRoomRules). */
  copyPushRules: (repos: Repositories, userIds: string[], fromRoomId: string, toRoomId: string) => Promise<void>
}

const contentOf = (json: string): JsonObject => ((JSON.parse(json) as { content?: JsonObject }).content ?? {}) as JsonObject

/** The room the current m.room.create of `roomId` names as its predecessor (null: none). */
async function predecessorOf(repos: Repositories, roomId: string, known: RoomEvent | undefined): Promise<string | null> {
  let content = known?.content
  if (!content) {
    const [row] = await repos.state.currentEvents(roomId, [['m.room.create', '']])
    content = row ? contentOf(row.json) : {}
  }
  const predecessor = content.predecessor
  const id = typeof predecessor === 'object' && predecessor !== null ? (predecessor as JsonObject).room_id : undefined
  return isRoomId(id) && id !== roomId ? id : null
}

/** The room the current m.room.tombstone of `roomId` names as its replacement (null: none). */
async function replacementOf(repos: Repositories, roomId: string): Promise<{ eventId: string; roomId: string } | null> {
  const [row] = await repos.state.currentEvents(roomId, [['m.room.tombstone', '']])
  const replacement = row ? contentOf(row.json).replacement_room : undefined
  return row && isRoomId(replacement) && replacement !== roomId ? { eventId: row.event_id, roomId: replacement } : null
}

/**
 * The append hook: after the old room's tombstone, or after a local user's join to a room with a
 * predecessor, the carry-over when the other half is known too.
 */
export function successionHook(deps: SuccessionDeps): AppendHook {
  const isLocal = (userId: string | undefined) => userId !== undefined && parseUserId(userId)?.serverName === deps.serverName
  return async (repos, { event }, room) => {
    let pair: { oldRoomId: string; newRoomId: string } | null = null
    if (event.type === 'm.room.tombstone' && event.state_key === '' && isRoomId(event.content.replacement_room)) {
      const newRoomId = event.content.replacement_room
      const current = await replacementOf(repos, event.room_id)
      if (current?.eventId === event.event_id && (await repos.memberships.hasJoinedOfServer(newRoomId, deps.serverName))) {
        if ((await predecessorOf(repos, newRoomId, undefined)) === event.room_id) pair = { oldRoomId: event.room_id, newRoomId }
      }
    } else if (event.type === 'm.room.member' && event.content.membership === 'join' && isLocal(event.state_key)) {
      const oldRoomId = await predecessorOf(repos, event.room_id, room.state.get(stateKey('m.room.create', '')))
      if (oldRoomId !== null && (await replacementOf(repos, oldRoomId))?.roomId === event.room_id) pair = { oldRoomId, newRoomId: event.room_id }
    }
    if (pair) await transferOnce(repos, deps, pair.oldRoomId, pair.newRoomId)
  }
}

/**
 * The carry-over, unless it was done. The lock makes the tombstone's and the join's transactions (each holding
 * its own room) take turns: the second to run sees what the first committed, so one of them finds both halves.
 */
async function transferOnce(repos: Repositories, deps: SuccessionDeps, oldRoomId: string, newRoomId: string): Promise<void> {
  await repos.directory.lockKey(`room upgrade ${oldRoomId}`)
  if (!(await repos.directory.markUpgradeTransferred(oldRoomId, newRoomId, deps.clock.now()))) return
  await repos.aliases.moveRoom(oldRoomId, newRoomId)
  if ((await repos.rooms.get(oldRoomId))?.is_public) {
    await repos.rooms.setPublic(oldRoomId, false)
    await repos.rooms.setPublic(newRoomId, true)
  }
  // The old room's joined members of this server (at most ofServer's 1000: a bound on one transaction's work).
  const members = await repos.memberships.ofServer(oldRoomId, deps.serverName, 'join')
  await copyAccountData(repos, deps.clock.now(), members, oldRoomId, newRoomId)
  await deps.copyPushRules(repos, members, oldRoomId, newRoomId)
}

/**
 * Each member's tags on the old room added to theirs on the new one, and the new room put beside the old one
 * in their m.direct (under the first user it is listed for); one stream position per member changed.
 */
async function copyAccountData(repos: Repositories, now: number, userIds: string[], oldRoomId: string, newRoomId: string): Promise<void> {
  const [oldTags, directs] = await Promise.all([repos.accountData.ofUsersInRoom(userIds, oldRoomId, 'm.tag'), repos.accountData.globalOf(userIds, 'm.direct')])
  const tagged = [...oldTags.keys()].filter((u) => Object.keys(tagsOf(oldTags.get(u) ?? null)).length > 0)
  // Serialized with the members' own tag changes on the new room (RoomTags.modify), so neither is lost.
  await repos.directory.lockKeys(tagged.map((u) => tagLockKey(u, newRoomId)))
  const newTags = await repos.accountData.ofUsersInRoom(tagged, newRoomId, 'm.tag')
  const rows: Array<{ userId: string; roomId: string; type: string; content: Record<string, unknown> }> = []
  for (const userId of tagged) {
    const tags = { ...tagsOf(newTags.get(userId) ?? null), ...tagsOf(oldTags.get(userId) ?? null) }
    rows.push({ userId, roomId: newRoomId, type: 'm.tag', content: { tags } })
  }
  for (const [userId, direct] of directs) {
    for (const [key, rooms] of Object.entries(direct)) {
      if (!Array.isArray(rooms) || !rooms.includes(oldRoomId) || rooms.includes(newRoomId)) continue
      rows.push({ userId, roomId: '', type: 'm.direct', content: { ...direct, [key]: [...rooms, newRoomId] } })
      break
    }
  }
  const positions = await repos.stream.nextEachForUsers('account_data', [...new Set(rows.map((r) => r.userId))])
  await repos.accountData.putMany(
    rows.map((r) => ({ ...r, position: positions.get(r.userId) as number })),
    now,
  )
}
