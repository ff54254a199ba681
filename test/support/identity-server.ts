// A small identity server for third-party invite and 3PID binding tests (identity-service-api v2, the parts a
// homeserver calls): hash_details and lookup, store-invite, pubkey/isvalid, 3pid/bind and 3pid/unbind, on
// HTTPS with a certificate of the test CA.
// It records every request it receives, and binds addresses by calling a homeserver's 3pid/onbind with the
// pending invites signed by its key, as a real identity server does once an address is verified.
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { after } from 'node:test'
import { encodeBase64Url } from '../../src/protocol/base64.ts'
import { signJson, signingKeyFromSeed, type SigningKey } from '../../src/protocol/signing.ts'

export const ID_ACCESS_TOKEN = 'id-access-token'
const PEPPER = 'matrixrocks'

export interface IdentityRequest {
  method: string
  path: string
  query: URLSearchParams
  authorization: string | undefined
  body: Record<string, any> | undefined
}

export interface TestIdentityServer {
  /** host:port, as a client names it in id_server. */
  readonly name: string
  readonly key: SigningKey
  readonly requests: IdentityRequest[]
  /** Public keys isvalid answers false for. */
  readonly revoked: Set<string>
  /** "medium address" → the user it is bound to (what lookup answers). */
  readonly bindings: Map<string, string>
  /** A signed block as this server signs it (or with another key). */
  sign<T extends Record<string, unknown>>(object: T, key?: SigningKey): T & { signatures: Record<string, Record<string, string>> }
  /** Binds an address and tells the homeserver at `clientUrl` of its pending invites (POST 3pid/onbind). */
  bind(clientUrl: string, medium: string, address: string, mxid: string, options?: { signWith?: SigningKey }): Promise<{ status: number; body: any }>
  requestsTo(path: string): IdentityRequest[]
  /** Validates an address as the client's e-mail round trip would: the session ID a bind then names. */
  validate(medium: string, address: string, clientSecret: string): string
}

/** Starts the identity server on 127.0.0.1 with `credentials` (a certificate for 127.0.0.1); closed with the test file. */
export async function startIdentityServer(credentials: { key: string; cert: string }): Promise<TestIdentityServer> {
  const key = signingKeyFromSeed('ed25519:0', new Uint8Array(32).fill(42))
  const requests: IdentityRequest[] = []
  const revoked = new Set<string>()
  const bindings = new Map<string, string>()
  const stored: Array<Record<string, any> & { token: string }> = []
  const sessions = new Map<string, { medium: string; address: string; clientSecret: string }>()
  let name = ''
  const hashOf = (medium: string, address: string) => encodeBase64Url(createHash('sha256').update(`${address} ${medium} ${PEPPER}`).digest())

  const server: Server = createServer(credentials, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', `https://${name}`)
      const text = Buffer.concat(chunks).toString('utf8')
      const body = text === '' ? undefined : (JSON.parse(text) as Record<string, any>)
      requests.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, authorization: req.headers.authorization, body })
      const answer = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(json))
      }
      const authorised = req.headers.authorization === `Bearer ${ID_ACCESS_TOKEN}`
      switch (`${req.method} ${url.pathname}`) {
        case 'GET /_matrix/identity/v2/pubkey/isvalid':
          return answer(200, { valid: url.searchParams.get('public_key') === key.publicKeyBase64 && !revoked.has(key.publicKeyBase64) })
        case 'GET /_matrix/identity/v2/hash_details':
          if (!authorised) return answer(401, { errcode: 'M_UNAUTHORIZED', error: 'no token' })
          return answer(200, { lookup_pepper: PEPPER, algorithms: ['none', 'sha256'] })
        case 'POST /_matrix/identity/v2/lookup': {
          if (!authorised) return answer(401, { errcode: 'M_UNAUTHORIZED', error: 'no token' })
          const mappings: Record<string, string> = {}
          for (const [k, mxid] of bindings) {
            const [medium, address] = k.split(' ') as [string, string]
            if (body?.addresses?.includes(hashOf(medium, address))) mappings[hashOf(medium, address)] = mxid
          }
          return answer(200, { mappings })
        }
        case 'POST /_matrix/identity/v2/store-invite': {
          if (!authorised) return answer(401, { errcode: 'M_UNAUTHORIZED', error: 'no token' })
          const token = `tok${stored.length + 1}`
          stored.push({ ...body, token })
          const keyValidityUrl = `https://${name}/_matrix/identity/v2/pubkey/isvalid`
          return answer(200, { token, display_name: 'b...@example.org', public_key: key.publicKeyBase64, public_keys: [{ public_key: key.publicKeyBase64, key_validity_url: keyValidityUrl }] })
        }
        case 'POST /_matrix/identity/v2/3pid/bind': {
          if (!authorised) return answer(401, { errcode: 'M_UNAUTHORIZED', error: 'no token' })
          const session = sessions.get(String(body?.sid))
          if (!session || session.clientSecret !== body?.client_secret) return answer(400, { errcode: 'M_NO_VALID_SESSION', error: 'no such session' })
          bindings.set(`${session.medium} ${session.address}`, String(body?.mxid))
          return answer(200, identity.sign({ medium: session.medium, address: session.address, mxid: body?.mxid, not_before: 0, not_after: 4102444800000, ts: Date.now() }))
        }
        case 'POST /_matrix/identity/v2/3pid/unbind': {
          // Only the homeserver of the user may unbind without the user's session: it signs as itself.
          if (!req.headers.authorization?.startsWith('X-Matrix ')) return answer(401, { errcode: 'M_UNAUTHORIZED', error: 'not signed' })
          const bound = `${body?.threepid?.medium} ${body?.threepid?.address}`
          if (bindings.get(bound) !== body?.mxid) return answer(404, { errcode: 'M_NOT_FOUND', error: 'not bound' })
          bindings.delete(bound)
          return answer(200, {})
        }
        default:
          return answer(404, { errcode: 'M_UNRECOGNIZED', error: 'unknown' })
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  name = `127.0.0.1:${(server.address() as AddressInfo).port}`
  after(() => new Promise<void>((resolve) => server.close(() => resolve())))

  const identity: TestIdentityServer = {
    name,
    key,
    requests,
    revoked,
    bindings,
    sign: (object, signWith = key) => signJson(object, name, signWith) as never,
    async bind(clientUrl, medium, address, mxid, options = {}) {
      bindings.set(`${medium} ${address}`, mxid)
      const invites = stored
        .filter((s) => s.medium === medium && s.address === address)
        .map((s) => ({ medium, address, mxid, room_id: s.room_id, sender: s.sender, signed: identity.sign({ mxid, token: s.token }, options.signWith) }))
      const res = await fetch(`${clientUrl}/_matrix/federation/v1/3pid/onbind`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(identity.sign({ medium, address, mxid, invites })),
      })
      const text = await res.text()
      return { status: res.status, body: text === '' ? undefined : JSON.parse(text) }
    },
    requestsTo: (path) => requests.filter((r) => r.path === path),
    validate(medium, address, clientSecret) {
      const sid = `sid${sessions.size + 1}`
      sessions.set(sid, { medium, address, clientSecret })
      return sid
    },
  }
  return identity
}
