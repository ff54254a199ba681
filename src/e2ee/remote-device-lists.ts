// Other servers' users' device lists and cross-signing keys (server-server API, "Device Management" and
// "End-to-End Encryption"), kept from the m.device_list_update and m.signing_key_update EDUs. Each update
// names the updates it follows (prev_id); one that follows an update never seen means one was lost, and the
// list is marked stale and fetched whole again from the user's server (/user/devices, resync), as is a list
// never fetched. Every change takes a device-list stream position, so local users sharing a room with the
// remote user see them in /sync `device_lists.changed`.
import type { JsonObject } from '../protocol/events/types.ts'
import type { Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import type { RemoteDeviceListRow, RemoteDeviceRow, Storage } from '../storage/index.ts'
import { markDeviceListsChanged } from './device-lists.ts'
import { isObject, parseCrossSigningKey } from './key-objects.ts'

/** Stream IDs remembered per user to check prev_id against (updates in flight at once are few). */
const SEEN_KEPT = 32
/** Devices kept from one user's /user/devices answer. */
const MAX_DEVICES = 1000
/** Resyncs one instance runs at once; a list left stale beyond that is fetched on its next update. */
const MAX_RESYNCS = 16

/** GET /_matrix/federation/v1/user/devices/{userId} on the user's server: the parsed JSON answer. */
export type UserDevicesFetch = (userId: string) => Promise<unknown>

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
  private readonly logger: Logger
  private readonly fetch: UserDevicesFetch
  private readonly resyncing = new Map<string, Promise<boolean>>()

  constructor(options: { storage: Storage; clock: Clock; logger: Logger; fetch: UserDevicesFetch }) {
    this.storage = options.storage
    this.clock = options.clock
    this.logger = options.logger
    this.fetch = options.fetch
  }

  /**
   * Fetches the user's whole list from their server and stores it in place of what was kept (the answer's
   * stream_id is where updates resume). One fetch per user at a time; false when it failed (still stale).
   */
  resync(userId: string): Promise<boolean> {
    let pending = this.resyncing.get(userId)
    if (!pending) {
      pending = this.fetchAndStore(userId)
        .catch((err: Error) => {
          this.logger.info({ user_id: userId, err: err.message }, 'remote device list not resynced')
          return false
        })
        .finally(() => this.resyncing.delete(userId))
      this.resyncing.set(userId, pending)
    }
    return pending
  }

  /** Starts a resync unless too many are running; the list stays stale until one succeeds. */
  resyncInBackground(userId: string): void {
    if (this.resyncing.has(userId) || this.resyncing.size >= MAX_RESYNCS) return
    void this.resync(userId)
  }

  private async fetchAndStore(userId: string): Promise<boolean> {
    const answer = parseUserDevices(await this.fetch(userId), userId)
    if (!answer) throw new Error('the /user/devices answer is malformed')
    const now = this.clock.now()
    await this.storage.streamTransaction(async (repos) => {
      await repos.remoteDeviceLists.lockOrCreate(userId, now)
      await repos.remoteDeviceLists.replaceDevices(userId, answer.devices)
      await repos.remoteDeviceLists.update({ user_id: userId, stream_id: answer.streamId, seen_ids: [answer.streamId], stale: false, updated_ts: now })
      await repos.remoteDeviceLists.putCrossSigningKeys(userId, answer.crossSigningKeys)
      await markDeviceListsChanged(repos, [userId])
    })
    return true
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

/**
 * A /user/devices answer for `userId`: its stream_id, its devices (those whose keys name another user or
 * device are left out; at most MAX_DEVICES) and its valid master and self-signing keys. Null when it is not
 * such an answer.
 */
export function parseUserDevices(answer: unknown, userId: string): {
  streamId: number
  devices: RemoteDeviceRow[]
  crossSigningKeys: Array<{ keyType: 'master' | 'self_signing'; keyJson: string }>
} | null {
  if (!isObject(answer) || answer.user_id !== userId || !Number.isSafeInteger(answer.stream_id) || !Array.isArray(answer.devices)) return null
  const devices = new Map<string, RemoteDeviceRow>()
  for (const d of answer.devices.slice(0, MAX_DEVICES)) {
    if (!isObject(d) || typeof d.device_id !== 'string' || d.device_id === '' || d.device_id.length > 255) continue
    const keys = isObject(d.keys) && (d.keys.user_id ?? userId) === userId && (d.keys.device_id ?? d.device_id) === d.device_id ? d.keys : null
    const name = typeof d.device_display_name === 'string' && d.device_display_name.length <= 255 ? d.device_display_name : null
    devices.set(d.device_id, { device_id: d.device_id, display_name: name, keys_json: keys ? JSON.stringify(keys) : null })
  }
  const crossSigningKeys: Array<{ keyType: 'master' | 'self_signing'; keyJson: string }> = []
  for (const [field, usage] of [['master_key', 'master'], ['self_signing_key', 'self_signing']] as const) {
    if (answer[field] === undefined) continue
    try {
      crossSigningKeys.push({ keyType: usage, keyJson: JSON.stringify(parseCrossSigningKey(answer[field], field, userId, usage).json) })
    } catch {
      // A malformed key is left out; the devices still count.
    }
  }
  return { streamId: answer.stream_id as number, devices: [...devices.values()], crossSigningKeys }
}
