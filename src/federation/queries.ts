// The server-server API's read-only queries about our users and aliases (server-server-api, "Querying for
// information", "Device Management", "End-to-End Encryption"): answered from the same domain modules the
// client API uses, for our own users and aliases only. Another server's user or alias is refused with 400
// M_UNKNOWN as Synapse refuses it ("... is not hosted on this homeserver"); an unknown one of ours is 404.
import { aliasServer, type Aliases } from '../directory/aliases.ts'
import type { E2eKeys } from '../e2ee/keys.ts'
import type { Json } from '../e2ee/key-objects.ts'
import { MatrixError } from '../shared/errors.ts'
import { parseUserId } from '../shared/ids.ts'
import type { Storage } from '../storage/index.ts'
import type { Profiles } from '../users/profiles.ts'

export interface UserDevices {
  user_id: string
  stream_id: number
  devices: Array<{ device_id: string; keys: Json }>
  master_key?: Json
  self_signing_key?: Json
}

export class FederationQueries {
  private readonly serverName: string
  private readonly storage: Storage
  private readonly profiles: Profiles
  private readonly aliases: Aliases
  private readonly e2eKeys: E2eKeys

  constructor(options: { serverName: string; storage: Storage; profiles: Profiles; aliases: Aliases; e2eKeys: E2eKeys }) {
    this.serverName = options.serverName
    this.storage = options.storage
    this.profiles = options.profiles
    this.aliases = options.aliases
    this.e2eKeys = options.e2eKeys
  }

  private ours(userId: string): void {
    const parsed = parseUserId(userId)
    if (!parsed) throw new MatrixError('M_INVALID_PARAM', `'${userId}' is not a user ID`)
    if (parsed.serverName !== this.serverName) throw new MatrixError('M_UNKNOWN', 'User is not hosted on this homeserver', 400)
  }

  /** GET /query/profile: the whole profile, or one field ({} when it is not set, as Synapse answers). */
  async profile(userId: string, field: string | undefined): Promise<Record<string, unknown>> {
    this.ours(userId)
    const profile = await this.profiles.get(userId)
    if (field === undefined) return profile
    return field in profile ? { [field]: profile[field] } : {}
  }

  /** GET /query/directory: the room an alias of ours names, and the servers to join it through. */
  async directory(alias: string): Promise<{ room_id: string; servers: string[] }> {
    const server = aliasServer(alias)
    if (server === null) throw new MatrixError('M_INVALID_PARAM', 'Room alias invalid')
    if (server !== this.serverName) throw new MatrixError('M_UNKNOWN', 'Room alias is not hosted on this homeserver', 400)
    return this.aliases.resolve(alias)
  }

  /**
   * GET /user/devices/{userId}: the devices that have uploaded keys, with them, and the cross-signing keys.
   * stream_id is the stream position read first (as Synapse gives its device stream token): every change
   * at or below it is in the answer.
   */
  async userDevices(userId: string): Promise<UserDevices> {
    this.ours(userId)
    const streamId = await this.storage.repos.stream.fence()
    const keys = await this.e2eKeys.queryForServer({ [userId]: [] })
    const devices = Object.entries(keys.device_keys[userId] ?? {}).map(([deviceId, deviceKeys]) => ({ device_id: deviceId, keys: deviceKeys }))
    const answer: UserDevices = { user_id: userId, stream_id: streamId, devices }
    if (keys.master_keys[userId]) answer.master_key = keys.master_keys[userId]
    if (keys.self_signing_keys[userId]) answer.self_signing_key = keys.self_signing_keys[userId]
    return answer
  }
}
