// The stream notifier: knows the highest stream position that is safe to read (every lower position has
// committed) and wakes the /sync long-polls a change concerns. Instances learn of commits through
// PostgreSQL LISTEN/NOTIFY on a dedicated connection that reconnects by itself; the fence (see
// migrations 0002, 0013 and 0016) turns "something committed" into a position no reader can run ahead of.
// This process's own commits are not waited for as notifications: while long-polls wait, each brings the
// fence and the new changes back in its COMMIT round trip; otherwise it only says so right after
// (Storage.setCommitObserver). The fence is read only when someone waits: with no long-poll waiting,
// a notification merely marks the position stale, and the next waiter (or a sync that cannot wait) reads it.
// The changes read for waiters are kept for a while, so /sync learns which kinds of change and which rooms
// a range holds without asking the database.
// The same connection carries other channels for other modules (listen()), e.g. token revocations.
import pg from 'pg'
import type { Logger } from '../shared/logger.ts'
import { STREAM_CHANNEL, type CommittedEvent, type Storage, type StreamChange } from '../storage/index.ts'

/** What a waiting /sync cares about. */
export interface Interest {
  userId: string
  rooms: ReadonlySet<string>
}

interface Waiter {
  interest: Interest
  resolve: () => void
}

const RECONNECT_MIN_MS = 100
// Low, because until the listener is back this instance's long-polls miss other instances' writes (only the
// safety poll finds them): after a database restart the pool recovers at once, the listener at most this
// much later. One connection attempt a second while the database is down costs nothing.
const RECONNECT_MAX_MS = 1000
/** While requests wait, the fence is also read this often, in case a notification was lost. */
const SAFETY_POLL_MS = 5000
/** How many recent changes are kept in memory to answer "which kinds changed" without a query. */
const RECENT_CHANGES = 20_000
/** How many of the room events this process committed are kept for the long-polls they wake (a few KB each). */
const COMMITTED_EVENTS = 2_000
/** Changes that wake nobody: one-time key uploads and claims only tell caches that counts changed (LocalDelivery). */
const SILENT_KINDS = new Set(['keys'])
/** The stream log keeps this many positions (it only serves wake-ups and "what kinds changed" checks). */
const LOG_KEEP_POSITIONS = 1_000_000
const PRUNE_EVERY_MS = 10 * 60 * 1000

export class StreamNotifier {
  private readonly storage: Storage
  private readonly connection: pg.ClientConfig
  private readonly logger: Logger
  private client: pg.Client | null = null
  private position = 0
  private readonly waiters = new Set<Waiter>()
  private refreshing: Promise<void> | null = null
  private refreshAgain = false
  private stopped = false
  private reconnectDelay = RECONNECT_MIN_MS
  private poll: NodeJS.Timeout | null = null
  private pruner: NodeJS.Timeout | null = null
  private readonly reconnecting = new WeakSet<pg.Client>()
  /** A notification arrived that no read of the fence has followed yet. */
  private stale = true
  /** Every change in (recentFrom, position], in order (empty coverage when recentFrom === position). */
  private recent: StreamChange[] = []
  private recentFrom = 0
  private readonly channels = new Map<string, (payload: string) => void>()
  /** The room events this process committed most recently, by position (see committedEvent). */
  private readonly committed = new Map<number, CommittedEvent>()
  private readonly connectionListeners = new Set<(connected: boolean) => void>()

  constructor(storage: Storage, connection: pg.ClientConfig, logger: Logger) {
    this.storage = storage
    this.connection = connection
    this.logger = logger
  }

  /** The highest position this instance knows to be safe. */
  get current(): number {
    return this.position
  }

