// Retention: cached remote media and local media not read for a configured time are deleted, as are
// asynchronous uploads that never got their content and expired URL previews. Every instance schedules the
// sweep; an advisory lock lets one of them run it at a time.
import type { Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import type { Storage } from '../storage/index.ts'
import type { Media, MediaConfig } from './media.ts'

const BATCH = 500
/** Advisory lock key of the media sweep (one instance at a time). */
const SWEEP_LOCK_KEY = 7_386_051_120

export interface SweepResult {
  pending: number
  remote: number
  local: number
}

export async function sweepMedia(storage: Storage, media: Media, config: MediaConfig, now: number): Promise<SweepResult> {
  const repo = storage.repos.media
  const result: SweepResult = { pending: await repo.deleteExpiredPending(now), remote: 0, local: 0 }
  await repo.deleteExpiredPreviews(now)
  const passes: Array<[boolean, number | null, 'remote' | 'local']> = [
    [true, config.retention.remote_media_lifetime_ms, 'remote'],
    [false, config.retention.local_media_lifetime_ms, 'local'],
  ]
  for (const [remote, lifetime, key] of passes) {
    if (lifetime === null) continue
    for (;;) {
      const batch = await repo.notAccessedSince(remote, now - lifetime, BATCH)
      if (batch.length === 0) break
      result[key] += await deleteRefs(media, batch)
      if (batch.length < BATCH) break
    }
  }
  return result
}

/** Deletes media given as (server, id) pairs, grouped by server. */
export async function deleteRefs(media: Media, refs: Array<{ server_name: string; media_id: string }>): Promise<number> {
  const byServer = new Map<string, string[]>()
  for (const r of refs) {
    const ids = byServer.get(r.server_name)
    if (ids) ids.push(r.media_id)
    else byServer.set(r.server_name, [r.media_id])
  }
  let deleted = 0
  for (const [server, ids] of byServer) deleted += (await media.deleteMedia(server, ids)).length
  return deleted
}

/** The periodic sweep of one process. */
export class MediaSweeper {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  private readonly run: () => Promise<void>
  private readonly intervalMs: number

  constructor(storage: Storage, media: Media, clock: Clock, logger: Logger) {
    this.intervalMs = media.config.retention.interval_ms
    this.run = async () => {
      try {
        await storage.exclusively(SWEEP_LOCK_KEY, async () => {
          const result = await sweepMedia(storage, media, media.config, clock.now())
          if (result.pending + result.remote + result.local > 0) logger.info(result, 'media retention sweep')
        })
      } catch (err) {
        logger.warn({ err }, 'media retention sweep failed')
      }
    }
  }

  start(): void {
    if (this.timer) return
    this.timer = setInterval(() => {
      this.running ??= this.run().finally(() => (this.running = null))
    }, this.intervalMs)
    this.timer.unref()
  }

  /** Stops scheduling and waits for a sweep in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    await this.running
  }
}
