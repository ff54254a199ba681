// Local delivery: what a /sync long-poll woken by this instance's own commit can answer without reading
// the database. The notifier hands over the room events this process committed (CommittedEvent: the row as
// the timeline reads it, whom it notifies, the sender's transaction ID); the stream log's changes, which the
// notifier reads with every wake-up, say whether anything else happened in the range. Each answer below is
// given only when those prove it complete (every event of the range known here, no change that could alter
// it), and is null otherwise: the caller then reads the database, as it always may.
import type { CommittedEvent, EventRow, StreamChange } from '../storage/index.ts'
import type { UnreadCounts } from './rooms.ts'

/** Where the events this process committed are found by position (the notifier). */
export interface CommittedEvents {
  committedEvent(position: number): CommittedEvent | undefined
  changesBetween(since: number, upTo: number): StreamChange[] | null
}

/** A range's timeline events by room, as the database would give them, from this instance's commits. */
export interface LocalTimeline {
  rows: Map<string, EventRow[]>
  /** The transaction IDs of these events that the device sent (unsigned.transaction_id). */
  txnIds(userId: string, deviceId: string | null): Map<string, string>
}

export interface KeyCounts {
  device_one_time_keys_count: Record<string, number>
  device_unused_fallback_key_types: string[]
}

/** Per-thread [notifications, highlights] of the events up to a position. */
export type ThreadCounts = Map<string, [number, number]>

/** Unread counts as the database gives them, with each room's exact counts up to the position asked for. */
export interface UnreadCountsAt {
  /** By room: the counts now (rooms without any left out). */
  counts: Map<string, UnreadCounts>
  /** Every room asked for: the per-thread counts of the events up to the position (what later counts may start from). */
  exact: Map<string, ThreadCounts>
}

/** How many (user, room) unread counts (~200 bytes each) and device key counts an instance keeps (most recently used first). */
const KEPT_UNREAD = 100_000
const KEPT_KEY_COUNTS = 50_000
/**
 * Local unread counts go through the range's changes once per room: for the few rooms a woken long-poll
 * sends, not for an initial /sync of every room (which reads the counts, and keeps them).
 */
const MAX_LOCAL_UNREAD_ROOMS = 20

/** UnreadCounts from per-thread counts ('main' is the main timeline), as the database's count gives them. */
export function unreadFromThreads(threads: Iterable<[string, number, number]>): UnreadCounts | undefined {
  let counts: UnreadCounts | undefined
  for (const [threadId, n, h] of threads) {
    if (n <= 0 && h <= 0) continue
    counts ??= { notification_count: 0, highlight_count: 0 }
    counts.notification_count += n
    counts.highlight_count += h
    if (threadId !== 'main') {
      counts.threads ??= {}
      counts.threads[threadId] = { notification_count: n, highlight_count: h }
    }
  }
  return counts
}

/** What a /sync answered from this instance's own commits ('local') or read from the database ('read'). */
export type LocalPart = 'timeline' | 'unread' | 'keys'
export type LocalObserver = (part: LocalPart, outcome: 'local' | 'read') => void

export class LocalDelivery {
  private readonly events: CommittedEvents
  readonly observe: LocalObserver
  /** user → room → the exact counts up to `at`. */
  private readonly unread = new Map<string, Map<string, { at: number; threads: ThreadCounts }>>()
  private unreadEntries = 0
  private readonly keyCounts = new Map<string, { at: number; value: KeyCounts }>()

  constructor(events: CommittedEvents, observe: LocalObserver = () => {}) {
    this.events = events
    this.observe = observe
  }

  /**
   * The timeline events of `rooms` in a range whose changes are `changes`, by room, when this process
   * committed every event of those rooms in it and none is a state event or a redaction (which change what
   * was sent before); else null.
   */
  timeline(changes: StreamChange[], rooms: ReadonlySet<string>): LocalTimeline | null {
    const byRoom = new Map<string, CommittedEvent[]>()
    for (const c of changes) {
      if (c.room_id === null || !rooms.has(c.room_id)) continue
      if (c.kind === 'member') return null
      if (c.kind !== 'event') continue
      const event = this.events.committedEvent(c.position)
      if (!event || event.row.state_key !== null || event.row.type === 'm.room.redaction') return null
      const list = byRoom.get(c.room_id)
      if (list) list.push(event)
      else byRoom.set(c.room_id, [event])
    }
    const rows = new Map<string, EventRow[]>()
    for (const [roomId, events] of byRoom) {
      // What relates to an event came after it: within the range, so among these.
      const parents = new Set(events.map((e) => e.relatesTo).filter((id) => id !== null))
      rows.set(roomId, events.map((e) => ({ ...e.row, has_children: parents.has(e.row.event_id) })))
    }
    const events = [...byRoom.values()].flat()
    return {
      rows,
      txnIds: (userId, deviceId) => {
        const ids = new Map<string, string>()
        for (const e of events) if (e.txn && e.txn.userId === userId && e.txn.deviceId === deviceId) ids.set(e.row.event_id, e.txn.txnId)
        return ids
      },
    }
  }

