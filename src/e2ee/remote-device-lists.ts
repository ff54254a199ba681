// Other servers' users' device lists and cross-signing keys (server-server API, "Device Management" and
// "End-to-End Encryption"), kept from the m.device_list_update and m.signing_key_update EDUs. Each update
// names the updates it follows (prev_id); one that follows an update never seen means one was lost, and the
// list is marked stale and fetched whole again from the user's server (/user/devices, resync), as is a list
// never fetched, or one left unfollowed while no room was shared with the user (updates stop coming then).
// A current list answers our clients' key queries of the user without asking their server. Every change
// takes a device-list stream position, so local users sharing a room with the remote user see them in
// /sync `device_lists.changed`.
import type { JsonObject } from '../protocol/events/types.ts'
import type { Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import { canonicalJson } from '../protocol/canonical-json.ts'
import { serverNameOf } from '../protocol/events/index.ts'
import type { RemoteDeviceListRow, RemoteDeviceRow, Repositories, Storage } from '../storage/index.ts'
import { markDeviceListsChanged } from './device-lists.ts'
import { isObject, parseCrossSigningKey } from './key-objects.ts'

/** Stream IDs remembered per user to check prev_id against (updates in flight at once are few). */
const SEEN_KEPT = 32
/** Devices kept from one user's /user/devices answer. */
const MAX_DEVICES = 1000
/** Resyncs one instance runs at once; a list left stale beyond that is fetched on its next update. */
const MAX_RESYNCS = 16
/** Lists one key query fetches whole before answering; its other users are asked of their servers. */
const MAX_QUERY_RESYNCS = 32

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

/** A remote user's keys as kept here, in the shape of a key query's answer. */
export interface KeptKeys {
  /** Device ID → its keys, with its display name in `unsigned`. */
  devices: Record<string, JsonObject>
  master: JsonObject | null
  selfSigning: JsonObject | null
}

/** A resync running for a user; `again`: an update arrived meanwhile that its answer may predate. */
interface Resync {
  done: Promise<boolean>
  again: boolean
}

export class RemoteDeviceLists {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly logger: Logger
  private readonly fetch: UserDevicesFetch
  private readonly serverName: string
  private readonly resyncing = new Map<string, Resync>()

  constructor(options: { storage: Storage; clock: Clock; logger: Logger; fetch: UserDevicesFetch; serverName: string }) {
    this.storage = options.storage
    this.clock = options.clock
    this.logger = options.logger
    this.fetch = options.fetch
    this.serverName = options.serverName
  }

  /**
   * Fetches the user's whole list from their server and stores it in place of what was kept (the answer's
   * stream_id is where updates resume). One fetch per user at a time: a caller while one runs shares it,
   * and with `again` (an update applied meanwhile found the list stale) one more fetch follows it. False
   * when it failed (still stale).
   */
  resync(userId: string, again = false): Promise<boolean> {
    const running = this.resyncing.get(userId)
    if (running) {
      running.again ||= again
      return running.done
    }
    const resync: Resync = { done: Promise.resolve(false), again: false }
    resync.done = (async () => {
      try {
        let ok: boolean
        do {
          resync.again = false
          ok = await this.fetchAndStore(userId).catch((err: Error) => {
            this.logger.info({ user_id: userId, err: err.message }, 'remote device list not resynced')
            return false
          })
        } while (ok && resync.again)
        return ok
      } finally {
        this.resyncing.delete(userId)
      }
    })()
    this.resyncing.set(userId, resync)
    return resync.done
  }

  /**
   * Starts a resync unless too many are running; the list stays stale until one succeeds. `afterUpdate`: an
   * update just found the list stale, so a resync already running is followed by another.
   */
  resyncInBackground(userId: string, afterUpdate = false): void {
    if (this.resyncing.has(userId)) {
      if (afterUpdate) void this.resync(userId, true)
      return
    }
    if (this.resyncing.size >= MAX_RESYNCS) return
    void this.resync(userId)
  }

  /**
   * The keys of those of `userIds` (other servers' users) whose lists this server follows, for a client's
   * key query: a user sharing a room with this server is answered from the kept list when it is current,
   * after fetching it whole first when it is not (never fetched, an update missed, or a room shared again
   * after none was), within `timeoutMs`. Users absent from the answer are to be asked of their servers.
   */
  async keysFor(userIds: string[], timeoutMs: number): Promise<Map<string, KeptKeys>> {
    const repos = this.storage.repos
    const shared = [...(await repos.remoteDeviceLists.sharingWith(userIds, this.serverName))]
    if (shared.length === 0) return new Map()
    const current = await repos.remoteDeviceLists.current(shared)
    const missing = shared.filter((u) => !current.has(u))
    if (missing.length > 0) {
      let timer: NodeJS.Timeout | undefined
      const timeUp = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs)
      })
      // Beyond the first few, lists are fetched in the background for later queries.
      for (const u of missing.slice(MAX_QUERY_RESYNCS)) this.resyncInBackground(u)
      const fetched = await Promise.all(missing.slice(0, MAX_QUERY_RESYNCS).map(async (u) => ((await Promise.race([this.resync(u), timeUp])) ? u : null)))
      clearTimeout(timer)
      for (const u of fetched) if (u !== null) current.add(u)
    }
    const answered = shared.filter((u) => current.has(u))
    const [devices, crossSigning] = await Promise.all([repos.remoteDeviceLists.devicesOf(answered), repos.remoteDeviceLists.crossSigningKeysOf(answered)])
    const out = new Map<string, KeptKeys>(answered.map((u) => [u, { devices: {}, master: null, selfSigning: null }]))
    for (const d of devices) {
      const kept = out.get(d.user_id)
      if (!kept || d.keys_json === null) continue
      const keys = JSON.parse(d.keys_json) as JsonObject
      const unsigned = { ...(isObject(keys.unsigned) ? keys.unsigned : {}), ...(d.display_name !== null ? { device_display_name: d.display_name } : {}) }
      kept.devices[d.device_id] = { ...keys, unsigned }
    }
    for (const k of crossSigning) {
      const kept = out.get(k.user_id)
      if (!kept) continue
      if (k.key_type === 'master') kept.master = JSON.parse(k.key_json) as JsonObject
      else if (k.key_type === 'self_signing') kept.selfSigning = JSON.parse(k.key_json) as JsonObject
    }
    return out
  }

  /**
   * An append hook of the room writer: when a member leaves a room (or this server's last member does),
   * the lists of the users this server no longer shares any room with go stale, inside the event's
   * transaction. Updates sent while no room is shared never come; a room shared again fetches them whole.
   */
  async onMemberEvent(repos: Repositories, event: { type: string; room_id: string; state_key?: string; content: JsonObject }): Promise<void> {
    if (event.type !== 'm.room.member' || event.state_key === undefined || event.content.membership === 'join') return
    const member = event.state_key
    const server = serverNameOf(member)
    if (server === null) return
    if (server !== this.serverName) return repos.remoteDeviceLists.unfollow([member], this.serverName)
    if (await repos.remoteDeviceLists.inRoom(event.room_id, this.serverName)) return
    await repos.remoteDeviceLists.unfollow(await repos.remoteDeviceLists.followedIn(event.room_id, this.serverName), this.serverName)
  }

  private async fetchAndStore(userId: string): Promise<boolean> {
    const answer = parseUserDevices(await this.fetch(userId), userId)
    if (!answer) throw new Error('the /user/devices answer is malformed')
    const now = this.clock.now()
    await this.storage.streamTransaction(async (repos) => {
      await repos.remoteDeviceLists.lockOrCreate(userId, now)
      const [keptDevices, keptCrossSigning] = await Promise.all([repos.remoteDeviceLists.devices(userId), repos.remoteDeviceLists.crossSigningKeys(userId)])
      await repos.remoteDeviceLists.replaceDevices(userId, answer.devices)
      await repos.remoteDeviceLists.update({ user_id: userId, stream_id: answer.streamId, seen_ids: [answer.streamId], stale: false, updated_ts: now })
      await repos.remoteDeviceLists.putCrossSigningKeys(userId, answer.crossSigningKeys)
      // The list fetched whole often holds nothing new (the update that found it stale was applied already):
      // clients are told only of a change, not sent to query the same keys again.
      const crossSigningChanged = answer.crossSigningKeys.some((k) => keptCrossSigning.find((c) => c.key_type === k.keyType)?.key_json !== k.keyJson)
      if (crossSigningChanged || devicesForm(keptDevices) !== devicesForm(answer.devices)) await markDeviceListsChanged(repos, [userId])
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
      // A prev_id at or below `last` is covered: a resync's list holds everything up to its stream_id (which
      // the updates in flight meanwhile are below or above at random), and the sender's stream IDs grow, so an
      // update it sent before `last` that we never applied was reported missing by the one that followed it.
      const gap = update.prevIds.some((id) => id > last)
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
    // One snapshot: a resync committing between separate reads would pair its flag with the devices before it.
    const [row, devices, crossSigningKeys] = await this.storage.snapshot((repos) =>
      Promise.all([repos.remoteDeviceLists.get(userId), repos.remoteDeviceLists.devices(userId), repos.remoteDeviceLists.crossSigningKeys(userId)]),
    )
    if (!row && crossSigningKeys.length === 0) return null
    return { stale: row?.stale ?? true, streamId: Number(row?.stream_id ?? 0), devices, crossSigningKeys }
  }
}

/** Devices compared by what clients are given of them: IDs, display names, keys and signatures (not `unsigned`). */
function devicesForm(devices: RemoteDeviceRow[]): string {
  const form = devices.map((d) => {
    if (d.keys_json === null) return [d.device_id, d.display_name, null]
    const { unsigned: _unsigned, ...keys } = JSON.parse(d.keys_json) as JsonObject
    return [d.device_id, d.display_name, canonicalJson(keys)]
  })
  return JSON.stringify(form.sort((x, y) => ((x[0] as string) < (y[0] as string) ? -1 : 1)))
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
