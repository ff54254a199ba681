// Keys of other servers' users (client-server API, "Key management API"; server-server API, "End-to-End
// Encryption"): a client's /keys/query naming remote users is answered from the device lists this server
// follows (RemoteDeviceLists: users sharing a room with it, kept current by m.device_list_update EDUs and
// fetched whole when needed); the other users, and every /keys/claim, ask each of their servers once
// (POST /_matrix/federation/v1/user/keys/query | claim), side by side, all within the client's timeout. A
// server that cannot be reached in time lands in `failures`; what a server answers is checked before it is
// passed on: only the users and devices asked, device keys naming their owner and device, cross-signing
// keys well formed (a self-signing key signed by the master key). Device keys' own signatures are the
// querying client's to check.
import { FederationError, type FederationClient } from '../federation/client.ts'
import type { RemoteDeviceLists } from './remote-device-lists.ts'
import { isObject, parseCrossSigningKey, parseDeviceKeys, requireSignature, type CrossSigningKey, type Json } from './key-objects.ts'

/** The client's `timeout` when it gives none (the spec's default), and the most it may ask for. */
export const DEFAULT_REMOTE_TIMEOUT_MS = 10_000
const MAX_REMOTE_TIMEOUT_MS = 60_000
/** Servers asked at once by one request; the others wait their turn within the same deadline. */
const MAX_PARALLEL_SERVERS = 32
/** Largest answer read from one server: room for thousands of devices, not for a flood. */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024
/** Devices accepted from one server's answer (as many as one query may name). */
const MAX_DEVICES_PER_ANSWER = 10_000

export type Failures = Record<string, Json>

export interface RemoteQueryResult {
  device_keys: Record<string, Record<string, Json>>
  master_keys: Record<string, Json>
  self_signing_keys: Record<string, Json>
  failures: Failures
}

export interface RemoteClaimResult {
  one_time_keys: Record<string, Record<string, Json>>
  failures: Failures
}

/** The client's timeout, clamped: missing gives the default, and no client holds a request past a minute. */
export function remoteTimeout(timeout: number | undefined): number {
  if (timeout === undefined) return DEFAULT_REMOTE_TIMEOUT_MS
  return Math.min(Math.max(timeout, 0), MAX_REMOTE_TIMEOUT_MS)
}

/** What `failures` says about a server (status and a message of ours; never the remote's own text). */
function failureOf(server: string, err: unknown): Json {
  if (err instanceof FederationError) {
    if (err.kind === 'http' && err.status !== null) return { status: err.status, message: `${server} answered ${err.status}` }
    if (err.kind === 'timeout') return { status: 503, message: `${server} did not answer in time` }
    if (err.kind === 'invalid') return { status: 502, message: `${server} gave an invalid answer` }
    return { status: 503, message: `${server} could not be reached` }
  }
  return { status: 503, message: `${server} could not be reached` }
}

/** Runs `work` for each item, at most `limit` at a time. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++] as T)
  })
  await Promise.all(lanes)
}

/** The answer's object at `key`, or {} when it is missing or not an object. */
const field = (answer: unknown, key: string): Json => (isObject(answer) && isObject(answer[key]) ? answer[key] : {})

/** Parses or refuses a value; a refusal drops the value (a remote's bad key is left out, not an error). */
function tryParse<T>(parse: () => T): T | null {
  try {
    return parse()
  } catch {
    return null
  }
}

export class RemoteE2eKeys {
  private readonly client: FederationClient
  /** The device lists this server follows; absent, every user is asked of their server. */
  private readonly lists: RemoteDeviceLists | null

  constructor(client: FederationClient, lists?: RemoteDeviceLists) {
    this.client = client
    this.lists = lists ?? null
  }

  /**
   * The keys of other servers' users, `byServer` being server → user → device IDs ([] for all): from the
   * followed device lists, else from each server.
   */
  async query(byServer: Map<string, Record<string, string[]>>, timeoutMs: number): Promise<RemoteQueryResult> {
    const deadline = Date.now() + timeoutMs
    const result: RemoteQueryResult = { device_keys: {}, master_keys: {}, self_signing_keys: {}, failures: {} }
    const asked = new Map<string, Record<string, string[]>>()
    if (this.lists) {
      const wanted = new Map([...byServer.values()].flatMap((users) => Object.entries(users)))
      const kept = await this.lists.keysFor([...wanted.keys()], timeoutMs)
      for (const [userId, keys] of kept) {
        const devices = wanted.get(userId) as string[]
        result.device_keys[userId] = devices.length === 0 ? keys.devices : Object.fromEntries(devices.flatMap((d) => (keys.devices[d] ? [[d, keys.devices[d]]] : [])))
        if (keys.master) result.master_keys[userId] = keys.master
        if (keys.selfSigning) result.self_signing_keys[userId] = keys.selfSigning
      }
      for (const [server, users] of byServer) {
        const rest = Object.entries(users).filter(([u]) => !kept.has(u))
        if (rest.length > 0) asked.set(server, Object.fromEntries(rest))
      }
    } else {
      for (const [server, users] of byServer) asked.set(server, users)
    }
    if (asked.size > 0) {
      await this.askEach(asked, 'query', Math.max(deadline - Date.now(), 0), result.failures, (answer, users) => takeQueryAnswer(answer, users, result))
    }
    return result
  }

