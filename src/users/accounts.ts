// Accounts: registration (open, token-gated, shared-secret, CLI), login, password changes and deactivation.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { Config } from '../config/schema.ts'
import type { Threepids, ValidatedThreepid } from '../email/threepids.ts'
import type { RateLimiter } from '../ratelimit/index.ts'
import type { Clock } from '../shared/clock.ts'
import { MatrixError, forbidden } from '../shared/errors.ts'
import { isValidLocalpart, makeUserId, parseUserId, type UserId } from '../shared/ids.ts'
import { randomString } from '../shared/random.ts'
import type { Repositories, Storage } from '../storage/index.ts'
import type { Devices } from './devices.ts'
import { dummyPasswordHash, hashPassword, verifyPassword } from './passwords.ts'
import type { Requester } from './requester.ts'
import type { IssuedSession, Sessions } from './sessions.ts'
import type { RegistrationTokens } from './registration-tokens.ts'
import { UiaChallenge, UiaRefusal, type Flow, type Uia, type UiaSession } from './uia.ts'

const NONCE_LIFETIME_MS = 60_000
/** Nonces outstanding at once; past it the oldest is dropped (a client uses its nonce within seconds). */
export const MAX_NONCES = 1000

export interface RegisterRequest {
  username?: string | undefined
  password?: string | undefined
  deviceId?: string | undefined
  initialDeviceDisplayName?: string | undefined
  inhibitLogin?: boolean | undefined
  refreshToken?: boolean | undefined
  auth?: unknown
  /** The access token of the guest account this registration upgrades (client-server API, "Guest Access"). */
  guestAccessToken?: string | undefined
  ip: string
}

/** Login parameters of a registration's first request, kept in its UIA session. */
interface RememberedParams {
  device_id?: string | undefined
  initial_device_display_name?: string | undefined
  inhibit_login?: boolean | undefined
  refresh_token?: boolean | undefined
}

export interface RegisterResult extends Partial<IssuedSession> {
  user_id: UserId
  home_server: string
}

export interface LoginRequest {
  type: string
  identifier?: Record<string, unknown> | undefined
  user?: string | undefined
  /** Deprecated top-level form of an m.id.thirdparty identifier. */
  medium?: string | undefined
  address?: string | undefined
  password?: string | undefined
  deviceId?: string | undefined
  initialDeviceDisplayName?: string | undefined
  refreshToken?: boolean | undefined
  ip: string
}

export interface SharedSecretRegistration {
  nonce: string
  username: string
  password: string
  displayname?: string | undefined
  admin?: boolean | undefined
  user_type?: string | null | undefined
  mac: string
}

export class Accounts {
  private readonly config: Config
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly sessions: Sessions
  private readonly devices: Devices
  private readonly uia: Uia
  private readonly tokens: RegistrationTokens
  private readonly limiter: RateLimiter
  private readonly threepids: Threepids
  private readonly deactivationHooks: Array<(repos: Repositories, userId: string) => Promise<void>> = []

  constructor(deps: {
    config: Config
    storage: Storage
    clock: Clock
    sessions: Sessions
    devices: Devices
    uia: Uia
    registrationTokens: RegistrationTokens
    rateLimiter: RateLimiter
    threepids: Threepids
  }) {
    this.config = deps.config
    this.storage = deps.storage
    this.clock = deps.clock
    this.sessions = deps.sessions
    this.devices = deps.devices
    this.uia = deps.uia
    this.tokens = deps.registrationTokens
    this.limiter = deps.rateLimiter
    this.threepids = deps.threepids
  }

  /** Work other modules do, in the same transaction, when an account is deactivated (E2EE keys, backups). */
  onDeactivate(hook: (repos: Repositories, userId: string) => Promise<void>): void {
    this.deactivationHooks.push(hook)
  }

  get serverName(): string {
    return this.config.server_name
  }

  /** The user ID for a login identifier: a full user ID of this server or a bare localpart. */
  resolveUserId(user: string): UserId {
    if (user.startsWith('@')) {
      const parsed = parseUserId(user)
      if (!parsed) throw new MatrixError('M_INVALID_PARAM', 'Invalid user ID')
      if (parsed.serverName !== this.serverName) throw forbidden('That user is not on this server')
      return makeUserId(parsed.localpart.toLowerCase(), this.serverName)
    }
    return makeUserId(user.toLowerCase(), this.serverName)
  }

