// Dehydrated devices (MSC3814, the unstable endpoints current Element clients use): a device a client
// uploads for itself, with its keys, so that room keys sent while no real device is online can be picked
// up by the next login. At most one per user; a new one replaces the old.
import type { Clock } from '../shared/clock.ts'
import { MatrixError, badJson, notFound } from '../shared/errors.ts'
import type { Storage } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'
import { markDeviceListsChanged } from './device-lists.ts'
import { isObject, type Json } from './key-objects.ts'
import type { E2eKeys } from './keys.ts'
import { TO_DEVICE_SYNC_LIMIT } from './to-device.ts'

export class DehydratedDevices {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly keys: E2eKeys

  constructor(options: { storage: Storage; clock: Clock; keys: E2eKeys }) {
    this.storage = options.storage
    this.clock = options.clock
    this.keys = options.keys
  }

  /** PUT /dehydrated_device: replaces the user's dehydrated device with this one and its keys. */
  async put(requester: Requester, body: Json): Promise<{ device_id: string }> {
    const deviceId = body.device_id
    if (typeof deviceId !== 'string' || deviceId === '' || deviceId.length > 255) throw badJson("'device_id' must be a non-empty string")
    if (!isObject(body.device_data)) throw badJson("'device_data' must be an object")
    const displayName = body.initial_device_display_name
    if (displayName !== undefined && displayName !== null && (typeof displayName !== 'string' || displayName.length > 512)) {
      throw badJson("'initial_device_display_name' must be a string")
    }
    if (!isObject(body.device_keys)) throw badJson("'device_keys' must be an object")
    const userId = requester.userId
    await this.storage.streamTransaction(async (repos) => {
      const previous = await repos.devices.dehydrated(userId)
      if (previous) await repos.devices.delete(userId, [previous.device_id])
      const created = await repos.devices.createDehydrated(userId, deviceId, (displayName as string | undefined) ?? null, JSON.stringify(body.device_data), this.clock.now())
      if (!created) throw new MatrixError('M_INVALID_PARAM', 'A device with this ID already exists')
      // Storing the new device's keys marks the user's device list changed (covering the removal too).
      await this.keys.uploadIn(repos, userId, deviceId, { device_keys: body.device_keys, one_time_keys: body.one_time_keys, fallback_keys: body.fallback_keys })
    })
    return { device_id: deviceId }
  }

  /** GET /dehydrated_device */
  async get(requester: Requester): Promise<{ device_id: string; device_data: Json }> {
    const device = await this.storage.repos.devices.dehydrated(requester.userId)
    if (!device) throw notFound('No dehydrated device')
    return { device_id: device.device_id, device_data: JSON.parse(device.dehydrated_data) as Json }
  }

  /** DELETE /dehydrated_device */
  async delete(requester: Requester): Promise<{ device_id: string }> {
    return this.storage.streamTransaction(async (repos) => {
      const device = await repos.devices.dehydrated(requester.userId)
      if (!device) throw notFound('No dehydrated device')
      await repos.devices.delete(requester.userId, [device.device_id])
      await markDeviceListsChanged(repos, [requester.userId])
      return { device_id: device.device_id }
    })
  }

  /**
   * POST /dehydrated_device/{deviceId}/events: the device's to-device messages after `next_batch`, in
   * batches. Nothing is deleted here (MSC3814): an interrupted rehydration can start again; the messages
   * go when the device is replaced or deleted. An empty batch tells the client it has everything.
   */
  async events(requester: Requester, deviceId: string, nextBatch: string | undefined): Promise<{ events: Json[]; next_batch: string }> {
    const device = await this.storage.repos.devices.dehydrated(requester.userId)
    if (!device || device.device_id !== deviceId) throw new MatrixError('M_FORBIDDEN', 'That is not your dehydrated device')
    let after = 0
    if (nextBatch !== undefined) {
      if (!/^\d{1,15}$/.test(nextBatch)) throw new MatrixError('M_INVALID_PARAM', "Invalid 'next_batch'")
      after = Number(nextBatch)
    }
    // Up to the stream fence only, so a message committing late at a lower position is never skipped.
    const upTo = await this.storage.repos.stream.fence()
    const rows = await this.storage.repos.toDevice.pending(requester.userId, deviceId, after, upTo, TO_DEVICE_SYNC_LIMIT)
    const last = rows.length > 0 ? (rows[rows.length - 1] as { position: number }).position : after
    return {
      events: rows.map((r) => ({ sender: r.sender, type: r.type, content: JSON.parse(r.content) as Json })),
      next_batch: String(last),
    }
  }
}
