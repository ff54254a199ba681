// What a room upgrade carries over on this server, as Synapse's transfer_room_state_on_room_upgrade does:
// this server's aliases of the old room and its listing in the published room directory move to the
// replacement room, and each local member of the old room gets their tags on it, its place in their m.direct
// and their push rules naming it copied to the new room.
//
// It happens once per upgrade (room_upgrade_transfers), as soon as this server knows both halves of it: the
// old room's current m.room.tombstone names the replacement, and this server is in the replacement room,
// whose m.room.create names the old room as predecessor. On the upgrading server that is the upgrade itself
// (transferIn, in its transaction); on another server, whichever comes last of its first join to the new room
// (afterJoin) and the tombstone reaching it (the append hook). Asking for the tombstone, sent by someone with
// the power to in the old room, keeps a room that merely names another as its predecessor from taking that
// room's aliases.
import type { JsonObject } from '../protocol/events/types.ts'
import type { AppendHook } from '../rooms/writer.ts'
import type { Clock } from '../shared/clock.ts'
import { isRoomId } from '../shared/ids.ts'
import type { Logger } from '../shared/logger.ts'
import type { Repositories, Storage } from '../storage/index.ts'
import { tagLockKey, tagsOf } from './tags.ts'

export interface SuccessionDeps {
  storage: Storage
  serverName: string
  clock: Clock
  logger: Logger
  /** Copies the users' push rules naming one room to another, in the caller's transaction (Push.copyRoomRules). */
  copyPushRules: (repos: Repositories, userIds: string[], fromRoomId: string, toRoomId: string) => Promise<void>
}

const contentOf = (json: string): JsonObject => ((JSON.parse(json) as { content?: JsonObject }).content ?? {}) as JsonObject

/** The room the current m.room.create of `roomId` names as its predecessor (null: none). */
async function predecessorOf(repos: Repositories, roomId: string): Promise<string | null> {
  const [row] = await repos.state.currentEvents(roomId, [['m.room.create', '']])
  const predecessor = row ? contentOf(row.json).predecessor : undefined
  const id = typeof predecessor === 'object' && predecessor !== null ? (predecessor as JsonObject).room_id : undefined
  return isRoomId(id) && id !== roomId ? id : null
}

/** The room the current m.room.tombstone of `roomId` names as its replacement (null: none). */
async function replacementOf(repos: Repositories, roomId: string): Promise<string | null> {
  const [row] = await repos.state.currentEvents(roomId, [['m.room.tombstone', '']])
  const replacement = row ? contentOf(row.json).replacement_room : undefined
  return isRoomId(replacement) && replacement !== roomId ? replacement : null
}

export class RoomSuccession {
  private readonly deps: SuccessionDeps

  constructor(deps: SuccessionDeps) {
    this.deps = deps
  }

  /**
   * The append hook: once a tombstone naming another room has committed, the carry-over if this server is in
   * that room. Its own transaction, after the commit: one holding the old room's write lock must not wait
   * for the new room's rows, which a join being written there holds while it waits for the old room.
   */
  readonly hook: AppendHook = async (repos, { event }) => {
    if (event.type !== 'm.room.tombstone' || event.state_key !== '' || !isRoomId(event.content.replacement_room)) return
    const [oldRoomId, newRoomId] = [event.room_id, event.content.replacement_room]
    repos.stream.onCommitted.push(() => {
      this.transferIfDue(oldRoomId, newRoomId).catch((err: Error) => this.deps.logger.warn({ err: err.message, room_id: oldRoomId }, 'carrying a room upgrade over failed'))
    })
  }

  /**
   * After this server joined a room through another (the remote join, committed): the carry-over if the room
   * replaces a tombstoned one. A failure is logged: the join stands.
   */
  async afterJoin(roomId: string): Promise<void> {
    try {
      const oldRoomId = await predecessorOf(this.deps.storage.repos, roomId)
      if (oldRoomId !== null) await this.transferIfDue(oldRoomId, roomId)
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message, room_id: roomId }, 'carrying a room upgrade over failed')
    }
  }

  /**
   * The carry-over if both halves are known. The lock comes before the reads: of the tombstone's and the
   * join's checks, the second sees what the first committed, so one of them finds both halves.
   */
  private transferIfDue(oldRoomId: string, newRoomId: string): Promise<void> {
    return this.deps.storage.streamTransaction(async (repos) => {
      await repos.directory.lockKey(`room upgrade ${oldRoomId} ${newRoomId}`)
      if ((await replacementOf(repos, oldRoomId)) !== newRoomId || (await predecessorOf(repos, newRoomId)) !== oldRoomId) return
      if (!(await repos.memberships.hasJoinedOfServer(newRoomId, this.deps.serverName))) return
      await this.transferIn(repos, oldRoomId, newRoomId)
    })
  }

  /** The carry-over in the caller's transaction (the upgrade's, holding both rooms), unless it was done. */
  async transferIn(repos: Repositories, oldRoomId: string, newRoomId: string): Promise<void> {
    const { serverName, clock, copyPushRules } = this.deps
    await repos.directory.lockKey(`room upgrade ${oldRoomId} ${newRoomId}`)
    if (!(await repos.directory.markUpgradeTransferred(oldRoomId, newRoomId, clock.now()))) return
    await repos.aliases.moveRoom(oldRoomId, newRoomId)
    if ((await repos.rooms.get(oldRoomId))?.is_public) {
      await repos.rooms.setPublic(oldRoomId, false)
      await repos.rooms.setPublic(newRoomId, true)
    }
    // The old room's joined members of this server (at most ofServer's 1000: a bound on one transaction's work).
    const members = await repos.memberships.ofServer(oldRoomId, serverName, 'join')
    await copyAccountData(repos, clock.now(), members, oldRoomId, newRoomId)
    await copyPushRules(repos, members, oldRoomId, newRoomId)
  }
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
