// Telling other servers of our users' device list changes (server-server API, "Device Management" and
// "End-to-End Encryption"): every change to a local user's devices or cross-signing keys is recorded for
// local /sync (markDeviceListsChanged) and, when the user shares a room with users of other servers, queued
// for those servers in the same transaction: an m.device_list_update per device (its stream ID, the
// previous one sent for the user as prev_id, its keys with their owner's signatures, or deleted), an
// m.signing_key_update for new master or self-signing keys. The servers come from room_servers, one query
// over the user's joined rooms. A user nobody elsewhere shares a room with costs that one query.
import type { Repositories } from '../storage/index.ts'
import { markDeviceListsChanged } from './device-lists.ts'
import { withSignatures, type Json } from './key-objects.ts'

/**
 * Queues an EDU, inside the caller's transaction, for every other server sharing a room with the user, in
 * one statement (FederationSender.queueEduForIn, scope 'user').
 */
/** Queues an EDU for the servers sharing a room with the user; with `key`, it replaces the one queued under it unsent. */
export type QueueUserEduIn = (repos: Repositories, userId: string, eduType: string, content: Record<string, unknown>, key?: string) => Promise<void>

export class DeviceListUpdates {
  private readonly serverName: string
  private readonly queue: QueueUserEduIn | null

  /** Without `queue` (no federation), changes are recorded for local clients only. */
  constructor(options: { serverName: string; queue: QueueUserEduIn } | null = null) {
    this.serverName = options?.serverName ?? ''
    this.queue = options?.queue ?? null
  }

  /**
   * A local user's devices got keys, new signatures over their keys, or (deleted) were removed, inside the
   * caller's stream transaction. Each device takes its own stream ID: a server applies a user's updates in
   * stream order and drops one it has seen.
   */
  async devices(repos: Repositories, userId: string, deviceIds: string[], deleted: boolean): Promise<void> {
    const ids = [...new Set(deviceIds)]
    // Whether anyone elsewhere shares a room with the user, before anything is written for them.
    const destinations = ids.length === 0 || this.queue === null ? [] : await repos.federationOutbound.serversSharingWith(userId, this.serverName)
    if (destinations.length === 0) return markDeviceListsChanged(repos, [userId])
    const queue = this.queue as QueueUserEduIn
    let prev = await repos.deviceLists.lockSent(userId)
    const positions = await repos.stream.nextManyForUser('device_list', userId, ids.length)
    await repos.deviceLists.recordPositions(userId, positions)
    const keys = deleted ? new Map<string, Json>() : await this.deviceKeys(repos, userId, ids)
    const queued: Array<Promise<void>> = []
    ids.forEach((deviceId, i) => {
      const streamId = positions[i] as number
      const content: Record<string, unknown> = { user_id: userId, device_id: deviceId, stream_id: streamId, prev_id: prev === null ? [] : [prev] }
      if (deleted) content.deleted = true
      const deviceKeys = keys.get(deviceId)
      if (deviceKeys) content.keys = deviceKeys
      // Queued in order: the statements go out on the transaction's connection as they are made.
      queued.push(queue(repos, userId, 'm.device_list_update', content))
      prev = streamId
    })
    await Promise.all(queued)
    await repos.deviceLists.setSent(userId, prev as number)
  }

  /** A local user's master and/or self-signing key changed or gained signatures (caller's stream transaction). */
  async signingKeys(repos: Repositories, userId: string): Promise<void> {
    await markDeviceListsChanged(repos, [userId])
    if (this.queue === null) return
    const [rows, signatures] = await Promise.all([repos.e2eKeys.crossSigningKeys([userId]), repos.e2eKeys.signaturesFor([userId], null)])
    const content: Record<string, unknown> = { user_id: userId }
    for (const row of rows) {
      const json = withSignatures(JSON.parse(row.key_json) as Json, signatures.filter((s) => s.target_key_id === row.public_key))
      if (row.key_type === 'master') content.master_key = json
      else if (row.key_type === 'self_signing') content.self_signing_key = json
    }
    if (content.master_key === undefined && content.self_signing_key === undefined) return
    // The user's whole current cross-signing keys: a newer update replaces one not sent yet (a destination that
    // is down does not pile them up).
    await this.queue(repos, userId, 'm.signing_key_update', content, userId)
  }

  /** The devices' keys with the signatures their owner made over them (as GET /user/devices gives them). */
  private async deviceKeys(repos: Repositories, userId: string, deviceIds: string[]): Promise<Map<string, Json>> {
    const [rows, signatures] = await Promise.all([
      repos.e2eKeys.queryDeviceKeys(deviceIds.map(() => userId), deviceIds),
      repos.e2eKeys.signaturesFor([userId], null),
    ])
    return new Map(rows.map((r) => [r.device_id, withSignatures(JSON.parse(r.key_json) as Json, signatures.filter((s) => s.target_key_id === r.device_id))]))
  }
}
