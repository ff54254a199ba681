// Presence (client-server API, "Presence"): online / unavailable / offline and a status message per user,
// in PostgreSQL so any instance serves any request. Every visible change takes a stream position, so
// /sync sends the changes of its range to the user and everyone sharing a room with them. Being seen (a
// /sync or a PUT) only refreshes last_seen_ts in place; a sweeper, on every instance, turns users not seen
// for OFFLINE_AFTER_MS offline (SKIP LOCKED: each user once).
import type { JsonObject } from '../protocol/events/types.ts'
import type { Clock } from '../shared/clock.ts'
import { forbidden } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import type { PresenceRow, Repositories, Storage } from '../storage/index.ts'
import { typeAllowed } from '../sync/filter.ts'
import type { Requester } from '../users/index.ts'
import type { EduRelay } from '../federation/edu-relay.ts'

export type PresenceState = 'online' | 'unavailable' | 'offline'

/** A syncing client starts its next /sync within the long-poll cap (60 s); this leaves room for retries. */
export const OFFLINE_AFTER_MS = 3 * 60_000
/** last_seen_ts / last_active_ts / last_online_ts of an unchanged state are written at most this often. */
const SEEN_GRANULARITY_MS = 30_000
/** Longer than a long-poll plus SEEN_GRANULARITY_MS, so a device syncing online keeps renewing it in time. */
const ONLINE_HOLD_MS = 2 * 60_000
const SWEEP_INTERVAL_MS = 30_000
const SWEEP_BATCH = 100
/** How long after a remote user's join their server is told our users' presence again (see onJoin). */
const PRESENCE_RETELL_MS = 1_500

/**
 * A remote user's presence is held this long after their server's last m.presence EDU (servers repeat an
 * online user's presence well within it), then the sweeper turns it offline like a local user's.
 */
export const REMOTE_PRESENCE_HOLD_MS = 30 * 60_000

/** One update of the federation's m.presence EDU, checked to come from the user's own server. */
export interface RemotePresence {
  userId: string
  state: PresenceState
  statusMsg: string | null
  lastActiveAgo: number
}

/** The presence filter of /sync (an EventFilter). */
export interface PresenceFilter {
  limit?: number | undefined
  types?: string[] | undefined
  not_types?: string[] | undefined
  senders?: string[] | undefined
  not_senders?: string[] | undefined
}

export class Presence {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly logger: Logger
  private sweeper: NodeJS.Timeout | null = null
  private sweeping: Promise<unknown> | null = null
  private stopped = false
  /** Presence told again to joining servers a little later (see onJoin), cleared at stop. */
  private readonly retells = new Set<NodeJS.Timeout>()

  /** Tells other servers of our users' changes (none: nobody else hears of them). */
  private readonly relay: EduRelay | null

  constructor(storage: Storage, clock: Clock, logger: Logger, relay: EduRelay | null = null) {
    this.relay = relay
    this.storage = storage
    this.clock = clock
    this.logger = logger
  }

