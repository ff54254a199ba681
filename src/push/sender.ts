// Delivery to push gateways (push gateway API, POST /_matrix/push/v1/notify). What each pusher must still
// deliver lives in PostgreSQL (push_queue, migration 0041): who an event notifies is recorded in the
// transaction that appends it (one push_fanout row, migration 0051), and expanded after the commit into a
// queued notification for each pusher of each local member the push rules say it notifies; a
// badge update (the unread count alone) in the transaction of the user's read receipt. Every instance runs
// the worker: a pusher is delivered to by the instance holding its lease, one request in flight at a time,
// in queue order; a lease whose holder died lapses and another instance takes over, so nothing queued is
// lost, and a delivery is removed only once its gateway accepted it, so nothing is sent twice unless an
// instance dies between the gateway's answer and the removal (the gateway drops duplicates by event_id).
// E-mail pushers (kind "email") share the queue and the leases but mail digests: see digestRound.
// A failure backs the pusher off exponentially; after failing for a day, what is queued for it is dropped
// (Synapse's behaviour). A gateway answering `rejected` with the pusher's pushkey removes the pusher.
//
// Wake-ups: the instance that queued something wakes its own worker once the transaction has committed; one
// that does not deliver (push.delivery.enabled false) tells the others with a NOTIFY on PUSH_CHANNEL. A poll
// finds pushers whose backoff or lease ran out, and what was queued while the listener was down.
import { createHash, randomBytes } from 'node:crypto'
import { digestMail, type DigestRoom } from '../email/digest.ts'
import type { Mailer } from '../email/mailer.ts'
import type { OutboundGuard } from '../outbound/index.ts'
import type { Clock } from '../shared/clock.ts'
import { KeyedWorkers } from '../shared/keyed-workers.ts'
import type { Logger } from '../shared/logger.ts'
import { randomString } from '../shared/random.ts'
import type { DigestItem, EventPush, LeasedPusher, QueuedPush, Repositories, Storage } from '../storage/index.ts'
import { badgeNotification, eventNotification, rejectedPushkeys, roomNameOf, type NotifiedEvent } from './gateway.ts'

/** The channel instances LISTEN on for pushers with new work (payload: pusher IDs, space-separated). */
export const PUSH_CHANNEL = 'homestead_push'

/** Pushers looked at per poll. */
const DUE_PER_POLL = 500
/** Unexpanded fan-outs (push_fanout) expanded per poll. */
const FANOUTS_PER_POLL = 100
/** Pushers delivered to at once by one instance; the others wait for a free slot. */
const MAX_CONCURRENT_PUSHERS = 100
/** Largest answer read from a gateway (it lists rejected pushkeys only). */
const MAX_ANSWER_BYTES = 64 * 1024
const MAX_NOTIFY_PAYLOAD = 7000
const STOP_WAIT_MS = 10_000
/** Most queued events one digest mail covers (the rest wait for the next). */
const MAX_DIGEST_ITEMS = 100
/** How long the unsubscribe link of a digest mail works. */
export const UNSUBSCRIBE_LINK_LIFETIME_MS = 90 * 86_400_000
/** Where the unsubscribe links of digest mails point, under public_baseurl. */
export const UNSUBSCRIBE_PATH = '/_synapse/client/email/unsubscribe'

/** The hash under which an unsubscribe token is stored. */
export function unsubscribeHash(token: string): Buffer {
  return createHash('sha256').update(token).digest()
}

/** Digest mails of e-mail pushers (email.enable_notifs); null: e-mail pushers get nothing. */
export interface DigestSettings {
  mailer: Mailer
  appName: string
  clientBaseUrl: string
  /** public_baseurl without its trailing slash. */
  baseUrl: string
  delayMs: number
  throttleMs: number
}

export interface DeliverySettings {
  enabled: boolean
  backoff_base_ms: number
  backoff_max_ms: number
  give_up_after_ms: number
  max_queued: number
  lease_ms: number
  poll_interval_ms: number
}

