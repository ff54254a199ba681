// The storage layer's public surface: the database, migrations, the embedded server and one
// repository per table group. Only this folder talks SQL.
import type { Database, Queryable } from './db.ts'
import { AccountDataRepository } from './repositories/account-data.ts'
import { DevicesRepository } from './repositories/devices.ts'
import { NoncesRepository } from './repositories/nonces.ts'
import { ProfilesRepository } from './repositories/profiles.ts'
import { RateLimitsRepository } from './repositories/rate-limits.ts'
import { RegistrationTokensRepository } from './repositories/registration-tokens.ts'
import { ServerKeysRepository } from './repositories/server-keys.ts'
import { RemoteServerKeysRepository } from './repositories/remote-server-keys.ts'
import { TokensRepository } from './repositories/tokens.ts'
import { OpenIdTokensRepository } from './repositories/openid-tokens.ts'
import { ThreepidsRepository } from './repositories/threepids.ts'
import { ExternalIdsRepository, LoginTokensRepository } from './repositories/sso.ts'
import { UiaSessionsRepository } from './repositories/uia-sessions.ts'
import { UsersRepository } from './repositories/users.ts'
import { AliasesRepository } from './repositories/aliases.ts'
import { PurgeHistoryRepository } from './repositories/purge-history.ts'
import { ThreepidBindingsRepository } from './repositories/threepid-bindings.ts'
import { EventsRepository } from './repositories/events.ts'
import { EventGraphRepository } from './repositories/event-graph.ts'
import { BackfillRepository } from './repositories/backfill.ts'
import { EventExpiryRepository } from './repositories/event-expiry.ts'
import { FiltersRepository } from './repositories/filters.ts'
import { SyncQueriesRepository } from './repositories/sync-queries.ts'
import { MembershipsRepository } from './repositories/memberships.ts'
import { RoomsRepository, type RoomExpectation } from './repositories/rooms.ts'
import { StateRepository } from './repositories/state.ts'
import { StreamRepository } from './repositories/stream.ts'
import { TimelineRepository } from './repositories/timeline.ts'
import { SearchRepository } from './repositories/search.ts'
import { UserDirectoryRepository } from './repositories/user-directory.ts'
import { PresenceRepository } from './repositories/presence.ts'
import { PushRepository } from './repositories/push.ts'
import { DirectoryRepository } from './repositories/directory.ts'
import { TypingRepository } from './repositories/typing.ts'
import { ReceiptsRepository } from './repositories/receipts.ts'
import { RelationsRepository } from './repositories/relations.ts'
import { KeyBackupRepository } from './repositories/key-backup.ts'
import { E2eKeysRepository } from './repositories/e2e-keys.ts'
import { DeviceListsRepository } from './repositories/device-lists.ts'
import { ToDeviceRepository } from './repositories/to-device.ts'
import { MediaRepository } from './repositories/media.ts'
import { FederationTxnsRepository } from './repositories/federation-txns.ts'
import { RemoteDeviceListsRepository } from './repositories/remote-device-lists.ts'
import { FederationOutboundRepository } from './repositories/federation-outbound.ts'
import { PushersRepository } from './repositories/pushers.ts'
import { SlidingSyncRepository } from './repositories/sliding-sync.ts'

