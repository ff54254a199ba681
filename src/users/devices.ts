// A user's devices. Deleting a device is the one way its tokens (and, with E2EE, its keys) go away.
import { notFound } from '../shared/errors.ts'
import type { DeviceRow, Repositories, Storage } from '../storage/index.ts'

export interface DeviceInfo {
  device_id: string
  display_name?: string
  last_seen_ip?: string
  last_seen_ts?: number
}

function toInfo(row: DeviceRow): DeviceInfo {
  const info: DeviceInfo = { device_id: row.device_id }
  if (row.display_name !== null) info.display_name = row.display_name
  if (row.last_seen_ip !== null) info.last_seen_ip = row.last_seen_ip
  if (row.last_seen_ts !== null) info.last_seen_ts = row.last_seen_ts
  return info
}

/**
 * Runs inside the transaction that renamed (deleted false) or deleted devices, a stream transaction: E2EE
 * tells other users' clients.
 */
export type DevicesChangedHook = (repos: Repositories, userId: string, deviceIds: string[], deleted: boolean) => Promise<void>

export class Devices {
  private readonly storage: Storage
  private readonly onChanged: DevicesChangedHook | null

  constructor(storage: Storage, onChanged: DevicesChangedHook | null = null) {
    this.storage = storage
    this.onChanged = onChanged
  }

  private async deleted(repos: Repositories, userId: string, deviceIds: string[]): Promise<string[]> {
    if (deviceIds.length > 0 && this.onChanged) await this.onChanged(repos, userId, deviceIds, true)
    return deviceIds
  }

  /**
   * GET /admin/whois/{userId} (client-server API, "Server Administration"): each device's last connection,
   * one session per device, as Synapse answers (it keeps no more history of a device's connections).
   */
  async whois(userId: string): Promise<{ user_id: string; devices: Record<string, { sessions: Array<{ connections: Array<{ ip: string; last_seen: number; user_agent: string }> }> }> }> {
    const devices: Record<string, { sessions: Array<{ connections: Array<{ ip: string; last_seen: number; user_agent: string }> }> }> = {}
    for (const row of await this.storage.repos.devices.list(userId)) {
      const seen = row.last_seen_ts !== null && row.last_seen_ip !== null
      devices[row.device_id] = { sessions: [{ connections: seen ? [{ ip: row.last_seen_ip as string, last_seen: row.last_seen_ts as number, user_agent: row.last_seen_user_agent ?? '' }] : [] }] }
    }
    return { user_id: userId, devices }
  }

  async list(userId: string): Promise<DeviceInfo[]> {
    return (await this.storage.repos.devices.list(userId)).map(toInfo)
  }

  async get(userId: string, deviceId: string): Promise<DeviceInfo> {
    const row = await this.storage.repos.devices.get(userId, deviceId)
    if (!row) throw notFound('Unknown device')
    return toInfo(row)
  }

  /** Renames a device; the users sharing a room with its owner hear of it, as of any change to the device. */
  async setDisplayName(userId: string, deviceId: string, displayName: string | null): Promise<void> {
    await this.storage.streamTransaction(async (repos) => {
      if (!(await repos.devices.setDisplayName(userId, deviceId, displayName))) throw notFound('Unknown device')
      if (this.onChanged) await this.onChanged(repos, userId, [deviceId], false)
    })
  }

  /**
   * Deletes devices with their tokens, keys and to-device queues inside the caller's transaction, which
   * must be a stream transaction (the change takes a position); returns those that existed.
   */
  async deleteIn(repos: Repositories, userId: string, deviceIds: string[]): Promise<string[]> {
    return this.deleted(repos, userId, await repos.devices.delete(userId, deviceIds))
  }

  delete(userId: string, deviceIds: string[]): Promise<string[]> {
    return this.storage.streamTransaction((repos) => this.deleteIn(repos, userId, deviceIds))
  }

  /** Logs out everywhere: every device and token of the user. */
  deleteAll(userId: string): Promise<string[]> {
    return this.storage.streamTransaction((repos) => this.deleteAllExcept(repos, userId, null))
  }

  /** Deletes every device of the user except `keep` (null: all of them); a stream transaction, as deleteIn. */
  async deleteAllExcept(repos: Repositories, userId: string, keep: string | null): Promise<string[]> {
    return this.deleted(repos, userId, await repos.devices.deleteAllExcept(userId, keep))
  }
}