  async start(): Promise<void> {
    // While long-polls wait, this process's commits bring the fence and the changes back with them.
    this.storage.setCommitObserver({
      readWithCommit: () => {
        if (this.waiters.size === 0 || this.stopped) return null
        const after = this.position
        return {
          after,
          onRead: ({ safe, changes }, events) => {
            this.keep(events)
            return this.apply(after, safe, changes)
          },
        }
      },
      committed: (events) => {
        this.keep(events)
        this.changed()
      },
    })
    await this.connect()
    await this.refresh()
    this.poll = setInterval(() => {
      if (this.waiters.size > 0) void this.refresh()
    }, SAFETY_POLL_MS)
    this.poll.unref()
    this.pruner = setInterval(() => {
      if (this.position > LOG_KEEP_POSITIONS) {
        this.storage.repos.stream.prune(this.position - LOG_KEEP_POSITIONS).catch((err: Error) => this.logger.warn({ err: err.message }, 'pruning the stream log failed'))
      }
    }, PRUNE_EVERY_MS)
    this.pruner.unref()
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.poll) clearInterval(this.poll)
    if (this.pruner) clearInterval(this.pruner)
    for (const waiter of this.waiters) waiter.resolve()
    this.waiters.clear()
    const client = this.client
    this.client = null
    if (client) for (const fn of this.connectionListeners) fn(false)
    await client?.end().catch(() => {})
  }

  /** Calls fn with each notification on `channel` (its payload); call before start(). */
  listen(channel: string, fn: (payload: string) => void): void {
    this.channels.set(channel, fn)
  }

  /**
   * Calls fn(true) once the listening connection is up (and again after each reconnection) and fn(false)
   * when it is lost: notifications sent while it was down are never delivered.
   */
  onConnection(fn: (connected: boolean) => void): void {
    this.connectionListeners.add(fn)
  }

  /**
   * The changes in (since, upTo] if this instance saw them all (it reads them while long-polls wait),
   * else null: the caller asks the database.
   */
  changesBetween(since: number, upTo: number): StreamChange[] | null {
    if (since < this.recentFrom || upTo > this.position) return null
    const out: StreamChange[] = []
    // The newest changes are at the end; a long-poll's range is nearly always among them.
    for (let i = this.recent.length - 1; i >= 0; i--) {
      const c = this.recent[i] as StreamChange
      if (c.position <= since) break
      if (c.position <= upTo) out.push(c)
    }
    return out.reverse()
  }

  /**
   * Whether a change past `after` that this instance has already seen concerns the interest (true when it
   * cannot tell): for a waiter whose rooms were filled in after it started watching.
   */
  concerns(interest: Interest, after: number): boolean {
    if (this.position <= after) return false
    if (after < this.recentFrom) return true
    for (let i = this.recent.length - 1; i >= 0; i--) {
      const c = this.recent[i] as StreamChange
      if (c.position <= after) break
      if (SILENT_KINDS.has(c.kind)) continue
      if (c.user_id === interest.userId || (c.room_id !== null && interest.rooms.has(c.room_id))) return true
      if (c.kind === 'presence' || c.kind === 'device_list') return true
    }
    return false
  }

  /** A room event this process committed at `position`, if it is among the most recent ones (local delivery). */
  committedEvent(position: number): CommittedEvent | undefined {
    return this.committed.get(position)
  }

  /** Keeps the room events this process committed, before the wake-ups they cause. */
  private keep(events: CommittedEvent[]): void {
    for (const e of events) this.committed.set(e.row.stream_ordering, e)
    while (this.committed.size > COMMITTED_EVENTS) this.committed.delete(this.committed.keys().next().value as number)
  }

  /** Something committed: wake-ups need the fence now if anyone waits; otherwise later is soon enough. */
  private changed(): void {
    this.stale = true
    if (this.waiters.size > 0) void this.refresh()
  }

  /**
   * Registers interest before the caller reads anything, so no change slips between the read and the
   * wait. Resolves when a change the interest cares about becomes safe, or when cancelled.
   */
  watch(interest: Interest): { promise: Promise<void>; cancel: () => void } {
    let waiter!: Waiter
    const promise = new Promise<void>((resolve) => {
      waiter = { interest, resolve }
    })
    this.waiters.add(waiter)
    // Notifications that arrived while nobody waited were not followed up: read the fence now.
    if (this.stale) void this.refresh()
    const cancel = () => {
      this.waiters.delete(waiter)
      waiter.resolve()
    }
    return { promise, cancel }
  }

  /** Reads the fence again (coalesced: concurrent calls share one read) and wakes whoever a change concerns. */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true
      return this.refreshing
    }
    this.refreshing = (async () => {
      try {
        do {
          this.refreshAgain = false
          this.stale = false
          const from = this.position
          const withChanges = this.waiters.size > 0
          const { safe, changes } = await this.storage.repos.stream.fenceAndChanges(from, withChanges)
          this.apply(from, safe, withChanges ? changes : null)
        } while (this.refreshAgain && !this.stopped)
      } catch (err) {
        this.stale = true
        this.logger.warn({ err: (err as Error).message }, 'reading the stream fence failed')
      } finally {
        this.refreshing = null
      }
    })()
    return this.refreshing
  }

  /**
   * A read of the fence (and of the changes in (from, safe]) came back. Reads overlap (a refresh and
   * commits' reads): one that is no longer ahead is dropped, one that started behind is trimmed. True when
   * it woke a waiter right away.
   */
  private apply(from: number, safe: number, changes: StreamChange[] | null): boolean {
    if (safe <= this.position) return false
    if (changes !== null && from < this.position) {
      const position = this.position
      changes = changes.filter((c) => c.position > position)
    }
    return this.advance(safe, changes)
  }

  private advance(safe: number, changes: StreamChange[] | null): boolean {
    this.position = safe
    this.remember(safe, changes)
    if (!changes) return false
    const rooms = new Set<string>()
    const users = new Set<string>()
    const roomMates: string[] = []
    for (const c of changes) {
      if (SILENT_KINDS.has(c.kind)) continue
      if (c.room_id) rooms.add(c.room_id)
      if (c.user_id) {
        users.add(c.user_id)
        // A presence or device-list change concerns everyone sharing a room with that user.
        if (c.kind === 'presence' || c.kind === 'device_list') roomMates.push(c.user_id)
      }
    }
    if (roomMates.length === 0) return this.wake(users, rooms)
    // One indexed query per wake-up that needs it.
    this.storage.repos.memberships.joinedRoomsOfAny(roomMates).then(
      (mates) => {
        for (const room of mates) rooms.add(room)
        this.wake(users, rooms)
      },
      (err: Error) => {
        // Wake everyone rather than leave someone asleep: a spurious wake-up costs one empty round.
        this.logger.warn({ err: err.message }, 'finding room-mates for a wake-up failed')
        for (const waiter of this.waiters) waiter.resolve()
        this.waiters.clear()
      },
    )
    return false
  }

  private wake(users: Set<string>, rooms: Set<string>): boolean {
    let woke = false
    for (const waiter of this.waiters) {
      const { userId, rooms: interested } = waiter.interest
      let relevant = users.has(userId)
      if (!relevant) for (const room of rooms) if (interested.has(room)) { relevant = true; break }
      if (relevant) {
        this.waiters.delete(waiter)
        waiter.resolve()
        woke = true
      }
    }
    return woke
  }

  /**
   * Extends the changes kept for changesBetween from (recentFrom, from] to (recentFrom, safe]; a range read
   * without its changes (nobody was waiting) breaks the chain: coverage starts again at safe.
   */
  private remember(safe: number, changes: StreamChange[] | null): void {
    if (changes === null) {
      this.recent = []
      this.recentFrom = safe
      return
    }
    for (const c of changes) this.recent.push(c)
    if (this.recent.length > RECENT_CHANGES) {
      const dropped = this.recent.splice(0, this.recent.length - RECENT_CHANGES / 2)
      this.recentFrom = (dropped[dropped.length - 1] as StreamChange).position
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped) return
    const client = new pg.Client(this.connection)
    client.on('notification', (message) => {
      if (message.channel === STREAM_CHANNEL) {
        // This process's own commits were acted on when they happened.
        if (!this.storage.sentByThisProcess(message.processId)) this.changed()
      } else this.channels.get(message.channel)?.(message.payload ?? '')
    })
    client.on('error', (err) => {
      this.logger.warn({ err: err.message }, 'stream listener connection lost; reconnecting')
      this.scheduleReconnect(client)
    })
    client.on('end', () => this.scheduleReconnect(client))
    const generation = this.storage.db.credentialsGeneration
    try {
      await client.connect()
      await client.query([STREAM_CHANNEL, ...this.channels.keys()].map((c) => `LISTEN ${c}`).join('; '))
      this.client = client
      this.reconnectDelay = RECONNECT_MIN_MS
      for (const fn of this.connectionListeners) fn(true)
      // Anything committed while we were not listening is found by reading the fence now.
      void this.refresh()
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'stream listener could not connect; retrying')
      // A refused password (rotated) is read again before the next attempt.
      await this.storage.db.connectionFailed(err, generation)
      await client.end().catch(() => {})
      this.scheduleReconnect(client)
    }
  }

  private scheduleReconnect(client: pg.Client): void {
    // 'error' and 'end' both arrive for one lost connection: reconnect once.
    if (this.stopped || this.reconnecting.has(client) || (this.client !== null && this.client !== client)) return
    this.reconnecting.add(client)
    if (this.client === client) {
      this.client = null
      for (const fn of this.connectionListeners) fn(false)
    }
    const delay = this.reconnectDelay
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS)
    setTimeout(() => void this.connect(), delay).unref()
  }
}
