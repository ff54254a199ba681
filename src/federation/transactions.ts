// Transactions received from other servers (server-server API, "Transactions", PUT /send/{txnId}).
// Deduplicated per (origin, txnId) in PostgreSQL: the first instance to claim a transaction processes it and
// stores its answer; a retry, on any instance, gets that answer and nothing is processed twice; a claim whose
// instance died is taken over once its lease runs out. PDUs of one room are handled in the order sent,
// rooms side by side; each PDU is named in the answer with its error, if any. The whole is bounded in time
// so the answer comes before the sender gives up: what is not handled by then is answered with an error.
import type { JsonObject } from '../protocol/events/types.ts'
import { roomVersion, type RoomVersion } from '../protocol/room-versions.ts'
import { MatrixError } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import type { Clock } from '../shared/clock.ts'
import type { Storage } from '../storage/index.ts'
import type { ServerAcls } from './acl.ts'
import type { InboundEdus } from './edus.ts'
import { checkIncomingPdu, pduEventId, type KeyLookup } from './pdu-check.ts'
import type { PduSink } from './pdu-sink.ts'

/** The spec's limits on one transaction. */
export const MAX_TXN_PDUS = 50
export const MAX_TXN_EDUS = 100
/** The largest transaction body: 50 PDUs of 64 KiB and room for EDUs (to-device messages are the big ones). */
export const MAX_TXN_BYTES = 8 * 1024 * 1024

/** The PDUs of a transaction are handled within this (senders give up after about a minute). */
const DEFAULT_BUDGET_MS = 45_000
/** A claim older than this without an answer belongs to an instance that died. */
const LEASE_EXTRA_MS = 30_000
const POLL_MS = 250
const KEEP_MS = 24 * 60 * 60 * 1000
const PRUNE_EVERY_MS = 60 * 60 * 1000
const PRUNE_LOCK_KEY = 7_386_051_131

export interface Transaction {
  origin: string
  origin_server_ts: number
  pdus: unknown[]
  edus?: unknown[] | undefined
}

export type PduResult = { error?: string }
export interface TransactionAnswer {
  pdus: Record<string, PduResult>
}

export interface InboundTransactionsOptions {
  storage: Storage
  clock: Clock
  logger: Logger
  keys: KeyLookup
  sink: PduSink
  edus: InboundEdus
  acls: ServerAcls
  /** How long the PDUs of one transaction may take (default 45 s). */
  budgetMs?: number
  /** Told of each server that sent a transaction (the outbound sender ends its backoff: it is back). */
  heardFrom?: (origin: string) => void
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v)
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref())

export class InboundTransactions {
  private readonly o: InboundTransactionsOptions
  private readonly budgetMs: number
  private readonly inflight = new Map<string, Promise<TransactionAnswer>>()
  private pruner: NodeJS.Timeout | null = null

  constructor(options: InboundTransactionsOptions) {
    this.o = options
    this.budgetMs = options.budgetMs ?? DEFAULT_BUDGET_MS
  }

  /** Prunes old transaction IDs now and then, on one instance at a time. */
  start(): void {
    if (this.pruner) return
    this.pruner = setInterval(() => {
      void this.o.storage
        .exclusively(PRUNE_LOCK_KEY, async () => void (await this.o.storage.repos.federationTxns.prune(this.o.clock.now() - KEEP_MS)))
        .catch((err: Error) => this.o.logger.warn({ err: err.message }, 'pruning federation transactions failed'))
    }, PRUNE_EVERY_MS)
    this.pruner.unref()
  }

  stop(): void {
    if (this.pruner) clearInterval(this.pruner)
    this.pruner = null
  }

  /** PUT /send/{txnId} from an authenticated `origin`: the answer, computed once per (origin, txnId). */
  receive(origin: string, txnId: string, txn: Transaction): Promise<TransactionAnswer> {
    if (txn.origin !== origin) throw new MatrixError('M_BAD_JSON', "The transaction's origin is not the server that signed the request")
    this.o.heardFrom?.(origin)
    const key = `${origin}\n${txnId}`
    let pending = this.inflight.get(key)
    if (!pending) {
      pending = this.claimAndProcess(origin, txnId, txn).finally(() => this.inflight.delete(key))
      this.inflight.set(key, pending)
    }
    return pending
  }