export { Database, connectionConfig, type Queryable } from './db.ts'
export { passwordSource, type PasswordSource } from './credentials.ts'
export { bootstrapDatabase, bootstrapOptionsFrom } from './bootstrap.ts'
export { EmbeddedPostgres, type EmbeddedConnection } from './embedded-postgres.ts'
export { migrate, listMigrations, type MigrationClient } from './migrate.ts'
export type { UserRow } from './repositories/users.ts'
export type { RemoteServerKeyRow } from './repositories/remote-server-keys.ts'
export type { AccessTokenLookup } from './repositories/tokens.ts'
export { TOKENS_CHANNEL } from './repositories/tokens.ts'
export type { DeviceRow } from './repositories/devices.ts'
export type { RegistrationTokenRow } from './repositories/registration-tokens.ts'
export type { UiaSessionRow } from './repositories/uia-sessions.ts'
export type { UserThreepidRow, ValidationSessionRow } from './repositories/threepids.ts'
export type { ProfileFields } from './repositories/profiles.ts'
export type { RoomRow, ExtremityRow, WriteLoad } from './repositories/rooms.ts'
export { ROOM_WRITE_STATE_CHANGED } from './repositories/rooms.ts'
export { RATE_LIMITED } from './repositories/rate-limits.ts'
export type { EventInsert, EventRow } from './repositories/events.ts'
export type { GraphEventRow, WalkRow } from './repositories/event-graph.ts'
export type { StateEntry, StateEventRow } from './repositories/state.ts'
export type { MembershipRow } from './repositories/memberships.ts'
export { STREAM_CHANNEL, type StreamChange, type CommittedEvent } from './repositories/stream.ts'
import { enterStreamFenceSql, NOTIFY_STREAM, fenceAndChangesOf, fenceAndChangesSql, type CommittedEvent, type StreamChange, type StreamChangeRow } from './repositories/stream.ts'
export type { EventFilter, TimelineToken } from './repositories/timeline.ts'
export type { SearchHit, SearchableRoom, EventSearchQuery, ContextAnchor, VisibleSpan } from './repositories/search.ts'
export type { DirectoryUser } from './repositories/user-directory.ts'
export type { PresenceRow } from './repositories/presence.ts'
export type { PushRuleRow, PushActionInsert, UnreadRow, EventContext, EventRecord, NotificationRow } from './repositories/push.ts'
export type { RoomSummaryRow, SummaryFields, HierarchySessionRow } from './repositories/directory.ts'
export type { TypingRow } from './repositories/typing.ts'
export type { ReceiptRow, ReceiptWrite } from './repositories/receipts.ts'
export type { BackedUpSession, BackupTally, BackupAuthData, BackupVersionRow } from './repositories/key-backup.ts'
export type { DeviceKeysRow, OneTimeKeyInsert, ClaimTarget, ClaimedKey, CrossSigningKeyRow, KeySignature } from './repositories/e2e-keys.ts'
export type { SharingChanges } from './repositories/device-lists.ts'
export type { ToDeviceInsert, ToDeviceRow } from './repositories/to-device.ts'
export type { MediaRow, ThumbnailRow, MediaContent, MediaOrder } from './repositories/media.ts'
export type { TxnClaim } from './repositories/federation-txns.ts'
export type { RemoteDeviceListRow, RemoteDeviceRow } from './repositories/remote-device-lists.ts'
export type { EventThread } from './repositories/relations.ts'
export type { QueuedPdu, QueuedEdu } from './repositories/federation-outbound.ts'
export type { PusherRow, PusherWrite, LeasedPusher, QueuedPush, DigestItem, EventPush } from './repositories/pushers.ts'
export type { SlidingPosition, SlidingRoomStatus, BumpedMembership, SlidingSummary } from './repositories/sliding-sync.ts'
export type { ChildRow, ParentRef, EditableRef, ThreadSummaryRow, ChildrenQuery } from './repositories/relations.ts'

/** Every repository, bound to one Queryable (the pool, or a transaction's client). */
export interface Repositories {
  users: UsersRepository
  devices: DevicesRepository
  tokens: TokensRepository
  openIdTokens: OpenIdTokensRepository
  threepids: ThreepidsRepository
  externalIds: ExternalIdsRepository
  loginTokens: LoginTokensRepository
  profiles: ProfilesRepository
  accountData: AccountDataRepository
  uiaSessions: UiaSessionsRepository
  registrationTokens: RegistrationTokensRepository
  serverKeys: ServerKeysRepository
  remoteServerKeys: RemoteServerKeysRepository
  rateLimits: RateLimitsRepository
  nonces: NoncesRepository
  rooms: RoomsRepository
  purgeHistory: PurgeHistoryRepository
  threepidBindings: ThreepidBindingsRepository
  events: EventsRepository
  eventGraph: EventGraphRepository
  backfill: BackfillRepository
  eventExpiry: EventExpiryRepository
  state: StateRepository
  memberships: MembershipsRepository
  stream: StreamRepository
  aliases: AliasesRepository
  timeline: TimelineRepository
  filters: FiltersRepository
  sync: SyncQueriesRepository
  search: SearchRepository
  userDirectory: UserDirectoryRepository
  presence: PresenceRepository
  push: PushRepository
  directory: DirectoryRepository
  typing: TypingRepository
  receipts: ReceiptsRepository
  relations: RelationsRepository
  keyBackup: KeyBackupRepository
  e2eKeys: E2eKeysRepository
  deviceLists: DeviceListsRepository
  toDevice: ToDeviceRepository
  media: MediaRepository
  federationTxns: FederationTxnsRepository
  remoteDeviceLists: RemoteDeviceListsRepository
  federationOutbound: FederationOutboundRepository
  pushers: PushersRepository
  slidingSync: SlidingSyncRepository
}

