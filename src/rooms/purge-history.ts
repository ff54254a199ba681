// Purging a room's history (the admin API's purge history, with Synapse's requests and answers): an admin
// frees the space old messages take, or removes history nobody should read any more. Everything before a
// point (an event, or a time) leaves the room's timeline; state stays, and so does this server's users'
// content unless asked (it may be the only copy anywhere), kept outside every timeline. Other servers in the
// room still have it: a client paginating back has it fetched again. A purge runs in the background on the
// instance asked; any instance answers for its status (PostgreSQL).
import type { Clock } from '../shared/clock.ts'
import { MatrixError, notFound } from '../shared/errors.ts'
import { isRoomId } from '../shared/ids.ts'
import type { Logger } from '../shared/logger.ts'
import { randomString } from '../shared/random.ts'
import type { Storage } from '../storage/index.ts'

export interface PurgeRequest {
  /** Purge what is before this event (it stays). */
  upToEventId?: string | undefined
  /** Purge what was sent before this time (milliseconds). */
  upToTs?: number | undefined
  /** This server's users' events are deleted too (by default they are kept out of the timeline). */
  deleteLocalEvents?: boolean | undefined
}

/** The kind of stream change a purge records (sync/local.ts: counts kept of the room are stale). */
export const PURGE_CHANGE = 'purge'

/** How long a new purge may go unheld before its status says it failed (its instance starts it at once). */
export const START_GRACE_MS = 60_000

export class HistoryPurge {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly logger: Logger
  private readonly serverName: string

  constructor(options: { storage: Storage; clock: Clock; logger: Logger; serverName: string }) {
    this.storage = options.storage
    this.clock = options.clock
    this.logger = options.logger
    this.serverName = options.serverName
  }

  /** Starts a purge: its ID, for status(). Checks the point first (the answer to a bad request is an error, not a failed purge). */
  async start(roomId: string, request: PurgeRequest): Promise<string> {
    if (!isRoomId(roomId)) throw new MatrixError('M_INVALID_PARAM', `${roomId} is not a room ID`, 400)
    const repos = this.storage.repos
    if (!(await repos.rooms.get(roomId))) throw notFound('Unknown room')
    let depth: number | null
    if (request.upToEventId !== undefined) {
      const event = await repos.purgeHistory.timelineEvent(roomId, request.upToEventId)
      if (!event) throw notFound(`${request.upToEventId} is not an event of this room's timeline`)
      depth = event.depth
    } else if (request.upToTs !== undefined) {
      depth = (await repos.purgeHistory.firstAtOrAfter(roomId, request.upToTs))?.depth ?? Number.MAX_SAFE_INTEGER
    } else {
      throw new MatrixError('M_INVALID_PARAM', 'Give an event ID or purge_up_to_ts', 400)
    }
    const purgeId = randomString(16)
    await repos.purgeHistory.insertJob(purgeId, roomId, this.clock.now())
    void this.run(purgeId, roomId, depth, request.deleteLocalEvents ?? false)
    return purgeId
  }

  /** The purge's status: active, complete or failed (one whose instance went away failed). */
  async status(purgeId: string): Promise<{ status: string; error?: string }> {
    const job = await this.storage.repos.purgeHistory.job(purgeId)
    if (!job) throw notFound('Unknown purge')
    if (job.status === 'active' && !job.running && this.clock.now() - job.created_ts > START_GRACE_MS) {
      return { status: 'failed', error: 'The purge was interrupted' }
    }
    return job.error !== null ? { status: job.status, error: job.error } : { status: job.status }
  }

  private async run(purgeId: string, roomId: string, depth: number, deleteLocal: boolean): Promise<void> {
    try {
      const outcome = await this.storage.streamTransaction(
        async (repos) => {
          await repos.purgeHistory.holdJob(purgeId)
          const done = await repos.purgeHistory.purgeBelow(roomId, depth, `:${this.serverName}`, deleteLocal)
          // A change in the stream, so every instance drops what it kept of the room's unread counts.
          await repos.stream.next(PURGE_CHANGE, roomId, null)
          await repos.purgeHistory.finishJob(purgeId, 'complete', null)
          return done
        },
        { lockRoom: roomId },
      )
      this.logger.info({ room_id: roomId, purge_id: purgeId, ...outcome }, 'room history purged')
    } catch (err) {
      this.logger.error({ err, room_id: roomId, purge_id: purgeId }, 'purging room history failed')
      await this.storage.repos.purgeHistory.finishJob(purgeId, 'failed', (err as Error).message).catch(() => {})
    }
  }
}
