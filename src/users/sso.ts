// Single sign-on (client-server API, "Client login via SSO" and the UIA "Single Sign-On" stage) through a
// CAS server: the browser goes to CAS, comes back to /login/cas/ticket with a ticket, and the ticket is
// checked with CAS. Its user is mapped to a local account (created on first sign-on), then either the
// client gets a single-use loginToken or a UIA session of that same user gets its m.login.sso stage.
import type { Config } from '../config/schema.ts'
import type { OutboundGuard } from '../outbound/index.ts'
import type { Clock } from '../shared/clock.ts'
import { MatrixError } from '../shared/errors.ts'
import { isValidLocalpart, makeUserId, type UserId } from '../shared/ids.ts'
import type { Storage } from '../storage/index.ts'
import type { Accounts } from './accounts.ts'
import { CasClient, SsoError, encodeQueryValue, type CasUser } from './cas.ts'
import type { LoginTokens } from './login-tokens.ts'
import type { Uia } from './uia.ts'

export { SsoError } from './cas.ts'

/** The auth_provider of CAS identities, and the id of its entry in identity_providers. */
export const CAS_PROVIDER = 'cas'
const MAX_REDIRECT_URL_LENGTH = 2048
/** Schemes that would run in, or read from, our own page if a confirmation link pointed at them. */
const UNSAFE_SCHEMES = new Set(['javascript:', 'data:', 'vbscript:', 'file:', 'blob:'])

/**
 * A CAS user name as a localpart, as Synapse maps it: lower-cased, every byte of its UTF-8 outside
 * [a-z0-9._-/+] written =xx (so `=` itself is =3d and the mapping cannot collide), a leading `_` as =5f.
 */
export function mapUsernameToLocalpart(username: string): string {
  let out = ''
  for (const byte of Buffer.from(username.toLowerCase(), 'utf8')) {
    const c = String.fromCharCode(byte)
    out += /^[a-z0-9._\-/+]$/.test(c) ? c : `=${byte.toString(16).padStart(2, '0')}`
  }
  return out.startsWith('_') ? `=5f${out.slice(1)}` : out
}

/** Appends a query parameter to a URL given by a client, before any fragment, leaving the rest as it was. */
export function addQueryParam(url: string, name: string, value: string): string {
  const hash = url.indexOf('#')
  const base = hash < 0 ? url : url.slice(0, hash)
  const fragment = hash < 0 ? '' : url.slice(hash)
  const separator = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&'
  return `${base}${separator}${encodeQueryValue(name)}=${encodeQueryValue(value)}${fragment}`
}

export type TicketOutcome =
  | { kind: 'login'; location: string; confirm: boolean; userId: UserId }
  | { kind: 'uia'; matched: boolean; expectedUser: string }

export class Sso {
  private readonly config: Config
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly accounts: Accounts
  private readonly uia: Uia
  private readonly loginTokens: LoginTokens
  private readonly cas: CasClient | null

  constructor(deps: { config: Config; storage: Storage; clock: Clock; guard: OutboundGuard; accounts: Accounts; uia: Uia; loginTokens: LoginTokens }) {
    this.config = deps.config
    this.storage = deps.storage
    this.clock = deps.clock
    this.accounts = deps.accounts
    this.uia = deps.uia
    this.loginTokens = deps.loginTokens
    const cas = deps.config.sso.cas
    this.cas = cas.enabled && cas.server_url ? new CasClient(cas.server_url, deps.guard, cas.timeout_ms) : null
    if (this.cas) {
      this.uia.registerStage('m.login.sso', async ({ session }) => {
        // The stage is done in the browser (the fallback page); sent as a type, it only confirms that.
        if (session.completed.includes('m.login.sso')) return {}
        throw new MatrixError('M_UNAUTHORIZED', 'Complete single sign-on in the browser first (the fallback page)', 401)
      })
      this.uia.offerForReauth(async (userId) => ((await this.storage.repos.externalIds.providersOf(userId)).length > 0 ? 'm.login.sso' : null))
    }
  }

  get enabled(): boolean {
    return this.cas !== null
  }

  /** The login types GET /login lists for single sign-on (none when it is off). */
  loginFlows(): Array<Record<string, unknown>> {
    if (!this.cas) return []
    return [
      // The type CAS had before m.login.sso, still looked for by older clients.
      { type: 'm.login.cas' },
      { type: 'm.login.sso', identity_providers: [{ id: CAS_PROVIDER, name: this.config.sso.cas.idp_name }] },
      { type: 'm.login.token' },
    ]
  }

  private client(): CasClient {
    if (!this.cas) throw new MatrixError('M_UNRECOGNIZED', 'Single sign-on is not enabled on this server', 404)
    return this.cas
  }

  /** The URL CAS sends the browser back to: /login/cas/ticket with what it needs to finish. */
  private serviceUrl(param: 'redirectUrl' | 'session', value: string): string {
    return `${this.config.public_baseurl}_matrix/client/r0/login/cas/ticket?${param}=${encodeQueryValue(value)}`
  }

