// Send-to-device messaging (client-server API, "Send-to-Device messaging"): messages wait per device in
// PostgreSQL, are delivered through /sync in order, and are deleted once the device acknowledges them by
// syncing with the token that followed them.
import { randomBytes } from 'node:crypto'
import type { Clock } from '../shared/clock.ts'
import { MatrixError, badJson, invalidParam } from '../shared/errors.ts'
import { parseUserId } from '../shared/ids.ts'
import type { SyncToken } from '../shared/sync-token.ts'
import type { Repositories, Storage, ToDeviceInsert } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'
import { isObject } from './key-objects.ts'

/** At most this many messages go out in one /sync response (as Synapse); the rest follow at once. */
export const TO_DEVICE_SYNC_LIMIT = 100
/** One message's content, encoded: the size limit of a PDU. */
const MAX_CONTENT_BYTES = 65_536
/** Recipient devices of one request. */
const MAX_MESSAGES = 10_000
const TXN_KEEP_MS = 24 * 60 * 60 * 1000
const PRUNE_EVERY_MS = 60 * 60 * 1000
/** Advisory lock key of the pruning (one instance at a time). */
const PRUNE_LOCK_KEY = 7_386_051_121

export interface ToDeviceEvent {
  sender: string
  type: string
  content: Record<string, unknown>
}

export interface ToDeviceBatch {
  events: ToDeviceEvent[]
  /** The position of the last message delivered, to put in next_batch (undefined: none delivered). */
  lastPosition: number | undefined
}

export class ToDevice {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly serverName: string
  /** Queues an m.direct_to_device EDU for another server in the sending transaction (the federation sender). */
  private readonly toRemote: RemoteToDevice | null
  private readonly onError: (err: unknown) => void
  private pruner: NodeJS.Timeout | null = null

  constructor(options: { storage: Storage; clock: Clock; serverName: string; onError: (err: unknown) => void; toRemote?: RemoteToDevice }) {
    this.storage = options.storage
    this.clock = options.clock
    this.serverName = options.serverName
    this.onError = options.onError
    this.toRemote = options.toRemote ?? null
  }

  /** Prunes old transaction IDs now and then, on one instance at a time. */
  start(): void {
    if (this.pruner) return
    this.pruner = setInterval(() => void this.storage.exclusively(PRUNE_LOCK_KEY, async () => void (await this.pruneTxns())).catch(this.onError), PRUNE_EVERY_MS)
    this.pruner.unref()
  }

  stop(): void {
    if (this.pruner) clearInterval(this.pruner)
    this.pruner = null
  }

  /** PUT /sendToDevice/{eventType}/{txnId} */
  async send(requester: Requester, type: string, txnId: string, messages: unknown): Promise<void> {
    const remote: RemoteMessages = new Map()
    const inserts = this.parse(messages, remote)
    // A retry (on any instance) finds the transaction ID and sends nothing again.
    await this.enqueueOnce((repos) => repos.toDevice.recordTxn(requester.userId, requester.deviceId, txnId, this.clock.now()), requester.userId, type, inserts, remote)
  }

  /**
   * Queues the messages unless `firstTime` (recording the request's ID in the same transaction) says it came
   * before; those for other servers' users as m.direct_to_device EDUs, in the same transaction.
   */
  private async enqueueOnce(firstTime: (repos: Repositories) => Promise<boolean>, sender: string, type: string, inserts: ToDeviceInsert[], remote: RemoteMessages = new Map()): Promise<void> {
    await this.storage.streamTransaction(async (repos) => {
      if (!(await firstTime(repos))) return
      if (this.toRemote) for (const [server, byUser] of remote) for (const content of directToDeviceEdus(sender, type, byUser)) await this.toRemote(repos, server, content)
      if (inserts.length === 0) return
      const recipients = await repos.toDevice.enqueue(sender, type, inserts)
      if (recipients.length > 0) await repos.stream.nextForUsers('to_device', recipients)
    })
  }

  /**
   * An m.direct_to_device EDU from `origin` (its sender checked to be one of origin's users): the messages
   * for our users' devices are queued as a local send's are, once per (origin, message_id). Throws
   * MatrixError for malformed messages, as send() does.
   */
  async receiveRemote(origin: string, sender: string, type: string, messageId: string, messages: unknown): Promise<void> {
    const inserts = this.parse(messages)
    if (inserts.length === 0) return
    await this.enqueueOnce((repos) => repos.toDevice.recordRemoteMessage(origin, messageId, this.clock.now()), sender, type, inserts)
  }

