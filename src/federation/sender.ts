// The durable outbound federation sender. What each destination must receive lives in PostgreSQL
// (migration 0032): a local event is queued for the servers in its room in the transaction that appends it
// (one row per destination and event; the room's servers come from room_servers, counted by a trigger as
// memberships change, so no member list is read), EDUs are queued by their producers (queueEdu). Every
// instance runs the worker: a destination is sent to by the instance holding its lease in PostgreSQL, one
// transaction (≤ 50 PDUs, ≤ 100 EDUs) in flight at a time; a lease whose holder died lapses and another
// instance takes over. A failed transaction backs the destination off exponentially (capped); when it
// answers again it gets what it missed from the queue, or, when it fell more than
// federation.sender.catch_up_max_events behind, the newest event of each room only (it fetches the rest
// through /get_missing_events).
//
// Why a row per (destination, event) rather than a per-destination "acknowledged up to" position over the
// stream: the rows are written with the event, for exactly the servers in the room then (a server that joins
// later gets nothing from before its join; a kicked member's server still gets its kick), as one statement sent
// without waiting, and only for rooms with other servers in them (a local-only room's send writes nothing: the
// room's servers ride on its load, or on what the instance kept of the room). A batch is one index range
// of the destination's rows. With a position instead, each batch would scan every event after it in every room
// (10,000 rooms' traffic to find one destination's share) and could not tell who was in a room when. The
// price, rows per remote server per event, is bounded for a destination that is down: each attempt first
// collapses a backlog over catch_up_max_events to one row per room.
//
// Wake-ups: the instance that queued something wakes its own worker once the transaction has committed
// (StreamRepository.onCommitted); an instance that does not send (federation.sender.enabled false) tells
// the others with a NOTIFY on FEDERATION_CHANNEL instead. A poll finds destinations whose backoff or lease
// ran out, and everything queued when the listener (re)connects.
import { randomBytes } from 'node:crypto'
import type { AppendedEvent } from '../rooms/writer.ts'
import type { Clock } from '../shared/clock.ts'
import { isValidServerName, parseUserId } from '../shared/ids.ts'
import { KeyedWorkers } from '../shared/keyed-workers.ts'
import type { Logger } from '../shared/logger.ts'
import type { QueuedEdu, QueuedPdu, Repositories, Storage } from '../storage/index.ts'
import type { FederationClient } from './client.ts'

/** The channel instances LISTEN on for destinations with new work (payload: server names, space-separated). */
export const FEDERATION_CHANNEL = 'homestead_federation'

/** The spec's limits on one transaction. */
export const MAX_PDUS_PER_TRANSACTION = 50
export const MAX_EDUS_PER_TRANSACTION = 100
/** Largest EDU content queued (its JSON, in bytes): a producer splits bigger ones (to-device per device). */
export const MAX_EDU_BYTES = 128 * 1024
/** A transaction body stays under this (receivers, Homestead as Synapse, refuse far larger ones). */
const TRANSACTION_BODY_BUDGET = 4 * 1024 * 1024
const MAX_EDU_TYPE_LENGTH = 255
const MAX_EDU_KEY_LENGTH = 1024
/** Typing notifications older than this are dropped rather than sent: the remote would time them out anyway. */
const TYPING_EDU_TTL_MS = 60_000
/** Largest NOTIFY payload (PostgreSQL's limit is 8000 bytes); more destinations are sent as '*' (look). */
const MAX_NOTIFY_PAYLOAD = 7000
/** Destinations looked at per poll. */
const DUE_PER_POLL = 500
/** Destinations sent to at once by one instance; the others wait for a free slot. */
const MAX_CONCURRENT_DESTINATIONS = 50
/** Largest answer read to a transaction (it lists only the PDUs the destination refused). */
const MAX_ANSWER_BYTES = 1024 * 1024
/** How long stop() waits for transactions in flight before leaving their leases to lapse. */
const STOP_WAIT_MS = 10_000

export interface SenderSettings {
  enabled: boolean
  backoff_base_ms: number
  backoff_max_ms: number
  lease_ms: number
  catch_up_max_events: number
  poll_interval_ms: number
}

export interface FederationSenderOptions {
  serverName: string
  storage: Storage
  client: FederationClient
  clock: Clock
  logger: Logger
  settings: SenderSettings
}

/** What a transaction body is (the spec's Transaction, as PUT /send/{txnId} takes it). */
interface TransactionBody {
  origin: string
  origin_server_ts: number
  pdus: unknown[]
  edus: Array<{ edu_type: string; content: unknown }>
}

