// Other servers' signing keys: fetched from the server itself (/_matrix/key/v2/server) or, when it does
// not answer, from the trusted notaries (/_matrix/key/v2/query); every signature and valid_until_ts
// checked; stored in PostgreSQL for every instance, old keys included, so old events stay verifiable.
// One fetch per server at a time on each instance; a server whose answer lacked a key is not asked
// again for a minute, so a stream of requests naming an unknown key cannot make us flood it. As a notary,
// a server whose cached keys do not satisfy a query is fetched again, within a small budget per server.
import type { KeyObject } from 'node:crypto'
import type { ServerKeys } from '../keys/server-keys.ts'
import { checkKeyResponse, checkNotarySignature, type CheckedKey } from '../protocol/server-keys.ts'
import { verifyKeyFromBase64 } from '../protocol/signing.ts'
import { isServerName } from '../protocol/server-name.ts'
import type { Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import type { RemoteServerKeyRow, Storage } from '../storage/index.ts'
import type { FederationClient } from './client.ts'

export interface TrustedKeyServer {
  server_name: string
  verify_keys?: Record<string, string>
}

export interface KeyValidity {
  /** The key must be valid at this time (now for requests, origin_server_ts for events). */
  validAt: number
  /** Requests may only be signed with a current key, never one listed in old_verify_keys. */
  forRequest: boolean
}

/** A server's keys as the notary query asks for them: key ID → minimum_valid_until_ts (empty: all keys). */
export type KeyCriteria = Record<string, { minimum_valid_until_ts?: number }>

/** One server of a notary query: the key IDs wanted (none: all) and until when they must be valid. */
export interface NotaryQuery {
  serverName: string
  keyIds: string[]
  minimumValidUntilTs: number | null
}

const REFETCH_AFTER_MS = 60_000
/** Direct fetches notary queries may cost per server: a burst, then one per interval (anyone may ask). */
const NOTARY_FETCH_BURST = 8
const NOTARY_FETCH_INTERVAL_MS = 7_500
const KEY_RESPONSE_MAX_BYTES = 1024 * 1024
const NOTARY_RESPONSE_MAX_BYTES = 4 * 1024 * 1024
const MEMO_ENTRIES = 4096

const usable = (key: { validUntilTs: number; expiredTs: number | null }, want: KeyValidity) =>
  key.validUntilTs >= want.validAt && (!want.forRequest || key.expiredTs === null)

export class RemoteKeys {
  private readonly storage: Storage
  private readonly client: FederationClient
  private readonly ownKeys: ServerKeys
  private readonly clock: Clock
  private readonly logger: Logger
  private readonly notaries: readonly TrustedKeyServer[]
  private readonly inflight = new Map<string, Promise<void>>()
  private readonly inflightDirect = new Map<string, Promise<void>>()
  private readonly lastFetch = new Map<string, number>()
  /** Per server, the notary fetch budget: tokens left, as of `at`. */
  private readonly notaryBudget = new Map<string, { tokens: number; at: number }>()
  private readonly memo = new Map<string, { verifyKey: KeyObject; validUntilTs: number; expiredTs: number | null }>()

  constructor(options: { storage: Storage; client: FederationClient; ownKeys: ServerKeys; clock: Clock; logger: Logger; notaries: readonly TrustedKeyServer[] }) {
    this.storage = options.storage
    this.client = options.client
    this.ownKeys = options.ownKeys
    this.clock = options.clock
    this.logger = options.logger
    this.notaries = options.notaries
  }

  get serverName(): string {
    return this.ownKeys.serverName
  }

  /** A server's key by ID if it is valid as asked, fetching it when it is not known (or no longer valid). */
  async verifyKey(serverName: string, keyId: string, want: KeyValidity): Promise<KeyObject | null> {
    if (serverName === this.serverName) {
      const own = this.ownCheckedKeys().find((k) => k.keyId === keyId)
      return own && usable(own, want) ? own.verifyKey : null
    }
    const memoKey = `${serverName}\n${keyId}`
    const memo = this.memo.get(memoKey)
    if (memo && usable(memo, want)) return memo.verifyKey
    let found = await this.stored(serverName, keyId)
    if (!found || !usable(found, want)) {
      const last = this.lastFetch.get(serverName)
      if (last === undefined || this.clock.now() - last >= REFETCH_AFTER_MS) {
        await this.refresh(serverName, keyId)
        found = await this.stored(serverName, keyId)
      }
    }
    if (!found) return null
    this.memo.delete(memoKey)
    this.memo.set(memoKey, found)
    if (this.memo.size > MEMO_ENTRIES) this.memo.delete(this.memo.keys().next().value as string)
    return usable(found, want) ? found.verifyKey : null
  }

  private async stored(serverName: string, keyId: string) {
    const row = await this.storage.repos.remoteServerKeys.get(serverName, keyId)
    const verifyKey = row ? verifyKeyFromBase64(row.verify_key) : null
    return row && verifyKey ? { verifyKey, validUntilTs: row.valid_until_ts, expiredTs: row.expired_ts } : null
  }

  /** Fetches a server's keys directly, else through the notaries; concurrent callers share one fetch. */
  private refresh(serverName: string, keyId: string): Promise<void> {
    let pending = this.inflight.get(serverName)
    if (!pending) {
      pending = (async () => {
        try {
          const direct = await this.fetchDirect(serverName).catch((err: Error) => {
            this.logger.info({ server: serverName, err: err.message }, 'server keys not fetched directly')
            return []
          })
          if (direct.some((k) => k.keyId === keyId)) return
          for (const notary of this.notaries) {
            if (notary.server_name === serverName) continue
            try {
              const keys = await this.fetchFromNotary(notary.server_name, serverName, { [keyId]: {} })
              if (keys.some((k) => k.keyId === keyId)) return
            } catch (err) {
              this.logger.info({ server: serverName, notary: notary.server_name, err: (err as Error).message }, 'server keys not fetched from notary')
            }
          }
        } finally {
          this.lastFetch.set(serverName, this.clock.now())
          if (this.lastFetch.size > MEMO_ENTRIES) this.lastFetch.delete(this.lastFetch.keys().next().value as string)
          this.inflight.delete(serverName)
        }
      })()
      this.inflight.set(serverName, pending)
    }
    return pending
  }

  /** GET /_matrix/key/v2/server from the server itself; the checked keys are stored and returned. */
  async fetchDirect(serverName: string): Promise<CheckedKey[]> {
    if (!isServerName(serverName)) throw new Error(`not a server name: ${serverName}`)
    const json = await this.client.request<Record<string, unknown>>(serverName, {
      method: 'GET',
      path: '/_matrix/key/v2/server',
      signed: false,
      maxBytes: KEY_RESPONSE_MAX_BYTES,
    })
    return this.accept(json, serverName, serverName)
  }

  /** Asks a notary for a server's keys (POST /_matrix/key/v2/query); checks both signatures, stores, returns. */
  async fetchFromNotary(notary: string, serverName: string, criteria: KeyCriteria = {}): Promise<CheckedKey[]> {
    const answer = await this.client.request<{ server_keys?: unknown }>(notary, {
      method: 'POST',
      path: '/_matrix/key/v2/query',
      body: { server_keys: { [serverName]: criteria } },
      maxBytes: NOTARY_RESPONSE_MAX_BYTES,
    })
    if (!Array.isArray(answer.server_keys)) throw new Error(`${notary} answered without server_keys`)
    const notaryKeys = notary === serverName ? null : await this.notaryKeys(notary)
    const keys: CheckedKey[] = []
    for (const entry of answer.server_keys) {
      if ((entry as { server_name?: unknown })?.server_name !== serverName) continue
      // The notary vouches for the answer; a server answering for itself is checked by its own signature.
      if (notaryKeys && !checkNotarySignature(entry as Record<string, unknown>, notary, notaryKeys)) {
        throw new Error(`${notary}'s answer for ${serverName} does not carry its valid signature`)
      }
      keys.push(...(await this.accept(entry, serverName, notary)))
    }
    return keys
  }

  /** The keys a notary's answers must be signed with: configured, else the notary's own, fetched from it. */
  private async notaryKeys(notary: string): Promise<Map<string, KeyObject>> {
    const configured = this.notaries.find((n) => n.server_name === notary)?.verify_keys
    if (configured) {
      return new Map(Object.entries(configured).flatMap(([keyId, b64]) => {
        const key = verifyKeyFromBase64(b64)
        return key ? [[keyId, key] as const] : []
      }))
    }
    const now = this.clock.now()
    let rows = await this.storage.repos.remoteServerKeys.forServer(notary)
    if (!rows.some((r) => r.expired_ts === null && r.valid_until_ts >= now)) {
      await this.fetchDirect(notary)
      rows = await this.storage.repos.remoteServerKeys.forServer(notary)
    }
    return new Map(rows.filter((r) => r.expired_ts === null && r.valid_until_ts >= now).flatMap((r) => {
      const key = verifyKeyFromBase64(r.verify_key)
      return key ? [[r.key_id, key] as const] : []
    }))
  }

  private async accept(json: unknown, serverName: string, fromServer: string): Promise<CheckedKey[]> {
    const now = this.clock.now()
    const checked = checkKeyResponse(json, serverName, now)
    if (!checked.ok) throw new Error(`${serverName}'s keys from ${fromServer}: ${checked.reason}`)
    const keyJson = JSON.stringify(json)
    await this.storage.repos.remoteServerKeys.store(checked.keys.map((k): RemoteServerKeyRow => ({
      server_name: serverName,
      key_id: k.keyId,
      verify_key: k.key,
      valid_until_ts: k.validUntilTs,
      expired_ts: k.expiredTs,
      from_server: fromServer,
      fetched_ts: now,
      key_json: keyJson,
    })))
    for (const k of checked.keys) this.memo.delete(`${serverName}\n${k.keyId}`)
    return checked.keys
  }

  /**
   * A direct fetch of a server's keys for the notary answer: shared with concurrent callers, and within a
   * budget per server (NOTARY_FETCH_BURST, then one per NOTARY_FETCH_INTERVAL_MS), so anonymous notary
   * queries cannot make Homestead fetch the same server over and over. Past the budget nothing is fetched.
   */
  private fetchDirectOnce(serverName: string): Promise<void> {
    const running = this.inflightDirect.get(serverName)
    if (running) return running
    if (!this.takeNotaryBudget(serverName)) return Promise.resolve()
    const pending = this.fetchDirect(serverName)
      .then(
        () => {},
        (err: Error) => this.logger.info({ server: serverName, err: err.message }, 'notary: server keys not fetched'),
      )
      .finally(() => this.inflightDirect.delete(serverName))
    this.inflightDirect.set(serverName, pending)
    return pending
  }

  private takeNotaryBudget(serverName: string): boolean {
    const now = this.clock.now()
    const last = this.notaryBudget.get(serverName) ?? { tokens: NOTARY_FETCH_BURST, at: now }
    const tokens = Math.min(NOTARY_FETCH_BURST, last.tokens + (now - last.at) / NOTARY_FETCH_INTERVAL_MS)
    this.notaryBudget.delete(serverName)
    this.notaryBudget.set(serverName, { tokens: tokens >= 1 ? tokens - 1 : tokens, at: now })
    if (this.notaryBudget.size > MEMO_ENTRIES) this.notaryBudget.delete(this.notaryBudget.keys().next().value as string)
    return tokens >= 1
  }

  private ownCheckedKeys(): CheckedKey[] {
    const checked = checkKeyResponse(this.ownKeys.keyResponse(), this.serverName, this.clock.now())
    return checked.ok ? checked.keys : []
  }

  /**
   * Homestead as a notary: for each server asked, its key documents valid until the minimum asked (our own,
   * or the cached ones, fetched again directly when none is recent enough, the last ones kept when that
   * fails), each co-signed by us. Unknown or unreachable servers are left out.
   */
  async notaryAnswer(queries: NotaryQuery[]): Promise<Array<Record<string, unknown>>> {
    const now = this.clock.now()
    const answer = async ({ serverName, keyIds, minimumValidUntilTs }: NotaryQuery): Promise<Array<Record<string, unknown>>> => {
      if (!isServerName(serverName)) return []
      if (serverName === this.serverName) return [this.ownKeys.keyResponse() as unknown as Record<string, unknown>]
      // The asker says until when keys must be valid (a past time accepts keys that have expired since); by default, now.
      const minimum = minimumValidUntilTs ?? now
      const wanted = (rows: RemoteServerKeyRow[]) => rows.filter((r) => keyIds.length === 0 || keyIds.includes(r.key_id))
      let rows = wanted(await this.storage.repos.remoteServerKeys.forServer(serverName))
      if (!rows.some((r) => r.expired_ts === null && r.valid_until_ts >= minimum)) {
        await this.fetchDirectOnce(serverName)
        rows = wanted(await this.storage.repos.remoteServerKeys.forServer(serverName))
      }
      return [...new Set(rows.map((r) => r.key_json))].map((keyJson) => this.ownKeys.sign(JSON.parse(keyJson) as Record<string, unknown>))
    }
    // The servers asked are fetched side by side: one unreachable server costs one timeout, not one each.
    return (await Promise.all(queries.map(answer))).flat()
  }
}