  /** Claims one-time keys from each server: `byServer` is server → user → device → algorithm. */
  async claim(byServer: Map<string, Record<string, Record<string, string>>>, timeoutMs: number): Promise<RemoteClaimResult> {
    const result: RemoteClaimResult = { one_time_keys: {}, failures: {} }
    await this.askEach(byServer, 'claim', timeoutMs, result.failures, (answer, users) => takeClaimAnswer(answer, users, result))
    return result
  }

  /**
   * One POST /user/keys/{what} per server, side by side, all within one deadline; failures recorded. The
   * deadline covers discovery too: a server whose name takes long to resolve is reported when time is up.
   */
  private async askEach<U>(byServer: Map<string, U>, what: 'query' | 'claim', timeoutMs: number, failures: Failures, take: (answer: unknown, users: U) => void): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let timer: NodeJS.Timeout | undefined
    const timeUp = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new FederationError('timeout', 'the client timeout passed')), timeoutMs)
    })
    timeUp.catch(() => {})
    try {
      await eachLimited([...byServer], MAX_PARALLEL_SERVERS, async ([server, users]) => {
        try {
          // Past the deadline, nothing more is started: the rest are reported as timed out.
          if (Date.now() >= deadline) throw new FederationError('timeout', 'the client timeout passed')
          const request = this.client.request(server, {
            method: 'POST',
            path: `/_matrix/federation/v1/user/keys/${what}`,
            body: what === 'query' ? { device_keys: users } : { one_time_keys: users },
            timeoutMs: Math.max(deadline - Date.now(), 1),
            maxBytes: MAX_ANSWER_BYTES,
          })
          request.catch(() => {})
          take(await Promise.race([request, timeUp]), users)
        } catch (err) {
          failures[server] = failureOf(server, err)
        }
      })
    } finally {
      clearTimeout(timer)
    }
  }
}

/** Adds to `result` the checked part of one server's key query answer about `users` (user → devices asked). */
export function takeQueryAnswer(answer: unknown, users: Record<string, string[]>, result: Omit<RemoteQueryResult, 'failures'>): void {
  const deviceKeys = field(answer, 'device_keys')
  const masterKeys = field(answer, 'master_keys')
  const selfSigningKeys = field(answer, 'self_signing_keys')
  let budget = MAX_DEVICES_PER_ANSWER
  for (const [userId, asked] of Object.entries(users)) {
    // A user the server does not know is left out, not reported as a failure (the spec's rule).
    const devices = deviceKeys[userId]
    if (!isObject(devices)) continue
    const kept: Record<string, Json> = {}
    const wanted = asked.length > 0 ? new Set(asked) : null
    for (const [deviceId, keys] of Object.entries(devices)) {
      if (budget <= 0) break
      if (wanted && !wanted.has(deviceId)) continue
      // The owner and device named inside must be the ones asked.
      const parsed = tryParse(() => parseDeviceKeys(keys, userId, deviceId))
      if (!parsed) continue
      kept[deviceId] = parsed.json
      budget--
    }
    result.device_keys[userId] = kept
    const master = tryParse(() => parseCrossSigningKey(masterKeys[userId], 'master_key', userId, 'master'))
    if (!master) continue
    result.master_keys[userId] = master.json
    const selfSigning = tryParse(() => selfSignedBy(master, selfSigningKeys[userId], userId))
    if (selfSigning) result.self_signing_keys[userId] = selfSigning.json
  }
}

/** A self-signing key of the user, signed by their master key. */
function selfSignedBy(master: CrossSigningKey, value: unknown, userId: string): CrossSigningKey {
  const selfSigning = parseCrossSigningKey(value, 'self_signing_key', userId, 'self_signing')
  requireSignature(selfSigning.json, userId, { keyId: `ed25519:${master.publicKey}`, verifyKey: master.verifyKey }, 'self_signing_key')
  return selfSigning
}

/**
 * Keeps, of one server's claim answer, one key per device asked, of the algorithm asked: a key string or a
 * signed key object. Its signature is the client's to check against the device keys it queried.
 */
export function takeClaimAnswer(answer: unknown, users: Record<string, Record<string, string>>, result: Omit<RemoteClaimResult, 'failures'>): void {
  const claimed = field(answer, 'one_time_keys')
  for (const [userId, devices] of Object.entries(users)) {
    const byDevice = isObject(claimed[userId]) ? claimed[userId] : {}
    for (const [deviceId, algorithm] of Object.entries(devices)) {
      const keys = byDevice[deviceId]
      if (!isObject(keys)) continue
      const found = Object.entries(keys).find(([id, key]) => id.startsWith(`${algorithm}:`) && id.length <= 255 && (typeof key === 'string' || (isObject(key) && typeof key.key === 'string')))
      if (!found) continue
      ;((result.one_time_keys[userId] ??= {})[deviceId] ??= {})[found[0]] = found[1]
    }
  }
}