export class FederationSender {
  /** This process's name in the leases it holds. */
  readonly holder = `${process.pid}.${randomBytes(8).toString('hex')}`
  private readonly serverName: string
  private readonly storage: Storage
  private readonly client: FederationClient
  private readonly clock: Clock
  private readonly logger: Logger
  private readonly settings: SenderSettings
  /** Each destination's send loop on this instance (at most one), wake-ups and retries. */
  private readonly workers: KeyedWorkers<string>
  private readonly txnPrefix = `${Date.now().toString(36)}${randomBytes(6).toString('hex')}`
  private txnCounter = 0
  /** The next poll looks at every queued destination, not only those with a destination row due. */
  private scanAll = true

  constructor(options: FederationSenderOptions) {
    this.serverName = options.serverName
    this.storage = options.storage
    this.client = options.client
    this.clock = options.clock
    this.logger = options.logger
    this.settings = options.settings
    this.workers = new KeyedWorkers<string>({
      loop: (destination) => this.sendLoop(destination),
      maxConcurrent: MAX_CONCURRENT_DESTINATIONS,
      notifyOthers: async (destinations) => {
        const payload = destinations.join(' ')
        await this.storage.db.query('SELECT pg_notify($1, $2)', [FEDERATION_CHANNEL, payload.length > MAX_NOTIFY_PAYLOAD ? '*' : payload])
      },
      logger: options.logger,
      what: 'federation destination',
      poll: () => this.pollDue(),
      releaseAll: () => this.storage.repos.federationOutbound.releaseAll(this.holder),
    })
  }

  /** The room's servers, read with the room's load (RoomWriter.onPrepare): a message send reads nothing more. */
  prepare(repos: Repositories, roomId: string): Promise<string[]> {
    return repos.federationOutbound.serversIn(roomId)
  }

  /**
   * The append hook: queues a local event for every other server with a member joined to its room (and, for a
   * kick or ban, for the server of the member it removed), in the appending transaction. `prepared`: the
   * room's servers read with its load, if they were.
   */
  async onAppend(repos: Repositories, appended: AppendedEvent, prepared: Promise<string[]> | undefined): Promise<void> {
    const event = appended.event
    // Our users' events, and remote ones this server must pass on (a join, leave or knock it took as the
    // resident server: the room's other servers hear of it from us), never back to the server they came from.
    const relayed = appended.relay === true
    // One of our users' events that came back from another server (origin set) is not sent again; an invite
    // of another server's user, co-signed there, enters the room through the ingest with ourselves as origin.
    const cameBack = appended.origin !== undefined && appended.origin !== this.serverName
    // An invite this server built (no origin) from a third-party invite is ours to send though another server's
    // user sent the m.room.third_party_invite (src/rooms/third-party-invites.ts).
    const issuedFor3pid = appended.origin === undefined && event.type === 'm.room.member' && Object.hasOwn(event.content, 'third_party_invite')
    if (!relayed && !issuedFor3pid && (cameBack || parseUserId(event.sender)?.serverName !== this.serverName)) return
    const except = relayed && appended.origin !== undefined ? appended.origin : null
    const target = event.type === 'm.room.member' && event.state_key !== undefined ? parseUserId(event.state_key)?.serverName : undefined
    // A kicked or banned member's server hears of it, though it may have no member left in the room.
    const removed = target !== undefined && (event.content.membership === 'leave' || event.content.membership === 'ban') ? target : null
    const outbound = repos.federationOutbound
    if (!prepared) {
      // Nothing waits for the room's servers: one statement queues the event for them (after this event's own
      // membership change, which the trigger on room_memberships counted), and tells them once it committed.
      this.wakeOnCommit(repos, outbound.enqueuePduForRoom(event.room_id, event.event_id, except === null ? [this.serverName] : [this.serverName, except], removed))
      return
    }
    // A message: its room's servers came with the room's load (or with what this instance kept of the room).
    const destinations = new Set(await prepared)
    if (removed !== null) destinations.add(removed)
    destinations.delete(this.serverName)
    if (except !== null) destinations.delete(except)
    if (destinations.size === 0) return
    await outbound.enqueuePdu(event.room_id, event.event_id, [...destinations])
    this.wakeOnCommit(repos, destinations)
  }

