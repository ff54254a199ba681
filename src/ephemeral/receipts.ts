// Receipts and read markers (client-server API, "Receipts", "Read and unread markers"): m.read and
// m.read.private receipts, unthreaded or threaded, and the m.fully_read marker kept in room account data.
// Receipts and markers only move forward: one for an older event than the current one is ignored (Synapse).
import { filterVisible } from '../rooms/visibility.ts'
import type { Clock } from '../shared/clock.ts'
import { forbidden, invalidParam, notFound } from '../shared/errors.ts'
import type { EventRow, ReceiptRow, Repositories, Storage } from '../storage/index.ts'
import type { AccountData, Requester } from '../users/index.ts'
import type { EduRelay } from '../federation/edu-relay.ts'

export const RECEIPT_TYPES = ['m.read', 'm.read.private'] as const
export type ReceiptType = (typeof RECEIPT_TYPES)[number]
export const FULLY_READ = 'm.fully_read'

const isReceiptType = (t: string): t is ReceiptType => (RECEIPT_TYPES as readonly string[]).includes(t)

export interface ReadMarkers {
  'm.fully_read'?: string | undefined
  'm.read'?: string | undefined
  'm.read.private'?: string | undefined
}

/** A remote user's m.read receipt, from the federation's m.receipt EDU (already checked against the room). */
export interface RemoteReceipt {
  roomId: string
  userId: string
  eventId: string
  threadId: string | null
  ts: number
}

export interface ReceiptsOptions {
  storage: Storage
  clock: Clock
  accountData: AccountData
  /** Tells other servers of our users' public receipts. */
  relay?: EduRelay
  /** Work done in the transaction of a local user's receipt that moved forward. */
  onReadReceipt?: (repos: Repositories, userId: string) => Promise<void>
}

export class Receipts {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly accountData: AccountData
  private readonly relay: EduRelay | null
  private readonly onReadReceipt: ((repos: Repositories, userId: string) => Promise<void>) | null

  constructor(options: ReceiptsOptions) {
    this.storage = options.storage
    this.clock = options.clock
    this.accountData = options.accountData
    this.relay = options.relay ?? null
    this.onReadReceipt = options.onReadReceipt ?? null
  }

  /** POST /rooms/{roomId}/receipt/{receiptType}/{eventId}; `body` is the request body (its thread_id). */
  async send(requester: Requester, roomId: string, receiptType: string, eventId: string, body: Record<string, unknown>): Promise<void> {
    if (receiptType !== FULLY_READ && !isReceiptType(receiptType)) {
      throw invalidParam(`Receipt type must be one of ${[...RECEIPT_TYPES, FULLY_READ].join(', ')}`)
    }
    let threadId: string | null = null
    if ('thread_id' in body) {
      const value = body.thread_id
      if (typeof value !== 'string' || value === '') throw invalidParam('thread_id field must be a non-empty string')
      if (receiptType === FULLY_READ) throw invalidParam(`thread_id is not compatible with ${FULLY_READ} receipts`)
      threadId = value
    }
    await this.requireJoined(requester, roomId)
    const event = await this.visibleEvent(requester, roomId, eventId)
    if (threadId !== null) await this.checkThread(roomId, eventId, threadId)
    if (receiptType === FULLY_READ) await this.setFullyRead(requester, roomId, event)
    else await this.store(requester, roomId, receiptType as ReceiptType, event, threadId)
  }

  /** POST /rooms/{roomId}/read_markers: every event is checked before anything is written. */
  async setReadMarkers(requester: Requester, roomId: string, markers: ReadMarkers): Promise<void> {
    await this.requireJoined(requester, roomId)
    const wanted = [markers[FULLY_READ], ...RECEIPT_TYPES.map((t) => markers[t])].filter((id): id is string => typeof id === 'string')
    const events = new Map<string, EventRow>()
    for (const id of new Set(wanted)) events.set(id, await this.visibleEvent(requester, roomId, id))
    const fullyRead = markers[FULLY_READ]
    if (fullyRead !== undefined) await this.setFullyRead(requester, roomId, events.get(fullyRead) as EventRow)
    for (const type of RECEIPT_TYPES) {
      const id = markers[type]
      if (id !== undefined) await this.store(requester, roomId, type, events.get(id) as EventRow, null)
    }
  }

  private async requireJoined(requester: Requester, roomId: string): Promise<void> {
    const membership = await this.storage.repos.memberships.get(roomId, requester.userId)
    if (membership?.membership !== 'join') throw forbidden('You are not in this room')
  }

