// Other servers' users' device lists and cross-signing keys (server-server API, "Device Management" and
// "End-to-End Encryption"), kept from the m.device_list_update and m.signing_key_update EDUs. Each update
// names the updates it follows (prev_id); one that follows an update never seen means one was lost, and the
// list is marked stale, to be fetched whole again (/user/devices). Every change takes a device-list stream
// position, so local users sharing a room with the remote user see them in /sync `device_lists.changed`.
import type { JsonObject } from '../protocol/events/types.ts'
import type { Clock } from '../shared/clock.ts'
import type { RemoteDeviceListRow, RemoteDeviceRow, Storage } from '../storage/index.ts'
import { markDeviceListsChanged } from './device-lists.ts'

/** Stream IDs remembered per user to check prev_id against (updates in flight at once are few). */
const SEEN_KEPT = 32

/** One m.device_list_update, validated by the caller. */
export interface DeviceListUpdate {
  userId: string
  deviceId: string
  displayName: string | null
  streamId: number
  prevIds: number[]
  deleted: boolean
  /** The device keys, or null when the device has none. */
  keys: JsonObject | null
}

export type DeviceListOutcome = 'applied' | 'duplicate' | 'stale'

export interface RemoteDeviceList {
  stale: boolean
  streamId: number
  devices: RemoteDeviceRow[]
  crossSigningKeys: Array<{ key_type: string; key_json: string }>
}

export class RemoteDeviceLists {
  private readonly storage: Storage
  private readonly clock: Clock

  constructor(options: { storage: Storage; clock: Clock }) {
    this.storage = options.storage
    this.clock = options.clock
  }

  /**
   * Applies one update. 'duplicate': its stream_id was applied already. 'stale': applied, but the list is
   * stale (an update it follows never came, or the list was never fetched whole) and must be resynced.
   */
  async applyUpdate(update: DeviceListUpdate): Promise<DeviceListOutcome> {
    const now = this.clock.now()
    return this.storage.streamTransaction(async (repos) => {
      const row = await repos.remoteDeviceLists.lockOrCreate(update.userId, now)
      const seen = row.seen_ids.map(Number)
      const last = Number(row.stream_id)
      if (update.streamId <= last || seen.includes(update.streamId)) return 'duplicate'
      const gap = update.prevIds.some((id) => id !== last && !seen.includes(id))
      await repos.remoteDeviceLists.setDevice(
        update.userId,
        update.deviceId,
        update.deleted ? 'deleted' : { displayName: update.displayName, keysJson: update.keys ? JSON.stringify(update.keys) : null },
      )
      const next: RemoteDeviceListRow = {
        user_id: update.userId,
        stream_id: update.streamId,
        seen_ids: [...seen, update.streamId].slice(-SEEN_KEPT),
        stale: row.stale || gap,
        updated_ts: now,
      }
      await repos.remoteDeviceLists.update(next)
      await markDeviceListsChanged(repos, [update.userId])
      return next.stale ? 'stale' : 'applied'
    })
  }

  /** Stores a remote user's new master and/or self-signing key (validated by the caller). */
  async storeSigningKeys(userId: string, keys: { master?: JsonObject; selfSigning?: JsonObject }): Promise<void> {
    const rows: Array<{ keyType: 'master' | 'self_signing'; keyJson: string }> = []
    if (keys.master) rows.push({ keyType: 'master', keyJson: JSON.stringify(keys.master) })
    if (keys.selfSigning) rows.push({ keyType: 'self_signing', keyJson: JSON.stringify(keys.selfSigning) })
    if (rows.length === 0) return
    await this.storage.streamTransaction(async (repos) => {
      await repos.remoteDeviceLists.putCrossSigningKeys(userId, rows)
      await markDeviceListsChanged(repos, [userId])
    })
  }

  /** What is kept of a remote user's devices and keys; null when nothing was ever received. */
  async list(userId: string): Promise<RemoteDeviceList | null> {
    const repos = this.storage.repos
    const [row, devices, crossSigningKeys] = await Promise.all([
      repos.remoteDeviceLists.get(userId),
      repos.remoteDeviceLists.devices(userId),
      repos.remoteDeviceLists.crossSigningKeys(userId),
    ])
    if (!row && crossSigningKeys.length === 0) return null
    return { stale: row?.stale ?? true, streamId: Number(row?.stream_id ?? 0), devices, crossSigningKeys }
  }
}
