// Ephemeral room data: typing notifications, receipts and read markers (client-server API, "Typing
// Notifications", "Receipts", "Read and unread markers"), and their part of /sync.
import type { JsonObject } from '../protocol/events/types.ts'
import type { RoomWriter } from '../rooms/writer.ts'
import type { Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import type { Repositories, Storage } from '../storage/index.ts'
import type { AccountData, Requester } from '../users/index.ts'
import type { EduRelay } from '../federation/edu-relay.ts'
import { Receipts, type ReadMarkers, type RemoteReceipt } from './receipts.ts'
import { ephemeralForSync } from './sync.ts'
import { REMOTE_TYPING_TIMEOUT_MS, Typing } from './typing.ts'

export { MAX_TYPING_TIMEOUT_MS, DEFAULT_TYPING_TIMEOUT_MS } from './typing.ts'
export { RECEIPT_TYPES, FULLY_READ, type ReadMarkers, type RemoteReceipt } from './receipts.ts'

export interface EphemeralOptions {
  storage: Storage
  clock: Clock
  logger: Logger
  accountData: AccountData
  /** When given, members leaving a room stop typing in it (in the same transaction as their leave). */
  writer?: RoomWriter
  /** How often each instance sweeps expired typing (default 5 s). */
  typingSweepIntervalMs?: number
  /** Tells other servers of our users' typing and public receipts. */
  relay?: EduRelay
  /** Work done in the transaction of a local user's m.read / m.read.private receipt (their phones' badges). */
  onReadReceipt?: (repos: Repositories, userId: string) => Promise<void>
}

export class Ephemeral {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly typing: Typing
  private readonly receipts: Receipts

  constructor(options: EphemeralOptions) {
    this.storage = options.storage
    this.clock = options.clock
    this.typing = new Typing({
      storage: options.storage,
      clock: options.clock,
      logger: options.logger,
      ...(options.typingSweepIntervalMs !== undefined ? { sweepIntervalMs: options.typingSweepIntervalMs } : {}),
      ...(options.relay ? { relay: options.relay } : {}),
    })
    this.receipts = new Receipts({
      storage: options.storage,
      clock: options.clock,
      accountData: options.accountData,
      ...(options.relay ? { relay: options.relay } : {}),
      ...(options.onReadReceipt ? { onReadReceipt: options.onReadReceipt } : {}),
    })
    options.writer?.onAppend(async (repos, { event }) => {
      if (event.type !== 'm.room.member' || event.state_key === undefined) return
      if (event.content.membership !== 'join') await this.typing.onLeave(repos, event.room_id, event.state_key)
    })
  }

  /** Starts the typing expiry sweeper (with the server). */
  start(): void {
    this.typing.start()
  }

  /** Stops the sweeper and expiry timers, waiting for writes in progress (before the database closes). */
  stop(): Promise<void> {
    return this.typing.stop()
  }

  /** PUT /rooms/{roomId}/typing/{userId}. */
  setTyping(requester: Requester, roomId: string, userId: string, typing: boolean, timeoutMs?: number): Promise<void> {
    return this.typing.set(requester, roomId, userId, typing, timeoutMs)
  }

  /** Announces expired typing now (what the periodic sweeper runs); returns how many entries expired. */
  sweepExpiredTyping(): Promise<number> {
    return this.typing.sweep()
  }

  /** A remote user's typing from the m.typing EDU; the federation checked they are joined and the ACL. */
  setRemoteTyping(roomId: string, userId: string, typing: boolean): Promise<void> {
    return this.typing.apply(roomId, userId, typing, REMOTE_TYPING_TIMEOUT_MS)
  }

  /** Remote users' read receipts from the m.receipt EDU, checked as for typing. */
  storeRemoteReceipts(receipts: RemoteReceipt[]): Promise<void> {
    return this.receipts.storeRemote(receipts)
  }

  /** POST /rooms/{roomId}/receipt/{receiptType}/{eventId}. */
  sendReceipt(requester: Requester, roomId: string, receiptType: string, eventId: string, body: Record<string, unknown>): Promise<void> {
    return this.receipts.send(requester, roomId, receiptType, eventId, body)
  }

  /** POST /rooms/{roomId}/read_markers. */
  setReadMarkers(requester: Requester, roomId: string, markers: ReadMarkers): Promise<void> {
    return this.receipts.setReadMarkers(requester, roomId, markers)
  }

  /** Typing and receipt events for the requester's joined rooms in the stream range (since, upTo], by room. */
  forSync(requester: Requester, rooms: string[], since: number | null, upTo: number): Promise<Map<string, JsonObject[]>> {
    return ephemeralForSync(this.storage.repos, requester.userId, rooms, since, upTo, this.clock.now())
  }
}
