// Device keys, one-time keys and fallback keys (client-server API, "Key management API"):
// POST /keys/upload, /keys/query and /keys/claim.
import { canonicalJson } from '../protocol/canonical-json.ts'
import { MatrixError, badJson } from '../shared/errors.ts'
import { parseUserId } from '../shared/ids.ts'
import type { ClaimTarget, KeySignature, Repositories, Storage } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'
import { DeviceListUpdates } from './device-list-updates.ts'
import type { Proposal } from './cross-signing.ts'
import { isObject, parseDeviceKeys, parseOneTimeKeys, unsignedForm, withSignatures, type Json } from './key-objects.ts'
import { DEFAULT_REMOTE_TIMEOUT_MS, type RemoteE2eKeys, type RemoteQueryResult } from './remote-keys.ts'

/** Users (or devices) one query or claim may name, as Synapse bounds them. */
const MAX_QUERY_USERS = 10_000
const MAX_UPLOAD_KEYS = 1_000

type Failures = Record<string, Json>

/** Without a federation client (some tests), other servers cannot be asked: their users are failures. */
function remoteFailures(servers: Iterable<string>): Failures {
  return Object.fromEntries([...servers].map((server) => [server, { status: 503, message: 'Other servers cannot be reached' }]))
}

export interface QueryResult {
  device_keys: Record<string, Record<string, Json>>
  master_keys: Record<string, Json>
  self_signing_keys: Record<string, Json>
  user_signing_keys: Record<string, Json>
  failures: Failures
}

/** The cross-signing keys the requesting device proposed and that await the password (CrossSigning.proposedBy). */
export type ProposedKeys = (requester: Requester, repos: Repositories) => Promise<Proposal | null>

export class E2eKeys {
  private readonly storage: Storage
  private readonly serverName: string
  private readonly proposedKeys: ProposedKeys | undefined
  /** Asks other servers about their users' keys (federation); absent: they are reported as failures. */
  private readonly remote: RemoteE2eKeys | null
  private readonly deviceListUpdates: DeviceListUpdates

  constructor(options: { storage: Storage; serverName: string; proposedKeys?: ProposedKeys; remote?: RemoteE2eKeys; deviceListUpdates?: DeviceListUpdates }) {
    this.storage = options.storage
    this.serverName = options.serverName
    this.proposedKeys = options.proposedKeys
    this.remote = options.remote ?? null
    this.deviceListUpdates = options.deviceListUpdates ?? new DeviceListUpdates()
  }

  /** POST /keys/upload: the device's identity keys (once), one-time keys and fallback keys. */
  async upload(requester: Requester, body: Json): Promise<{ one_time_key_counts: Record<string, number> }> {
    const counts = await this.storage.streamTransaction((repos) => this.uploadIn(repos, requester.userId, requester.deviceId, body))
    // Clients decide when to upload more from this count; Synapse always reports signed_curve25519.
    return { one_time_key_counts: { signed_curve25519: 0, ...counts } }
  }

  /** Stores a device's keys inside the caller's stream transaction; returns its one-time key counts. */
  async uploadIn(repos: Repositories, userId: string, deviceId: string, body: Json): Promise<Record<string, number>> {
    const deviceKeys = body.device_keys === undefined || body.device_keys === null ? null : parseDeviceKeys(body.device_keys, userId, deviceId)
    const oneTimeKeys = parseOneTimeKeys(body.one_time_keys, 'one_time_keys')
    const fallbackField = body.fallback_keys !== undefined ? 'fallback_keys' : 'org.matrix.msc2732.fallback_keys'
    const fallbackKeys = parseOneTimeKeys(body[fallbackField], fallbackField)
    if (oneTimeKeys.length + fallbackKeys.length > MAX_UPLOAD_KEYS) throw new MatrixError('M_TOO_LARGE', `At most ${MAX_UPLOAD_KEYS} keys per upload`, 413)
    if (new Set(fallbackKeys.map((k) => k.algorithm)).size !== fallbackKeys.length) throw badJson('At most one fallback key per algorithm')
    const inserts = oneTimeKeys.map((k) => ({ algorithm: k.algorithm, key_id: k.keyId, key_json: k.json }))
    const existing = await repos.e2eKeys.existingOneTimeKeys(userId, deviceId, inserts)
    for (const k of inserts) {
      const old = existing.get(`${k.algorithm}:${k.key_id}`)
      if (old !== undefined && unsignedForm({ k: JSON.parse(old) }) !== unsignedForm({ k: JSON.parse(k.key_json) })) {
        throw new MatrixError('M_INVALID_PARAM', `One-time key ${k.algorithm}:${k.key_id} already exists with different content`)
      }
    }
    if (deviceKeys) await this.storeDeviceKeys(repos, userId, deviceId, deviceKeys.json)
    // The device's key counts change: a 'keys' stream change tells every instance's cached counts (LocalDelivery).
    if (inserts.length + fallbackKeys.length > 0) await repos.stream.recordForUsers('keys', [userId])
    await repos.e2eKeys.addOneTimeKeys(userId, deviceId, inserts)
    await repos.e2eKeys.putFallbackKeys(
      userId,
      deviceId,
      fallbackKeys.map((k) => ({ algorithm: k.algorithm, key_id: k.keyId, key_json: k.json })),
    )
    return (await repos.e2eKeys.keyCounts(userId, deviceId)).counts
  }

