// The dependency graph, built once per process and passed down explicitly.
import { SlidingSyncService } from './sync/sliding/service.ts'
import { BUMP_TYPES } from './storage/repositories/sliding-sync.ts'
import type { Config } from './config/schema.ts'
import { ServerKeys } from './keys/server-keys.ts'
import { RateLimiter } from './ratelimit/index.ts'
import { systemClock, type Clock } from './shared/clock.ts'
import type { Logger } from './shared/logger.ts'
import { Storage, TOKENS_CHANNEL, type Database, type EventContext } from './storage/index.ts'
import { AccountData, Accounts, Devices, LoginTokens, OpenIdTokens, Profiles, RegistrationTokens, RemoteProfiles, Sessions, Sso, Uia } from './users/index.ts'
import type { Metrics } from './metrics.ts'
import { RoomReader } from './rooms/read.ts'
import { RoomShutdown } from './rooms/shutdown.ts'
import { RECAPTCHA, Recaptcha } from './users/recaptcha.ts'
import { HistoryPurge } from './rooms/purge-history.ts'
import { ThreepidBindings } from './identity/bindings.ts'
import { Rooms } from './rooms/rooms.ts'
import { ThirdPartyInvites } from './rooms/third-party-invites.ts'
import { IdentityServers } from './identity/index.ts'
import { Mailer } from './email/mailer.ts'
import { Threepids } from './email/threepids.ts'
import { Directory, RoomSuccession, summaryHook } from './directory/index.ts'
import { RoomWriter } from './rooms/writer.ts'
import { RemoteEvents } from './rooms/ingest.ts'
import { RemoteJoins } from './federation/remote-join.ts'
import { MatrixError } from './shared/errors.ts'
import { FederationInvites } from './federation/invites.ts'
import { pduVerifier } from './federation/pdu-check.ts'
import { RelationsReader } from './rooms/relations-read.ts'
import { relationsOnAppend } from './rooms/relations-write.ts'
import { StreamNotifier } from './sync/notifier.ts'
import { Search, UserDirectory, indexAppended, searchTextOf } from './search/index.ts'
import { Presence } from './presence/index.ts'
import { filterLimitsOf } from './sync/filter.ts'
import { SyncService } from './sync/sync.ts'
import { Ephemeral } from './ephemeral/index.ts'
import { GuestEviction } from './rooms/guest-access.ts'
import { EventExpiry } from './rooms/expiry.ts'
import { DEFAULT_PUSH_LIMITS, Push } from './push/index.ts'
import { Pushers } from './push/pushers.ts'
import { PUSH_CHANNEL, PushSender } from './push/sender.ts'
import { CrossSigning, DehydratedDevices, DeviceListUpdates, DeviceLists, E2eKeys, KeyBackup, RemoteDeviceLists, RemoteE2eKeys, ToDevice } from './e2ee/index.ts'
import { createMediaServices, FederationMediaSource, type MediaServices } from './media/index.ts'
import { createOutboundGuard, type OutboundGuard } from './outbound/index.ts'
import { createFederation, systemDns, type DnsResolver, type Federation } from './federation/index.ts'
import { FederationQueries } from './federation/queries.ts'
import { FederationMemberships } from './federation/memberships.ts'
import { ServerAcls } from './federation/acl.ts'
import { InboundEdus } from './federation/edus.ts'
import type { PduSink } from './federation/pdu-sink.ts'
import { GapFiller } from './federation/gaps.ts'
import { Backfiller } from './federation/backfill.ts'
import { InboundTransactions } from './federation/transactions.ts'
import { FEDERATION_CHANNEL, FederationSender } from './federation/sender.ts'
import { eduRelay } from './federation/edu-relay.ts'
import { fetchUserDevices } from './federation/user-devices.ts'
import { FederationReads } from './federation/reads.ts'
import { parseUserId } from './shared/ids.ts'

