// Profiles of other servers' users (client-server API, "Profiles"; server-server API, "Querying for
// information"): asked of the user's own server (GET /_matrix/federation/v1/query/profile) on every read,
// not cached. The answer is checked and bounded before a client sees it: only well-formed profile keys,
// a displayname and avatar_url of the right type and size. A 404 stays a 404; anything else the server
// answers or fails to answer is a 502, as Synapse gives it.
import { FederationError, type FederationClient } from '../federation/client.ts'
import { MatrixError, notFound } from '../shared/errors.ts'
import { parseMxc, parseUserId } from '../shared/ids.ts'
import { PROFILE_KEY } from './profiles.ts'

/** How long a client waits for the other server. */
const PROFILE_TIMEOUT_MS = 15_000
/** A profile is at most 64 KiB where it is kept (ours, Synapse's); room for escaping on the wire. */
const MAX_ANSWER_BYTES = 128 * 1024
const MAX_DISPLAYNAME_CHARS = 256
const MAX_AVATAR_URL_CHARS = 1000

/** Keeps the fields of a remote answer a client may be shown; drops the rest. */
export function checkedRemoteProfile(answer: unknown): Record<string, unknown> {
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) return {}
  const profile: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(answer)) {
    if (!PROFILE_KEY.test(key) || Buffer.byteLength(key) > 255) continue
    if (key === 'displayname' && (typeof value !== 'string' || value.length > MAX_DISPLAYNAME_CHARS)) continue
    if (key === 'avatar_url' && (typeof value !== 'string' || value.length > MAX_AVATAR_URL_CHARS || (value !== '' && parseMxc(value) === null))) continue
    if (key === 'm.tz' && typeof value !== 'string') continue
    profile[key] = value
  }
  return profile
}

export class RemoteProfiles {
  private readonly client: FederationClient
  private readonly serverName: string

  constructor(client: FederationClient, serverName: string) {
    this.client = client
    this.serverName = serverName
  }

  /** The server to ask about a user of another server; null for our own users. */
  serverOf(userId: string): string | null {
    const server = parseUserId(userId)?.serverName ?? null
    return server === this.serverName ? null : server
  }

  /** The whole profile, or only `field` of it, from the user's server. */
  async get(server: string, userId: string, field?: string): Promise<Record<string, unknown>> {
    let answer: unknown
    try {
      answer = await this.client.request(server, {
        method: 'GET',
        path: '/_matrix/federation/v1/query/profile',
        query: { user_id: userId, ...(field !== undefined ? { field } : {}) },
        timeoutMs: PROFILE_TIMEOUT_MS,
        maxBytes: MAX_ANSWER_BYTES,
      })
    } catch (err) {
      if (err instanceof FederationError && err.kind === 'http' && err.status === 404) throw notFound('Profile not found')
      throw new MatrixError('M_UNKNOWN', 'Failed to fetch profile', 502)
    }
    return checkedRemoteProfile(answer)
  }
}
