// Dehydrated devices (MSC3814, the unstable endpoints current Element clients use): a device a client
// uploads for itself, with its keys, so that room keys sent while no real device is online can be picked
// up by the next login. At most one per user; a new one replaces the old.
import type { Clock } from '../shared/clock.ts'
import { badJson, forbidden, invalidParam, notFound } from '../shared/errors.ts'
import type { Storage } from '../storage/index.ts'
import type { Devices, Requester } from '../users/index.ts'
import { isObject, type Json } from './key-objects.ts'
import type { E2eKeys } from './keys.ts'
import type { ToDevice, ToDeviceEvent } from './to-device.ts'

export class DehydratedDevices {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly keys: E2eKeys
  private readonly devices: Devices
  private readonly toDevice: ToDevice

  constructor(options: { storage: Storage; clock: Clock; keys: E2eKeys; devices: Devices; toDevice: ToDevice }) {
    this.storage = options.storage
    this.clock = options.clock
    this.keys = options.keys
    this.devices = options.devices
    this.toDevice = options.toDevice
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
      // Two uploads at once must not both find no previous device (one per user, by a unique index).
      await repos.devices.lockDehydrated(userId)
      const previous = await repos.devices.dehydrated(userId)
      // Removed as any device is (keys, queue, and the device-list change room-mates hear of).
      if (previous) await this.devices.deleteIn(repos, userId, [previous.device_id])
      const created = await repos.devices.createDehydrated(userId, deviceId, (displayName as string | undefined) ?? null, JSON.stringify(body.device_data), this.clock.now())
      if (!created) throw invalidParam('A device with this ID already exists')
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
      await repos.devices.lockDehydrated(requester.userId)
      const device = await repos.devices.dehydrated(requester.userId)
      if (!device) throw notFound('No dehydrated device')
      await this.devices.deleteIn(repos, requester.userId, [device.device_id])
      return { device_id: device.device_id }
    })
  }

  /**
   * POST /dehydrated_device/{deviceId}/events: the device's to-device messages after `next_batch`, in
   * batches. Nothing is deleted here (MSC3814): an interrupted rehydration can start again; the messages
   * go when the device is replaced or deleted. An empty batch tells the client it has everything.
   */
  async events(requester: Requester, deviceId: string, nextBatch: string | undefined): Promise<{ events: ToDeviceEvent[]; next_batch: string }> {
    const device = await this.storage.repos.devices.dehydrated(requester.userId)
    if (!device || device.device_id !== deviceId) throw forbidden('That is not your dehydrated device')
    let after = 0
    if (nextBatch !== undefined) {
      if (!/^\d{1,15}$/.test(nextBatch)) throw invalidParam("Invalid 'next_batch'")
      after = Number(nextBatch)
    }
    // Up to the stream fence only, so a message committing late at a lower position is never skipped.
    const batch = await this.toDevice.batch(requester.userId, deviceId, after, await this.storage.repos.stream.fence())
    return { events: batch.events, next_batch: String(batch.lastPosition ?? after) }
  }
}
