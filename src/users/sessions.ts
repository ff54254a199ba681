// Access and refresh tokens: 256 random bits each, only their SHA-256 stored. Issuing, checking,
// refreshing and revoking them.
import { hash } from 'node:crypto'
import type { Config } from '../config/schema.ts'
import type { Clock } from '../shared/clock.ts'
import { MatrixError } from '../shared/errors.ts'
import type { UserId } from '../shared/ids.ts'
import { randomString, randomToken } from '../shared/random.ts'
import type { Repositories, Storage } from '../storage/index.ts'
import type { Requester } from './requester.ts'
import { TokenCache } from './token-cache.ts'

/** Devices' last-seen information is written at most this often per device. */
const LAST_SEEN_INTERVAL_MS = 60_000

export interface IssuedSession {
  user_id: UserId
  device_id: string
  access_token: string
  refresh_token?: string
  expires_in_ms?: number
}

export interface ClientInfo {
  ip: string
  userAgent: string | null
}

/** SHA-256 of a token, as stored. One-shot: every authenticated request hashes its token once. */
export function hashToken(token: string): Buffer {
  return hash('sha256', token, 'buffer')
}

export function generateDeviceId(): string {
  return randomString(10, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')
}

/** Runs inside the issuing transaction (a stream transaction) when it created the device: E2EE tells other users' clients. */
export type DeviceCreatedHook = (repos: Repositories, userId: string, deviceId: string) => Promise<void>

const unknownToken = (message: string, softLogout = false) =>
  new MatrixError('M_UNKNOWN_TOKEN', message, 401, { soft_logout: softLogout })

export class Sessions {
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly auth: Config['auth']
  private readonly onError: (err: unknown) => void
  private readonly onDeviceCreated: DeviceCreatedHook | null
  /** Recently seen access tokens (see token-cache.ts for how revocations reach every instance). */
  readonly tokenCache = new TokenCache()

  constructor(storage: Storage, clock: Clock, auth: Config['auth'], onError: (err: unknown) => void, onDeviceCreated: DeviceCreatedHook | null = null) {
    this.storage = storage
    this.clock = clock
    this.auth = auth
    this.onError = onError
    this.onDeviceCreated = onDeviceCreated
  }

  /**
   * Creates (or reuses) a device and issues its tokens; runs inside the caller's transaction, which must be
   * a stream transaction (a new device changes the user's device list, which takes a position).
   */
  async issue(
    repos: Repositories,
    userId: UserId,
    options: { deviceId?: string | undefined; displayName?: string | undefined; refreshable?: boolean | undefined },
  ): Promise<IssuedSession> {
    const now = this.clock.now()
    const deviceId = options.deviceId ?? generateDeviceId()
    const device = await repos.devices.upsert(userId, deviceId, options.displayName ?? null, now)
    if (device === null) throw new MatrixError('M_FORBIDDEN', 'This device ID belongs to a dehydrated device')
    if (device === 'created' && this.onDeviceCreated) await this.onDeviceCreated(repos, userId, deviceId)
    const accessToken = randomToken('hs_')
    const session: IssuedSession = { user_id: userId, device_id: deviceId, access_token: accessToken }
    let refreshTokenId: number | null = null
    let expiresTs: number | null = null
    if (options.refreshable) {
      const refreshToken = randomToken('hsr_')
      refreshTokenId = await this.insertRefreshToken(repos, userId, deviceId, refreshToken, now)
      expiresTs = now + this.auth.refreshable_access_token_lifetime_ms
      session.refresh_token = refreshToken
      session.expires_in_ms = this.auth.refreshable_access_token_lifetime_ms
    }
    await repos.tokens.insertAccessToken({ hash: hashToken(accessToken), userId, deviceId, refreshTokenId, expiresTs, now })
    return session
  }

  private insertRefreshToken(repos: Repositories, userId: string, deviceId: string, token: string, now: number): Promise<number> {
    const expiresTs = this.auth.refresh_token_lifetime_ms === null ? null : now + this.auth.refresh_token_lifetime_ms
    return repos.tokens.insertRefreshToken({ hash: hashToken(token), userId, deviceId, expiresTs, now })
  }

  /** Turns an access token into a Requester, or throws M_UNKNOWN_TOKEN (soft_logout when merely expired). */
  async authenticate(token: string, client: ClientInfo): Promise<Requester> {
    const hash = hashToken(token)
    const key = hash.toString('base64')
    let row = this.tokenCache.get(key, this.clock.now())
    if (!row) {
      const version = this.tokenCache.version
      row = (await this.storage.repos.tokens.lookupAccessToken(hash)) ?? undefined
      if (!row) throw unknownToken('Unknown access token')
      this.tokenCache.set(key, row, version, this.clock.now())
    }
    if (row.deactivated) throw unknownToken('This account has been deactivated')
    const now = this.clock.now()
    if (row.expires_ts !== null && row.expires_ts <= now) throw unknownToken('Access token has expired', true)
    if (!row.used && row.refresh_token_id !== null) {
      // First use of a refreshed token: the refresh token it replaced is now revoked.
      const refreshTokenId = row.refresh_token_id
      await this.storage.transaction((repos) => repos.tokens.markUsedAndRevokePredecessor(hash, refreshTokenId))
      row.used = true
    }
    if (row.last_seen_ts === null || now - row.last_seen_ts > LAST_SEEN_INTERVAL_MS) {
      row.last_seen_ts = now
      this.storage.repos.devices.touch(row.user_id, row.device_id, now, client.ip, client.userAgent).catch(this.onError)
    }
    return { userId: row.user_id as UserId, deviceId: row.device_id, isAdmin: row.admin, isGuest: row.is_guest, tokenHash: hash }
  }

  /** Inside a transaction that revokes some of the user's tokens (device deletion): see TokenCache.suspend. */
  revoking(userId: string): void {
    this.tokenCache.suspend(userId, this.clock.now())
  }

  /** POST /refresh: exchanges a refresh token for a new access token and refresh token. */
  async refresh(refreshToken: string): Promise<Required<Pick<IssuedSession, 'access_token' | 'refresh_token' | 'expires_in_ms'>>> {
    return this.storage.transaction(async (repos) => {
      const row = await repos.tokens.lockRefreshToken(hashToken(refreshToken))
      if (!row) throw unknownToken('Unknown refresh token')
      const now = this.clock.now()
      if (row.expires_ts !== null && row.expires_ts <= now) {
        await repos.tokens.deleteRefreshToken(row.id)
        throw unknownToken('Refresh token has expired')
      }
      // The predecessor of this token is revoked now that this one is used; an unused successor from an
      // earlier exchange is replaced by the new one.
      await repos.tokens.revokePredecessor(row.id)
      if (row.next_token_id !== null) await repos.tokens.deleteRefreshToken(row.next_token_id)
      const newRefresh = randomToken('hsr_')
      const newId = await this.insertRefreshToken(repos, row.user_id, row.device_id, newRefresh, now)
      await repos.tokens.setNextRefreshToken(row.id, newId)
      const accessToken = randomToken('hs_')
      const lifetime = this.auth.refreshable_access_token_lifetime_ms
      await repos.tokens.insertAccessToken({
        hash: hashToken(accessToken),
        userId: row.user_id,
        deviceId: row.device_id,
        refreshTokenId: newId,
        expiresTs: now + lifetime,
        now,
      })
      return { access_token: accessToken, refresh_token: newRefresh, expires_in_ms: lifetime }
    })
  }
}