  /**
   * Stores a device's keys, replacing different ones (a client that lost its keys makes new ones for the
   * same device): room-mates here and elsewhere are told. Signatures others made over the replaced keys
   * are dropped with them; the same keys again change nothing.
   */
  private async storeDeviceKeys(repos: Repositories, userId: string, deviceId: string, json: Json): Promise<void> {
    const stored = await repos.e2eKeys.deviceKeys(userId, deviceId)
    if (stored !== null) {
      const old = JSON.parse(stored) as Json
      if (canonicalJson(old) === canonicalJson(json)) return
      if (unsignedForm(old) !== unsignedForm(json)) await repos.e2eKeys.deleteSignaturesInvolving(userId, [deviceId])
    }
    await repos.e2eKeys.putDeviceKeys(userId, deviceId, JSON.stringify(json))
    await this.deviceListUpdates.devices(repos, userId, [deviceId], false)
  }

  /** The one-time key counts and unused fallback key types of a device, for /sync. */
  async counts(userId: string, deviceId: string): Promise<{ device_one_time_keys_count: Record<string, number>; device_unused_fallback_key_types: string[] }> {
    const { counts, unusedFallback } = await this.storage.repos.e2eKeys.keyCounts(userId, deviceId)
    return { device_one_time_keys_count: { signed_curve25519: 0, ...counts }, device_unused_fallback_key_types: unusedFallback }
  }

  /** POST /keys/query; other servers' users are asked of their servers within `timeoutMs`. */
  query(requester: Requester, deviceKeys: unknown, timeoutMs = DEFAULT_REMOTE_TIMEOUT_MS): Promise<QueryResult> {
    return this.queryAs(requester, deviceKeys, timeoutMs)
  }

  /**
   * POST /_matrix/federation/v1/user/keys/query from another server: our users only (another server's user
   * is refused, as Synapse does), signatures by the keys' owners only, no device names (Synapse's default
   * allow_device_name_lookup_over_federation: false).
   */
  async queryForServer(deviceKeys: unknown): Promise<Pick<QueryResult, 'device_keys' | 'master_keys' | 'self_signing_keys'>> {
    const { device_keys, master_keys, self_signing_keys } = await this.queryAs(null, deviceKeys, 0)
    return { device_keys, master_keys, self_signing_keys }
  }

