// The EDUs of a received transaction (server-server API, "EDUs" and the sections of each type): typing,
// receipts, presence, to-device messages, device list and signing key updates. Each is validated and
// bounded; a server speaks only for its own users; typing and receipts only count for rooms the user is
// joined to here and whose server ACL lets the origin in; presence and device lists only for users joined
// to some room here (the only ones our users can care about). A bad EDU is dropped alone, never failing
// the transaction: the sender could do nothing about it but retry forever.
import { parseCrossSigningKey, type CrossSigningKey } from '../e2ee/key-objects.ts'
import type { RemoteDeviceLists, ToDevice } from '../e2ee/index.ts'
import type { Ephemeral, RemoteReceipt } from '../ephemeral/index.ts'
import type { Presence, PresenceState, RemotePresence } from '../presence/index.ts'
import type { JsonObject } from '../protocol/events/types.ts'
import { parseUserId } from '../shared/ids.ts'
import type { Logger } from '../shared/logger.ts'
import type { Storage } from '../storage/index.ts'
import type { ServerAcls } from './acl.ts'

/** Receipts, and presence updates, read from one transaction; the rest of a larger one is ignored. */
const MAX_ENTRIES = 1000
const MAX_ID_LENGTH = 255
const MAX_PREV_IDS = 100
const PRESENCE_STATES: readonly string[] = ['online', 'unavailable', 'offline']

export interface InboundEduServices {
  storage: Storage
  ephemeral: Ephemeral
  presence: Presence
  toDevice: ToDevice
  remoteDeviceLists: RemoteDeviceLists
  acls: ServerAcls
  logger: Logger
  /** A longer status_msg is dropped (limits.status_msg_bytes, as for local users). */
  statusMsgBytes: number
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v)
const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_LENGTH
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

interface Typing { roomId: string; userId: string; typing: boolean }
interface DeviceUpdate { userId: string; deviceId: string; displayName: string | null; streamId: number; prevIds: number[]; deleted: boolean; keys: JsonObject | null }
interface SigningKeys { userId: string; master?: CrossSigningKey; selfSigning?: CrossSigningKey }

export class InboundEdus {
  private readonly s: InboundEduServices

  constructor(services: InboundEduServices) {
    this.s = services
  }

  /**
   * Handles a transaction's EDUs. Receipts wait for `pdusDone` (they may point at the transaction's own
   * events); the others go at once. Resolves when all are handled; never rejects.
   */
  async handle(origin: string, edus: readonly unknown[], pdusDone: Promise<unknown>): Promise<void> {
    const ofOrigin = (userId: unknown): userId is string => typeof userId === 'string' && parseUserId(userId)?.serverName === origin
    const typing: Typing[] = []
    const receipts: RemoteReceipt[] = []
    const presence: RemotePresence[] = []
    const toDevice: JsonObject[] = []
    const deviceUpdates: DeviceUpdate[] = []
    const signingKeys: SigningKeys[] = []
    for (const edu of edus) {
      if (!isObject(edu) || !isObject(edu.content)) continue
      const c = edu.content
      switch (edu.edu_type) {
        case 'm.typing':
          if (isId(c.room_id) && ofOrigin(c.user_id) && typeof c.typing === 'boolean') typing.push({ roomId: c.room_id, userId: c.user_id, typing: c.typing })
          break
        case 'm.receipt':
          receipts.push(...readReceipts(c, ofOrigin, MAX_ENTRIES - receipts.length))
          break
        case 'm.presence':
          presence.push(...readPresence(c, ofOrigin, MAX_ENTRIES - presence.length, this.s.statusMsgBytes))
          break
        case 'm.direct_to_device':
          if (ofOrigin(c.sender) && isId(c.type) && isId(c.message_id) && isObject(c.messages)) toDevice.push(c)
          break
        case 'm.device_list_update': {
          const update = readDeviceUpdate(c, ofOrigin)
          if (update) deviceUpdates.push(update)
          break
        }
        case 'm.signing_key_update': {
          const keys = readSigningKeys(c, ofOrigin)
          if (keys) signingKeys.push(keys)
          break
        }
      }
    }
    const run = (what: string, work: () => Promise<unknown>) =>
      work().catch((err: Error) => this.s.logger.warn({ origin, edu: what, err: err.message }, 'inbound EDU not handled'))
    await Promise.all([
      run('m.typing', () => this.typing(origin, typing)),
      run('m.presence', () => this.presence(presence)),
      run('m.direct_to_device', () => this.toDevice(origin, toDevice)),
      run('m.device_list_update', () => this.deviceLists(deviceUpdates, signingKeys)),
      pdusDone.then(() => run('m.receipt', () => this.receipts(origin, receipts))),
    ])
  }