  /** Throws M_INVALID_USERNAME unless `username` is a valid localpart of this server. */
  checkLocalpart(username: string): UserId {
    if (!isValidLocalpart(username)) {
      throw new MatrixError('M_INVALID_USERNAME', 'User IDs may only contain a-z, 0-9 and the characters ._=-/+')
    }
    const userId = makeUserId(username, this.serverName)
    if (Buffer.byteLength(userId) > 255) throw new MatrixError('M_INVALID_USERNAME', 'User ID is too long')
    return userId
  }

  /** Throws M_INVALID_USERNAME / M_USER_IN_USE unless `username` can be registered. */
  async checkUsername(username: string): Promise<UserId> {
    const userId = this.checkLocalpart(username)
    if (await this.storage.repos.users.exists(userId)) throw new MatrixError('M_USER_IN_USE', 'User ID already taken')
    return userId
  }

  checkPassword(password: string): void {
    if (password.length < this.config.registration.password_min_length) {
      throw new MatrixError('M_WEAK_PASSWORD', `Passwords must be at least ${this.config.registration.password_min_length} characters`)
    }
  }

  /**
   * With mail configured, sign-up may also prove an e-mail address (m.login.email.identity), which then
   * belongs to the new account; registration.requires_email makes it the only way.
   */
  registrationFlows(): Flow[] {
    const token = this.config.registration.requires_token ? ['m.login.registration_token'] : []
    const plain = token.length > 0 ? token : ['m.login.dummy']
    const withEmail = [...token, 'm.login.email.identity']
    const flows = !this.threepids.enabled ? [plain] : this.config.registration.requires_email ? [withEmail] : [plain, withEmail]
    // A required reCAPTCHA comes first in every flow.
    return this.config.registration.recaptcha.required ? flows.map((flow) => ['m.login.recaptcha', ...flow]) : flows
  }

  /** The stages' params of registration: the reCAPTCHA site key when there is one. */
  private registrationParams(): Record<string, unknown> {
    const key = this.config.registration.recaptcha.public_key
    return key !== null ? { 'm.login.recaptcha': { public_key: key } } : {}
  }

  /**
   * POST /register: open or token-gated sign-up behind user-interactive auth. The parameters of the session's
   * first request (username, password, device, inhibit_login) hold for the rest of it unless repeated; once it
   * has created an account, the same session answers a retry with that account (a new login) instead of an
   * error, so a client whose answer was lost does not end up with two accounts.
   */
  async register(request: RegisterRequest): Promise<RegisterResult> {
    if (!this.config.registration.enabled) throw forbidden('Registration has been disabled')
    await this.limiter.take('registration', request.ip)
    // Localparts are lower case: capitals a client sends are folded, as Synapse does.
    const username = request.username?.toLowerCase()
    const guest = request.guestAccessToken !== undefined ? await this.guestToUpgrade(request.guestAccessToken, username, request.ip) : null
    const registered = await this.uia.outcome(request.auth, 'register')
    if (username !== undefined && guest === null) {
      if (registered) this.checkLocalpart(username)
      else await this.checkUsername(username)
    }
    if (request.password !== undefined) this.checkPassword(request.password)

    let session: UiaSession
    try {
      session = await this.uia.authenticate({ purpose: 'register', userId: null, flows: this.registrationFlows(), params: this.registrationParams(), auth: request.auth })
    } catch (err) {
      if (err instanceof UiaChallenge) await this.rememberRegistration(err.sessionId, { ...request, username })
      throw err
    }
    const remembered = (session.data.params ?? {}) as RememberedParams
    const params: RegisterRequest = {
      ip: request.ip,
      deviceId: request.deviceId ?? remembered.device_id,
      initialDeviceDisplayName: request.initialDeviceDisplayName ?? remembered.initial_device_display_name,
      inhibitLogin: request.inhibitLogin ?? remembered.inhibit_login,
      refreshToken: request.refreshToken ?? remembered.refresh_token,
    }
    const chosen = username ?? (session.data.username as string | undefined)
    const passwordHash = request.password !== undefined
      ? await hashPassword(request.password)
      : ((session.data.password_hash as string | undefined) ?? null)

    return this.storage.streamTransaction(async (repos) => {
      // Locked, so two requests completing one session at once create one account between them.
      const row = await repos.uiaSessions.lock(session.sessionId)
      if (!row) throw new MatrixError('M_UNKNOWN', 'Unknown or expired authentication session', 400)
      const outcome = row.data.outcome as { user_id?: unknown } | undefined
      if (outcome && typeof outcome.user_id === 'string') {
        const userId = outcome.user_id as UserId
        if (username !== undefined && makeUserId(username, this.serverName) !== userId) {
          throw forbidden('This authentication session has already registered another user')
        }
        return this.afterRegistration(repos, userId, params)
      }
      let userId: UserId
      if (guest !== null) {
        // The account keeps its ID, rooms and devices; only what makes it a guest goes.
        this.sessions.revoking(guest)
        if (!(await repos.users.upgradeGuest(guest, passwordHash))) throw new MatrixError('M_USER_IN_USE', 'User ID already taken')
        userId = guest
      } else {
        userId = await this.createUser(repos, chosen, passwordHash, { admin: false, userType: null })
      }
      const token = session.data.registration_token
      if (typeof token === 'string') await this.tokens.consume(repos, token)
      const threepid = session.data.threepid as ValidatedThreepid | undefined
      if (threepid) await this.threepids.bind(repos, userId, threepid)
      await this.uia.conclude(repos, session.sessionId, { user_id: userId })
      const result = await this.afterRegistration(repos, userId, params)
      // Signed up with an address and logged in: digest mails go to it (email.notif_for_new_users).
      if (threepid && result.device_id !== undefined) await this.threepids.addEmailPusher(repos, userId, result.device_id, threepid.address)
      return result
    })
  }

