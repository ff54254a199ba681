// E-mail addresses of accounts (client-server API, "Adding Account Administrative Contact Information",
// "Password management", "Account registration"): the requestToken endpoints open a validation session and
// mail a link; following it (or POSTing the token to submit_url) validates the session; a validated session
// then adds the address to an account, signs up with it (m.login.email.identity) or resets a password.
// Sessions live in PostgreSQL so any instance can validate a link another instance mailed.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Config } from '../config/schema.ts'
import type { RateLimiter } from '../ratelimit/index.ts'
import type { Clock } from '../shared/clock.ts'
import { MatrixError, forbidden } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import { randomString } from '../shared/random.ts'
import type { Repositories, Storage, ValidationSessionRow } from '../storage/index.ts'
import type { Uia } from '../users/uia.ts'
import type { Requester } from '../users/requester.ts'
import type { Mailer } from './mailer.ts'
import { validationMail, type MailPurpose } from './pages.ts'

export type ValidationPurpose = MailPurpose

/** Where each purpose's link points, under public_baseurl (the paths reverse proxies set up for Synapse forward). */
export const LINK_PATHS: Record<ValidationPurpose, string> = {
  add_threepid: '/_matrix/client/unstable/add_threepid/email/submit_token',
  registration: '/_matrix/client/unstable/registration/email/submit_token',
  password_reset: '/_synapse/client/password_reset/email/submit_token',
}

/** The spec's pattern for client_secret and sid. */
const SECRET_PATTERN = /^[0-9a-zA-Z.=_-]{1,255}$/
const MAX_ADDRESS_LENGTH = 320
/** Expired sessions removed per new session. */
const SWEEP = 20

/**
 * An e-mail address as stored and compared: surrounding space removed, the whole address in lower case (as
 * Synapse folds it), so one mailbox is one identifier however it is typed. Throws M_INVALID_PARAM when it is
 * not an address.
 */
export function canonicalEmail(address: string): string {
  const trimmed = address.trim()
  const at = trimmed.lastIndexOf('@')
  if (trimmed.length > MAX_ADDRESS_LENGTH || at < 1 || at === trimmed.length - 1 || /[\s<>,;]/.test(trimmed) || trimmed.indexOf('@') !== at) {
    throw new MatrixError('M_INVALID_PARAM', 'Not a valid e-mail address')
  }
  return `${trimmed.slice(0, at).toLowerCase()}@${trimmed.slice(at + 1).toLowerCase()}`
}

function hashOf(token: string): Buffer {
  return createHash('sha256').update(token).digest()
}

/** What a validated session proves. */
function proved(session: ValidationSessionRow): ValidatedThreepid {
  return { medium: 'email', address: session.address, validated_at: session.validated_ts as number, sid: session.session_id }
}

function checkSecret(value: string, name: string): void {
  if (!SECRET_PATTERN.test(value)) throw new MatrixError('M_INVALID_PARAM', `Invalid ${name}: 1 to 255 characters of [0-9a-zA-Z.=_-]`)
}

export interface RequestTokenBody {
  client_secret: string
  email: string
  send_attempt: number
  next_link?: string | undefined
}

export interface ThreepidView {
  medium: string
  address: string
  validated_at: number
  added_at: number
}

/** What m.login.email.identity keeps in a UIA session once it passed. */
export interface ValidatedThreepid {
  medium: 'email'
  address: string
  validated_at: number
  sid: string
}

export class Threepids {
  private readonly config: Config
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly limiter: RateLimiter
  private readonly mailer: Mailer | null
  private readonly uia: Uia
  private readonly logger: Logger

  constructor(deps: { config: Config; storage: Storage; clock: Clock; rateLimiter: RateLimiter; mailer: Mailer | null; uia: Uia; logger: Logger }) {
    this.config = deps.config
    this.storage = deps.storage
    this.clock = deps.clock
    this.limiter = deps.rateLimiter
    this.mailer = deps.mailer
    this.uia = deps.uia
    this.logger = deps.logger
  }

  /** Whether mail can be sent (email.smtp_host is set): without it, no address can be validated. */
  get enabled(): boolean {
    return this.mailer !== null
  }

  private requireEnabled(): Mailer {
    if (!this.mailer) throw new MatrixError('M_THREEPID_MEDIUM_NOT_SUPPORTED', 'This server does not send validation e-mail', 400)
    return this.mailer
  }