  /** The messages for our users' devices; with `remote`, those for other servers' users are collected there (else left out). */
  private parse(messages: unknown, remote?: RemoteMessages): ToDeviceInsert[] {
    if (!isObject(messages)) throw badJson("'messages' must be an object")
    const inserts: ToDeviceInsert[] = []
    let count = 0
    for (const [userId, byDevice] of Object.entries(messages)) {
      const parsed = parseUserId(userId)
      if (!parsed) throw invalidParam(`'${userId}' is not a user ID`)
      if (!isObject(byDevice)) throw badJson(`'messages.${userId}' must map device IDs to contents`)
      const local = parsed.serverName === this.serverName
      const byUser = local ? null : remote && (remote.get(parsed.serverName) ?? remote.set(parsed.serverName, new Map()).get(parsed.serverName))
      if (!local && !byUser) continue
      for (const [deviceId, content] of Object.entries(byDevice)) {
        if (!isObject(content)) throw badJson(`The message to ${userId} ${deviceId} must be an object`)
        const encoded = JSON.stringify(content)
        if (Buffer.byteLength(encoded) > MAX_CONTENT_BYTES) throw new MatrixError('M_TOO_LARGE', `The message to ${userId} ${deviceId} is too large`, 413)
        if (++count > MAX_MESSAGES) throw new MatrixError('M_TOO_LARGE', `At most ${MAX_MESSAGES} messages per request`, 413)
        if (local) inserts.push({ user_id: userId, device_id: deviceId, content: encoded })
        else if (byUser) {
          let devices = byUser.get(userId)
          if (!devices) byUser.set(userId, (devices = new Map()))
          devices.set(deviceId, { content, bytes: Buffer.byteLength(encoded) + Buffer.byteLength(deviceId) })
        }
      }
    }
    return inserts
  }

  /**
   * The device's messages for a /sync covering (since, upTo]. A token that carries a to-device position
   * acknowledges everything up to it (deleted now); a token without one means nothing was pending.
   */
  async forSync(requester: Requester, since: SyncToken | null, upTo: number, changed: boolean): Promise<ToDeviceBatch> {
    const repos = this.storage.repos
    let after = 0
    if (since !== null) {
      if (since.toDevice !== undefined) {
        await repos.toDevice.acknowledge(requester.userId, requester.deviceId, since.toDevice)
        after = since.toDevice
      } else {
        if (!changed) return { events: [], lastPosition: undefined }
        after = since.position
      }
    }
    return this.batch(requester.userId, requester.deviceId, after, upTo)
  }

  /** Up to TO_DEVICE_SYNC_LIMIT of a device's messages in (after, upTo], oldest first. */
  async batch(userId: string, deviceId: string, after: number, upTo: number): Promise<ToDeviceBatch> {
    const rows = await this.storage.repos.toDevice.pending(userId, deviceId, after, upTo, TO_DEVICE_SYNC_LIMIT)
    return {
      events: rows.map((r) => ({ sender: r.sender, type: r.type, content: JSON.parse(r.content) as Record<string, unknown> })),
      lastPosition: rows.at(-1)?.position,
    }
  }

  /** Drops transaction IDs old enough that no client still retries them. */
  pruneTxns(): Promise<number> {
    return this.storage.repos.toDevice.pruneTxns(this.clock.now() - TXN_KEEP_MS)
  }
}

/** Queues an m.direct_to_device EDU's content for `server` inside the sender's transaction. */
export type RemoteToDevice = (repos: Repositories, server: string, content: Record<string, unknown>) => Promise<void>

/** Messages for other servers' users: server → user → device → content (with its encoded size). */
type RemoteMessages = Map<string, Map<string, Map<string, { content: Record<string, unknown>; bytes: number }>>>

/** What one m.direct_to_device EDU carries at most, in bytes (one message of MAX_CONTENT_BYTES always fits alone: MAX_EDU_BYTES is twice that). */
const EDU_MESSAGES_BYTES = 60_000

/** The m.direct_to_device EDU contents for one server's users, split so that none grows past EDU_MESSAGES_BYTES. */
function directToDeviceEdus(sender: string, type: string, byUser: Map<string, Map<string, { content: Record<string, unknown>; bytes: number }>>): Array<Record<string, unknown>> {
  const edus: Array<Record<string, unknown>> = []
  let messages: Record<string, Record<string, unknown>> = {}
  let size = 0
  const flush = () => {
    if (size === 0) return
    edus.push({ sender, type, message_id: randomBytes(12).toString('hex'), messages })
    messages = {}
    size = 0
  }
  for (const [userId, devices] of byUser) {
    for (const [deviceId, { content, bytes }] of devices) {
      if (size > 0 && size + bytes + Buffer.byteLength(userId) > EDU_MESSAGES_BYTES) flush()
      ;(messages[userId] ??= {})[deviceId] = content
      size += bytes + userId.length + 16
    }
  }
  flush()
  return edus
}
