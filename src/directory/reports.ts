// Reporting content (client-server API, "Reporting content"): reports of events, rooms and users are
// stored for the server's administrators.
import type { Clock } from '../shared/clock.ts'
import { invalidParam, notFound } from '../shared/errors.ts'
import { parseUserId } from '../shared/ids.ts'
import type { Storage } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'
import { filterVisible } from '../rooms/visibility.ts'

export class Reports {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly serverName: string

  constructor(deps: { storage: Storage; clock: Clock; serverName: string }) {
    this.storage = deps.storage
    this.clock = deps.clock
    this.serverName = deps.serverName
  }

  /**
   * POST /rooms/{roomId}/report/{eventId}: the reporter must be joined and able to see the event; otherwise
   * 404, the same answer as for an event that does not exist. `score` (removed in v1.18) is kept if sent.
   */
  async reportEvent(requester: Requester, roomId: string, eventId: string, reason: string | undefined, score: number | undefined): Promise<void> {
    if (score !== undefined && (!Number.isInteger(score) || score < -100 || score > 0)) {
      throw invalidParam('score must be an integer between -100 and 0')
    }
    const repos = this.storage.repos
    const gone = notFound('The event was not found or you are not joined to the room')
    const membership = await repos.memberships.get(roomId, requester.userId)
    if (membership?.membership !== 'join') throw gone
    const row = await repos.events.get(roomId, eventId)
    if (!row || (await filterVisible(repos, roomId, requester.userId, [row])).length === 0) throw gone
    await repos.directory.insertReport({
      reporter: requester.userId,
      kind: 'event',
      room_id: roomId,
      event_id: eventId,
      target_user_id: row.sender,
      reason: reason ?? null,
      score: score ?? null,
      created_ts: this.clock.now(),
    })
  }

  /** POST /rooms/{roomId}/report: any room this server has; the reporter need not be in it. */
  async reportRoom(requester: Requester, roomId: string, reason: string): Promise<void> {
    const repos = this.storage.repos
    if (!(await repos.rooms.get(roomId))) throw notFound('The room was not found')
    await repos.directory.insertReport({
      reporter: requester.userId,
      kind: 'room',
      room_id: roomId,
      event_id: null,
      target_user_id: null,
      reason,
      score: null,
      created_ts: this.clock.now(),
    })
  }

  /** POST /users/{userId}/report: local users must exist; users of other servers cannot be checked yet. */
  async reportUser(requester: Requester, userId: string, reason: string): Promise<void> {
    const repos = this.storage.repos
    if (parseUserId(userId)?.serverName === this.serverName && !(await repos.users.exists(userId))) throw notFound('The user was not found')
    await repos.directory.insertReport({
      reporter: requester.userId,
      kind: 'user',
      room_id: null,
      event_id: null,
      target_user_id: userId,
      reason,
      score: null,
      created_ts: this.clock.now(),
    })
  }
}