  /** A local user's or (requester null) another server's query. */
  private async queryAs(requester: Requester | null, deviceKeys: unknown, timeoutMs: number): Promise<QueryResult> {
    if (!isObject(deviceKeys)) throw badJson("'device_keys' must be an object")
    const entries = Object.entries(deviceKeys)
    if (entries.length > MAX_QUERY_USERS) throw new MatrixError('M_TOO_LARGE', `At most ${MAX_QUERY_USERS} users per query`, 413)
    const result: QueryResult = { device_keys: {}, master_keys: {}, self_signing_keys: {}, user_signing_keys: {}, failures: {} }
    const userIds: string[] = []
    const deviceIds: string[] = []
    const remoteUsers = new Map<string, Record<string, string[]>>()
    let remoteDevices = 0
    for (const [userId, devices] of entries) {
      const parsed = parseUserId(userId)
      if (!parsed) throw new MatrixError('M_INVALID_PARAM', `'${userId}' is not a user ID`)
      if (!Array.isArray(devices) || !devices.every((d) => typeof d === 'string')) throw badJson(`'device_keys.${userId}' must be a list of device IDs`)
      if (parsed.serverName !== this.serverName) {
        if (!requester) throw new MatrixError('M_UNKNOWN', `${userId} is not a user of this server`, 400)
        let users = remoteUsers.get(parsed.serverName)
        if (!users) remoteUsers.set(parsed.serverName, (users = {}))
        users[userId] = devices
        remoteDevices += devices.length
        continue
      }
      result.device_keys[userId] = {}
      if (devices.length === 0) {
        userIds.push(userId)
        deviceIds.push('')
      } else {
        for (const d of devices) {
          userIds.push(userId)
          deviceIds.push(d)
        }
      }
    }
    // Bounded as a claim is: the users are, and so must be the devices named for them.
    if (deviceIds.length + remoteDevices > MAX_QUERY_USERS) throw new MatrixError('M_TOO_LARGE', `At most ${MAX_QUERY_USERS} devices per query`, 413)
    const users = Object.keys(result.device_keys)
    // Other servers are asked while our own store is read.
    const remote: Promise<RemoteQueryResult> | null =
      remoteUsers.size === 0
        ? null
        : this.remote
          ? this.remote.query(remoteUsers, timeoutMs)
          : Promise.resolve({ device_keys: {}, master_keys: {}, self_signing_keys: {}, failures: remoteFailures(remoteUsers.keys()) })
    const read = async (repos: Repositories, proposer: Requester | null) => {
      // The proposal before the keys: keys that replace it commit with its end, so a read between the two
      // sees the proposal and then the new keys (and drops the proposal below), never the old keys alone.
      const proposal = proposer && this.proposedKeys ? await this.proposedKeys(proposer, repos) : null
      const [rows, crossSigning, signatures] = await Promise.all([
        repos.e2eKeys.queryDeviceKeys(userIds, deviceIds),
        repos.e2eKeys.crossSigningKeys(users),
        repos.e2eKeys.signaturesFor(users, requester?.userId ?? null),
      ])
      return { proposal, rows, crossSigning, signatures }
    }
    // A device's query of its own keys waits for a cross-signing upload of its user that reached the
    // database first (CrossSigning.uploadKeys): it must see the keys the device has just made and sent.
    const ownQuery = requester !== null && this.proposedKeys !== undefined && users.includes(requester.userId)
    const { proposal, rows, crossSigning, signatures } = ownQuery
      ? await this.storage.transaction(async (repos) => {
          // The lock goes ahead of the reads on the transaction's connection, where PostgreSQL runs them in order.
          const [, out] = await Promise.all([repos.e2eKeys.lockCrossSigning(requester.userId, 'shared'), read(repos, requester)])
          return out
        })
      : await read(this.storage.repos, null)
    const sigsOf = groupSignatures(signatures)
    for (const row of rows) {
      const json = withSignatures(JSON.parse(row.key_json) as Json, sigsOf(row.user_id, row.device_id))
      const named = requester !== null && row.display_name !== null
      const unsigned = { ...(isObject(json.unsigned) ? json.unsigned : {}), ...(named ? { device_display_name: row.display_name } : {}) }
      ;(result.device_keys[row.user_id] as Record<string, Json>)[row.device_id] = { ...json, unsigned }
    }
    for (const key of crossSigning) {
      const json = withSignatures(JSON.parse(key.key_json) as Json, sigsOf(key.user_id, key.public_key))
      if (key.key_type === 'master') result.master_keys[key.user_id] = json
      else if (key.key_type === 'self_signing') result.self_signing_keys[key.user_id] = json
      else if (key.user_id === requester?.userId) result.user_signing_keys[key.user_id] = json
    }
    // The requesting device's own keys awaiting the password, unless another upload has since replaced
    // the master key they were to replace.
    if (requester && proposal && proposal.replacing === crossSigning.find((k) => k.user_id === requester.userId && k.key_type === 'master')?.public_key) {
      const { master, self_signing, user_signing } = proposal.keys
      if (master) result.master_keys[requester.userId] = master
      if (self_signing) result.self_signing_keys[requester.userId] = self_signing
      if (user_signing) result.user_signing_keys[requester.userId] = user_signing
    }
    if (remote) {
      const answered = await remote
      Object.assign(result.failures, answered.failures)
      Object.assign(result.device_keys, answered.device_keys)
      Object.assign(result.master_keys, answered.master_keys)
      Object.assign(result.self_signing_keys, answered.self_signing_keys)
    }
    return result
  }