  /**
   * Queues an EDU for a destination (durably; sent in order with the destination's other EDUs). With `key`,
   * it replaces the EDU queued under the same type and key that was not sent yet (typing state of a room's
   * user, a room's receipts, a user's presence). Typing EDUs older than a minute are dropped unsent.
   */
  async queueEdu(destination: string, eduType: string, content: Record<string, unknown>, key?: string): Promise<void> {
    const json = this.checkEdu(destination, eduType, content, key)
    if (json === null) return
    await this.storage.repos.federationOutbound.enqueueEdu(destination, eduType, json, key ?? null, this.clock.now())
    this.wake([destination])
  }

  /** queueEdu inside the caller's transaction (e.g. with the local to-device messages): sent once it commits. */
  async queueEduIn(repos: Repositories, destination: string, eduType: string, content: Record<string, unknown>, key?: string): Promise<void> {
    const json = this.checkEdu(destination, eduType, content, key)
    if (json === null) return
    await repos.federationOutbound.enqueueEdu(destination, eduType, json, key ?? null, this.clock.now())
    this.wakeOnCommit(repos, [destination])
  }

  /**
   * Queues an EDU, inside the caller's transaction, for every other server with a member in the room
   * (`scope` 'room': typing, receipts) or sharing a room with the user (`scope` 'user': presence, device lists).
   */
  async queueEduForIn(repos: Repositories, scope: 'room' | 'user', id: string, eduType: string, content: Record<string, unknown>, key?: string): Promise<void> {
    const json = eduJson(eduType, content, key)
    // Sent with the transaction's other statements, not waited for (a room with no other server queues
    // nothing, and a typing or receipt change should not wait a round trip to learn so).
    this.wakeOnCommit(repos, repos.federationOutbound.enqueueEduFor(scope, id, this.serverName, eduType, json, key ?? null, this.clock.now()))
  }


  private checkEdu(destination: string, eduType: string, content: Record<string, unknown>, key: string | undefined): string | null {
    if (!isValidServerName(destination)) throw new Error(`not a server name: ${destination}`)
    if (destination === this.serverName) return null
    return eduJson(eduType, content, key)
  }

  /**
   * The destination was heard from (it sent us a transaction or answered a request): its backoff is cleared
   * and what is queued for it goes now, as it is evidently back.
   */
  async heardFrom(destination: string): Promise<void> {
    if (destination === this.serverName) return
    // Only a destination that was backed off needs waking: one that was not is being sent to already, or
    // has nothing queued (every transaction it sends us must not cost a lease round here).
    if (await this.storage.repos.federationOutbound.endBackoff(destination)) this.wake([destination])
  }

  /** Wakes the destinations once the transaction has committed (they may come from a statement not waited for). */
  private wakeOnCommit(repos: Repositories, destinations: Iterable<string> | Promise<string[]>): void {
    this.workers.wakeOnCommit(repos, repos.stream.onCommitted, destinations)
  }

  /** Sends what is queued for these destinations now (this instance's worker, or, without one, the others'). */
  wake(destinations: Iterable<string>): void {
    this.workers.wake(destinations)
  }

  /** A notification from another instance (FEDERATION_CHANNEL). */
  notified(payload: string): void {
    if (!this.workers.delivering || this.workers.stopped) return
    if (payload === '*' || payload === '') {
      this.scanAll = true
      void this.workers.pollNow()
      return
    }
    this.wake(payload.split(' ').filter((d) => isValidServerName(d)))
  }

  /** The listening connection is (back) up: what was queued meanwhile is looked for. */
  listenerConnected(): void {
    this.scanAll = true
    void this.workers.pollNow()
  }

  start(): void {
    if (this.settings.enabled) this.workers.start(this.settings.poll_interval_ms)
  }

  /** Stops sending: waits (a while) for the transactions in flight, then gives up this instance's leases. */
  async stop(): Promise<void> {
    await this.workers.stop(Math.min(STOP_WAIT_MS, this.settings.lease_ms / 2))
  }

  /** Runs the destinations due (the poll of KeyedWorkers). */
  private async pollDue(): Promise<void> {
    try {
      const all = this.scanAll
      this.scanAll = false
      const due = await this.storage.repos.federationOutbound.due(DUE_PER_POLL, all)
      // More than one poll's worth queued: the next one looks further (those taken now hold leases then).
      if (all && due.length === DUE_PER_POLL) this.scanAll = true
      for (const d of due) if (!this.workers.isRunning(d) && isValidServerName(d)) this.workers.run(d)
    } catch (err) {
      this.scanAll = true
      throw err
    }
  }