export function repositories(db: Queryable): Repositories {
  return {
    users: new UsersRepository(db),
    devices: new DevicesRepository(db),
    tokens: new TokensRepository(db),
    openIdTokens: new OpenIdTokensRepository(db),
    threepids: new ThreepidsRepository(db),
    externalIds: new ExternalIdsRepository(db),
    loginTokens: new LoginTokensRepository(db),
    profiles: new ProfilesRepository(db),
    accountData: new AccountDataRepository(db),
    uiaSessions: new UiaSessionsRepository(db),
    registrationTokens: new RegistrationTokensRepository(db),
    serverKeys: new ServerKeysRepository(db),
    remoteServerKeys: new RemoteServerKeysRepository(db),
    rateLimits: new RateLimitsRepository(db),
    nonces: new NoncesRepository(db),
    rooms: new RoomsRepository(db),
    purgeHistory: new PurgeHistoryRepository(db),
    threepidBindings: new ThreepidBindingsRepository(db),
    events: new EventsRepository(db),
    eventGraph: new EventGraphRepository(db),
    backfill: new BackfillRepository(db),
    eventExpiry: new EventExpiryRepository(db),
    state: new StateRepository(db),
    memberships: new MembershipsRepository(db),
    stream: new StreamRepository(db),
    aliases: new AliasesRepository(db),
    timeline: new TimelineRepository(db),
    filters: new FiltersRepository(db),
    sync: new SyncQueriesRepository(db),
    search: new SearchRepository(db),
    userDirectory: new UserDirectoryRepository(db),
    presence: new PresenceRepository(db),
    push: new PushRepository(db),
    directory: new DirectoryRepository(db),
    typing: new TypingRepository(db),
    receipts: new ReceiptsRepository(db),
    relations: new RelationsRepository(db),
    keyBackup: new KeyBackupRepository(db),
    e2eKeys: new E2eKeysRepository(db),
    deviceLists: new DeviceListsRepository(db),
    toDevice: new ToDeviceRepository(db),
    media: new MediaRepository(db),
    federationTxns: new FederationTxnsRepository(db),
    remoteDeviceLists: new RemoteDeviceListsRepository(db),
    federationOutbound: new FederationOutboundRepository(db),
    pushers: new PushersRepository(db),
    slidingSync: new SlidingSyncRepository(db),
  }
}

/** A read of the stream riding on a COMMIT: the fence and the changes in (after, fence]. */
export interface CommitRead {
  after: number
  /**
   * `events`: the room events the transaction appended (see CommittedEvent). True when it woke a waiting
   * reader of this process: the writer is then answered after the readers (see streamTransaction).
   */
  onRead(result: { safe: number; changes: StreamChange[] }, events: CommittedEvent[]): boolean
}

/** What this process's stream transactions tell as they commit (the notifier; see setCommitObserver). */
export interface CommitObserver {
  /** Asked right before COMMIT: a read to take along in the same round trip, or null. */
  readWithCommit(): CommitRead | null
  /** After a commit that took no read along (or a failed one, which may have committed: then no events). */
  committed(events: CommittedEvent[]): void
}

/** Repositories over the pool, plus `transaction` for work that must commit together. */
export class Storage {
  readonly db: Database
  readonly repos: Repositories
  private announcing = false
  private announceAgain = false
  private commitObserver: CommitObserver | null = null

  constructor(db: Database) {
    this.db = db
    this.repos = repositories(db)
  }

  async transaction<T>(fn: (repos: Repositories) => Promise<T>): Promise<T> {
    let repos: Repositories | null = null
    const result = await this.db.transaction((tx) => fn((repos = repositories(tx))))
    runCommitted(repos as Repositories | null)
    return result
  }