export interface PushSenderOptions {
  storage: Storage
  clock: Clock
  logger: Logger
  guard: OutboundGuard
  settings: DeliverySettings
  /** The user's unread count as gateways show it on the app's badge. */
  badge: (userId: string) => Promise<number>
  digests?: DigestSettings | null
}

type Outcome = 'delivered' | 'failed' | 'lost' | 'removed'

export class PushSender {
  /** This process's name in the leases it holds. */
  readonly holder = `${process.pid}.${randomBytes(8).toString('hex')}`
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly logger: Logger
  private readonly guard: OutboundGuard
  private readonly settings: DeliverySettings
  private readonly badge: (userId: string) => Promise<number>
  private readonly workers: KeyedWorkers<number>
  private readonly digests: DigestSettings | null

  constructor(options: PushSenderOptions) {
    this.digests = options.digests ?? null
    this.storage = options.storage
    this.clock = options.clock
    this.logger = options.logger
    this.guard = options.guard
    this.settings = options.settings
    this.badge = options.badge
    this.workers = new KeyedWorkers<number>({
      loop: (id) => this.deliverLoop(id),
      maxConcurrent: MAX_CONCURRENT_PUSHERS,
      notifyOthers: async (ids) => {
        const payload = ids.join(' ')
        await this.storage.db.query('SELECT pg_notify($1, $2)', [PUSH_CHANNEL, payload.length > MAX_NOTIFY_PAYLOAD ? '*' : payload])
      },
      logger: options.logger,
      what: 'pusher',
      poll: async () => {
        // Fan-outs an instance left unexpanded (it died after the commit) first: they queue deliveries.
        for (const id of await this.storage.repos.pushers.fanoutsDue(FANOUTS_PER_POLL)) await this.expand(id)
        for (const id of await this.storage.repos.pushers.due(DUE_PER_POLL)) if (!this.workers.isRunning(id)) this.workers.run(id)
      },
      releaseAll: () => this.storage.repos.pushers.releaseAll(this.holder),
    })
  }

  /**
   * Records an event's notifications in its transaction (Push's deliveries): one push_fanout row, whatever
   * the number of pushers. Once the transaction has committed, and the send's answer has been written (the
   * next turn of the event loop), the row is expanded into the pushers' queues and their deliveries woken.
   */
  queueEvent(repos: Repositories, push: EventPush): void {
    const fanout = repos.pushers.queueFanout(push)
    // A failed statement fails the transaction (nothing to expand then), not the process.
    fanout.catch(() => {})
    repos.stream.onCommitted.push(() => {
      fanout.then((id) => {
        if (id !== null) setImmediate(() => void this.expand(id))
      }, () => {})
    })
  }

  /** Expands a fan-out row into its pushers' queues and wakes them; on failure the poll expands it later. */
  private async expand(id: number): Promise<void> {
    if (this.workers.stopped) return
    try {
      this.workers.wake(await this.storage.transaction((repos) => repos.pushers.expandFanout(id)))
    } catch (err) {
      this.logger.warn({ fanout: id, err: (err as Error).message }, 'push fan-out failed; the poll retries it')
    }
  }

  /** A local user's read receipt, in its transaction: each of their pushers is told the new unread count. */
  async onReadReceipt(repos: Repositories, userId: string): Promise<void> {
    this.workers.wakeOnCommit(repos, repos.stream.onCommitted, await repos.pushers.enqueueBadge(userId, this.clock.now()))
  }

  /** A notification from another instance (PUSH_CHANNEL). */
  notified(payload: string): void {
    if (!this.workers.delivering || this.workers.stopped) return
    if (payload === '*' || payload === '') {
      void this.workers.pollNow()
      return
    }
    this.workers.wake(payload.split(' ').map(Number).filter((id) => Number.isSafeInteger(id) && id > 0))
  }

  /** The listening connection is (back) up: what was queued meanwhile is looked for. */
  listenerConnected(): void {
    void this.workers.pollNow()
  }