  /** Sends to `destination` while it has something queued, if this instance gets its lease. */
  private async sendLoop(destination: string): Promise<void> {
    const repo = this.storage.repos.federationOutbound
    do {
      this.workers.startRound(destination)
      const failures = this.workers.stopped ? null : await repo.takeLease(destination, this.holder, this.settings.lease_ms)
      if (failures === null) return
      if (failures > 0) {
        // Back after failing: what it missed is queued; past catch_up_max_events, the newest of each room.
        const dropped = await repo.collapse(destination, this.settings.catch_up_max_events)
        if (dropped > 0) this.logger.info({ destination, dropped }, 'destination far behind: sending only the newest event of each room')
      }
      while (!this.workers.stopped) {
        const [pdus, edus] = await Promise.all([repo.nextPdus(destination, MAX_PDUS_PER_TRANSACTION), repo.nextEdus(destination, MAX_EDUS_PER_TRANSACTION)])
        if (pdus.length === 0 && edus.length === 0) {
          // Released only if nothing was queued meanwhile; whoever queues after this sees the lease free. A
          // lease lost meanwhile (it lapsed, another instance holds it) ends this loop: that one sends now.
          const released = await repo.release(destination, this.holder)
          if (released === 'lost') return
          if (released === 'released') break
          continue
        }
        if (!(await this.sendOne(destination, pdus, edus))) return
      }
    } while (this.workers.wokenDuringRound(destination))
  }

  /** One transaction; true when it was delivered (or had nothing left worth sending). */
  private async sendOne(destination: string, pdus: QueuedPdu[], edus: QueuedEdu[]): Promise<boolean> {
    const repo = this.storage.repos.federationOutbound
    const now = this.clock.now()
    const body: TransactionBody = { origin: this.serverName, origin_server_ts: now, pdus: [], edus: [] }
    let bytes = 0
    for (const p of pdus) {
      if (p.json === null) continue
      body.pdus.push(JSON.parse(p.json))
      bytes += p.json.length
    }
    // EDUs past the body budget wait for the next transaction (50 PDUs and 100 EDUs at their limits would
    // make a body the destination refuses, and then retries of it would never get through).
    let taken = 0
    for (const e of edus) {
      if (taken > 0 && bytes + e.content.length > TRANSACTION_BODY_BUDGET) break
      taken++
      bytes += e.content.length
      if (e.edu_type === 'm.typing' && now - e.created_ts > TYPING_EDU_TTL_MS) continue
      body.edus.push({ edu_type: e.edu_type, content: JSON.parse(e.content) })
    }
    edus = edus.slice(0, taken)
    const pduIds = pdus.map((p) => p.stream_ordering)
    const eduIds = edus.map((e) => e.id)
    if (body.pdus.length === 0 && body.edus.length === 0) {
      await repo.acknowledge(destination, this.holder, pduIds, eduIds, this.settings.lease_ms, false)
      return true
    }
    const txnId = `${this.txnPrefix}.${++this.txnCounter}`
    try {
      const answer = await this.client.request<{ pdus?: Record<string, { error?: string }> }>(destination, {
        method: 'PUT',
        path: `/_matrix/federation/v1/send/${encodeURIComponent(txnId)}`,
        body,
        timeoutMs: Math.floor(this.settings.lease_ms / 2),
        maxBytes: MAX_ANSWER_BYTES,
      })
      const refused = answer && typeof answer.pdus === 'object' ? Object.entries(answer.pdus).filter(([, r]) => r && typeof r === 'object' && r.error !== undefined) : []
      if (refused.length > 0) this.logger.info({ destination, refused: refused.length }, 'destination refused some of our events')
    } catch (err) {
      if (this.workers.stopped) return false
      const delay = await repo.failed(destination, this.holder, this.settings.backoff_base_ms, this.settings.backoff_max_ms)
      this.logger.warn({ destination, err: (err as Error).message, retry_in_ms: delay }, 'federation transaction failed')
      if (delay !== null) this.workers.retryAfter(destination, delay)
      return false
    }
    await repo.acknowledge(destination, this.holder, pduIds, eduIds, this.settings.lease_ms, true)
    return true
  }
}

/** An EDU's JSON; throws on a producer's mistake (a type, key or content out of bounds). */
function eduJson(eduType: string, content: Record<string, unknown>, key: string | undefined): string {
  if (eduType.length === 0 || eduType.length > MAX_EDU_TYPE_LENGTH) throw new Error('EDU type length out of bounds')
  if (key !== undefined && key.length > MAX_EDU_KEY_LENGTH) throw new Error('EDU key too long')
  const json = JSON.stringify(content)
  if (Buffer.byteLength(json) > MAX_EDU_BYTES) throw new Error(`EDU ${eduType} larger than ${MAX_EDU_BYTES} bytes`)
  return json
}
