// Self-destructing messages (MSC2228; Synapse's enable_ephemeral_messages, off by default): a non-state event
// whose content carries `org.matrix.self_destruct_after` (an integer timestamp in ms) is scheduled with the
// event, in its transaction, whether a local user sent it or another server did; when its time has come the
// stored event is pruned to its redacted form (the room version's redaction algorithm, as a redaction would
// leave it, but with no redaction event) and leaves the search index. Each instance keeps a timer at the
// earliest expiry it knows of (read at start, moved earlier by events it appends, and re-read every
// minute for events another instance appended); whichever instance comes first claims due rows with
// SKIP LOCKED, so each event is pruned once.
import { redact as redactPdu } from '../protocol/events/index.ts'
import type { Pdu } from '../protocol/events/types.ts'
import { roomVersion } from '../protocol/room-versions.ts'
import type { Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import type { Repositories, Storage } from '../storage/index.ts'
import type { AppendedEvent } from './writer.ts'

export const SELF_DESTRUCT_AFTER = 'org.matrix.self_destruct_after'
/** Events pruned per transaction. */
const BATCH = 100
/** The longest a timer waits before the earliest expiry is read again (others' events, clock drift). */
const RECHECK_MS = 60_000
/** The least wait between two runs. */
const RETRY_MS = 100

export class EventExpiry {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly logger: Logger
  private timer: NodeJS.Timeout | null = null
  /** When the timer fires (null: no timer). */
  private timerAt: number | null = null
  private running: Promise<void> | null = null
  private stopped = true

  constructor(options: { storage: Storage; clock: Clock; logger: Logger }) {
    this.storage = options.storage
    this.clock = options.clock
    this.logger = options.logger
  }

  /** The append hook: schedules an event that asks to expire, in its own transaction. */
  async onAppend(repos: Repositories, { event }: AppendedEvent): Promise<void> {
    const at = event.content[SELF_DESTRUCT_AFTER]
    if (event.state_key !== undefined || typeof at !== 'number' || !Number.isSafeInteger(at)) return
    await repos.eventExpiry.schedule(event.room_id, event.event_id, at)
    repos.stream.onCommitted.push(() => this.wakeAt(at))
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.wakeAt(this.clock.now())
  }

  /** Stops the timer and waits for a pruning in progress. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    this.timerAt = null
    await this.running
  }

  /** Prunes every event due now; the number pruned. */
  async expireDue(): Promise<number> {
    let pruned = 0
    for (;;) {
      const count = await this.storage.transaction(async (repos) => {
        const due = await repos.eventExpiry.claimDue(this.clock.now(), BATCH)
        const rows = due.flatMap((d) => {
          const version = roomVersion(d.room_version)
          return version ? [{ room_id: d.room_id, event_id: d.event_id, json: JSON.stringify(redactPdu(JSON.parse(d.json) as Pdu, version)) }] : []
        })
        await repos.eventExpiry.prune(rows)
        return due.length
      })
      pruned += count
      if (count < BATCH) return pruned
    }
  }

  /** Sets the timer to `at` unless it fires sooner already. */
  private wakeAt(at: number): void {
    if (this.stopped || (this.timerAt !== null && this.timerAt <= at)) return
    if (this.timer) clearTimeout(this.timer)
    const delay = Math.min(Math.max(0, at - this.clock.now()), RECHECK_MS)
    this.timerAt = this.clock.now() + delay
    this.timer = setTimeout(() => {
      this.timer = null
      this.timerAt = null
      this.running ??= this.run().finally(() => (this.running = null))
    }, delay)
    this.timer.unref()
  }

  private async run(): Promise<void> {
    try {
      const pruned = await this.expireDue()
      if (pruned > 0) this.logger.info({ pruned }, 'self-destructing events pruned')
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'pruning self-destructing events failed')
    }
    // Rows still due are another instance's, being pruned: looked at again a little later, not at once.
    const next = await this.storage.repos.eventExpiry.next().catch(() => null)
    this.wakeAt(Math.max(next ?? Infinity, this.clock.now() + RETRY_MS))
  }
}