  /**
   * POST /keys/claim: one key per (user, device, algorithm), never the same one-time key twice. Other
   * servers' users are claimed from their servers within `timeoutMs`; with null (a server's request) they
   * are left out.
   */
  async claim(oneTimeKeys: unknown, timeoutMs: number | null = DEFAULT_REMOTE_TIMEOUT_MS): Promise<{ one_time_keys: Record<string, Record<string, Json>>; failures: Failures }> {
    if (!isObject(oneTimeKeys)) throw badJson("'one_time_keys' must be an object")
    const targets: ClaimTarget[] = []
    const remoteUsers = new Map<string, Record<string, Record<string, string>>>()
    let remoteDevices = 0
    for (const [userId, devices] of Object.entries(oneTimeKeys)) {
      const parsed = parseUserId(userId)
      if (!parsed) throw new MatrixError('M_INVALID_PARAM', `'${userId}' is not a user ID`)
      if (!isObject(devices)) throw badJson(`'one_time_keys.${userId}' must map device IDs to algorithms`)
      const local = parsed.serverName === this.serverName
      if (!local && timeoutMs === null) continue
      for (const [deviceId, algorithm] of Object.entries(devices)) {
        if (typeof algorithm !== 'string' || algorithm === '') throw badJson(`'one_time_keys.${userId}.${deviceId}' must be an algorithm name`)
        if (local) targets.push({ user_id: userId, device_id: deviceId, algorithm })
        else remoteDevices++
      }
      if (!local) {
        let users = remoteUsers.get(parsed.serverName)
        if (!users) remoteUsers.set(parsed.serverName, (users = {}))
        users[userId] = devices as Record<string, string>
      }
    }
    if (targets.length + remoteDevices > MAX_QUERY_USERS) throw new MatrixError('M_TOO_LARGE', `At most ${MAX_QUERY_USERS} devices per claim`, 413)
    const remote =
      remoteUsers.size === 0 ? null : this.remote ? this.remote.claim(remoteUsers, timeoutMs ?? 0) : Promise.resolve({ one_time_keys: {}, failures: remoteFailures(remoteUsers.keys()) })
    // The owners' key counts change: a 'keys' stream change tells every instance's cached counts (LocalDelivery).
    const owners = [...new Set(targets.map((t) => t.user_id))]
    const claimed =
      targets.length === 0
        ? []
        : await this.storage.streamTransaction(async (repos) => {
            await repos.stream.recordForUsers('keys', owners)
            return repos.e2eKeys.claim(targets)
          })
    const out: Record<string, Record<string, Json>> = {}
    for (const k of claimed) {
      ;((out[k.user_id] ??= {})[k.device_id] ??= {})[`${k.algorithm}:${k.key_id}`] = JSON.parse(k.key_json)
    }
    if (!remote) return { one_time_keys: out, failures: {} }
    const answered = await remote
    return { one_time_keys: { ...out, ...answered.one_time_keys }, failures: answered.failures }
  }

  /**
   * POST /_matrix/federation/v1/user/keys/claim from another server: keys of our users; another server's
   * users get none (Synapse claims from its own store only).
   */
  async claimForServer(oneTimeKeys: unknown): Promise<{ one_time_keys: Record<string, Record<string, Json>> }> {
    const { one_time_keys } = await this.claim(oneTimeKeys, null)
    return { one_time_keys }
  }

  /** Deleting an account's keys when it is deactivated (device keys go with the devices). */
  deleteAllForUser(repos: Repositories, userId: string): Promise<void> {
    return repos.e2eKeys.deleteAllForUser(userId)
  }
}

/** Signatures by (target user, target key ID). */
function groupSignatures(signatures: KeySignature[]): (user: string, keyId: string) => KeySignature[] {
  const map = new Map<string, KeySignature[]>()
  for (const s of signatures) {
    const k = `${s.target_user_id}\u0000${s.target_key_id}`
    const list = map.get(k)
    if (list) list.push(s)
    else map.set(k, [s])
  }
  return (user, keyId) => map.get(`${user}\u0000${keyId}`) ?? []
}