  /** The event, when it is in the room and the requester may see it (M_NOT_FOUND otherwise, as /event does). */
  private async visibleEvent(requester: Requester, roomId: string, eventId: string): Promise<EventRow> {
    const repos = this.storage.repos
    const row = await repos.events.get(roomId, eventId)
    const visible = row ? await filterVisible(repos, roomId, requester.userId, [row]) : []
    if (!row || visible.length === 0) throw notFound(`Event ${eventId} not found in this room`)
    return row
  }

  /** The event must be "roughly related" to the thread (Synapse's rule, spec: 400 when it is not). */
  private async checkThread(roomId: string, eventId: string, threadId: string): Promise<void> {
    const { thread, receiptThread } = await this.storage.repos.relations.threadOf(roomId, eventId)
    const ok = threadId === 'main' ? thread === 'main' : receiptThread === threadId
    if (!ok) throw invalidParam(`event_id ${eventId} is not related to thread ${threadId}`)
  }

  private async store(requester: Requester, roomId: string, receiptType: ReceiptType, event: EventRow, threadId: string | null): Promise<void> {
    const userId = requester.userId
    const ts = this.clock.now()
    await this.storage.streamTransaction(async (repos) => {
      const locked = await repos.receipts.lockCurrent(roomId, receiptType, userId, threadId)
      if (locked !== null && locked >= event.stream_ordering) return
      // A private receipt concerns its owner alone: wake only them, not the whole room.
      const position = receiptType === 'm.read.private' ? await repos.stream.next('receipt', null, userId) : await repos.stream.next('receipt', roomId, null)
      await repos.receipts.upsert({
        room_id: roomId,
        receipt_type: receiptType,
        user_id: userId,
        thread_id: threadId,
        event_id: event.event_id,
        event_stream_ordering: event.stream_ordering,
        ts,
        stream_position: position,
      })
      await this.relay?.receipt(repos, { roomId, receiptType, userId, eventId: event.event_id, ts, threadId })
      await this.onReadReceipt?.(repos, userId)
    })
  }

  /**
   * Stores remote users' m.read receipts in one transaction, at one stream position per room, each only
   * where it moves the user's receipt forward. Receipts for events not stored in their room are left out
   * (their place in the room is unknown).
   */
  async storeRemote(receipts: RemoteReceipt[]): Promise<void> {
    const events = await this.storage.repos.events.getByIds([...new Set(receipts.map((r) => r.eventId))])
    const ordering = new Map(events.map((e) => [`${e.room_id}\n${e.event_id}`, e.stream_ordering]))
    // One row per (room, user, thread): the latest event wins.
    const rows = new Map<string, ReceiptRow>()
    for (const r of receipts) {
      const order = ordering.get(`${r.roomId}\n${r.eventId}`)
      if (order === undefined) continue
      const key = `${r.roomId}\n${r.userId}\n${r.threadId ?? ''}`
      const current = rows.get(key)
      if (current && current.event_stream_ordering >= order) continue
      rows.set(key, { room_id: r.roomId, receipt_type: 'm.read', user_id: r.userId, thread_id: r.threadId, event_id: r.eventId, event_stream_ordering: order, ts: r.ts })
    }
    const byRoom = Map.groupBy(rows.values(), (r) => r.room_id)
    if (byRoom.size === 0) return
    await this.storage.streamTransaction(async (repos) => {
      // A position names one room, so a room's long-polls wake; rooms in a sorted order, so locks never cross.
      for (const roomId of [...byRoom.keys()].sort()) {
        await repos.receipts.upsertMany(byRoom.get(roomId) as ReceiptRow[], await repos.stream.next('receipt', roomId, null))
      }
    })
  }

  /** Moves the m.fully_read marker forward (topological order, as Synapse compares it). */
  private async setFullyRead(requester: Requester, roomId: string, event: EventRow): Promise<void> {
    const repos = this.storage.repos
    const current = await repos.accountData.get(requester.userId, roomId, FULLY_READ)
    const currentId = typeof current?.event_id === 'string' ? current.event_id : null
    if (currentId === event.event_id) return
    const previous = currentId ? await repos.events.get(roomId, currentId) : null
    if (previous && (previous.depth > event.depth || (previous.depth === event.depth && previous.stream_ordering > event.stream_ordering))) return
    await this.accountData.putInternal(requester.userId, roomId, FULLY_READ, { event_id: event.event_id })
  }
}
