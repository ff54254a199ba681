// Profiles (client-server API, "Profiles"): displayname, avatar_url, m.tz and custom namespaced fields.
import { MatrixError, forbidden, notFound } from '../shared/errors.ts'
import type { UserId } from '../shared/ids.ts'
import type { Storage } from '../storage/index.ts'
import type { Requester } from './requester.ts'
import type { RemoteProfiles } from './remote-profiles.ts'

export const PROFILE_KEY = /^(avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$/
const MAX_PROFILE_BYTES = 64 * 1024
const MAX_KEY_BYTES = 255
/** The longest avatar_url taken (as Synapse's bound). */
const MAX_AVATAR_URL_LENGTH = 1000

/** Fields that room member events carry: a change to one is sent to the user's rooms. */
const MEMBER_FIELDS = new Set(['displayname', 'avatar_url'])

export class Profiles {
  private readonly storage: Storage
  private readonly onMemberFieldChange: (userId: string) => Promise<void>
  private readonly rateLimit: (userId: string) => Promise<void>
  /** Asks other servers about their users (federation); absent: only our own users have profiles. */
  private readonly remote: RemoteProfiles | null

  /**
   * `rateLimit` is taken before a member field changes: each change sends a member event to every room the
   * user is in, so it counts as sending (Synapse takes rc_message for it).
   */
  constructor(
    storage: Storage,
    onMemberFieldChange: (userId: string) => Promise<void> = async () => {},
    rateLimit: (userId: string) => Promise<void> = async () => {},
    remote: RemoteProfiles | null = null,
  ) {
    this.storage = storage
    this.onMemberFieldChange = onMemberFieldChange
    this.rateLimit = rateLimit
    this.remote = remote
  }

  /** GET /profile/{userId}: ours from the store, another server's user asked of that server. */
  async read(userId: string): Promise<Record<string, unknown>> {
    const server = this.remote?.serverOf(userId) ?? null
    if (server !== null && this.remote) return this.remote.get(server, userId)
    return this.get(userId)
  }

  /** GET /profile/{userId}/{keyName}: one field, asked of the user's server when it is not ours. */
  async readField(userId: string, key: string): Promise<Record<string, unknown>> {
    const server = this.remote?.serverOf(userId) ?? null
    if (server === null || !this.remote) return this.getField(userId, key)
    const profile = PROFILE_KEY.test(key) ? await this.remote.get(server, userId, key) : {}
    if (!(key in profile)) throw notFound('Profile field not found')
    return { [key]: profile[key] }
  }

  /** The whole profile of one of our users; M_NOT_FOUND for users that do not exist here. */
  async get(userId: string): Promise<Record<string, unknown>> {
    const fields = await this.storage.repos.profiles.get(userId)
    if (!fields) throw notFound('Profile not found')
    // A null displayname or avatar_url means none is set; other fields keep a stored null (the spec: servers
    // that accept null SHOULD store it rather than treat it as a deletion).
    return Object.fromEntries(Object.entries(fields).filter(([k, v]) => v !== null || (k !== 'displayname' && k !== 'avatar_url')))
  }

  async getField(userId: string, key: string): Promise<Record<string, unknown>> {
    const profile = await this.get(userId)
    // An existing user's unset displayname or avatar_url is an empty answer, as Synapse gives it.
    if (!(key in profile) && (key === 'displayname' || key === 'avatar_url')) return {}
    if (!(key in profile)) throw notFound('Profile field not found')
    return { [key]: profile[key] }
  }

  async setField(requester: Requester, userId: string, key: string, value: unknown): Promise<void> {
    this.checkOwn(requester, userId)
    if (!PROFILE_KEY.test(key) || Buffer.byteLength(key) > MAX_KEY_BYTES) {
      throw new MatrixError(Buffer.byteLength(key) > MAX_KEY_BYTES ? 'M_KEY_TOO_LARGE' : 'M_INVALID_PARAM', 'Invalid profile key')
    }
    if (key === 'displayname' && value !== null && typeof value !== 'string') throw new MatrixError('M_BAD_JSON', '"displayname" must be a string')
    if (key === 'displayname' && typeof value === 'string' && value.length > 256) throw new MatrixError('M_INVALID_PARAM', '"displayname" is too long')
    // Any string, as Synapse takes it (clients show mxc:// URIs only; member events and profiles of other
    // servers carry what their users set), within the same bound.
    if (key === 'avatar_url' && value !== null && typeof value !== 'string') throw new MatrixError('M_BAD_JSON', '"avatar_url" must be a string')
    if (key === 'avatar_url' && typeof value === 'string' && value.length > MAX_AVATAR_URL_LENGTH) throw new MatrixError('M_INVALID_PARAM', '"avatar_url" is too long')
    if (key === 'm.tz' && typeof value !== 'string') throw new MatrixError('M_BAD_JSON', '"m.tz" must be a string')
    if (MEMBER_FIELDS.has(key)) await this.rateLimit(userId)
    await this.storage.transaction(async (repos) => {
      const size = await repos.profiles.setField(userId, key, value)
      if (size > MAX_PROFILE_BYTES) throw new MatrixError('M_PROFILE_TOO_LARGE', 'The profile would exceed 64 KiB')
    })
    if (MEMBER_FIELDS.has(key)) await this.onMemberFieldChange(userId)
  }

  async deleteField(requester: Requester, userId: string, key: string): Promise<void> {
    this.checkOwn(requester, userId)
    if (!PROFILE_KEY.test(key)) throw new MatrixError('M_INVALID_PARAM', 'Invalid profile key')
    if (MEMBER_FIELDS.has(key)) await this.rateLimit(userId)
    await this.storage.repos.profiles.deleteField(userId, key)
    if (MEMBER_FIELDS.has(key)) await this.onMemberFieldChange(userId)
  }

  private checkOwn(requester: Requester, userId: string): asserts userId is UserId {
    if (requester.userId !== userId) throw forbidden("Cannot change another user's profile")
  }
}
