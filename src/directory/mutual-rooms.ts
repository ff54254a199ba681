// GET /_matrix/client/v1/mutual_rooms (client-server API v1.19, "Mutual rooms"): the rooms both the
// requester and another user are joined to, in pages ordered by room ID.
import { invalidParam } from '../shared/errors.ts'
import { isUserId } from '../shared/ids.ts'
import type { Storage } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'

/** Rooms per page. */
export const MUTUAL_ROOMS_PAGE = 100

const TOKEN_PREFIX = 'mr1_'

/** next_batch: the last room ID of the page, opaque to clients. */
function formatToken(roomId: string): string {
  return TOKEN_PREFIX + Buffer.from(roomId, 'utf8').toString('base64url')
}

function parseToken(token: string): string {
  const roomId = token.startsWith(TOKEN_PREFIX) ? Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8') : ''
  if (!roomId.startsWith('!')) throw invalidParam('Unknown pagination token')
  return roomId
}

export class MutualRooms {
  private readonly storage: Storage

  constructor(deps: { storage: Storage }) {
    this.storage = deps.storage
  }

  async list(requester: Requester, userId: string, from: string | undefined): Promise<{ joined: string[]; count: number; next_batch?: string }> {
    if (!isUserId(userId)) throw invalidParam('The user ID provided was invalid')
    if (userId === requester.userId) throw invalidParam('Mutual rooms are asked with another user')
    const after = from === undefined ? null : parseToken(from)
    const page = await this.storage.repos.directory.mutualRooms(requester.userId, userId, after, MUTUAL_ROOMS_PAGE + 1)
    const joined = page.roomIds.slice(0, MUTUAL_ROOMS_PAGE)
    const result: { joined: string[]; count: number; next_batch?: string } = { joined, count: page.count }
    if (page.roomIds.length > MUTUAL_ROOMS_PAGE) result.next_batch = formatToken(joined[joined.length - 1] as string)
    return result
  }
}