  /** The (room, user) pairs where the user is joined and the room's ACL lets `origin` in. */
  private async allowedPairs(origin: string, pairs: Array<[string, string]>): Promise<Set<string>> {
    const rooms = [...new Set(pairs.map((p) => p[0]))]
    const [joined, denied] = await Promise.all([this.s.storage.repos.memberships.joinedPairs(pairs), this.s.acls.denied(origin, rooms)])
    return new Set([...joined].filter((key) => !denied.has(key.slice(0, key.indexOf('\n')))))
  }

  private async typing(origin: string, updates: Typing[]): Promise<void> {
    if (updates.length === 0) return
    const allowed = await this.allowedPairs(origin, updates.map((t) => [t.roomId, t.userId]))
    // One transaction each (at most 100 EDUs): a typing change is announced per room.
    for (const t of updates) {
      if (allowed.has(`${t.roomId}\n${t.userId}`)) await this.s.ephemeral.setRemoteTyping(t.roomId, t.userId, t.typing)
    }
  }

  private async receipts(origin: string, receipts: RemoteReceipt[]): Promise<void> {
    if (receipts.length === 0) return
    const allowed = await this.allowedPairs(origin, receipts.map((r) => [r.roomId, r.userId]))
    await this.s.ephemeral.storeRemoteReceipts(receipts.filter((r) => allowed.has(`${r.roomId}\n${r.userId}`)))
  }

  private async presence(updates: RemotePresence[]): Promise<void> {
    if (updates.length === 0) return
    const known = await this.s.storage.repos.memberships.joinedAnywhere([...new Set(updates.map((u) => u.userId))])
    await this.s.presence.receiveRemote(updates.filter((u) => known.has(u.userId)))
  }

  private async toDevice(origin: string, edus: JsonObject[]): Promise<void> {
    for (const c of edus) {
      await this.s.toDevice.receiveRemote(origin, c.sender as string, c.type as string, c.message_id as string, c.messages).catch((err: Error) => {
        this.s.logger.info({ origin, err: err.message }, 'm.direct_to_device EDU dropped')
      })
    }
  }

  /** Device list updates in the order sent (the order of a user's updates matters), then signing keys. */
  private async deviceLists(updates: DeviceUpdate[], signingKeys: SigningKeys[]): Promise<void> {
    if (updates.length === 0 && signingKeys.length === 0) return
    const known = await this.s.storage.repos.memberships.joinedAnywhere([...new Set([...updates, ...signingKeys].map((u) => u.userId))])
    for (const update of updates) {
      if (!known.has(update.userId)) continue
      // A list that missed an update (or was never fetched) is fetched whole, without holding up the transaction.
      if ((await this.s.remoteDeviceLists.applyUpdate(update)) === 'stale') this.s.remoteDeviceLists.resyncInBackground(update.userId, true)
    }
    for (const keys of signingKeys) {
      if (!known.has(keys.userId)) continue
      await this.s.remoteDeviceLists.storeSigningKeys(keys.userId, {
        ...(keys.master ? { master: keys.master.json } : {}),
        ...(keys.selfSigning ? { selfSigning: keys.selfSigning.json } : {}),
      })
    }
  }
}