  /** Reads in one snapshot (a read-only REPEATABLE READ transaction): statements see the same commits. */
  async snapshot<T>(fn: (repos: Repositories) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(repositories(tx)), { begin: 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY' })
  }

  /**
   * Runs background work on one instance at a time: fn runs only if this process wins a session-level
   * advisory lock on `key` (held on a connection of its own while fn works through the pool); false when
   * another instance holds it and the work was skipped.
   */
  async exclusively(key: number, fn: () => Promise<void>): Promise<boolean> {
    const client = await this.db.connect()
    let broken = false
    try {
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [key])
      if (!rows[0]?.ok) return false
      try {
        await fn()
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => (broken = true))
      }
      return true
    } finally {
      client.release(broken)
    }
  }

  /**
   * A transaction that takes stream positions. It joins the stream fence before anything else (in the
   * BEGIN round trip), so no reader can see a position at or above this transaction's first one while
   * it is uncommitted (migration 0013). Once it commits, every instance hears of it (announce).
   * `lockRoom`: the room whose write lock comes with BEGIN; `expectRoom`: what a writer kept of that room,
   * checked in the same statement (RoomsRepository.preChecked).
   */
  async streamTransaction<T>(fn: (repos: Repositories) => Promise<T>, options: { lockRoom?: string; expectRoom?: RoomExpectation | null } = {}): Promise<T> {
    let repos: Repositories | null = null
    // The room's lock first: a writer waiting for it holds no position back from readers meanwhile. Then,
    // for a writer that kept the room, the check of what it kept (RoomsRepository.expectWriteState).
    const expect = options.lockRoom !== undefined && options.expectRoom?.roomId === options.lockRoom ? options.expectRoom : null
    const begin = enterStreamFenceSql(options.lockRoom ?? null, expect)
    // Whether the observer heard of the commit through the read riding on it; whether the transaction committed.
    let told = false
    let woke = false
    let succeeded = false
    const tookPosition = () => (repos as Repositories | null)?.stream.tookPosition === true
    const committedEvents = () => (repos as Repositories | null)?.stream.committedEvents() ?? []
    let result: T
    try {
      result = await this.db.transaction(
        async (tx, begun) => {
          repos = repositories(tx)
          repos.stream.reserve(begun.then((rows) => Number((rows[0] as { position: number }).position)))
          // The room's write lock came with BEGIN.
          if (options.lockRoom !== undefined) repos.rooms.preLocked = options.lockRoom
          repos.rooms.preChecked = expect
          return fn(repos)
        },
        {
          begin,
          afterCommit: () => {
            const wanted = tookPosition() ? (this.commitObserver?.readWithCommit() ?? null) : null
            return (
              wanted && {
                sql: fenceAndChangesSql(wanted.after),
                onCommitted: (rows) => {
                  told = true
                  woke = wanted.onRead(fenceAndChangesOf(rows as StreamChangeRow[]), committedEvents())
                },
              }
            )
          },
        },
      )
      succeeded = true
    } finally {
      if (tookPosition()) {
        this.announce()
        // Without a read riding on the COMMIT (or if the transaction failed, perhaps after committing).
        if (!told) this.commitObserver?.committed(succeeded ? committedEvents() : [])
      }
    }
    runCommitted(repos as Repositories | null)
    // Readers this commit woke answer first, as a chat's other members wait for what the sender already
    // has: their continuations (local delivery needs no reads) run before this macrotask turn ends.
    if (woke) await new Promise<void>((resolve) => setImmediate(resolve))
    return result
  }

  /**
   * Tells every instance's listener that positions were committed (NOTIFY_STREAM), at most one message in
   * flight: commits meanwhile are told by the next one. If this process dies between a commit and its
   * message, other instances find the commit with their next notification or their safety poll.
   */
  private announce(): void {
    if (this.announcing) {
      this.announceAgain = true
      return
    }
    this.announcing = true
    // After what this commit wakes in this process has sent its reads: the message is for other instances.
    setImmediate(async () => {
      try {
        do {
          this.announceAgain = false
          await this.db.simple(NOTIFY_STREAM)
        } while (this.announceAgain)
      } catch (err) {
        this.db.reportError(err as Error)
      } finally {
        this.announcing = false
      }
    })
  }

  /**
   * Tells `observer` of this process's commits of stream transactions that took positions: while it wants
   * to, each commit brings the fence and the new changes back in its COMMIT round trip; otherwise it is
   * told right after, instead of waiting for its own NOTIFY to come back from the database.
   */
  setCommitObserver(observer: CommitObserver | null): void {
    this.commitObserver = observer
  }

  /** Whether a notification was sent by one of this process's pool connections (see setCommitObserver). */
  sentByThisProcess(backendPid: number): boolean {
    return this.db.ownsBackend(backendPid)
  }
}

/** Runs what the transaction's work asked to run once it committed (StreamRepository.onCommitted). */
function runCommitted(repos: Repositories | null): void {
  for (const fn of repos?.stream.onCommitted ?? []) {
    try {
      fn()
    } catch {
      // a wake-up; whatever it missed is found by its owner's poll
    }
  }
}
