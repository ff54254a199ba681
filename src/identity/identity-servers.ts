// Requests to identity servers (identity-service-api v2): for third-party invites, the lookup of a 3PID
// (hash_details, then lookup), store-invite, and a public key's validity (key_validity_url); for a user's
// own 3PIDs, bind and unbind. The server is
// the one a client names; every request goes through the outbound guard, bounded in time and size, and an
// identity server's own error text never reaches our client.
import { createHash } from 'node:crypto'
import type { SecureContext } from 'node:tls'
import { BlockedAddressError, OutboundError, type OutboundGuard } from '../outbound/index.ts'
import { encodeBase64Url } from '../protocol/base64.ts'
import { isServerName } from '../protocol/server-name.ts'
import { MatrixError, invalidParam } from '../shared/errors.ts'
import { isUserId } from '../shared/ids.ts'

/** Largest answer read from an identity server (they are small JSON objects). */
const MAX_ANSWER_BYTES = 64 * 1024
/** Bounds on what store-invite answers, which goes into the room as an m.room.third_party_invite. */
const MAX_PUBLIC_KEYS = 10
const MAX_PUBLIC_KEY_CHARS = 128
const MAX_URL_CHARS = 2048
const MAX_DISPLAY_NAME_CHARS = 512
/** A state key's limit. */
const MAX_TOKEN_CHARS = 255

export interface IdentityServerSettings {
  timeoutMs: number
  /** False: certificates are not checked (test setups only; see identity_server.tls_verify). */
  tlsVerify: boolean
  /** The CAs trusted (the system's and federation.ca_file). */
  secureContext?: SecureContext
}

/** Who asks, with which of the client's identity server credentials. */
export interface IdentityServerAccess {
  /** host[:port] of the identity server, as the client named it. */
  idServer: string
  accessToken: string
}

/** What store-invite tells the inviting server about the invitee, room and inviter (all but medium, address, room_id and sender optional). */
export interface StoreInviteRequest {
  medium: string
  address: string
  room_id: string
  sender: string
  [key: string]: string
}

/** The content of the m.room.third_party_invite a stored invite becomes, and its state key (the token). */
export interface StoredInvite {
  token: string
  content: { display_name: string; public_keys: Array<{ public_key: string; key_validity_url: string }>; public_key: string; key_validity_url: string }
}

class IdentityServerFailure extends Error {}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

function failed(idServer: string, what: string): MatrixError {
  return new MatrixError('M_UNKNOWN', `The identity server ${idServer} ${what}`, 502)
}

export class IdentityServers {
  private readonly guard: OutboundGuard
  private readonly settings: IdentityServerSettings

  constructor(guard: OutboundGuard, settings: IdentityServerSettings) {
    this.guard = guard
    this.settings = settings
  }

  /** The user a 3PID is bound to on the identity server (v2 lookup, hashed with sha256 when offered), or null. */
  async lookup(access: IdentityServerAccess, medium: string, address: string): Promise<string | null> {
    const base = baseUrl(access.idServer)
    const details = await this.call(access, `${base}/_matrix/identity/v2/hash_details`, 'read its hash details')
    const algorithms = Array.isArray(details.algorithms) ? details.algorithms : []
    const pepper = typeof details.lookup_pepper === 'string' ? details.lookup_pepper : ''
    let algorithm: string
    let lookupAddress: string
    if (algorithms.includes('sha256')) {
      algorithm = 'sha256'
      lookupAddress = encodeBase64Url(createHash('sha256').update(`${address} ${medium} ${pepper}`).digest())
    } else if (algorithms.includes('none')) {
      algorithm = 'none'
      lookupAddress = `${address} ${medium}`
    } else {
      throw failed(access.idServer, 'offers no lookup algorithm this server knows')
    }
    const answer = await this.call(access, `${base}/_matrix/identity/v2/lookup`, 'could not look the address up', { addresses: [lookupAddress], algorithm, pepper })
    const mxid = isObject(answer.mappings) ? answer.mappings[lookupAddress] : undefined
    return isUserId(mxid) ? mxid : null
  }

