// Device list tracking (client-server API, "Tracking the device list for a user"): every change to a
// user's devices or cross-signing keys takes a stream position, so /sync `device_lists` and
// GET /keys/changes tell the users sharing a room with them, and long-polls wake.
import type { Repositories, SharingChanges, Storage } from '../storage/index.ts'
import { parseSyncTokenOrThrow } from '../shared/sync-token.ts'
import type { Requester } from '../users/index.ts'

/** Records, inside the caller's stream transaction, that these users' device lists changed. */
export async function markDeviceListsChanged(repos: Repositories, userIds: string[]): Promise<void> {
  const users = [...new Set(userIds)]
  if (users.length === 0) return
  const position = await repos.stream.nextForUsers('device_list', users)
  await repos.deviceLists.record(position, users)
}

/** Records that `userIds` changed in a way only `viewer` is told about (caller's stream transaction). */
export async function markDeviceListsChangedFor(repos: Repositories, viewer: string, userIds: string[]): Promise<void> {
  const users = [...new Set(userIds)]
  if (users.length === 0) return
  // Taken for the viewer: the one whose syncs must wake.
  const position = await repos.stream.nextForUsers('device_list', [viewer])
  await repos.deviceLists.record(position, users, viewer)
}

export class DeviceLists {
  private readonly storage: Storage
  constructor(storage: Storage) {
    this.storage = storage
  }

  /** The `device_lists` section of an incremental sync. */
  forSync(userId: string, since: number, upTo: number, keysChanged: boolean): Promise<SharingChanges> {
    return this.storage.repos.deviceLists.changesFor(userId, since, upTo, keysChanged)
  }

  /** GET /keys/changes?from=&to= */
  async changes(requester: Requester, from: string, to: string): Promise<SharingChanges> {
    const since = parseSyncTokenOrThrow(from, 'from').position
    const upTo = parseSyncTokenOrThrow(to, 'to').position
    if (upTo <= since) return { changed: [], left: [] }
    return this.storage.repos.deviceLists.changesFor(requester.userId, since, upTo, true)
  }
}
