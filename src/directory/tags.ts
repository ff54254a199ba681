// Room tagging (client-server API, "Room Tagging"): a user's tags on a room, stored as the room account
// data m.tag ({tags: {name: {order?}}}) so /sync delivers every change to all the user's devices.
import type { Clock } from '../shared/clock.ts'
import { badJson, forbidden, invalidParam } from '../shared/errors.ts'
import type { Storage } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'

export type Tags = Record<string, Record<string, unknown>>

const TAG_TYPE = 'm.tag'

function ownOnly(requester: Requester, userId: string, verb: string): void {
  if (requester.userId !== userId) throw forbidden(`Cannot ${verb} another user's tags`)
}

/** What serializes changes to one user's tags on one room (see RoomTags.modify). */
export const tagLockKey = (userId: string, roomId: string): string => `${TAG_TYPE} ${userId} ${roomId}`

export function tagsOf(content: Record<string, unknown> | null): Tags {
  const tags = content?.tags
  return typeof tags === 'object' && tags !== null && !Array.isArray(tags) ? ({ ...tags } as Tags) : {}
}

export class RoomTags {
  private readonly storage: Storage
  private readonly clock: Clock

  constructor(deps: { storage: Storage; clock: Clock }) {
    this.storage = deps.storage
    this.clock = deps.clock
  }

  async get(requester: Requester, userId: string, roomId: string): Promise<{ tags: Tags }> {
    ownOnly(requester, userId, 'read')
    return { tags: tagsOf(await this.storage.repos.accountData.get(userId, roomId, TAG_TYPE)) }
  }

  /** PUT: `order`, when present, must be a number from 0 to 1; the tag's name at most 255 bytes. */
  async put(requester: Requester, userId: string, roomId: string, tag: string, body: Record<string, unknown>): Promise<void> {
    ownOnly(requester, userId, 'set')
    if (Buffer.byteLength(tag) > 255) throw invalidParam('A tag may not exceed 255 bytes')
    if (body.order !== undefined && (typeof body.order !== 'number' || !(body.order >= 0 && body.order <= 1))) {
      throw badJson('order must be a number between 0 and 1')
    }
    await this.modify(userId, roomId, (tags) => {
      tags[tag] = body
      return true
    })
  }

  async delete(requester: Requester, userId: string, roomId: string, tag: string): Promise<void> {
    ownOnly(requester, userId, 'remove')
    await this.modify(userId, roomId, (tags) => {
      if (!(tag in tags)) return false
      delete tags[tag]
      return true
    })
  }

  /**
   * Read-modify-write of m.tag, serialized per user and room so concurrent changes to different tags all
   * survive; a change takes an account-data stream position (as AccountData.putInternal does) for /sync.
   */
  private modify(userId: string, roomId: string, change: (tags: Tags) => boolean): Promise<void> {
    return this.storage.streamTransaction(async (repos) => {
      await repos.directory.lockKey(tagLockKey(userId, roomId))
      const tags = tagsOf(await repos.accountData.get(userId, roomId, TAG_TYPE))
      if (!change(tags)) return
      const position = await repos.stream.next('account_data', null, userId)
      await repos.accountData.put(userId, roomId, TAG_TYPE, { tags }, this.clock.now(), position)
    })
  }
}
