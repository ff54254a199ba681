// The stream notifier: knows the highest stream position that is safe to read (every lower position has
// committed) and wakes the /sync long-polls a change concerns. Instances learn of commits through
// PostgreSQL LISTEN/NOTIFY on a dedicated connection that reconnects by itself; the fence (see
// migration 0002) turns "something committed" into a position no reader can run ahead of.
import pg from 'pg'
import type { Logger } from '../shared/logger.ts'
import { STREAM_CHANNEL, type Storage, type StreamChange } from '../storage/index.ts'

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
  private readonly positionListeners = new Set<(position: number) => void>()
  private readonly reconnecting = new WeakSet<pg.Client>()

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
    await client?.end().catch(() => {})
  }

  /** Calls fn with every new safe position (used by consumers such as the typing sweeper). */
  onPosition(fn: (position: number) => void): () => void {
    this.positionListeners.add(fn)
    return () => this.positionListeners.delete(fn)
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
          const safe = await this.storage.repos.stream.fence()
          if (safe > this.position) await this.advance(safe)
        } while (this.refreshAgain && !this.stopped)
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'reading the stream fence failed')
      } finally {
        this.refreshing = null
      }
    })()
    return this.refreshing
  }

  private async advance(safe: number): Promise<void> {
    const from = this.position
    let changes: StreamChange[] | null = null
    if (this.waiters.size > 0) changes = await this.storage.repos.stream.changes(from, safe)
    this.position = safe
    for (const fn of this.positionListeners) fn(safe)
    if (!changes) return
    const rooms = new Set<string>()
    const users = new Set<string>()
    for (const c of changes) {
      if (c.room_id) rooms.add(c.room_id)
      if (c.user_id) users.add(c.user_id)
    }
    // A presence or device-list change concerns everyone sharing a room with that user: one indexed
    // query per wake-up.
    const roomMates = changes.filter((c) => (c.kind === 'presence' || c.kind === 'device_list') && c.user_id !== null).map((c) => c.user_id as string)
    for (const room of await this.storage.repos.memberships.joinedRoomsOfAny(roomMates)) rooms.add(room)
    for (const waiter of this.waiters) {
      const { userId, rooms: interested } = waiter.interest
      let relevant = users.has(userId)
      if (!relevant) for (const room of rooms) if (interested.has(room)) { relevant = true; break }
      if (relevant) {
        this.waiters.delete(waiter)
        waiter.resolve()
      }
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped) return
    const client = new pg.Client(this.connection)
    client.on('notification', () => void this.refresh())
    client.on('error', (err) => {
      this.logger.warn({ err: err.message }, 'stream listener connection lost; reconnecting')
      this.scheduleReconnect(client)
    })
    client.on('end', () => this.scheduleReconnect(client))
    try {
      await client.connect()
      await client.query(`LISTEN ${STREAM_CHANNEL}`)
      this.client = client
      this.reconnectDelay = RECONNECT_MIN_MS
      // Anything committed while we were not listening is found by reading the fence now.
      void this.refresh()
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'stream listener could not connect; retrying')
      await client.end().catch(() => {})
      this.scheduleReconnect(client)
    }
  }

  private scheduleReconnect(client: pg.Client): void {
    // 'error' and 'end' both arrive for one lost connection: reconnect once.
    if (this.stopped || this.reconnecting.has(client) || (this.client !== null && this.client !== client)) return
    this.reconnecting.add(client)
    if (this.client === client) this.client = null
    const delay = this.reconnectDelay
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS)
    setTimeout(() => void this.connect(), delay).unref()
  }
}