export interface AppContext {
  config: Config
  clock: Clock
  logger: Logger
  metrics: Metrics
  storage: Storage
  serverKeys: ServerKeys
  rateLimiter: RateLimiter
  sessions: Sessions
  uia: Uia
  devices: Devices
  accounts: Accounts
  /** Single sign-on through CAS (off unless sso.cas.enabled) and its m.login.sso UIA stage. */
  sso: Sso
  /** The single-use loginTokens a sign-on hands to clients (m.login.token). */
  loginTokens: LoginTokens
  openIdTokens: OpenIdTokens
  /** E-mail addresses of accounts and their validation by mail (email.*). */
  threepids: Threepids
  profiles: Profiles
  accountData: AccountData
  registrationTokens: RegistrationTokens
  rooms: Rooms
  roomShutdown: RoomShutdown
  historyPurge: HistoryPurge
  threepidBindings: ThreepidBindings
  roomReader: RoomReader
  directory: Directory
  relations: RelationsReader
  notifier: StreamNotifier
  search: Search
  userDirectory: UserDirectory
  presence: Presence
  sync: SyncService
  slidingSync: SlidingSyncService
  ephemeral: Ephemeral
  /** Self-destructing messages (rooms.ephemeral_messages); null when off. */
  eventExpiry: EventExpiry | null
  push: Push
  /** POST /pushers/set and GET /pushers. */
  pushers: Pushers
  /** The durable queue to push gateways: notifying events and badge updates, delivered by any instance. */
  pushSender: PushSender
  keyBackup: KeyBackup
  e2eKeys: E2eKeys
  crossSigning: CrossSigning
  deviceLists: DeviceLists
  toDevice: ToDevice
  dehydratedDevices: DehydratedDevices
  media: MediaServices
  federation: Federation
  /** The server-server API's queries about our users and aliases. */
  federationQueries: FederationQueries
  /** Remote events into rooms' DAGs through the room writer (accepted, soft-failed, rejected, outliers; joined rooms). */
  remoteEvents: RemoteEvents
  /** The resident side of make_join/send_join, make_leave/send_leave, make_knock/send_knock. */
  federationMemberships: FederationMemberships
  /** Invites across servers (PUT v2/invite), received and sent. */
  federationInvites: FederationInvites
  /** Invites by e-mail address through identity servers, and their exchange for member invites (3pid/onbind, exchange_third_party_invite). */
  thirdPartyInvites: ThirdPartyInvites
  /** Transactions received from other servers (PUT /send/{txnId}): PDUs to pduSink, EDUs to their services. */
  federationInbound: InboundTransactions
  /** Other servers' users' device lists and cross-signing keys, from their EDUs. */
  remoteDeviceLists: RemoteDeviceLists
  /** The server-server API's reads of room DAGs: /event, /state, /backfill, /get_missing_events… */
  federationReads: FederationReads
  /** The one gate for requests to other hosts (push gateways use it too). */
  outboundGuard: OutboundGuard
  /** The durable outbound federation queue: local events are queued as they are appended; EDUs by queueEdu. */
  federationSender: FederationSender
}

export interface ContextOptions {
  config: Config
  db: Database
  logger: Logger
  metrics: Metrics
  clock?: Clock
  /** The DNS behind federation discovery and the outbound guard (default: the system's). */
  dns?: DnsResolver
}

