// Typing notifications (client-server API, "Typing Notifications"). State lives in PostgreSQL so any
// instance serves any request; every visible change (start, stop, expiry, leaving the room) takes a stream
// position so the room's long-polls wake. Expiry is announced by a timer on the instance that set it and,
// should that instance die, by a periodic sweeper that claims expired rows (SKIP LOCKED: exactly once).
import type { Clock } from '../shared/clock.ts'
import { forbidden } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import type { Repositories, Storage } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'
import type { EduRelay } from '../federation/edu-relay.ts'

/** Timeouts above this are capped (as Synapse does), so a stale client cannot pin an indicator for long. */
export const MAX_TYPING_TIMEOUT_MS = 120_000
export const DEFAULT_TYPING_TIMEOUT_MS = 30_000
/** A remote user's typing (the m.typing EDU has no timeout) lasts this long unless renewed, as with Synapse. */
export const REMOTE_TYPING_TIMEOUT_MS = 60_000
const SWEEP_BATCH = 100

export interface TypingOptions {
  storage: Storage
  clock: Clock
  logger: Logger
  /** How often each instance looks for expired typing left behind (e.g. by an instance that died). */
  sweepIntervalMs?: number
  /** Tells other servers when our users start or stop typing. */
  relay?: EduRelay
}

export class Typing {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly logger: Logger
  private readonly sweepIntervalMs: number
  private readonly timers = new Map<string, NodeJS.Timeout>()
  private readonly inFlight = new Set<Promise<unknown>>()
  private sweeper: NodeJS.Timeout | null = null
  private stopped = false
  private readonly relay: EduRelay | null

  constructor(options: TypingOptions) {
    this.relay = options.relay ?? null
    this.storage = options.storage
    this.clock = options.clock
    this.logger = options.logger
    this.sweepIntervalMs = options.sweepIntervalMs ?? 5000
  }

  start(): void {
    this.stopped = false
    if (this.sweeper) return
    this.sweeper = setInterval(() => this.track(this.sweep()), this.sweepIntervalMs)
    this.sweeper.unref()
  }

  /** Stops the timers and the sweeper and waits for expiry writes in progress. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.sweeper) clearInterval(this.sweeper)
    this.sweeper = null
    for (const timer of this.timers.values()) clearTimeout(timer)
    this.timers.clear()
    await Promise.allSettled([...this.inFlight])
  }

  /** PUT /rooms/{roomId}/typing/{userId}. */
  async set(requester: Requester, roomId: string, userId: string, typing: boolean, timeoutMs: number | undefined): Promise<void> {
    if (userId !== requester.userId) throw forbidden("Cannot set another user's typing state")
    const membership = await this.storage.repos.memberships.get(roomId, userId)
    if (membership?.membership !== 'join') throw forbidden('You are not in this room')
    await this.apply(roomId, userId, typing, timeoutMs ?? DEFAULT_TYPING_TIMEOUT_MS)
  }

  /**
   * Starts or stops a user's typing, the caller having checked that they may: a local user through set(),
   * a remote one through the federation's m.typing EDU (checked against the room's members and ACL).
   */
  async apply(roomId: string, userId: string, typing: boolean, timeoutMs: number): Promise<void> {
    if (!typing) {
      this.clearTimer(roomId, userId)
      await this.storage.streamTransaction(async (repos) => {
        if (!(await repos.typing.stop(roomId, userId))) return
        await announce(repos, [roomId])
        await this.relay?.typing(repos, roomId, userId, false)
      })
      return
    }
    const timeout = Math.min(Math.max(timeoutMs, 0), MAX_TYPING_TIMEOUT_MS)
    const expiresTs = this.clock.now() + timeout
    await this.storage.streamTransaction(async (repos) => {
      const current = await repos.typing.lock(roomId, userId)
      // Still visibly typing: only the expiry moves, clients have nothing new to learn.
      if (current !== null && current > this.clock.now()) {
        await repos.typing.extend(roomId, userId, expiresTs)
        // Other servers time typing out on their own (Synapse after 30 s): tell them it goes on.
        return this.relay?.typing(repos, roomId, userId, true)
      }
      const [position] = await announce(repos, [roomId])
      await repos.typing.start(roomId, userId, expiresTs, position as number)
      await this.relay?.typing(repos, roomId, userId, true)
    })
    this.setTimer(roomId, userId, expiresTs)
  }

  /** Stops the typing of members leaving a room (called inside the room writer's transaction). */
  async onLeave(repos: Repositories, roomId: string, userId: string): Promise<void> {
    if (await repos.typing.stop(roomId, userId)) await announce(repos, [roomId])
  }

  /** Announces expired typing rows, a batch at a time; any instance may run it, each row goes once. */
  async sweep(): Promise<number> {
    if (this.stopped) return 0
    let total = 0
    try {
      for (;;) {
        const claimed = await this.storage.streamTransaction(async (repos) => {
          const rows = await repos.typing.claimExpired(this.clock.now(), SWEEP_BATCH)
          await announce(repos, [...new Set(rows.map((r) => r.room_id))])
          return rows.length
        })
        total += claimed
        if (claimed < SWEEP_BATCH || this.stopped) return total
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'typing expiry sweep failed')
      return total
    }
  }

  private key(roomId: string, userId: string): string {
    return `${roomId}\u0000${userId}`
  }

  private clearTimer(roomId: string, userId: string): void {
    const key = this.key(roomId, userId)
    const timer = this.timers.get(key)
    if (timer) clearTimeout(timer)
    this.timers.delete(key)
  }

  private setTimer(roomId: string, userId: string, expiresTs: number): void {
    if (this.stopped) return
    this.clearTimer(roomId, userId)
    const key = this.key(roomId, userId)
    const timer = setTimeout(() => {
      this.timers.delete(key)
      this.track(this.expire(roomId, userId))
    }, Math.max(0, expiresTs - this.clock.now()) + 5)
    timer.unref()
    this.timers.set(key, timer)
  }

  /** The timer's half of expiry: stops the typing unless it was refreshed (or already announced). */
  private async expire(roomId: string, userId: string): Promise<void> {
    try {
      await this.storage.streamTransaction(async (repos) => {
        if (await repos.typing.stop(roomId, userId, this.clock.now())) await announce(repos, [roomId])
      })
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'typing expiry failed; the sweeper will retry')
    }
  }

  private track(work: Promise<unknown>): void {
    this.inFlight.add(work)
    void work.finally(() => this.inFlight.delete(work))
  }
}

/** Takes a stream position per room (waking its members' long-polls) and records it as the room's latest typing change. */
async function announce(repos: Repositories, roomIds: string[]): Promise<number[]> {
  const rooms = [...roomIds].sort()
  const positions: number[] = []
  // A position names one room; the sweeper's batches are small and this is not a /sync read path.
  for (const roomId of rooms) positions.push(await repos.stream.next('typing', roomId, null))
  await repos.typing.markRooms(rooms, positions)
  return positions
}