/** m.receipt: {room_id: {"m.read": {user_id: {event_ids: [id], data: {ts, thread_id?}}}}}. Other types are ignored. */
function readReceipts(content: JsonObject, ofOrigin: (u: unknown) => u is string, max: number): RemoteReceipt[] {
  const out: RemoteReceipt[] = []
  for (const [roomId, byType] of Object.entries(content)) {
    if (!isId(roomId) || !isObject(byType) || !isObject(byType['m.read'])) continue
    for (const [userId, receipt] of Object.entries(byType['m.read'])) {
      if (out.length >= max) return out
      if (!ofOrigin(userId) || !isObject(receipt) || !Array.isArray(receipt.event_ids) || !isObject(receipt.data)) continue
      const eventId = receipt.event_ids[0]
      const threadId = receipt.data.thread_id
      if (!isId(eventId) || !isCount(receipt.data.ts) || (threadId !== undefined && !isId(threadId))) continue
      out.push({ roomId, userId, eventId, threadId: threadId ?? null, ts: receipt.data.ts })
    }
  }
  return out
}

/** m.presence: {push: [{user_id, presence, last_active_ago, status_msg?, currently_active?}]}. */
function readPresence(content: JsonObject, ofOrigin: (u: unknown) => u is string, max: number, statusMsgBytes: number): RemotePresence[] {
  if (!Array.isArray(content.push)) return []
  const out: RemotePresence[] = []
  for (const p of content.push.slice(0, Math.max(0, max))) {
    if (!isObject(p) || !ofOrigin(p.user_id) || typeof p.presence !== 'string' || !PRESENCE_STATES.includes(p.presence)) continue
    const statusMsg = typeof p.status_msg === 'string' && Buffer.byteLength(p.status_msg) <= statusMsgBytes ? p.status_msg : null
    out.push({ userId: p.user_id, state: p.presence as PresenceState, statusMsg, lastActiveAgo: isCount(p.last_active_ago) ? p.last_active_ago : 0 })
  }
  return out
}

/**
 * m.device_list_update. The device keys are kept as sent (clients check their signatures, and servers send
 * placeholders such as {device_keys: {}}), but keys naming another user or device void the update.
 */
function readDeviceUpdate(c: JsonObject, ofOrigin: (u: unknown) => u is string): DeviceUpdate | null {
  if (!ofOrigin(c.user_id) || !isId(c.device_id) || !isCount(c.stream_id)) return null
  const prevIds = c.prev_id === undefined ? [] : c.prev_id
  if (!Array.isArray(prevIds) || prevIds.length > MAX_PREV_IDS || !prevIds.every(isCount)) return null
  if (c.device_display_name !== undefined && (typeof c.device_display_name !== 'string' || c.device_display_name.length > MAX_ID_LENGTH)) return null
  let keys: JsonObject | null = null
  if (c.keys !== undefined && c.deleted !== true) {
    if (!isObject(c.keys)) return null
    if ((c.keys.user_id !== undefined && c.keys.user_id !== c.user_id) || (c.keys.device_id !== undefined && c.keys.device_id !== c.device_id)) return null
    keys = c.keys
  }
  return {
    userId: c.user_id,
    deviceId: c.device_id,
    displayName: typeof c.device_display_name === 'string' ? c.device_display_name : null,
    streamId: c.stream_id,
    prevIds,
    deleted: c.deleted === true,
    keys,
  }
}

/** m.signing_key_update: the user's master and/or self-signing key, each a valid cross-signing key object. */
function readSigningKeys(c: JsonObject, ofOrigin: (u: unknown) => u is string): SigningKeys | null {
  if (!ofOrigin(c.user_id)) return null
  try {
    const master = c.master_key === undefined ? undefined : parseCrossSigningKey(c.master_key, 'master_key', c.user_id, 'master')
    const selfSigning = c.self_signing_key === undefined ? undefined : parseCrossSigningKey(c.self_signing_key, 'self_signing_key', c.user_id, 'self_signing')
    if (!master && !selfSigning) return null
    return { userId: c.user_id, ...(master ? { master } : {}), ...(selfSigning ? { selfSigning } : {}) }
  } catch {
    return null
  }
}