  /**
   * The guest an upgrading registration names: the token must be a guest's, and `username` that guest's
   * localpart (the spec requires it); M_FORBIDDEN otherwise, so no one takes over another account.
   */
  private async guestToUpgrade(token: string, username: string | undefined, ip: string): Promise<UserId> {
    const requester = await this.sessions.authenticate(token, { ip, userAgent: null }).catch(() => null)
    if (!requester?.isGuest) throw forbidden('guest_access_token is not the access token of a guest account')
    if (username === undefined || makeUserId(username, this.serverName) !== requester.userId) {
      throw forbidden('Cannot register taken user ID without valid guest credentials for that user')
    }
    return requester.userId
  }

  /**
   * POST /register?kind=guest: a guest account, with the next free numeric localpart and no password, and
   * its session. Off unless registration.allow_guest_access.
   */
  async registerGuest(request: Pick<RegisterRequest, 'deviceId' | 'initialDeviceDisplayName' | 'ip'>): Promise<RegisterResult> {
    if (!this.config.registration.allow_guest_access) throw new MatrixError('M_GUEST_ACCESS_FORBIDDEN', 'Guest access is disabled', 403)
    await this.limiter.take('registration', request.ip)
    return this.storage.streamTransaction(async (repos) => {
      const userId = await this.createUser(repos, undefined, null, { admin: false, userType: null, guest: true })
      return this.afterRegistration(repos, userId, request)
    })
  }

