// Access tokens seen recently, so an authenticated request needs no database round trip. Every instance
// keeps its own copy and drops a user's entries when PostgreSQL says that user's tokens or account changed
// (migration 0015: triggers NOTIFY the tokens channel on any deletion of access tokens and any update of a
// user row; the stream notifier's connection listens). What a revocation costs:
// - on the instance that revokes, nothing: the revoking transaction suspends caching for the user before it
//   commits, until the notification of its own commit arrives, so no request after the answer is served
//   from an entry read before the commit;
// - on other instances, the time the notification takes to arrive (milliseconds, as any replication);
// - while the listener is disconnected the cache is not used at all, and it starts empty on reconnection,
//   since notifications sent meanwhile are lost.
// Entries also expire, which bounds the damage of anything unforeseen.
import type { AccessTokenLookup } from '../storage/index.ts'

const MAX_ENTRIES = 50_000
const ENTRY_TTL_MS = 10 * 60_000
/** A suspension whose transaction rolled back is never ended by a notification: it ends by itself. */
const SUSPEND_MS = 30_000

interface Entry {
  row: AccessTokenLookup
  at: number
}

export class TokenCache {
  private readonly entries = new Map<string, Entry>()
  private readonly byUser = new Map<string, Set<string>>()
  private readonly suspended = new Map<string, number>()
  private generation = 0
  private live = false

  /** Whether invalidations can be heard (the listener is connected); the cache is bypassed otherwise. */
  setLive(live: boolean): void {
    if (live === this.live) return
    this.live = live
    this.generation++
    this.entries.clear()
    this.byUser.clear()
  }

  /** A snapshot to pass to `set`: an entry read before an invalidation that arrived since is not kept. */
  get version(): number {
    return this.generation
  }

  get(key: string, now: number): AccessTokenLookup | undefined {
    if (!this.live) return undefined
    const entry = this.entries.get(key)
    if (!entry) return undefined
    if (now - entry.at > ENTRY_TTL_MS || this.isSuspended(entry.row.user_id, now)) {
      this.remove(key, entry.row.user_id)
      return undefined
    }
    return entry.row
  }

  set(key: string, row: AccessTokenLookup, version: number, now: number): void {
    if (!this.live || version !== this.generation || this.isSuspended(row.user_id, now)) return
    if (this.entries.size >= MAX_ENTRIES) {
      const oldest = this.entries.keys().next().value as string
      this.remove(oldest, (this.entries.get(oldest) as Entry).row.user_id)
    }
    this.entries.set(key, { row, at: now })
    let keys = this.byUser.get(row.user_id)
    if (!keys) this.byUser.set(row.user_id, (keys = new Set()))
    keys.add(key)
  }

  /** The user's tokens or account changed (a notification): forget them, and end a local suspension. */
  invalidate(userId: string): void {
    this.generation++
    this.suspended.delete(userId)
    for (const key of this.byUser.get(userId) ?? []) this.entries.delete(key)
    this.byUser.delete(userId)
  }

  /** Called inside a transaction that revokes the user's tokens: no caching for them until it is heard of. */
  suspend(userId: string, now: number): void {
    this.invalidate(userId)
    this.suspended.set(userId, now + SUSPEND_MS)
  }

  private isSuspended(userId: string, now: number): boolean {
    const until = this.suspended.get(userId)
    if (until === undefined) return false
    if (until > now) return true
    this.suspended.delete(userId)
    return false
  }

  private remove(key: string, userId: string): void {
    this.entries.delete(key)
    const keys = this.byUser.get(userId)
    keys?.delete(key)
    if (keys?.size === 0) this.byUser.delete(userId)
  }
}
