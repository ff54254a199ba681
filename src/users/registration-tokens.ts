// Registration tokens (client-server API, "Token-authenticated registration"), with the
// Synapse-compatible semantics of uses_allowed, pending and completed.
import type { Clock } from '../shared/clock.ts'
import { MatrixError, invalidParam, notFound } from '../shared/errors.ts'
import { randomString } from '../shared/random.ts'
import type { RegistrationTokenRow, Repositories, Storage } from '../storage/index.ts'
import type { StageHandler, StageRelease } from './uia.ts'

export const TOKEN_PATTERN = /^[A-Za-z0-9._~-]{1,64}$/
const TOKEN_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-'

export interface NewToken {
  token?: string | undefined
  uses_allowed?: number | null | undefined
  expiry_time?: number | null | undefined
  length?: number | undefined
}

export class RegistrationTokens {
  private readonly storage: Storage
  private readonly clock: Clock

  constructor(storage: Storage, clock: Clock) {
    this.storage = storage
    this.clock = clock
  }

  async create(request: NewToken): Promise<RegistrationTokenRow> {
    if (request.token !== undefined && request.length !== undefined) throw invalidParam('Give either "token" or "length", not both')
    if (request.token !== undefined && !TOKEN_PATTERN.test(request.token)) {
      throw invalidParam('"token" must be 1 to 64 characters from A-Z, a-z, 0-9 and ._~-')
    }
    const length = request.length ?? 16
    if (!Number.isInteger(length) || length < 1 || length > 64) throw invalidParam('"length" must be an integer from 1 to 64')
    this.checkLimits(request)
    const fields = { uses_allowed: request.uses_allowed ?? null, expiry_time: request.expiry_time ?? null }
    if (request.token !== undefined) {
      if (!(await this.storage.repos.registrationTokens.insert({ token: request.token, ...fields }))) {
        throw invalidParam(`Token already exists: ${request.token}`)
      }
      return (await this.storage.repos.registrationTokens.get(request.token)) as RegistrationTokenRow
    }
    for (;;) {
      const token = randomString(length, TOKEN_ALPHABET)
      if (await this.storage.repos.registrationTokens.insert({ token, ...fields })) {
        return (await this.storage.repos.registrationTokens.get(token)) as RegistrationTokenRow
      }
    }
  }

  list(valid: boolean | null): Promise<RegistrationTokenRow[]> {
    return this.storage.repos.registrationTokens.list(valid, this.clock.now())
  }

  async get(token: string): Promise<RegistrationTokenRow> {
    const row = await this.storage.repos.registrationTokens.get(token)
    if (!row) throw notFound('No such registration token')
    return row
  }

  async update(token: string, changes: { uses_allowed?: number | null; expiry_time?: number | null }): Promise<RegistrationTokenRow> {
    this.checkLimits(changes)
    const row = await this.storage.repos.registrationTokens.update(token, changes)
    if (!row) throw notFound('No such registration token')
    return row
  }

  async delete(token: string): Promise<void> {
    if (!(await this.storage.repos.registrationTokens.delete(token))) throw notFound('No such registration token')
  }

  isValid(token: string): Promise<boolean> {
    return this.storage.repos.registrationTokens.isValid(token, this.clock.now())
  }

  /** Marks the token's reserved use as completed, in the registration's transaction. */
  consume(repos: Repositories, token: string): Promise<void> {
    return repos.registrationTokens.consume(token)
  }

  /** The m.login.registration_token stage: reserves one use of a valid token for this session. */
  readonly stage: StageHandler = async ({ auth, session }) => {
    if (typeof session.data.registration_token === 'string') return {}
    const token = auth.token
    if (typeof token !== 'string') throw new MatrixError('M_MISSING_PARAM', 'Missing "token"')
    if (!(await this.storage.repos.registrationTokens.reserve(token, this.clock.now()))) {
      throw new MatrixError('M_UNAUTHORIZED', 'Invalid registration token', 401)
    }
    return { registration_token: token }
  }

  /** Gives back a use reserved by a session that expired before registering. */
  readonly release: StageRelease = async (repos, session) => {
    const token = session.data.registration_token
    if (typeof token === 'string') await repos.registrationTokens.release(token)
  }

  private checkLimits(fields: { uses_allowed?: number | null | undefined; expiry_time?: number | null | undefined }): void {
    const uses = fields.uses_allowed
    if (uses !== undefined && uses !== null && (!Number.isInteger(uses) || uses < 0)) {
      throw invalidParam('"uses_allowed" must be a non-negative integer or null')
    }
    const expiry = fields.expiry_time
    if (expiry !== undefined && expiry !== null) {
      if (!Number.isInteger(expiry)) throw invalidParam('"expiry_time" must be an integer or null')
      if (expiry < this.clock.now()) throw invalidParam('"expiry_time" must not be in the past')
    }
  }
}