/** Builds every service over one database; call `ready()` before serving. */
export async function createContext(options: ContextOptions): Promise<AppContext> {
  const { config, db, logger, metrics } = options
  const clock = options.clock ?? systemClock
  const storage = new Storage(db)
  const serverKeys = new ServerKeys(config.server_name, clock)
  await serverKeys.load(storage)
  const dns = options.dns ?? systemDns()
  // One guard for every outbound request: federation and URL previews share its settings.
  const guard = createOutboundGuard(config, (host) => dns.lookup(host))
  const federation = createFederation({ config, storage, serverKeys, guard, dns, clock, logger })
  const rateLimiter = new RateLimiter(config.rate_limits, storage.repos, clock)
  // Our users' device and cross-signing key changes go to the servers sharing a room with them, queued with
  // the change (federationSender is built below; nothing changes before the context is ready).
  const deviceListUpdates = new DeviceListUpdates({
    serverName: config.server_name,
    queue: (repos, userId, eduType, content, key) => federationSender.queueEduForIn(repos, 'user', userId, eduType, content, key),
  })
  // A device logged in, renamed or removed: users sharing a room with its owner must hear of it.
  const sessions = new Sessions(storage, clock, config.auth, (err) => logger.warn({ err }, 'background write failed'), (repos, userId, deviceId) =>
    deviceListUpdates.devices(repos, userId, [deviceId], false),
  )
  const uia = new Uia(storage, clock)
  const devices = new Devices(storage, (repos, userId, deviceIds, deleted) => {
    // A removed device's keys go with it, and its tokens: no instance may keep accepting them from its cache.
    if (deleted) sessions.revoking(userId)
    return deviceListUpdates.devices(repos, userId, deviceIds, deleted)
  })
  const registrationTokens = new RegistrationTokens(storage, clock)
  const smtpHost = config.email.smtp_host
  const mailer = smtpHost !== null ? new Mailer({ ...config.email, smtp_host: smtpHost }, config.server_name) : null
  const threepids = new Threepids({ config, storage, clock, rateLimiter, mailer, uia, logger })
  const accounts = new Accounts({ config, storage, clock, sessions, devices, uia, registrationTokens, rateLimiter, threepids })
  // A deactivated account's addresses are free again, and no longer log anyone in.
  accounts.onDeactivate((repos, userId) => repos.threepids.removeAllFor(userId))

  uia.registerStage('m.login.dummy', async () => ({}))
  const recaptcha = new Recaptcha(config.registration.recaptcha, guard)
  if (recaptcha.enabled) uia.registerStage(RECAPTCHA, recaptcha.stage, undefined, { outsideFlows: true })
  uia.registerStage('m.login.registration_token', registrationTokens.stage, registrationTokens.release)
  uia.registerStage('m.login.password', ({ auth, session }) => accounts.passwordStage(auth, session.user_id))
  uia.registerStage('m.login.email.identity', ({ auth, session }) => threepids.stage(auth, session.purpose))
  const loginTokens = new LoginTokens({ storage, clock, accounts, rateLimiter, lifetimeMs: config.sso.login_token_lifetime_ms })
  const sso = new Sso({ config, storage, clock, guard, accounts, uia, loginTokens })
  accounts.onDeactivate((repos, userId) => repos.loginTokens.deleteAllFor(userId))

  const writer = new RoomWriter(config.server_name, clock, () => serverKeys.signingKey, (outcome) => metrics.roomWriteState.inc({ outcome }))
  writer.onAppend(relationsOnAppend)
  const remoteEvents = new RemoteEvents({ storage, writer })
  // A PDU fetched from another server (send_join's answer, a gap's events), checked as a sent one is.
  const verifyPdu = pduVerifier((server, keyId, validity) => federation.keys.verifyKey(server, keyId, validity))
  const federationInvites = new FederationInvites({ serverName: config.server_name, storage, keys: federation.keys, client: federation.client, signingKey: () => serverKeys.signingKey, remoteEvents })
  const remoteJoins = new RemoteJoins({
    serverName: config.server_name,
    client: federation.client,
    signingKey: () => serverKeys.signingKey,
    clock,
    logger,
    verifyPdu,
    persist: async ({ roomId, version, state, authChain, join, origin }) => {
      const result = await remoteEvents.ingestJoinedRoom(roomId, version, { state, authChain, join, origin })
      if (result.outcome !== 'accepted') throw new Error(`the join was not accepted here (${result.outcome}: ${result.reason ?? ''})`)
      // The room may replace one this server knows: the upgrade carries over before the join answers.
      await succession.afterJoin(roomId)
    },
    membershipEvent: async (roomId, userId) => {
      const own = await storage.repos.memberships.get(roomId, userId)
      const [row] = own ? await storage.repos.events.pdus(roomId, [own.event_id]) : []
      return row ? (JSON.parse(row.json) as Record<string, unknown>) : null
    },
    keepOutside: (event, version, unsigned) => remoteEvents.keepMembershipOutside(event, version, unsigned),
  })
  const rooms = new Rooms({
    storage,
    writer,
    clock,
    serverName: config.server_name,
    defaultRoomVersion: config.rooms.default_room_version,
    remoteJoins,
    aliases: (alias) => directory.aliases.resolve(alias),
    remoteInvites: {
      send: (destination, version, event, stripped) => federationInvites.send(destination, version, event, stripped),
      append: async (event) => {
        const result = await remoteEvents.ingest(event, { origin: config.server_name })
        if (result.outcome !== 'accepted') throw new MatrixError('M_FORBIDDEN', `The invite was not accepted: ${result.reason ?? result.outcome}`)
      },
    },
  })
  const identityServers = new IdentityServers(guard, { timeoutMs: config.identity_server.timeout_ms, tlsVerify: config.identity_server.tls_verify, secureContext: federation.secureContext })
  const thirdPartyInvites = new ThirdPartyInvites({
    storage,
    writer,
    rooms,
    identity: identityServers,
    serverName: config.server_name,
    forward: (destination, request) => federationInvites.exchangeThirdPartyInvite(destination, request),
    enabled: config.identity_server.third_party_invites,
    rateLimit: (userId) => rateLimiter.take('message', userId),
  })
  writer.indexWith(searchTextOf)
  writer.onAppend(new GuestEviction({ storage, rooms, logger }).hook)
  writer.onAppend((repos, appended) => indexAppended(repos, appended))
  writer.onAppend(summaryHook)
  // Sliding sync's bump stamps (room_bumps): one statement in the event's transaction, not waited for (the
  // transaction's later statements queue behind it, and a failure fails the commit).
  writer.onAppend(async (repos, { event, streamOrdering }) => {
    if (BUMP_TYPES.has(event.type)) repos.slidingSync.bump(event.room_id, streamOrdering).catch(() => {})
  })
  const eventExpiry = config.rooms.ephemeral_messages ? new EventExpiry({ storage, clock, logger }) : null
  if (eventExpiry) writer.onAppend((repos, appended) => eventExpiry.onAppend(repos, appended))
  const notifier = new StreamNotifier(storage, db.connection, logger)
  notifier.listen(TOKENS_CHANNEL, (userId) => sessions.tokenCache.invalidate(userId))
  notifier.onConnection((connected) => sessions.tokenCache.setLive(connected))
  // Our users' typing, receipts and presence reach other servers through the sender (built further down).
  const relay = eduRelay(config.server_name, () => federationSender)
  const presence = new Presence(storage, clock, logger, relay)
  const accountData = new AccountData(storage, clock)
  // A user's read receipt updates the badge of their phones (pushSender is built below; nothing is read before the context is ready).
  const ephemeral = new Ephemeral({ storage, clock, logger, accountData, writer, relay, onReadReceipt: (repos, userId) => pushSender.onReadReceipt(repos, userId) })
  const push = new Push({
    storage,
    clock,
    serverName: config.server_name,
    limits: {
      maxRulesPerKind: config.push.max_rules_per_kind,
      maxPatternLength: config.push.max_pattern_length,
      maxMatchLength: config.push.max_match_length,
      budget: DEFAULT_PUSH_LIMITS.budget,
    },
  })
  const pushContext = writer.onPrepare(
    (repos, roomId, template) => push.prepare(repos, roomId, template),
    (earlier, next, read) => push.preparedServes(earlier, next, read),
  )
  writer.onAppend((repos, appended, room, prepared) =>
    push.onEventAppended(repos, appended, room, prepared.get(pushContext) as Promise<EventContext> | undefined),
  )
  // A room upgrade's aliases, directory listing and members' tags and push rules follow it here.
  const succession = new RoomSuccession({ storage, serverName: config.server_name, clock, logger, copyPushRules: (repos, users, from, to) => push.copyRoomRules(repos, users, from, to) })
  writer.onAppend(succession.hook)
  // Notifying events reach their recipients' push gateways through a queue written with the event.
  const pushSender = new PushSender({
    storage,
    clock,
    logger,
    guard,
    settings: config.push.delivery,
    badge: (userId) => push.badge(userId, notifier.current),
    // Digest mails of missed messages for e-mail pushers (email.enable_notifs).
    digests: mailer !== null && config.email.enable_notifs
      ? {
          mailer,
          appName: config.email.app_name,
          clientBaseUrl: config.email.client_base_url,
          baseUrl: config.public_baseurl.replace(/\/$/, ''),
          delayMs: config.email.notif_delay_ms,
          throttleMs: config.email.notif_throttle_ms,
        }
      : null,
  })
  push.deliverWith((repos, queued) => pushSender.queueEvent(repos, queued))
  remoteEvents.onKeptOutside((repos, event) => push.onOutsideInvite(repos, event as typeof event & { state_key: string }))
  notifier.listen(PUSH_CHANNEL, (payload) => pushSender.notified(payload))
  notifier.onConnection((connected) => connected && pushSender.listenerConnected())
  // Local events go to the other servers in their room: the room's servers are read with its load.
  const federationSender = new FederationSender({ serverName: config.server_name, storage, client: federation.client, clock, logger, settings: config.federation.sender })
  const roomServers = writer.onPrepare((repos, roomId) => federationSender.prepare(repos, roomId), () => true)
  writer.onAppend((repos, appended, _room, prepared) => federationSender.onAppend(repos, appended, prepared.get(roomServers) as Promise<string[]> | undefined))
  writer.onAppend((repos, { event, replaced }) => presence.onJoin(repos, event, replaced, parseUserId(event.state_key ?? '')?.serverName !== config.server_name))
  notifier.listen(FEDERATION_CHANNEL, (payload) => federationSender.notified(payload))
  notifier.onConnection((connected) => connected && federationSender.listenerConnected())
  const crossSigning = new CrossSigning({ storage, uia, deviceListUpdates })
  // Other servers' users' device lists, kept from their updates; a list stops being followed when no room is shared.
  const remoteDeviceLists = new RemoteDeviceLists({
    storage,
    clock,
    logger,
    fetch: (userId) => fetchUserDevices(federation.client, userId),
    serverName: config.server_name,
  })
  writer.onAppend((repos, appended) => remoteDeviceLists.onMemberEvent(repos, appended.event))
  const e2eKeys = new E2eKeys({
    storage,
    serverName: config.server_name,
    proposedKeys: (requester, repos) => crossSigning.proposedBy(requester, repos),
    remote: new RemoteE2eKeys(federation.client, remoteDeviceLists),
    deviceListUpdates,
  })
  const deviceLists = new DeviceLists(storage)
  const toDevice = new ToDevice({
    storage,
    clock,
    serverName: config.server_name,
    onError: (err) => logger.warn({ err }, 'pruning to-device transaction IDs failed'),
    toRemote: (repos, server, content) => federationSender.queueEduIn(repos, server, 'm.direct_to_device', content),
  })
  const keyBackup = new KeyBackup({ storage })
  accounts.onDeactivate((repos, userId) => e2eKeys.deleteAllForUser(repos, userId))
  accounts.onDeactivate((repos, userId) => keyBackup.deleteAllForUser(repos, userId))
  const profiles = new Profiles(
    storage,
    (userId) => rooms.propagateProfile(userId, (roomId, err) => logger.warn({ err, room_id: roomId }, 'profile change not sent to room')),
    (userId) => rateLimiter.take('message', userId),
    new RemoteProfiles(federation.client, config.server_name),
  )
  const directory = new Directory({
    storage,
    rooms,
    clock,
    serverName: config.server_name,
    limits: { publicRooms: config.limits.public_rooms_limit, hierarchy: config.limits.hierarchy_limit },
    federation: federation.client,
    succession,
  })
  const federationQueries = new FederationQueries({ serverName: config.server_name, storage, profiles, aliases: directory.aliases, e2eKeys })
  const acls = new ServerAcls(storage)
  // Checked PDUs go to the room DAG through the remote-event ingest, missing predecessors fetched first.
  const gapFiller = new GapFiller({ client: federation.client, remoteEvents, storage, check: verifyPdu, logger })
  const pduSink: PduSink = gapFiller
  const backfiller = new Backfiller({ client: federation.client, remoteEvents, storage, check: verifyPdu, gaps: gapFiller, logger, serverName: config.server_name })
  const federationInbound = new InboundTransactions({
    storage,
    clock,
    logger,
    keys: (server, keyId, validity) => federation.keys.verifyKey(server, keyId, validity),
    sink: pduSink,
    acls,
    edus: new InboundEdus({ storage, ephemeral, presence, toDevice, remoteDeviceLists, acls, logger, statusMsgBytes: config.limits.status_msg_bytes }),
    heardFrom: (origin) => void federationSender.heardFrom(origin).catch((err: Error) => logger.warn({ err: err.message, origin }, 'ending a backoff failed')),
  })

  const sync = new SyncService(storage, notifier, clock, {
    ephemeral: (requester, rooms, since, upTo) => ephemeral.forSync(requester, rooms, since, upTo),
    unreadCounts: (userId, roomIds, upTo) => push.unreadCounts(userId, roomIds, upTo),
    presence: (requester, since, upTo, filter) => presence.forSync(requester.userId, since, upTo, filter),
    roomPresence: (roomId, since, upTo) => presence.inRoom(roomId, since, upTo),
    pushRules: async (userId) => (await push.ruleset(userId)) as unknown as Record<string, unknown>,
    e2ee: {
      toDevice: (requester, since, upTo, changed) => toDevice.forSync(requester, since, upTo, changed),
      deviceLists: (userId, since, upTo, keysChanged) => deviceLists.forSync(userId, since, upTo, keysChanged),
      keyCounts: (userId, deviceId) => e2eKeys.counts(userId, deviceId),
    },
  }, (part, outcome) => metrics.syncLocal.inc({ part, outcome }), filterLimitsOf(config))
  return {
    config,
    clock,
    logger,
    metrics,
    storage,
    serverKeys,
    rateLimiter,
    sessions,
    uia,
    devices,
    accounts,
    sso,
    loginTokens,
    openIdTokens: new OpenIdTokens(config.server_name, storage, clock),
    threepids,
    profiles,
    accountData,
    registrationTokens,
    rooms,
    roomShutdown: new RoomShutdown({ storage, rooms, clock, logger, serverName: config.server_name }),
    threepidBindings: new ThreepidBindings({ storage, identity: identityServers, serverName: config.server_name, signingKey: () => serverKeys.signingKey }),
    historyPurge: new HistoryPurge({ storage, clock, logger, serverName: config.server_name }),
    roomReader: new RoomReader(storage, clock, backfiller),
    directory,
    relations: new RelationsReader(storage, clock),
    notifier,
    search: new Search(storage, clock, config.limits.search_limit),
    userDirectory: new UserDirectory(storage, config.limits.user_directory_limit, config.server_name),
    presence,
    sync,
    slidingSync: new SlidingSyncService({ storage, notifier, clock, sync, limits: { timelineCap: config.limits.sync_timeline_limit, maxTimeoutMs: config.limits.sync_timeout_ms } }),
    ephemeral,
    eventExpiry,
    push,
    pushers: new Pushers({ storage, clock, maxPerUser: config.push.max_pushers_per_user, email: mailer !== null && config.email.enable_notifs }),
    pushSender,
    keyBackup,
    e2eKeys,
    crossSigning,
    deviceLists,
    toDevice,
    dehydratedDevices: new DehydratedDevices({ storage, clock, keys: e2eKeys, devices, toDevice }),
    media: createMediaServices({
      config,
      storage,
      clock,
      logger,
      guard,
      remote: new FederationMediaSource({ client: federation.client, guard, secureContext: federation.secureContext }),
    }),
    federation,
    federationQueries,
    remoteEvents,
    federationInvites,
    thirdPartyInvites,
    federationMemberships: new FederationMemberships({ serverName: config.server_name, storage, remoteEvents, keys: federation.keys, signingKey: () => serverKeys.signingKey, clock }),
    federationInbound,
    remoteDeviceLists,
    federationReads: new FederationReads({ serverName: config.server_name, storage, clock }),
    outboundGuard: guard,
    federationSender,
  }
}