  start(): void {
    this.stopped = false
    if (this.sweeper) return
    this.sweeper = setInterval(() => {
      if (!this.sweeping) this.sweeping = this.sweep().finally(() => (this.sweeping = null))
    }, SWEEP_INTERVAL_MS)
    this.sweeper.unref()
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.sweeper) clearInterval(this.sweeper)
    this.sweeper = null
    for (const timer of this.retells) clearTimeout(timer)
    this.retells.clear()
    await this.sweeping
  }

  /**
   * The room writer's append hook for joins: a user who was not joined before tells presence to the servers
   * new to each other's users (a profile change, join to join, tells nothing). A joining server may only
   * take our users' presence once its join has completed there (it keeps presence of users it shares a
   * room with), so a remote joiner's server is told again a little later (best effort: presence is
   * ephemeral).
   */
  async onJoin(repos: Repositories, event: { type: string; room_id: string; state_key?: string; content: JsonObject }, replaced: { content: JsonObject } | undefined, remoteJoiner: boolean): Promise<void> {
    const relay = this.relay
    if (!relay || event.type !== 'm.room.member' || event.state_key === undefined || event.content.membership !== 'join') return
    if (replaced?.content.membership === 'join') return
    const [roomId, userId] = [event.room_id, event.state_key]
    await relay.joined(repos, roomId, userId, this.clock.now())
    if (!remoteJoiner || this.stopped) return
    const timer = setTimeout(() => {
      this.retells.delete(timer)
      this.storage
        .transaction(async (later) => {
          if ((await later.memberships.get(roomId, userId))?.membership === 'join') await relay.joined(later, roomId, userId, this.clock.now())
        })
        .catch((err: Error) => this.logger.warn({ err: err.message, room_id: roomId }, 'telling presence to a joining server failed'))
    }, PRESENCE_RETELL_MS)
    timer.unref()
    this.retells.add(timer)
  }

  /** GET /presence/{userId}/status: one's own, or that of a user sharing a room with the requester. */
  async get(requester: Requester, userId: string): Promise<JsonObject> {
    const repos = this.storage.repos
    if (userId !== requester.userId && !(await repos.presence.shareRoom(requester.userId, userId))) {
      throw forbidden('You are not allowed to see their presence')
    }
    const row = await repos.presence.get(userId)
    if (!row) return { presence: 'offline' }
    const out = this.content(row)
    // The endpoint always has status_msg (null when none), unlike the m.presence event.
    out.status_msg = row.status_msg
    return out
  }

  /** PUT /presence/{userId}/status: only one's own. A missing status_msg clears it (as Synapse does). */
  async set(requester: Requester, userId: string, state: PresenceState, statusMsg: string | null | undefined): Promise<void> {
    if (userId !== requester.userId) throw forbidden("You cannot set another user's presence")
    const now = this.clock.now()
    await this.storage.streamTransaction(async (repos) => {
      const current = await repos.presence.lock(userId)
      const status = statusMsg ?? null
      if (current && current.state === state && current.status_msg === status) {
        await repos.presence.touch(userId, now, state === 'online')
        return
      }
      const row: PresenceRow = {
        user_id: userId,
        state,
        status_msg: status,
        last_active_ts: now,
        last_seen_ts: now,
        last_online_ts: state === 'online' ? now : current?.last_online_ts ?? 0,
        stream_position: await repos.stream.next('presence', null, userId),
      }
      await repos.presence.put(row)
      await this.relay?.presence(repos, row, now)
    })
  }

  /**
   * Stores remote users' presence from an m.presence EDU, at one stream position (their room-mates' long-polls
   * wake). last_seen_ts is set ahead so that the sweeper, which turns users unseen for OFFLINE_AFTER_MS
   * offline, holds a remote user's presence for REMOTE_PRESENCE_HOLD_MS.
   */
  async receiveRemote(updates: RemotePresence[]): Promise<void> {
    const latest = new Map(updates.map((u) => [u.userId, u]))
    if (latest.size === 0) return
    const now = this.clock.now()
    const rows = [...latest.values()].map((u) => ({
      user_id: u.userId,
      state: u.state,
      status_msg: u.statusMsg,
      last_active_ts: now - u.lastActiveAgo,
      last_seen_ts: now + REMOTE_PRESENCE_HOLD_MS - OFFLINE_AFTER_MS,
      last_online_ts: u.state === 'online' ? now : 0,
    }))
    await this.storage.streamTransaction(async (repos) => {
      await repos.presence.putMany(rows, await repos.stream.nextForUsers('presence', [...latest.keys()]))
    })
  }

  /**
   * The /sync `set_presence` parameter (absent means online): marks the user online or unavailable, or,
   * with offline, leaves their presence alone. An unchanged state costs one read, and a write at most
   * every SEEN_GRANULARITY_MS.
   */
  async syncing(userId: string, setPresence: PresenceState | undefined): Promise<void> {
    const state = setPresence ?? 'online'
    if (state === 'offline') return
    // Presence is a side effect of syncing: failing to record it must not fail the sync.
    await this.markSyncing(userId, state).catch((err: Error) => this.logger.warn({ err: err.message }, 'recording presence failed'))
  }

  private async markSyncing(userId: string, state: 'online' | 'unavailable'): Promise<void> {
    const now = this.clock.now()
    const current = await this.storage.repos.presence.get(userId)
    if (current && keeps(current, state, now)) {
      const last = state === 'online' ? current.last_online_ts : current.last_seen_ts
      if (now - last >= SEEN_GRANULARITY_MS) await this.storage.repos.presence.touch(userId, now, state === 'online')
      return
    }
    await this.storage.streamTransaction(async (repos) => {
      const locked = await repos.presence.lock(userId)
      if (locked && keeps(locked, state, now)) return
      const row: PresenceRow = {
        user_id: userId,
        state,
        status_msg: locked?.status_msg ?? null,
        last_active_ts: state === 'online' ? now : (locked?.last_active_ts ?? now),
        last_seen_ts: now,
        last_online_ts: state === 'online' ? now : (locked?.last_online_ts ?? 0),
        stream_position: await repos.stream.next('presence', null, userId),
      }
      await repos.presence.put(row)
      await this.relay?.presence(repos, row, now)
    })
  }

  /**
   * The presence section of /sync for (since, upTo]: m.presence events of the user and of users sharing a
   * joined room with them. An initial sync (since null) gets everyone's current presence except offline;
   * an incremental one gets the changes in the range, plus the current presence of users who became
   * room-mates in it.
   */
  async forSync(userId: string, since: number | null, upTo: number, filter?: PresenceFilter): Promise<JsonObject[]> {
    if (filter?.limit === 0 || !typeAllowed('m.presence', filter)) return []
    const repos = this.storage.repos
    const rows = since === null ? await repos.presence.current(userId) : await repos.presence.changed(userId, since, upTo)
    const events = rows
      .filter((r) => (!filter?.senders || filter.senders.includes(r.user_id)) && !filter?.not_senders?.includes(r.user_id))
      .sort((a, b) => a.stream_position - b.stream_position)
      .map((r) => ({ type: 'm.presence', sender: r.user_id, content: this.content(r) }))
    return filter?.limit !== undefined ? events.slice(-filter.limit) : events
  }

  /** The m.presence events of a room's members whose presence changed in (since, upTo] (a peek into the room). */
  async inRoom(roomId: string, since: number, upTo: number): Promise<JsonObject[]> {
    const rows = await this.storage.repos.presence.changedInRoom(roomId, since, upTo)
    return rows.sort((a, b) => a.stream_position - b.stream_position).map((r) => ({ type: 'm.presence', sender: r.user_id, content: this.content(r) }))
  }

  /**
   * The m.presence events of these users (a room's members, for its snapshot): every one of them, a user
   * never seen as offline (as Synapse answers), so a client knows each member's presence from the snapshot.
   */
  async ofUsers(userIds: string[]): Promise<JsonObject[]> {
    const rows = new Map((await this.storage.repos.presence.getMany(userIds)).map((r) => [r.user_id, r]))
    return userIds.map((userId) => {
      const row = rows.get(userId)
      return { type: 'm.presence', sender: userId, content: row ? this.content(row) : { presence: 'offline' } }
    })
  }

  /** Turns users not seen for OFFLINE_AFTER_MS offline, a batch at a time; returns how many. */
  async sweep(now = this.clock.now()): Promise<number> {
    let total = 0
    try {
      for (;;) {
        if (this.stopped) return total
        const claimed = await this.storage.streamTransaction(async (repos) => {
          const rows = await repos.presence.claimUnseen(now - OFFLINE_AFTER_MS, SWEEP_BATCH)
          await setOffline(repos, rows)
          for (const row of rows) await this.relay?.presence(repos, { ...row, state: 'offline' }, now)
          return rows.length
        })
        total += claimed
        if (claimed < SWEEP_BATCH) return total
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'presence sweep failed')
      return total
    }
  }

  private content(row: PresenceRow): JsonObject {
    // A user never seen (last_active_ts 0) has no last_active_ago.
    const content: JsonObject = row.last_active_ts > 0 ? { presence: row.state, last_active_ago: Math.max(0, this.clock.now() - row.last_active_ts) } : { presence: row.state }
    if (row.status_msg !== null) content.status_msg = row.status_msg
    // Online users are by definition active: anyone idle is set unavailable (by their client) or offline
    // (by the sweeper), and either change is sent, so clients may trust this until told otherwise.
    if (row.state === 'online') content.currently_active = true
    return content
  }
}

/**
 * Whether a sync asking for `state` leaves the row as it is. Online wins over unavailable while any
 * client asked for online within ONLINE_HOLD_MS, so one idle device does not flip a user whose other
 * device is in use (each flip would wake both devices' long-polls, which would flip it back).
 */
function keeps(row: PresenceRow, state: 'online' | 'unavailable', now: number): boolean {
  if (row.state === state) return true
  return state === 'unavailable' && row.state === 'online' && now - row.last_online_ts < ONLINE_HOLD_MS
}

/**
 * A stream log row per user (one statement), so the notifier learns whose room-mates to wake; the batch
 * commits together, so every row carries the batch's last position.
 */
async function setOffline(repos: Repositories, rows: PresenceRow[]): Promise<void> {
  const users = rows.map((r) => r.user_id)
  const position = await repos.stream.nextForUsers('presence', users)
  await repos.presence.setOffline(users, users.map(() => position))
}