  start(): void {
    if (this.settings.enabled) this.workers.start(this.settings.poll_interval_ms)
  }

  /** Stops delivering: waits (a while) for the requests in flight, then gives up this instance's leases. */
  async stop(): Promise<void> {
    await this.workers.stop(Math.min(STOP_WAIT_MS, this.settings.lease_ms / 2))
  }

  private async deliverLoop(id: number): Promise<void> {
    const repo = this.storage.repos.pushers
    do {
      this.workers.startRound(id)
      const pusher = this.workers.stopped ? null : await repo.takeLease(id, this.holder, this.settings.lease_ms)
      if (pusher === null) return
      if (pusher.kind === 'email') {
        if ((await this.digestRound(pusher)) !== 'released') return
        continue
      }
      while (!this.workers.stopped) {
        const item = await repo.next(id)
        if (item === null) {
          // Released only if nothing was queued meanwhile; whoever queues after this sees the lease free.
          const released = await repo.release(id, this.holder)
          if (released === 'lost') return
          if (released === 'released') break
          continue
        }
        if ((await this.deliverOne(pusher, item)) !== 'delivered') return
      }
    } while (this.workers.wokenDuringRound(id))
  }

  /**
   * An e-mail pusher's turn: queued events the user has read meanwhile are dropped; the others are mailed
   * together once the oldest has waited email.notif_delay_ms and the last mail is email.notif_throttle_ms
   * old. Until then the pusher is deferred (retry_at, in PostgreSQL, so any instance mails it when due) and
   * its lease given up. The events mailed leave the queue only after the SMTP server accepted the mail.
   */
  private async digestRound(pusher: LeasedPusher): Promise<'released' | 'deferred' | Outcome> {
    const repo = this.storage.repos.pushers
    while (!this.workers.stopped) {
      const items = await repo.digestItems(pusher.id, pusher.user_id, MAX_DIGEST_ITEMS)
      if (items.length === 0) {
        const released = await repo.release(pusher.id, this.holder)
        if (released === 'released') return 'released'
        if (released === 'lost') return 'lost'
        continue
      }
      const settings = this.digests
      // Read, or mail is off now: nothing to say about those.
      const dropped = settings === null ? items : items.filter((i) => i.read)
      if (dropped.length > 0) {
        await repo.dropQueued(pusher.id, this.holder, dropped.map((i) => i.id))
        continue
      }
      if (settings === null) return 'lost'
      const now = this.clock.now()
      const oldest = Math.min(...items.map((i) => i.created_ts))
      const due = Math.max(oldest + settings.delayMs, pusher.last_mail_ts === null ? 0 : pusher.last_mail_ts + settings.throttleMs)
      if (due > now) {
        if (!(await repo.defer(pusher.id, this.holder, due - now))) return 'lost'
        this.workers.retryAfter(pusher.id, due - now)
        return 'deferred'
      }
      const rooms = await this.digestRooms(items)
      if (rooms.length === 0) {
        // The events are no longer stored (purged): nothing to mail.
        await repo.dropQueued(pusher.id, this.holder, items.map((i) => i.id))
        continue
      }
      const token = randomString(32)
      await repo.addUnsubscribeToken(pusher.id, unsubscribeHash(token), now, now - UNSUBSCRIBE_LINK_LIFETIME_MS)
      const unsubscribeUrl = `${settings.baseUrl}${UNSUBSCRIBE_PATH}?${new URLSearchParams({ token })}`
      const mail = digestMail({ appName: settings.appName, userId: pusher.user_id, rooms, clientBaseUrl: settings.clientBaseUrl, unsubscribeUrl })
      // RFC 8058 one-click unsubscribe: mail clients POST to the link (a scanner opening it only gets the page).
      const headers = { 'List-Unsubscribe': `<${unsubscribeUrl}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' }
      try {
        await settings.mailer.send({ to: pusher.pushkey, ...mail, headers })
      } catch (err) {
        if (this.workers.stopped) return 'failed'
        const outcome = await repo.failed(pusher.id, this.holder, this.settings.backoff_base_ms, this.settings.backoff_max_ms, this.settings.give_up_after_ms, this.settings.max_queued)
        this.logger.warn({ pusher: pusher.id, err: (err as Error).message, retry_in_ms: outcome?.delay, gave_up: outcome?.gaveUp }, 'digest mail could not be sent')
        if (outcome !== null) this.workers.retryAfter(pusher.id, outcome.delay)
        return 'failed'
      }
      if (!(await repo.mailed(pusher.id, this.holder, items.map((i) => i.id), now, this.settings.lease_ms))) return 'lost'
      pusher.last_mail_ts = now
    }
    return 'failed'
  }

  /** The queued events still stored, by room (in queue order), with the rooms' names and the senders' names. */
  private async digestRooms(items: DigestItem[]): Promise<DigestRoom[]> {
    const repos = this.storage.repos
    const byRoom = new Map<string, string[]>()
    for (const i of items) {
      if (i.room_id === null || i.event_id === null) continue
      const list = byRoom.get(i.room_id) ?? []
      list.push(i.event_id)
      byRoom.set(i.room_id, list)
    }
    const rooms: DigestRoom[] = []
    for (const [roomId, eventIds] of byRoom) {
      const rows = new Map((await repos.events.getMany(roomId, eventIds)).map((r) => [r.event_id, r]))
      const found = eventIds.map((id) => rows.get(id)).filter((r) => r !== undefined)
      if (found.length === 0) continue
      const senders = [...new Set(found.map((r) => r.sender))]
      const state = await repos.state.currentEvents(roomId, [['m.room.name', ''], ['m.room.canonical_alias', ''], ...senders.map((s): [string, string] => ['m.room.member', s])])
      const contentOf = (type: string, stateKey: string): Record<string, unknown> => {
        const e = state.find((s) => s.type === type && s.state_key === stateKey)
        return e ? ((JSON.parse(e.json) as { content?: Record<string, unknown> }).content ?? {}) : {}
      }
      rooms.push({
        roomId,
        name: roomNameOf(contentOf('m.room.name', '').name, contentOf('m.room.canonical_alias', '').alias),
        messages: found.map((r) => {
          const pdu = JSON.parse(r.json) as { content?: unknown }
          const name = contentOf('m.room.member', r.sender).displayname
          return {
            sender: r.sender,
            senderName: typeof name === 'string' && name !== '' ? name : null,
            type: r.type,
            content: typeof pdu.content === 'object' && pdu.content !== null ? (pdu.content as Record<string, unknown>) : {},
            stateKey: r.state_key,
          }
        }),
      })
    }
    return rooms
  }

  /** One request to the pusher's gateway (or none, when there is nothing worth sending). */
  private async deliverOne(pusher: LeasedPusher, item: QueuedPush): Promise<Outcome> {
    const repo = this.storage.repos.pushers
    const badge = await this.badge(pusher.user_id)
    let body: { notification: Record<string, unknown> } | null
    if (item.event_id === null) {
      // A badge the gateway already shows needs no request.
      body = badge === pusher.last_badge ? null : badgeNotification(pusher, badge)
    } else {
      body = await this.eventBody(pusher, item, badge)
    }
    if (body === null) return (await repo.delivered(pusher.id, this.holder, item.id, null, this.settings.lease_ms)) ? 'delivered' : 'lost'
    const url = typeof pusher.data.url === 'string' ? pusher.data.url : ''
    let rejected: string[]
    try {
      const answer = await this.guard.postJson(url, body, { timeoutMs: Math.floor(this.settings.lease_ms / 2), maxBytes: MAX_ANSWER_BYTES })
      if (answer.status < 200 || answer.status >= 300) throw new Error(`the gateway answered ${answer.status}`)
      let parsed: unknown = null
      try {
        parsed = JSON.parse(answer.body.toString('utf8'))
      } catch {}
      rejected = rejectedPushkeys(parsed)
    } catch (err) {
      if (this.workers.stopped) return 'failed'
      const outcome = await repo.failed(pusher.id, this.holder, this.settings.backoff_base_ms, this.settings.backoff_max_ms, this.settings.give_up_after_ms, this.settings.max_queued)
      this.logger.warn({ pusher: pusher.id, app_id: pusher.app_id, err: (err as Error).message, retry_in_ms: outcome?.delay, gave_up: outcome?.gaveUp }, 'push gateway request failed')
      if (outcome !== null) this.workers.retryAfter(pusher.id, outcome.delay)
      return 'failed'
    }
    if (rejected.includes(pusher.pushkey)) {
      this.logger.info({ pusher: pusher.id, app_id: pusher.app_id }, 'push gateway rejected the pushkey: pusher removed')
      await repo.removeLeased(pusher.id, this.holder)
      return 'removed'
    }
    if (!(await repo.delivered(pusher.id, this.holder, item.id, badge, this.settings.lease_ms))) return 'lost'
    pusher.last_badge = badge
    pusher.failures = 0
    return 'delivered'
  }

  /** The notification about a queued event; null when the event is no longer stored. */
  private async eventBody(pusher: LeasedPusher, item: QueuedPush, badge: number): Promise<{ notification: Record<string, unknown> } | null> {
    const repos = this.storage.repos
    const roomId = item.room_id as string
    // Any stored event: an invite to a room this server is not in is an outlier.
    const [row] = await repos.events.getMany(roomId, [item.event_id as string])
    if (row === undefined) return null
    const pdu = JSON.parse(row.json) as Record<string, unknown>
    const content = (typeof pdu.content === 'object' && pdu.content !== null ? pdu.content : {}) as Record<string, unknown>
    const event: NotifiedEvent = { event_id: row.event_id, room_id: roomId, type: row.type, sender: row.sender, content, ...(row.state_key !== null ? { state_key: row.state_key } : {}) }
    const tweaks = item.tweaks ?? {}
    if (pusher.data.format === 'event_id_only') return eventNotification({ event, userId: pusher.user_id, pusher, tweaks, badge, roomName: null, senderDisplayName: null })
    const state = await repos.state.currentEvents(roomId, [
      ['m.room.name', ''],
      ['m.room.canonical_alias', ''],
      ['m.room.member', row.sender],
    ])
    const contentOf = (type: string): Record<string, unknown> => {
      const found = state.find((s) => s.type === type)
      return found ? ((JSON.parse(found.json) as { content?: Record<string, unknown> }).content ?? {}) : {}
    }
    // An invite to a room this server is not in: what the room is comes from the invite's stripped state.
    const stripped = state.length === 0 ? strippedOf(pdu) : null
    const strippedContent = (type: string, stateKey = ''): Record<string, unknown> => stripped?.find((s) => s.type === type && s.state_key === stateKey)?.content ?? {}
    const name = stripped ? roomNameOf(strippedContent('m.room.name').name, strippedContent('m.room.canonical_alias').alias) : roomNameOf(contentOf('m.room.name').name, contentOf('m.room.canonical_alias').alias)
    const displayName = stripped ? strippedContent('m.room.member', row.sender).displayname : contentOf('m.room.member').displayname
    return eventNotification({ event, userId: pusher.user_id, pusher, tweaks, badge, roomName: name, senderDisplayName: typeof displayName === 'string' ? displayName : null })
  }
}

function strippedOf(pdu: Record<string, unknown>): Array<{ type: string; state_key: string; content: Record<string, unknown> }> {
  const unsigned = pdu.unsigned as { invite_room_state?: unknown } | undefined
  const list = Array.isArray(unsigned?.invite_room_state) ? unsigned.invite_room_state : []
  return list.filter(
    (e): e is { type: string; state_key: string; content: Record<string, unknown> } =>
      typeof e === 'object' && e !== null && typeof e.type === 'string' && typeof e.state_key === 'string' && typeof e.content === 'object' && e.content !== null,
  )
}