  /** Refuses a redirectUrl that is too long, not absolute, or of a scheme that would run in our page. */
  private checkRedirectUrl(redirectUrl: string): void {
    if (redirectUrl.length > MAX_REDIRECT_URL_LENGTH) throw new MatrixError('M_INVALID_PARAM', 'redirectUrl is too long')
    let parsed: URL
    try {
      parsed = new URL(redirectUrl)
    } catch {
      throw new MatrixError('M_INVALID_PARAM', 'redirectUrl must be an absolute URL')
    }
    if (UNSAFE_SCHEMES.has(parsed.protocol)) throw new MatrixError('M_INVALID_PARAM', 'redirectUrl may not use this scheme')
  }

  /** GET /login/sso/redirect[/{idpId}] and /login/cas/redirect: where the browser signs in. Null: unknown IdP. */
  loginRedirect(redirectUrl: string, idpId?: string): string | null {
    const cas = this.client()
    if (idpId !== undefined && idpId !== CAS_PROVIDER) return null
    this.checkRedirectUrl(redirectUrl)
    return cas.loginUrl(this.serviceUrl('redirectUrl', redirectUrl))
  }

  /** The fallback page of the m.login.sso stage: where the session's user signs in again. */
  async uiaRedirect(sessionId: string): Promise<string> {
    const cas = this.client()
    const session = await this.uia.session(sessionId)
    if (!session || session.user_id === null) throw new SsoError(400, 'Unknown session', 'This authentication session is unknown or has expired. Please start again from your client.')
    return cas.loginUrl(this.serviceUrl('session', sessionId))
  }

  /**
   * GET /login/cas/ticket: checks the ticket, then, for a login, issues a loginToken and says where the
   * browser goes with it (straight there for a whitelisted client, else after a confirmation page); for a
   * UIA session, completes its m.login.sso stage when the CAS user is the session's user, else spoils it.
   */
  async handleTicket(request: { ticket: string; redirectUrl?: string | undefined; session?: string | undefined }): Promise<TicketOutcome> {
    const cas = this.client()
    if (request.session !== undefined) {
      const session = await this.uia.session(request.session)
      if (!session || session.user_id === null) throw new SsoError(400, 'Unknown session', 'This authentication session is unknown or has expired. Please start again from your client.')
      const casUser = await cas.validate(request.ticket, this.serviceUrl('session', request.session))
      const userId = (await this.storage.repos.externalIds.userOf(CAS_PROVIDER, casUser.user)) as UserId | null
      if (userId !== null && userId === session.user_id) {
        await this.uia.completeOutside(request.session, 'm.login.sso')
        return { kind: 'uia', matched: true, expectedUser: session.user_id }
      }
      await this.uia.refuse(request.session, 'The single sign-on was for another user than this session\'s')
      return { kind: 'uia', matched: false, expectedUser: session.user_id }
    }
    if (request.redirectUrl === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing redirectUrl or session')
    this.checkRedirectUrl(request.redirectUrl)
    const casUser = await cas.validate(request.ticket, this.serviceUrl('redirectUrl', request.redirectUrl))
    const userId = await this.localUser(casUser)
    const token = await this.storage.transaction((repos) => this.loginTokens.issue(repos, userId, CAS_PROVIDER))
    const location = addQueryParam(request.redirectUrl, 'loginToken', token)
    const confirm = !this.config.sso.client_whitelist.some((prefix) => request.redirectUrl!.startsWith(prefix))
    return { kind: 'login', location, confirm, userId }
  }

  /**
   * The local account of a CAS user: the one it signed in as before, else the account whose localpart is
   * its mapped name (an account made before CAS was set up, taken over as Synapse does), else a new one.
   */
  private async localUser(casUser: CasUser): Promise<UserId> {
    const cas = this.config.sso.cas
    for (const [name, value] of Object.entries(cas.required_attributes)) {
      const values = casUser.attributes[name]
      if (!values || (value !== null && !values.includes(value))) {
        throw new SsoError(403, 'Not authorised', 'You are not authorised to sign in to this server.')
      }
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const userId = await this.mapOrCreate(casUser)
        const row = await this.storage.repos.users.get(userId)
        if (row?.deactivated) throw new SsoError(403, 'Account deactivated', 'This account has been deactivated.')
        return userId
      } catch (err) {
        // Two first sign-ons of one user at once: the second finds the account the first made.
        if (attempt === 0 && err instanceof MatrixError && err.errcode === 'M_USER_IN_USE') continue
        throw err
      }
    }
  }

  private async mapOrCreate(casUser: CasUser): Promise<UserId> {
    const known = await this.storage.repos.externalIds.userOf(CAS_PROVIDER, casUser.user)
    if (known !== null) return known as UserId
    const localpart = mapUsernameToLocalpart(casUser.user)
    const userId = makeUserId(localpart, this.config.server_name)
    if (!isValidLocalpart(localpart) || Buffer.byteLength(userId) > 255) {
      throw new SsoError(400, 'Sign-in failed', 'Your user name cannot be used on this server.')
    }
    const attribute = this.config.sso.cas.displayname_attribute
    const displayName = attribute === null ? undefined : casUser.attributes[attribute]?.[0]?.slice(0, 256) || undefined
    const now = this.clock.now()
    return this.storage.streamTransaction(async (repos) => {
      if (!(await repos.users.exists(userId))) {
        await this.accounts.createUser(repos, localpart, null, { admin: false, userType: null, displayName })
      }
      return (await repos.externalIds.link(CAS_PROVIDER, casUser.user, userId, now)) as UserId
    })
  }
}