  /** Stores an invite for a 3PID that is bound to nobody: its token, and the keys that will sign its binding. */
  async storeInvite(access: IdentityServerAccess, request: StoreInviteRequest): Promise<StoredInvite> {
    const base = baseUrl(access.idServer)
    const answer = await this.call(access, `${base}/_matrix/identity/v2/store-invite`, 'could not store the invite', request)
    const token = answer.token
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS) throw failed(access.idServer, 'answered store-invite without a usable token')
    const keys: Array<{ public_key: string; key_validity_url: string }> = []
    const listed = Array.isArray(answer.public_keys) ? answer.public_keys : []
    if (listed.length > MAX_PUBLIC_KEYS) throw failed(access.idServer, `answered store-invite with more than ${MAX_PUBLIC_KEYS} public keys`)
    for (const entry of listed) {
      const key = isObject(entry) ? publicKeyOf(entry.public_key, entry.key_validity_url) : null
      if (!key) throw failed(access.idServer, 'answered store-invite with a malformed public key')
      keys.push(key)
    }
    // The older single key, checked at the identity server's own isvalid endpoint.
    const single = answer.public_key === undefined ? null : publicKeyOf(answer.public_key, `${base}/_matrix/identity/v2/pubkey/isvalid`)
    if (answer.public_key !== undefined && !single) throw failed(access.idServer, 'answered store-invite with a malformed public key')
    const fallback = single ?? keys[0]
    if (!fallback) throw failed(access.idServer, 'answered store-invite without a public key')
    const displayName = typeof answer.display_name === 'string' ? answer.display_name.slice(0, MAX_DISPLAY_NAME_CHARS) : ''
    return {
      token,
      content: { display_name: displayName, public_keys: keys.length > 0 ? keys : [fallback], public_key: fallback.public_key, key_validity_url: fallback.key_validity_url },
    }
  }

  /**
   * POST /3pid/bind: the identity server binds the 3PID it validated in session `sid` (with the client's
   * secret) to `mxid`; the medium and address it bound.
   */
  async bind(access: IdentityServerAccess, sid: string, clientSecret: string, mxid: string): Promise<{ medium: string; address: string }> {
    const answer = await this.call(access, `${baseUrl(access.idServer)}/_matrix/identity/v2/3pid/bind`, 'could not bind the address', { sid, client_secret: clientSecret, mxid })
    const { medium, address } = answer
    if (typeof medium !== 'string' || typeof address !== 'string' || medium.length > 32 || address.length > 512) throw failed(access.idServer, 'answered the bind without the address bound')
    return { medium, address }
  }

  /**
   * POST /3pid/unbind, as this server (signed with X-Matrix, `authorization` built for the request): whether
   * the identity server unbound it. One that cannot be reached or refuses is a false, not an error: the
   * user's own change goes ahead, and the answer says the identity server did not take part.
   */
  async unbind(idServer: string, mxid: string, threepid: { medium: string; address: string }, authorization: (uri: string, content: Record<string, unknown>) => string): Promise<boolean> {
    const uri = '/_matrix/identity/v2/3pid/unbind'
    const content = { mxid, threepid }
    try {
      await this.read(`${baseUrl(idServer)}${uri}`, { authorization: authorization(uri, content) }, content)
      return true
    } catch (err) {
      if (err instanceof IdentityServerFailure || err instanceof OutboundError || err instanceof BlockedAddressError) return false
      throw err
    }
  }

  /**
   * Whether an identity server still vouches for a public key (GET key_validity_url?public_key=…). False
   * when it says not, and when it cannot be asked: a key that cannot be checked is not trusted.
   */
  async keyIsValid(keyValidityUrl: string, publicKey: string): Promise<boolean> {
    let url: URL
    try {
      url = new URL(keyValidityUrl)
    } catch {
      return false
    }
    url.searchParams.set('public_key', publicKey)
    try {
      const answer = await this.read(url.toString(), {})
      return answer.valid === true
    } catch (err) {
      if (err instanceof IdentityServerFailure || err instanceof OutboundError || err instanceof BlockedAddressError) return false
      throw err
    }
  }

  /** A request with the client's access token; any failure is the client's 502 naming what failed. */
  private async call(access: IdentityServerAccess, url: string, what: string, json?: unknown): Promise<Record<string, unknown>> {
    const headers = { authorization: `Bearer ${access.accessToken}` }
    try {
      return await this.read(url, headers, json)
    } catch (err) {
      if (err instanceof IdentityServerFailure || err instanceof OutboundError) throw failed(access.idServer, `${what} (${err.message})`)
      if (err instanceof BlockedAddressError) throw failed(access.idServer, `${what} (its address is not allowed)`)
      throw err
    }
  }

  /** GET, or POST of `json`; the answer's JSON object, or IdentityServerFailure (status, not JSON, too large). */
  private async read(url: string, headers: Record<string, string>, json?: unknown): Promise<Record<string, unknown>> {
    const response = await this.guard.fetch(url, {
      maxBytes: MAX_ANSWER_BYTES,
      timeoutMs: this.settings.timeoutMs,
      maxRedirects: 0,
      headers,
      tlsVerify: this.settings.tlsVerify,
      ...(json !== undefined ? { method: 'POST' as const, json } : {}),
      ...(this.settings.secureContext ? { secureContext: this.settings.secureContext } : {}),
    })
    const chunks: Buffer[] = []
    for await (const chunk of response.body) chunks.push(chunk as Buffer)
    if (response.status < 200 || response.status >= 300) throw new IdentityServerFailure(`it answered ${response.status}`)
    let body: unknown
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      throw new IdentityServerFailure('its answer is not JSON')
    }
    if (!isObject(body)) throw new IdentityServerFailure('its answer is not a JSON object')
    return body
  }
}

/** The identity server's base URL; M_INVALID_PARAM unless id_server is a host name or address with an optional port. */
export function baseUrl(idServer: string): string {
  if (!isServerName(idServer)) throw invalidParam('id_server must be a host name with an optional port')
  return `https://${idServer}`
}

function publicKeyOf(publicKey: unknown, url: unknown): { public_key: string; key_validity_url: string } | null {
  if (typeof publicKey !== 'string' || publicKey.length === 0 || publicKey.length > MAX_PUBLIC_KEY_CHARS) return null
  if (typeof url !== 'string' || url.length > MAX_URL_CHARS || !/^https?:\/\//.test(url)) return null
  return { public_key: publicKey, key_validity_url: url }
}