  /**
   * POST /{account/3pid,register,account/password}/email/requestToken. A repeat with the same client_secret,
   * address and a send_attempt no higher than the last one answers with the same sid and sends nothing; a
   * higher one mails a new token for the same session.
   */
  async requestToken(purpose: ValidationPurpose, body: RequestTokenBody, ip: string): Promise<{ sid: string; submit_url: string }> {
    const mailer = this.requireEnabled()
    checkSecret(body.client_secret, 'client_secret')
    const address = canonicalEmail(body.email)
    const nextLink = body.next_link ?? null
    if (nextLink !== null && !/^https?:\/\/[^\s]+$/i.test(nextLink)) throw new MatrixError('M_INVALID_PARAM', 'next_link must be an http or https URL')
    if (purpose === 'registration' && !this.config.registration.enabled) throw forbidden('Registration has been disabled')

    const owner = await this.storage.repos.threepids.ownerOf('email', address)
    if (purpose === 'password_reset' && owner === null) throw new MatrixError('M_THREEPID_NOT_FOUND', 'That e-mail address is not known to this server')
    if (purpose !== 'password_reset' && owner !== null) throw new MatrixError('M_THREEPID_IN_USE', 'That e-mail address is already in use')

    const now = this.clock.now()
    const token = randomString(32)
    const outcome = await this.storage.transaction(async (repos) => {
      // Locked, so two requests of one session at once send one mail between them.
      let session = await repos.threepids.lockSession(body.client_secret, 'email', address, purpose)
      if (session && session.created_ts < now - this.config.email.session_lifetime_ms) {
        await repos.threepids.deleteSession(session.session_id)
        session = null
      }
      if (session && body.send_attempt <= session.last_send_attempt) return { sid: session.session_id, send: false }
      await this.limiter.takeIn(repos, 'threepid_validation', `email:${address}`)
      await this.limiter.takeIn(repos, 'threepid_validation', `ip:${ip}`)
      const expires = now + this.config.email.validation_token_lifetime_ms
      if (session) {
        await repos.threepids.renewToken(session.session_id, body.send_attempt, nextLink, hashOf(token), expires)
        return { sid: session.session_id, send: true }
      }
      const row: ValidationSessionRow = {
        session_id: randomString(24),
        client_secret: body.client_secret,
        medium: 'email',
        address,
        purpose,
        last_send_attempt: body.send_attempt,
        next_link: nextLink,
        token_hash: hashOf(token),
        token_expires_ts: expires,
        validated_ts: null,
        created_ts: now,
      }
      if (await repos.threepids.createSession(row, now - this.config.email.session_lifetime_ms, SWEEP)) return { sid: row.session_id, send: true }
      const first = await repos.threepids.lockSession(body.client_secret, 'email', address, purpose)
      if (!first) throw new MatrixError('M_UNKNOWN', 'Try again', 409)
      return { sid: first.session_id, send: false }
    }).catch((err: unknown) => {
      throw this.limiter.refusal(err) ?? err
    })
    const submitUrl = this.linkBase(purpose)
    if (outcome.send) {
      const query = new URLSearchParams({ token, client_secret: body.client_secret, sid: outcome.sid })
      const mail = validationMail(this.config.email.app_name, purpose, `${submitUrl}?${query}`, token)
      try {
        await mailer.send({ to: address, ...mail })
      } catch (err) {
        this.logger.warn({ err: (err as Error).message, purpose }, 'could not send a validation mail')
        throw new MatrixError('M_UNKNOWN', 'The validation mail could not be sent', 500)
      }
    }
    return { sid: outcome.sid, submit_url: submitUrl }
  }

  private linkBase(purpose: ValidationPurpose): string {
    return this.config.public_baseurl.replace(/\/$/, '') + LINK_PATHS[purpose]
  }

  /** The session named by a link, without validating it (the password-reset page asks first). */
  async peek(purpose: ValidationPurpose, sid: string, clientSecret: string, token: string): Promise<ValidationSessionRow> {
    const session = await this.storage.repos.threepids.getSession(sid)
    const now = this.clock.now()
    if (!session || session.purpose !== purpose || session.client_secret !== clientSecret || session.created_ts < now - this.config.email.session_lifetime_ms) {
      throw new MatrixError('M_THREEPID_AUTH_FAILED', 'This link is not valid, or its session has ended', 400)
    }
    const given = hashOf(token)
    if (given.length !== session.token_hash.length || !timingSafeEqual(given, session.token_hash)) {
      throw new MatrixError('M_THREEPID_AUTH_FAILED', 'This link is not valid: a newer mail may have replaced it', 400)
    }
    if (session.token_expires_ts < now) throw new MatrixError('M_THREEPID_AUTH_FAILED', 'This link has expired: ask for a new mail', 400)
    return session
  }

  /** Following a link, or POSTing its token to submit_url: the address is proved. */
  async validate(purpose: ValidationPurpose, sid: string, clientSecret: string, token: string): Promise<ValidationSessionRow> {
    this.requireEnabled()
    const session = await this.peek(purpose, sid, clientSecret, token)
    await this.storage.repos.threepids.markValidated(session.session_id, this.clock.now())
    return session
  }

  /** A session validated by its link, for sid and client_secret; M_THREEPID_AUTH_FAILED otherwise. */
  private async validated(purpose: ValidationPurpose, sid: unknown, clientSecret: unknown, repos: Repositories = this.storage.repos): Promise<ValidationSessionRow> {
    if (typeof sid !== 'string' || typeof clientSecret !== 'string') throw new MatrixError('M_MISSING_PARAM', 'Missing sid or client_secret')
    const session = await repos.threepids.getSession(sid)
    if (
      !session || session.purpose !== purpose || session.client_secret !== clientSecret || session.validated_ts === null ||
      session.created_ts < this.clock.now() - this.config.email.session_lifetime_ms
    ) {
      throw new MatrixError('M_THREEPID_AUTH_FAILED', 'No validated session for this sid and client_secret: follow the link in the mail first', 400)
    }
    return session
  }

