// The scheduling both durable senders share (federation destinations, pushers): one loop per key on this
// instance at most, a bound on the loops running at once (the others wait their turn), a key woken while its
// loop runs makes it look again before ending, retries after a backoff, wake-ups once the transaction that
// queued the work has committed, and, on an instance that does not deliver, a NOTIFY to those that do.
// What a loop does, and the leases that keep one instance per key across instances, are the caller's.
import type { Logger } from './logger.ts'

/** What giving a lease up found: given up (nothing queued), kept (something is), or lost (another holder has it). */
export type LeaseRelease = 'released' | 'kept' | 'lost'

export interface KeyedWorkersOptions<K> {
  /** Works through what is queued for the key (taking, and giving up, its lease). */
  loop: (key: K) => Promise<void>
  maxConcurrent: number
  /** Tells the other instances of keys with work (a NOTIFY), when this one does not deliver. */
  notifyOthers: (keys: K[]) => Promise<void>
  logger: Logger
  /** What a loop delivers to, in log messages ('federation destination', 'pusher'). */
  what: string
  /** Looks for keys with work (backoffs or leases that ran out) and runs them; called every poll interval. */
  poll: () => Promise<void>
  /** Gives up every lease this instance holds (when it stops). */
  releaseAll: () => Promise<void>
}

export class KeyedWorkers<K> {
  private readonly options: KeyedWorkersOptions<K>
  private readonly running = new Map<K, Promise<void>>()
  /** Keys woken while maxConcurrent loops ran, in order. */
  private readonly waiting = new Set<K>()
  /** Keys woken while their loop ran: it looks again before it ends. */
  private readonly again = new Set<K>()
  private readonly retries = new Map<K, NodeJS.Timeout>()
  private readonly queuedBy = new WeakMap<object, Array<Iterable<K> | Promise<K[]>>>()
  private notifying: Set<K> | null = null
  private timer: NodeJS.Timeout | null = null
  private polling = false
  /** Whether this instance runs the loops (else wake-ups go to the others). */
  delivering = false
  stopped = false

  constructor(options: KeyedWorkersOptions<K>) {
    this.options = options
  }

  /**
   * Wakes the keys once the transaction `tx` has committed (`onCommitted`: its commit callbacks). They may come
   * from a statement not waited for: every statement of a committed transaction has been answered by then.
   */
  wakeOnCommit(tx: object, onCommitted: Array<() => void>, keys: Iterable<K> | Promise<K[]>): void {
    let queued = this.queuedBy.get(tx)
    if (!queued) {
      const pending: Array<Iterable<K> | Promise<K[]>> = (queued = [])
      this.queuedBy.set(tx, pending)
      onCommitted.push(() => {
        for (const k of pending) {
          if (k instanceof Promise) k.then((list) => this.wake(list), () => {})
          else this.wake(k)
        }
      })
    }
    // A failed statement fails the transaction (nothing to wake then), not the process.
    if (keys instanceof Promise) keys.catch(() => {})
    queued.push(keys)
  }

  /** Runs the keys' loops here, or, on an instance that does not deliver, tells the others. */
  wake(keys: Iterable<K>): void {
    if (this.stopped) return
    if (!this.delivering) {
      this.notify(keys)
      return
    }
    for (const k of keys) this.run(k)
  }

  /** NOTIFY the other instances, outside any transaction, one message in flight at a time. */
  private notify(keys: Iterable<K>): void {
    const first = this.notifying === null
    this.notifying ??= new Set()
    for (const k of keys) this.notifying.add(k)
    if (!first) return
    setImmediate(async () => {
      while (this.notifying && this.notifying.size > 0) {
        const batch = [...this.notifying]
        this.notifying = new Set()
        try {
          await this.options.notifyOthers(batch)
        } catch (err) {
          this.options.logger.warn({ err: (err as Error).message }, `could not tell other instances of work queued for a ${this.options.what}`)
        }
      }
      this.notifying = null
    })
  }

  isRunning(key: K): boolean {
    return this.running.has(key)
  }

  /** Starts the key's loop unless it runs (then it looks again) or too many run (then it waits its turn). */
  run(key: K): void {
    if (this.running.has(key)) {
      this.again.add(key)
      return
    }
    if (this.running.size >= this.options.maxConcurrent) {
      this.waiting.add(key)
      return
    }
    const loop = this.options
      .loop(key)
      .catch((err: unknown) => {
        if (!this.stopped) this.options.logger.warn({ err: (err as Error).message, key: String(key) }, `the loop of a ${this.options.what} failed`)
      })
      .finally(() => {
        this.running.delete(key)
        const next = this.waiting.values().next()
        if (!next.done && !this.stopped) {
          this.waiting.delete(next.value)
          this.run(next.value)
        }
      })
    this.running.set(key, loop)
  }

  /** Called as a loop starts a round: clears the key's wake-ups so far. */
  startRound(key: K): void {
    this.again.delete(key)
  }

  /** Whether the key was woken during the round (its loop should look again). */
  wokenDuringRound(key: K): boolean {
    return this.again.has(key) && !this.stopped
  }

  /** Runs the key's loop again after `delay` ms (a backoff), replacing a retry already set. */
  retryAfter(key: K, delay: number): void {
    const previous = this.retries.get(key)
    if (previous) clearTimeout(previous)
    const timer = setTimeout(() => {
      this.retries.delete(key)
      this.run(key)
    }, delay + 10)
    timer.unref()
    this.retries.set(key, timer)
  }

  /** Runs the loops on this instance from now on, polling every `intervalMs` (and once now). */
  start(intervalMs: number): void {
    if (this.delivering || this.stopped) return
    this.delivering = true
    this.timer = setInterval(() => void this.pollNow(), intervalMs)
    this.timer.unref()
    void this.pollNow()
  }

  /** Polls now, unless a poll is under way or the workers stopped. */
  async pollNow(): Promise<void> {
    if (!this.delivering || this.polling || this.stopped) return
    this.polling = true
    try {
      await this.options.poll()
    } catch (err) {
      if (!this.stopped) this.options.logger.warn({ err: (err as Error).message }, `looking for a ${this.options.what} with work failed`)
    } finally {
      this.polling = false
    }
  }

  /**
   * Stops: no more loops, polls or retries; waits for the loops running (at most `waitMs`), then gives up
   * this instance's leases.
   */
  async stop(waitMs: number): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    if (this.timer) clearInterval(this.timer)
    for (const timer of this.retries.values()) clearTimeout(timer)
    this.retries.clear()
    this.waiting.clear()
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, waitMs)
    })
    await Promise.race([Promise.allSettled([...this.running.values()]), bound])
    clearTimeout(timer)
    if (this.delivering) await this.options.releaseAll().catch(() => {})
  }
}