  /**
   * The user's unread counts in `roomIds` up to `upTo`, from counts kept at an earlier position plus the
   * notifications of the events committed here since; null unless known for every room. Anything that moves
   * the user's read positions (a receipt, their own message, a membership change) or their ignored users
   * (account data) in between makes it unknown.
   */
  unreadCounts(userId: string, roomIds: string[], upTo: number, ignored: ReadonlySet<string>): Map<string, UnreadCounts> | null {
    const kept = this.unread.get(userId)
    if (!kept || roomIds.length > MAX_LOCAL_UNREAD_ROOMS) return null
    const advanced = new Map<string, ThreadCounts>()
    // The rooms' counts were mostly kept at the same position: the changes since each one are looked up once.
    const since = new Map<number, StreamChange[] | null>()
    for (const roomId of roomIds) {
      const entry = kept.get(roomId)
      if (!entry || entry.at > upTo) return null
      let changes = since.get(entry.at)
      if (changes === undefined) since.set(entry.at, (changes = this.events.changesBetween(entry.at, upTo)))
      if (!changes) return null
      const threads: ThreadCounts = new Map(entry.threads)
      for (const c of changes) {
        if (c.kind === 'receipt' && (c.room_id === roomId || c.user_id === userId)) return null
        // A purge of the room's history (rooms/purge-history.ts) took counted events away.
        if (c.kind === 'purge' && c.room_id === roomId) return null
        if ((c.kind === 'member' && (c.room_id === roomId || c.user_id === userId)) || (c.kind === 'account_data' && c.user_id === userId)) return null
        if (c.kind !== 'event' || c.room_id !== roomId) continue
        const event = this.events.committedEvent(c.position)
        if (!event || event.row.sender === userId || event.row.type === 'm.room.redaction') return null
        const record = event.notifications
        if (!record || ignored.has(event.row.sender)) continue
        const outcome = record.exceptions.find((e) => e.user_id === userId) ?? record.room
        if (!outcome.notify && !outcome.highlight) continue
        const [n, h] = threads.get(record.threadId) ?? [0, 0]
        threads.set(record.threadId, [n + (outcome.notify ? 1 : 0), h + (outcome.highlight ? 1 : 0)])
      }
      advanced.set(roomId, threads)
    }
    const result = new Map<string, UnreadCounts>()
    for (const [roomId, threads] of advanced) {
      this.rememberUnread(userId, roomId, upTo, threads)
      const counts = unreadFromThreads([...threads].map(([t, [n, h]]) => [t, n, h]))
      if (counts) result.set(roomId, counts)
    }
    return result
  }

  /** Keeps a room's exact counts up to `at` (read from the database) for unreadCounts. */
  rememberUnread(userId: string, roomId: string, at: number, threads: ThreadCounts): void {
    let rooms = this.unread.get(userId)
    if (rooms) this.unread.delete(userId)
    else rooms = new Map()
    this.unread.set(userId, rooms) // the most recently used users are the last to go
    if (!rooms.has(roomId)) this.unreadEntries++
    rooms.set(roomId, { at, threads })
    for (const [oldest, old] of this.unread) {
      if (this.unreadEntries <= KEPT_UNREAD) break
      this.unread.delete(oldest)
      this.unreadEntries -= old.size
    }
  }

  /**
   * A device's one-time key counts at `upTo`, if read here at or after an earlier position and nothing
   * changed the user's keys or devices since (uploads and claims take a 'keys' stream position).
   */
  deviceKeyCounts(userId: string, deviceId: string, upTo: number): KeyCounts | null {
    const key = `${userId}\u0000${deviceId}`
    const entry = this.keyCounts.get(key)
    if (!entry || entry.at > upTo) return null
    const changes = this.events.changesBetween(entry.at, upTo)
    if (!changes || changes.some((c) => c.user_id === userId && (c.kind === 'keys' || c.kind === 'device_list'))) return null
    this.keyCounts.delete(key)
    this.keyCounts.set(key, { at: upTo, value: entry.value })
    return entry.value
  }

  /** Keeps a device's key counts read (from the database) after every position up to `at` had committed. */
  rememberKeyCounts(userId: string, deviceId: string, at: number, value: KeyCounts): void {
    const key = `${userId}\u0000${deviceId}`
    this.keyCounts.delete(key)
    this.keyCounts.set(key, { at, value })
    if (this.keyCounts.size > KEPT_KEY_COUNTS) this.keyCounts.delete(this.keyCounts.keys().next().value as string)
  }
}
