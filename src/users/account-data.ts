// Account data (client-server API, "Client Config"): global and per-room JSON objects of a user.
import { MatrixError, forbidden, notFound } from '../shared/errors.ts'
import type { Clock } from '../shared/clock.ts'
import type { Storage } from '../storage/index.ts'
import type { Requester } from './requester.ts'
import { IGNORED_USER_LIST, validateIgnoredUserList } from '../directory/index.ts'

/** Types the server manages itself; clients use their own endpoints for them. */
const SERVER_MANAGED = new Set(['m.fully_read', 'm.push_rules'])

export class AccountData {
  private readonly storage: Storage
  private readonly clock: Clock

  constructor(storage: Storage, clock: Clock) {
    this.storage = storage
    this.clock = clock
  }

  async get(requester: Requester, userId: string, roomId: string, type: string): Promise<Record<string, unknown>> {
    if (requester.userId !== userId) throw forbidden("Cannot read another user's account data")
    const content = await this.storage.repos.accountData.get(userId, roomId, type)
    if (!content) throw notFound('Account data not found')
    return content
  }

  async put(requester: Requester, userId: string, roomId: string, type: string, content: Record<string, unknown>): Promise<void> {
    if (requester.userId !== userId) throw forbidden("Cannot set another user's account data")
    if (SERVER_MANAGED.has(type)) throw new MatrixError('M_BAD_JSON', `Cannot set ${type} through this API.`, 405)
    if (type === IGNORED_USER_LIST && roomId === '') validateIgnoredUserList(userId, content)
    await this.putInternal(userId, roomId, type, content)
  }

  /** Writes account data and takes a stream position, so /sync delivers it (also used for server-managed types). */
  putInternal(userId: string, roomId: string, type: string, content: Record<string, unknown>): Promise<void> {
    return this.storage.streamTransaction(async (repos) => {
      // Only the user cares about their account data, so the change is logged against the user alone.
      const position = await repos.stream.next('account_data', null, userId)
      await repos.accountData.put(userId, roomId, type, content, this.clock.now(), position)
    })
  }
}