  /** The m.login.email.identity UIA stage (registration and password reset). */
  async stage(auth: Record<string, unknown>, uiaPurpose: string): Promise<Record<string, unknown>> {
    this.requireEnabled()
    const creds = (auth.threepid_creds ?? auth.threepidCreds) as Record<string, unknown> | undefined
    if (creds === null || typeof creds !== 'object') throw new MatrixError('M_MISSING_PARAM', 'Missing "threepid_creds"')
    const purpose: ValidationPurpose = uiaPurpose === 'register' ? 'registration' : 'password_reset'
    const session = await this.validated(purpose, creds.sid, creds.client_secret)
    return { threepid: proved(session) }
  }

  /**
   * An address just added to the account of a session's device: with digest mails on and
   * email.notif_for_new_users, an e-mail pusher for it (belonging to that device, as Synapse creates one at
   * sign-up), unless the user has as many pushers as they may.
   */
  async addEmailPusher(repos: Repositories, userId: string, deviceId: string, address: string): Promise<void> {
    const email = this.config.email
    if (this.mailer === null || !email.enable_notifs || !email.notif_for_new_users) return
    const count = await repos.pushers.lockUser(userId)
    if (count >= this.config.push.max_pushers_per_user) return
    await repos.pushers.upsert({
      user_id: userId,
      device_id: deviceId,
      kind: 'email',
      app_id: 'm.email',
      pushkey: address,
      app_display_name: 'Email Notifications',
      device_display_name: address,
      profile_tag: null,
      lang: 'en',
      data: {},
      pushkey_ts: this.clock.now(),
    })
  }

  /** Binds a validated address to a new or existing account, in the caller's transaction, and ends its session. */
  async bind(repos: Repositories, userId: string, threepid: ValidatedThreepid): Promise<void> {
    const added = await repos.threepids.add({ medium: threepid.medium, address: threepid.address, user_id: userId, validated_ts: threepid.validated_at, added_ts: this.clock.now() })
    if (!added) throw new MatrixError('M_THREEPID_IN_USE', 'That e-mail address is already in use')
    await repos.threepids.deleteSession(threepid.sid)
  }

  /** GET /account/3pid. */
  async list(userId: string): Promise<ThreepidView[]> {
    const rows = await this.storage.repos.threepids.listFor(userId)
    return rows.map((r) => ({ medium: r.medium, address: r.address, validated_at: r.validated_ts, added_at: r.added_ts }))
  }

  /** POST /account/3pid/add: the user re-authenticates, then the validated address joins their account. */
  async add(requester: Requester, sid: string, clientSecret: string, auth: unknown): Promise<void> {
    this.requireEnabled()
    checkSecret(sid, 'sid')
    checkSecret(clientSecret, 'client_secret')
    const session = await this.validated('add_threepid', sid, clientSecret)
    const uia = await this.uia.authenticate({ purpose: `add_threepid ${sid}`, userId: requester.userId, flows: await this.uia.reauthFlows(requester.userId), auth })
    await this.storage.transaction(async (repos) => {
      await this.bind(repos, requester.userId, proved(session))
      await this.addEmailPusher(repos, requester.userId, requester.deviceId, session.address)
      await this.uia.finish(repos, uia.sessionId)
    })
  }

  /** The deprecated POST /account/3pid with three_pid_creds: the same, without re-authentication. */
  async addDeprecated(requester: Requester, creds: { sid: string; client_secret: string }): Promise<void> {
    this.requireEnabled()
    const session = await this.validated('add_threepid', creds.sid, creds.client_secret)
    await this.storage.transaction(async (repos) => {
      await this.bind(repos, requester.userId, proved(session))
      await this.addEmailPusher(repos, requester.userId, requester.deviceId, session.address)
    })
  }

  /**
   * POST /account/3pid/delete: the address leaves the account (whether or not mail can be sent), and with it
   * the account's e-mail pusher for it.
   */
  async remove(requester: Requester, medium: string, address: string): Promise<void> {
    const canonical = medium === 'email' ? canonicalEmail(address) : address
    await this.storage.transaction(async (repos) => {
      await repos.threepids.remove(requester.userId, medium, canonical)
      if (medium === 'email') await repos.pushers.remove(requester.userId, 'm.email', canonical)
    })
  }

  /** The account an address belongs to, for login with m.id.thirdparty. */
  ownerOf(medium: string, address: string): Promise<string | null> {
    if (medium !== 'email') return Promise.resolve(null)
    let canonical: string
    try {
      canonical = canonicalEmail(address)
    } catch {
      return Promise.resolve(null)
    }
    return this.storage.repos.threepids.ownerOf('email', canonical)
  }
}
