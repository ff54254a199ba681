// Shutting a room down (the admin API's room deletion, with Synapse's request and answer: DELETE
// /_synapse/admin/v1/rooms/{roomId}): what an admin does about a room used for abuse. This server's members
// leave it (and forget it), its local aliases move to a notice room they are put in instead (where they
// cannot speak), it leaves the public directory, and optionally it is blocked (nobody of this server joins
// or is invited to it again) and purged (everything this server holds of it deleted).
import type { Clock } from '../shared/clock.ts'
import { MatrixError, notFound } from '../shared/errors.ts'
import { isRoomId, parseUserId } from '../shared/ids.ts'
import type { Logger } from '../shared/logger.ts'
import { randomString } from '../shared/random.ts'
import type { Storage } from '../storage/index.ts'
import { actingAs, type Rooms } from './rooms.ts'

export interface ShutdownRequest {
  /** A local user who creates the notice room the members are moved to (none: no notice room). */
  newRoomUserId?: string | undefined
  roomName?: string | undefined
  message?: string | undefined
  block?: boolean | undefined
  /** Delete the room's data once this server's members are out (default true, as Synapse). */
  purge?: boolean | undefined
  /** Purge even when some members could not be made to leave. */
  forcePurge?: boolean | undefined
}

export interface ShutdownResult {
  kicked_users: string[]
  failed_to_kick_users: string[]
  local_aliases: string[]
  new_room_id: string | null
}

export const DEFAULT_NOTICE_ROOM_NAME = 'Content Violation Notification'
export const DEFAULT_NOTICE_MESSAGE = 'Sharing illegal content on this server is not permitted and rooms in violation will be blocked.'

export class RoomShutdown {
  private readonly storage: Storage
  private readonly rooms: Rooms
  private readonly clock: Clock
  private readonly logger: Logger
  private readonly serverName: string

  constructor(options: { storage: Storage; rooms: Rooms; clock: Clock; logger: Logger; serverName: string }) {
    this.storage = options.storage
    this.rooms = options.rooms
    this.clock = options.clock
    this.logger = options.logger
    this.serverName = options.serverName
  }

  async shutdown(adminId: string, roomId: string, request: ShutdownRequest): Promise<ShutdownResult> {
    if (!isRoomId(roomId)) throw new MatrixError('M_INVALID_PARAM', `${roomId} is not a room ID`, 400)
    const repos = this.storage.repos
    const newRoomUser = request.newRoomUserId
    if (newRoomUser !== undefined && (parseUserId(newRoomUser)?.serverName !== this.serverName || !(await repos.users.exists(newRoomUser)))) {
      throw new MatrixError('M_INVALID_PARAM', 'new_room_user_id must be a user of this server', 400)
    }
    const known = (await repos.rooms.get(roomId)) !== null
    if (!known && !request.block) throw notFound('Unknown room')
    if (request.block) await repos.rooms.block(roomId, adminId, this.clock.now())
    if (!known) return { kicked_users: [], failed_to_kick_users: [], local_aliases: [], new_room_id: null }
    await repos.rooms.setPublic(roomId, false)

    let newRoomId: string | null = null
    if (newRoomUser !== undefined) {
      const creator = actingAs(newRoomUser)
      newRoomId = await this.rooms.createRoom(creator, {
        preset: 'public_chat',
        name: request.roomName ?? DEFAULT_NOTICE_ROOM_NAME,
        // Everyone else is below events_default (0): the room only carries the notice.
        power_level_content_override: { users_default: -10 },
      })
      await this.rooms.send(creator, newRoomId, 'm.room.message', { msgtype: 'm.text', body: request.message ?? DEFAULT_NOTICE_MESSAGE }, `shutdown-${randomString(12)}`)
    }

    const suffix = `:${this.serverName}`
    const members = (await repos.memberships.members(roomId, ['join', 'invite', 'knock'])).filter((m) => m.user_id.endsWith(suffix))
    const kicked: string[] = []
    const failed: string[] = []
    for (const member of members) {
      const user = actingAs(member.user_id)
      try {
        await this.rooms.leave(user, roomId)
        await this.rooms.forget(user, roomId)
        if (newRoomId !== null && member.membership === 'join' && member.user_id !== newRoomUser) await this.rooms.join(user, newRoomId)
        kicked.push(member.user_id)
      } catch (err) {
        this.logger.warn({ err, room_id: roomId, user_id: member.user_id }, 'shutting a room down: a member was not moved out')
        failed.push(member.user_id)
      }
    }

    // The local aliases now lead to the notice room (or nowhere).
    const aliases = await this.storage.transaction(async (tx) => {
      if (newRoomId !== null) return tx.aliases.moveRoom(roomId, newRoomId)
      const own = await tx.aliases.forRoom(roomId)
      for (const alias of own) await tx.aliases.delete(alias)
      return own
    })

    if (request.purge ?? true) {
      if (failed.length > 0 && !request.forcePurge) {
        throw new MatrixError('M_UNKNOWN', `Not purged: ${failed.length} members of this server could not be made to leave (force_purge purges anyway)`, 400)
      }
      await this.storage.transaction((tx) => tx.rooms.purge(roomId))
    }
    return { kicked_users: kicked, failed_to_kick_users: failed, local_aliases: aliases, new_room_id: newRoomId }
  }
}
