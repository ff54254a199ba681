// Clients that keep sending through the balancer while the rig breaks things, the way real clients do: a
// request that fails (network error, 5xx) is retried with the same txnId until it is acknowledged.
import assert from 'node:assert/strict'
import type { Api } from '../support/server.ts'
import { CS, enc } from '../support/rooms.ts'
import { sleep } from './rig.ts'

export interface Acked {
  txnId: string
  eventId: string
  body: string
  at: number
}

export interface Session {
  user_id: string
  access_token: string
}

/** One client sending numbered messages to a room, one at a time, until stopped. */
export class Sender {
  readonly acked: Acked[] = []
  /** Attempts that failed and were retried, by HTTP status ('network' when no response came). */
  readonly failures = new Map<string, number>()
  private stopping = false
  private done: Promise<void> | null = null
  private readonly api: Api
  private readonly session: Session
  private readonly roomId: string
  private readonly tag: string

  constructor(api: Api, session: Session, roomId: string, tag: string) {
    this.api = api
    this.session = session
    this.roomId = roomId
    this.tag = tag
  }

  start(): this {
    this.done = this.run()
    return this
  }

  /**
   * Stops after the attempt in progress. A message whose attempts all failed so far is left unacknowledged:
   * it may or may not be stored, which the checks allow (only acknowledged events must be there).
   */
  async stop(): Promise<void> {
    this.stopping = true
    await this.done
  }

  ackedAfter(time: number): number {
    return this.acked.filter((a) => a.at > time).length
  }

  private async run(): Promise<void> {
    for (let n = 0; !this.stopping; n++) {
      const txnId = `${this.tag}-${n}`
      const body = `${this.tag} ${n}`
      const path = `${CS}/rooms/${enc(this.roomId)}/send/m.room.message/${enc(txnId)}`
      const giveUp = Date.now() + 60_000
      for (;;) {
        const outcome = await this.attempt(path, body)
        if (outcome.eventId) {
          this.acked.push({ txnId, eventId: outcome.eventId, body, at: Date.now() })
          break
        }
        this.failures.set(outcome.failure, (this.failures.get(outcome.failure) ?? 0) + 1)
        if (this.stopping) return
        if (Date.now() > giveUp) throw new Error(`${this.tag}: ${txnId} was never acknowledged`)
        await sleep(50)
      }
    }
  }

  private async attempt(path: string, body: string): Promise<{ eventId: string | null; failure: string }> {
    try {
      const res = await this.api.request('PUT', path, { body: { msgtype: 'm.text', body }, token: this.session.access_token })
      if (res.status === 200 && typeof res.body?.event_id === 'string') return { eventId: res.body.event_id, failure: '' }
      return { eventId: null, failure: String(res.status) }
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause
      return { eventId: null, failure: `network${cause?.code ? ` ${cause.code}` : ''}` }
    }
  }
}

/** The retried attempts of several senders, by status: { "502": 2, "network": 1 }. */
export function retried(senders: Sender[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const s of senders) for (const [k, n] of s.failures) out[k] = (out[k] ?? 0) + n
  return out
}

/** Every m.room.message of a room, oldest first, paginating /messages backwards (retrying failed pages). */
export async function allMessages(api: Api, token: string, roomId: string): Promise<Array<{ event_id: string; body: string }>> {
  const out: Array<{ event_id: string; body: string }> = []
  let from: string | undefined
  for (;;) {
    const q = `dir=b&limit=500${from ? `&from=${encodeURIComponent(from)}` : ''}`
    const res = await api.get(`${CS}/rooms/${enc(roomId)}/messages?${q}`, token)
    assert.equal(res.status, 200, `messages: ${res.status} ${JSON.stringify(res.body)}`)
    for (const e of res.body.chunk as Array<{ type: string; event_id: string; content: { body?: string } }>) {
      if (e.type === 'm.room.message') out.push({ event_id: e.event_id, body: String(e.content.body) })
    }
    if (!res.body.end || res.body.chunk.length === 0) break
    from = res.body.end
  }
  return out.reverse()
}

/**
 * Every acknowledged event is in the room exactly once, and no message body appears twice (a retried
 * txnId that was committed twice would show up as two events with the same body).
 */
export async function assertNoLoss(api: Api, token: string, roomId: string, senders: Sender[]): Promise<{ acked: number; stored: number }> {
  const stored = await allMessages(api, token, roomId)
  const byId = new Map<string, number>()
  const byBody = new Map<string, number>()
  for (const e of stored) {
    byId.set(e.event_id, (byId.get(e.event_id) ?? 0) + 1)
    byBody.set(e.body, (byBody.get(e.body) ?? 0) + 1)
  }
  let acked = 0
  for (const sender of senders) {
    for (const a of sender.acked) {
      acked++
      assert.equal(byId.get(a.eventId), 1, `acknowledged ${a.txnId} (${a.eventId}) appears ${byId.get(a.eventId) ?? 0} times`)
    }
  }
  const repeated = [...byBody].filter(([, n]) => n > 1)
  assert.deepEqual(repeated, [], 'a message was stored more than once')
  return { acked, stored: stored.length }
}
