// OpenID tokens (client-server API, "OpenID"; server-server API, "OpenID"): a user asks for one to prove
// their identity to a third party, which exchanges it at the federation userinfo endpoint for the user's
// ID. 256 random bits, only their SHA-256 stored, valid for an hour as in Synapse.
import type { Clock } from '../shared/clock.ts'
import { MatrixError, forbidden } from '../shared/errors.ts'
import { randomToken } from '../shared/random.ts'
import type { Storage } from '../storage/index.ts'
import type { Requester } from './requester.ts'
import { hashToken } from './sessions.ts'

export const OPENID_TOKEN_LIFETIME_MS = 3600 * 1000
/** Live tokens one user may hold; asking for another drops the oldest. */
export const OPENID_TOKENS_PER_USER = 100
/** Expired tokens removed with each token issued. */
const SWEEP = 100
/** Longer than any token issued here: a longer one is refused without a lookup. */
const MAX_TOKEN_LENGTH = 255

export interface OpenIdToken {
  access_token: string
  token_type: 'Bearer'
  matrix_server_name: string
  expires_in: number
}

export class OpenIdTokens {
  private readonly serverName: string
  private readonly storage: Storage
  private readonly clock: Clock

  constructor(serverName: string, storage: Storage, clock: Clock) {
    this.serverName = serverName
    this.storage = storage
    this.clock = clock
  }

  /** POST /user/{userId}/openid/request_token: only for the requester's own user. */
  async issue(requester: Requester, userId: string): Promise<OpenIdToken> {
    if (requester.userId !== userId) throw forbidden('Cannot request an OpenID token for another user')
    const token = randomToken('hso_')
    const now = this.clock.now()
    await this.storage.repos.openIdTokens.insert({
      hash: hashToken(token),
      userId,
      expiresTs: now + OPENID_TOKEN_LIFETIME_MS,
      now,
      perUser: OPENID_TOKENS_PER_USER,
      sweep: SWEEP,
    })
    return { access_token: token, token_type: 'Bearer', matrix_server_name: this.serverName, expires_in: OPENID_TOKEN_LIFETIME_MS / 1000 }
  }

  /** GET /openid/userinfo: the user the token was issued to (401 when missing, unknown or expired). */
  async userInfo(token: string | undefined): Promise<{ sub: string }> {
    if (token === undefined || token === '') throw new MatrixError('M_MISSING_TOKEN', 'Access token required', 401)
    const userId = token.length > MAX_TOKEN_LENGTH ? null : await this.storage.repos.openIdTokens.userOf(hashToken(token), this.clock.now())
    if (userId === null) throw new MatrixError('M_UNKNOWN_TOKEN', 'Access token unknown or expired', 401)
    return { sub: userId }
  }
}
