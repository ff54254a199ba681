// Send-to-device messaging (client-server API, "Send-to-Device messaging"): messages wait per device in
// PostgreSQL, are delivered through /sync in order, and are deleted once the device acknowledges them by
// syncing with the token that followed them.
import { randomBytes } from 'node:crypto'
import type { Clock } from '../shared/clock.ts'
import { MatrixError, badJson, invalidParam } from '../shared/errors.ts'
import { isValidServerName, parseUserId } from '../shared/ids.ts'
import type { SyncToken } from '../shared/sync-token.ts'
import type { Repositories, Storage, ToDeviceInsert } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'
import type { QueueEduIn } from './device-list-updates.ts'
import { isObject } from './key-objects.ts'

/** At most this many messages go out in one /sync response (as Synapse); the rest follow at once. */
export const TO_DEVICE_SYNC_LIMIT = 100
/** One message's content, encoded: the size limit of a PDU. */
const MAX_CONTENT_BYTES = 65_536
/** Recipient devices of one request. */
const MAX_MESSAGES = 10_000
/**
 * Largest m.direct_to_device EDU content queued for another server (its JSON, in bytes: the outbound
 * sender's bound on an EDU). A request's messages for one server are split over as many EDUs as this takes.
 */
const MAX_EDU_BYTES = 65_536
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

/** One message for a user of another server: its JSON is spliced into the EDU as it is. */
interface RemoteMessage {
  userId: string
  deviceId: string
  content: string
}

export class ToDevice {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly serverName: string
  private readonly onError: (err: unknown) => void
  /** Queues EDUs for other servers; null: their users' messages are dropped (no federation). */
  private readonly queue: QueueEduIn | null
  private pruner: NodeJS.Timeout | null = null

  constructor(options: { storage: Storage; clock: Clock; serverName: string; onError: (err: unknown) => void; queue?: QueueEduIn }) {
    this.storage = options.storage
    this.clock = options.clock
    this.serverName = options.serverName
    this.onError = options.onError
    this.queue = options.queue ?? null
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
    const remote = new Map<string, RemoteMessage[]>()
    const inserts = this.parse(messages, this.queue === null ? null : remote)
    const edus = [...remote].flatMap(([server, list]) => this.edus(requester.userId, type, list).map((content) => ({ server, content })))
    const queue = this.queue
    // A retry (on any instance) finds the transaction ID and sends nothing again; the messages for other
    // servers are queued with the local ones, in one transaction.
    await this.enqueueOnce((repos) => repos.toDevice.recordTxn(requester.userId, requester.deviceId, txnId, this.clock.now()), requester.userId, type, inserts, async (repos) => {
      if (queue) for (const e of edus) await queue(repos, e.server, 'm.direct_to_device', e.content)
    })
  }

  /**
   * The m.direct_to_device EDU contents carrying these messages to one server: as few as fit within
   * MAX_EDU_BYTES each, every one with its own message_id (the receiver's deduplication key).
   */
  private edus(sender: string, type: string, messages: RemoteMessage[]): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = []
    const empty = () => ({ sender, type, message_id: randomBytes(16).toString('base64url'), messages: {} as Record<string, Record<string, unknown>> })
    // The JSON size of the EDU without messages, plus each entry's share (quotes, colons, commas and braces).
    const base = Buffer.byteLength(JSON.stringify(empty()))
    let current = empty()
    let size = base
    for (const m of messages) {
      const entry = Buffer.byteLength(JSON.stringify(m.userId)) + Buffer.byteLength(JSON.stringify(m.deviceId)) + Buffer.byteLength(m.content) + 6
      if (base + entry > MAX_EDU_BYTES) throw new MatrixError('M_TOO_LARGE', `The message to ${m.userId} ${m.deviceId} is too large to send to its server`, 413)
      if (size + entry > MAX_EDU_BYTES) {
        out.push(current)
        current = empty()
        size = base
      }
      ;(current.messages[m.userId] ??= {})[m.deviceId] = JSON.parse(m.content) as unknown
      size += entry
    }
    if (size > base) out.push(current)
    return out
  }

  /** Queues the messages unless `firstTime` (recording the request's ID in the same transaction) says it came before. */
  private async enqueueOnce(
    firstTime: (repos: Repositories) => Promise<boolean>,
    sender: string,
    type: string,
    inserts: ToDeviceInsert[],
    also?: (repos: Repositories) => Promise<void>,
  ): Promise<void> {
    await this.storage.streamTransaction(async (repos) => {
      if (!(await firstTime(repos))) return
      const recipients = await repos.toDevice.enqueue(sender, type, inserts)
      if (recipients.length > 0) await repos.stream.nextForUsers('to_device', recipients)
      if (also) await also(repos)
    })
  }

  /**
   * An m.direct_to_device EDU from `origin` (its sender checked to be one of origin's users): the messages
   * for our users' devices are queued as a local send's are, once per (origin, message_id). Throws
   * MatrixError for malformed messages, as send() does.
   */
  async receiveRemote(origin: string, sender: string, type: string, messageId: string, messages: unknown): Promise<void> {
    const inserts = this.parse(messages, null)
    if (inserts.length === 0) return
    await this.enqueueOnce((repos) => repos.toDevice.recordRemoteMessage(origin, messageId, this.clock.now()), sender, type, inserts)
  }

  /** Our users' messages; other servers' users' go to `remote` by server (dropped when it is null). */
  private parse(messages: unknown, remote: Map<string, RemoteMessage[]> | null): ToDeviceInsert[] {
    if (!isObject(messages)) throw badJson("'messages' must be an object")
    const inserts: ToDeviceInsert[] = []
    let count = 0
    for (const [userId, byDevice] of Object.entries(messages)) {
      const parsed = parseUserId(userId)
      if (!parsed) throw invalidParam(`'${userId}' is not a user ID`)
      if (!isObject(byDevice)) throw badJson(`'messages.${userId}' must map device IDs to contents`)
      // Users of other servers are reached over federation (a remote server's EDU names ours only).
      const local = parsed.serverName === this.serverName
      if (!local && remote === null) continue
      if (!local && !isValidServerName(parsed.serverName)) throw invalidParam(`'${userId}' is not a user of a server that can be reached`)
      for (const [deviceId, content] of Object.entries(byDevice)) {
        if (!isObject(content)) throw badJson(`The message to ${userId} ${deviceId} must be an object`)
        const encoded = JSON.stringify(content)
        if (Buffer.byteLength(encoded) > MAX_CONTENT_BYTES) throw new MatrixError('M_TOO_LARGE', `The message to ${userId} ${deviceId} is too large`, 413)
        if (++count > MAX_MESSAGES) throw new MatrixError('M_TOO_LARGE', `At most ${MAX_MESSAGES} messages per request`, 413)
        if (local) inserts.push({ user_id: userId, device_id: deviceId, content: encoded })
        else if (remote) {
          let list = remote.get(parsed.serverName)
          if (!list) remote.set(parsed.serverName, (list = []))
          list.push({ userId, deviceId, content: encoded })
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