  private async claimAndProcess(origin: string, txnId: string, txn: Transaction): Promise<TransactionAnswer> {
    const repos = this.o.storage.repos
    const lease = this.budgetMs + LEASE_EXTRA_MS
    const giveUp = performance.now() + lease + POLL_MS
    for (;;) {
      const now = this.o.clock.now()
      const claim = await repos.federationTxns.claim(origin, txnId, now, now - lease)
      if (claim.claimed) break
      if (claim.response !== null) return JSON.parse(claim.response) as TransactionAnswer
      // Another instance is processing it: its answer comes within the lease, or the claim goes stale.
      if (performance.now() > giveUp) throw new MatrixError('M_UNKNOWN', 'The transaction is still being processed', 503)
      await sleep(POLL_MS)
    }
    let answer: TransactionAnswer
    try {
      answer = await this.process(origin, txn)
    } catch (err) {
      await repos.federationTxns.release(origin, txnId).catch(() => {})
      throw err
    }
    await repos.federationTxns.complete(origin, txnId, JSON.stringify(answer))
    return answer
  }

  private async process(origin: string, txn: Transaction): Promise<TransactionAnswer> {
    const deadline = performance.now() + this.budgetMs
    const byRoom = new Map<string, JsonObject[]>()
    for (const raw of txn.pdus) {
      // A PDU without a room ID names neither its room version nor, so, its event ID: it is dropped unnamed.
      if (!isObject(raw) || typeof raw.room_id !== 'string') continue
      byRoom.set(raw.room_id, [...(byRoom.get(raw.room_id) ?? []), raw])
    }
    const roomIds = [...byRoom.keys()]
    const [versions, denied] = await Promise.all([this.o.storage.repos.rooms.versionsOf(roomIds), this.o.acls.denied(origin, roomIds)])

    const results: Record<string, PduResult> = {}
    let pdusDone!: () => void
    const edus = this.o.edus.handle(origin, txn.edus ?? [], new Promise<void>((resolve) => (pdusDone = resolve)))
    const rooms = roomIds.map(async (roomId) => {
      const stored = versions.get(roomId)
      const version = stored === undefined ? undefined : roomVersion(stored)
      for (const raw of byRoom.get(roomId) as JsonObject[]) {
        if (!version) {
          // Without the room's version the event ID cannot be computed; a v1/v2 event carries its own.
          const named = typeof raw.event_id === 'string' && raw.event_id.startsWith('$') && raw.event_id.length <= 255 ? raw.event_id : null
          if (named) results[named] = { error: stored === undefined ? 'unknown room' : `unsupported room version ${stored}` }
          continue
        }
        const eventId = pduEventId(raw, version)
        if (denied.has(roomId)) {
          if (eventId) results[eventId] = { error: 'this server is denied by the room\'s server ACL' }
          continue
        }
        if (eventId) results[eventId] = { error: 'not processed in time' }
        if (performance.now() >= deadline) continue
        const [id, result] = await this.processPdu(origin, raw, version)
        if (id) results[id] = result
      }
    })
    try {
      await Promise.race([Promise.all(rooms), sleep(Math.max(0, deadline - performance.now()))])
    } finally {
      // The EDUs wait for the PDUs (receipts name them), and must not wait forever if handling them failed.
      pdusDone()
    }
    // What is not done by now keeps its "not processed in time": the answer is a snapshot.
    const answer: TransactionAnswer = { pdus: { ...results } }
    await Promise.race([edus, sleep(Math.max(0, deadline - performance.now()))])
    return answer
  }

  private async processPdu(origin: string, raw: JsonObject, version: RoomVersion): Promise<[string | null, PduResult]> {
    const checked = await checkIncomingPdu(raw, version, this.o.keys)
    if (!checked.ok) return [checked.eventId, { error: checked.reason }]
    try {
      const result = await this.o.sink.receive(origin, checked.event, version)
      return [checked.event.event_id, result.error !== undefined ? { error: result.error } : {}]
    } catch (err) {
      this.o.logger.warn({ origin, event_id: checked.event.event_id, err: (err as Error).message }, 'received PDU not handled')
      return [checked.event.event_id, { error: 'internal error' }]
    }
  }
}