  /** Remembers what the session's requests sent so far, so later ones need not repeat it. */
  private async rememberRegistration(sessionId: string, request: RegisterRequest): Promise<void> {
    const data: Record<string, unknown> = {}
    if (request.username !== undefined) data.username = request.username
    if (request.password !== undefined) data.password_hash = await hashPassword(request.password)
    const params: RememberedParams = {
      device_id: request.deviceId,
      initial_device_display_name: request.initialDeviceDisplayName,
      inhibit_login: request.inhibitLogin,
      refresh_token: request.refreshToken,
    }
    const given = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined))
    if (Object.keys(given).length > 0) data.params = given
    if (Object.keys(data).length > 0) await this.uia.remember(sessionId, data)
  }

  private async afterRegistration(repos: Repositories, userId: UserId, request: RegisterRequest): Promise<RegisterResult> {
    const result: RegisterResult = { user_id: userId, home_server: this.serverName }
    if (request.inhibitLogin) return result
    const session = await this.sessions.issue(repos, userId, {
      deviceId: request.deviceId,
      displayName: request.initialDeviceDisplayName,
      refreshable: request.refreshToken,
    })
    return { ...result, ...session }
  }

  /** Inserts the user and their profile; with no username, the next free numeric localpart. */
  async createUser(
    repos: Repositories,
    username: string | undefined,
    passwordHash: string | null,
    options: { admin: boolean; userType: string | null; displayName?: string | undefined; guest?: boolean },
  ): Promise<UserId> {
    const now = this.clock.now()
    for (let attempt = 0; attempt < 5; attempt++) {
      const localpart = username ?? String((await repos.users.maxNumericLocalpart()) + 1 + attempt)
      const userId = makeUserId(localpart, this.serverName)
      const inserted = await repos.users.insert({
        user_id: userId,
        localpart,
        password_hash: passwordHash,
        admin: options.admin,
        user_type: options.userType,
        created_ts: now,
        is_guest: options.guest ?? false,
      })
      if (inserted) {
        await repos.profiles.create(userId, { displayname: options.displayName ?? localpart })
        return userId
      }
      if (username !== undefined) throw new MatrixError('M_USER_IN_USE', 'User ID already taken')
    }
    throw new MatrixError('M_UNKNOWN', 'Could not allocate a user ID, try again', 503)
  }

  /** Registration outside the client API (CLI and shared secret): no UIA, no open-registration check. */
  async createAccount(options: {
    username: string
    password: string | null
    admin: boolean
    displayName?: string | undefined
    userType?: string | null | undefined
    login?: { deviceId?: string } | undefined
  }): Promise<RegisterResult> {
    await this.checkUsername(options.username)
    if (options.password !== null) this.checkPassword(options.password)
    const passwordHash = options.password === null ? null : await hashPassword(options.password)
    return this.storage.streamTransaction(async (repos) => {
      const userId = await this.createUser(repos, options.username, passwordHash, {
        admin: options.admin,
        userType: options.userType ?? null,
        displayName: options.displayName,
      })
      if (!options.login) return { user_id: userId, home_server: this.serverName }
      return this.afterRegistration(repos, userId, { ip: '', deviceId: options.login.deviceId })
    })
  }

  /** GET /_synapse/admin/v1/register: a single-use nonce for shared-secret registration (unauthenticated). */
  async sharedSecretNonce(ip: string): Promise<string> {
    if (!this.config.registration.shared_secret) throw new MatrixError('M_UNKNOWN', 'Shared secret registration is not enabled', 400)
    await this.limiter.take('shared_secret_nonce', ip)
    const nonce = randomString(32)
    const now = this.clock.now()
    await this.storage.repos.nonces.insert(nonce, now, now - NONCE_LIFETIME_MS, MAX_NONCES)
    return nonce
  }

  /** POST /_synapse/admin/v1/register: HMAC-SHA1 over nonce, username, password, admin flag (and user type). */
  async registerWithSharedSecret(request: SharedSecretRegistration, ip: string): Promise<RegisterResult> {
    const secret = this.config.registration.shared_secret
    if (!secret) throw new MatrixError('M_UNKNOWN', 'Shared secret registration is not enabled', 400)
    await this.limiter.take('registration', ip)
    if (!(await this.storage.repos.nonces.consume(request.nonce, this.clock.now() - NONCE_LIFETIME_MS))) {
      throw new MatrixError('M_UNKNOWN', 'Unrecognised nonce', 400)
    }
    const hmac = createHmac('sha1', secret)
    hmac.update(request.nonce).update('\x00').update(request.username).update('\x00').update(request.password).update('\x00')
    hmac.update(request.admin ? 'admin' : 'notadmin')
    if (request.user_type) hmac.update('\x00').update(request.user_type)
    const expected = hmac.digest()
    const given = /^[0-9a-f]{40}$/i.test(request.mac) ? Buffer.from(request.mac, 'hex') : Buffer.alloc(0)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw forbidden('HMAC incorrect')
    return this.createAccount({
      username: request.username.toLowerCase(),
      password: request.password,
      admin: request.admin ?? false,
      displayName: request.displayname,
      userType: request.user_type ?? null,
      login: {},
    })
  }

  /** POST /login with m.login.password. */
  async login(request: LoginRequest): Promise<IssuedSession & { home_server: string }> {
    if (request.type !== 'm.login.password') throw new MatrixError('M_UNKNOWN', `Unknown login type ${request.type}`, 400)
    const identifier = this.loginIdentifier(request)
    await this.limiter.take('login_address', request.ip)
    if (typeof request.password !== 'string') throw new MatrixError('M_BAD_JSON', '"password" must be a string')
    let userId: UserId
    if (typeof identifier === 'string') userId = this.resolveUserId(identifier)
    else {
      // An address no account has is refused as a wrong password is, after the same work.
      const owner = await this.threepids.ownerOf(identifier.medium, identifier.address)
      if (owner === null) {
        await verifyPassword(await dummyPasswordHash(), request.password)
        throw forbidden('Invalid username or password')
      }
      userId = owner as UserId
    }
    await this.limiter.take('login_account', userId)
    await this.limiter.check('login_failed_attempts', userId)

    const row = await this.storage.repos.users.get(userId)
    const ok = await verifyPassword(row ? row.password_hash : await dummyPasswordHash(), request.password)
    if (!row || !ok) {
      await this.limiter.take('login_failed_attempts', userId)
      throw forbidden('Invalid username or password')
    }
    // Only someone who knows the password learns that the account exists and was deactivated.
    return this.signIn(userId, row.deactivated, request)
  }

  /** The end of a login whose credentials were checked: a device (new, or the one named) and its tokens. */
  async signIn(
    userId: UserId,
    deactivated: boolean,
    request: Pick<LoginRequest, 'deviceId' | 'initialDeviceDisplayName' | 'refreshToken'>,
  ): Promise<IssuedSession & { home_server: string }> {
    if (deactivated) throw new MatrixError('M_USER_DEACTIVATED', 'This account has been deactivated')
    const session = await this.storage.streamTransaction((repos) =>
      this.sessions.issue(repos, userId, {
        deviceId: request.deviceId,
        displayName: request.initialDeviceDisplayName,
        refreshable: request.refreshToken,
      }),
    )
    return { ...session, home_server: this.serverName }
  }

  /** A user name, or the address of an m.id.thirdparty identifier (or the deprecated top-level medium and address). */
  private loginIdentifier(request: LoginRequest): string | { medium: string; address: string } {
    const identifier = request.identifier
    if (identifier?.type === 'm.id.thirdparty') {
      if (typeof identifier.medium !== 'string' || typeof identifier.address !== 'string') {
        throw new MatrixError('M_BAD_JSON', '"identifier.medium" and "identifier.address" must be strings')
      }
      return { medium: identifier.medium, address: identifier.address }
    }
    if (identifier === undefined && request.user === undefined && typeof request.medium === 'string' && typeof request.address === 'string') {
      return { medium: request.medium, address: request.address }
    }
    if (identifier !== undefined) {
      if (identifier.type !== 'm.id.user') {
        throw new MatrixError('M_UNKNOWN', `Login with identifier type ${String(identifier.type)} is not supported`, 400)
      }
      if (typeof identifier.user !== 'string' || identifier.user === '') throw new MatrixError('M_BAD_JSON', '"identifier.user" must be a string')
      return identifier.user
    }
    if (typeof request.user === 'string' && request.user !== '') return request.user
    throw new MatrixError('M_MISSING_PARAM', 'Missing "identifier"')
  }

  /** The m.login.password UIA stage: the session's user proves they know their password. */
  async passwordStage(auth: Record<string, unknown>, expectedUser: string | null): Promise<Record<string, unknown>> {
    const identifier = auth.identifier as Record<string, unknown> | undefined
    const user = identifier?.type === 'm.id.user' && typeof identifier.user === 'string' ? identifier.user : auth.user
    if (typeof user !== 'string') throw new MatrixError('M_MISSING_PARAM', 'Missing "identifier"')
    if (typeof auth.password !== 'string') throw new MatrixError('M_MISSING_PARAM', 'Missing "password"')
    const userId = this.resolveUserId(user)
    if (userId !== expectedUser) throw new UiaRefusal('M_FORBIDDEN', 'Authenticating as another user is not allowed', 403)
    await this.limiter.check('login_failed_attempts', userId)
    const row = await this.storage.repos.users.get(userId)
    if (!row || !(await verifyPassword(row.password_hash, auth.password))) {
      await this.limiter.take('login_failed_attempts', userId)
      throw forbidden('Invalid password')
    }
    return {}
  }

  /** POST /account/password. */
  async changePassword(requester: Requester, newPassword: string, logoutDevices: boolean, auth: unknown): Promise<void> {
    this.checkPassword(newPassword)
    const session = await this.uia.authenticate({ purpose: 'password', userId: requester.userId, flows: await this.uia.reauthFlows(requester.userId), auth })
    const hash = await hashPassword(newPassword)
    await this.storage.streamTransaction(async (repos) => {
      await repos.users.setPasswordHash(requester.userId, hash)
      if (logoutDevices) await this.devices.deleteAllExcept(repos, requester.userId, requester.deviceId)
      await this.uia.finish(repos, session.sessionId)
    })
  }

  /**
   * POST /account/password without an access token: the password reset. The m.login.email.identity stage
   * proves the address (its mail's link was followed); the account it belongs to gets the new password, and
   * unless logout_devices is false every device of it is logged out.
   */
  async resetPassword(newPassword: string, logoutDevices: boolean, auth: unknown): Promise<void> {
    if (!this.threepids.enabled) throw new MatrixError('M_MISSING_TOKEN', 'Missing access token', 401)
    this.checkPassword(newPassword)
    const session = await this.uia.authenticate({ purpose: 'password_reset', userId: null, flows: [['m.login.email.identity']], auth })
    const threepid = session.data.threepid as ValidatedThreepid | undefined
    const owner = threepid ? await this.threepids.ownerOf(threepid.medium, threepid.address) : null
    if (!threepid || owner === null) throw new MatrixError('M_THREEPID_NOT_FOUND', 'That e-mail address is not known to this server')
    const userId = owner as UserId
    const hash = await hashPassword(newPassword)
    await this.storage.streamTransaction(async (repos) => {
      await repos.users.setPasswordHash(userId, hash)
      if (logoutDevices) await this.devices.deleteAllExcept(repos, userId, null)
      await repos.threepids.deleteSession(threepid.sid)
      await this.uia.finish(repos, session.sessionId)
    })
  }

  /** POST /account/deactivate: the account can no longer log in and every device is logged out. */
  async deactivate(requester: Requester, auth: unknown, erase: boolean): Promise<void> {
    const session = await this.uia.authenticate({ purpose: 'deactivate', userId: requester.userId, flows: await this.uia.reauthFlows(requester.userId), auth })
    await this.deactivateUser(requester.userId, erase, session.sessionId)
  }

  /**
   * No one can log in afterwards; the password hash is kept (see login) unless the user asked to be erased.
   * An erased user's events are served redacted from then on to those who were not joined when they were
   * sent, and to every other server (rooms/visibility.ts, federation/reads.ts).
   */
  async deactivateUser(userId: UserId, erase: boolean, uiaSession: string | null = null): Promise<void> {
    await this.storage.streamTransaction(async (repos) => {
      await repos.users.markDeactivated(userId, !erase)
      if (erase) {
        await repos.users.markErased(userId, this.clock.now())
        // "The server should additionally erase any non-event data associated with the user".
        await repos.accountData.deleteAllFor(userId)
      }
      await this.devices.deleteAllExcept(repos, userId, null)
      await repos.openIdTokens.deleteAllFor(userId)
      await repos.profiles.clear(userId)
      for (const hook of this.deactivationHooks) await hook(repos, userId)
      if (uiaSession) await this.uia.finish(repos, uiaSession)
    })
  }

  /** DELETE /devices/{id} and POST /delete_devices: re-authentication, then the devices and their tokens go. */
  async deleteDevices(requester: Requester, deviceIds: string[], auth: unknown): Promise<void> {
    // The session authorises deleting these devices only: continuing it to delete others is refused (403).
    const purpose = `delete_devices ${createHash('sha256').update(JSON.stringify([...new Set(deviceIds)].sort())).digest('base64url')}`
    const session = await this.uia.authenticate({ purpose, userId: requester.userId, flows: await this.uia.reauthFlows(requester.userId), auth })
    await this.storage.streamTransaction(async (repos) => {
      await this.devices.deleteIn(repos, requester.userId, deviceIds)
      await this.uia.finish(repos, session.sessionId)
    })
  }
}
