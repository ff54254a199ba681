// A test peer playing a remote homeserver behind a TLS front (test/support/federation.ts): it serves its own
// signed key document and records the transactions PUT to /_matrix/federation/v1/send/{txnId}, after checking
// each request's X-Matrix signature against the sending server's published key and the destination named in it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { randomBytes, type KeyObject } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { signJson, signingKeyFromSeed, verifyKeyFromBase64, type SigningKey } from '../../src/protocol/signing.ts'
import { parseXMatrix, verifyRequestSignature } from '../../src/protocol/x-matrix.ts'
import type { TlsFront } from './federation.ts'

export interface ReceivedTransaction {
  txnId: string
  origin: string
  pdus: Array<Record<string, any>>
  edus: Array<{ edu_type: string; content: any }>
}

export interface FederationPeer {
  serverName: string
  key: SigningKey
  /** Transactions answered 200, in the order they arrived. */
  received: ReceivedTransaction[]
  /** Requests refused (bad signature, wrong destination), as "status reason". */
  refused: string[]
  /** The most /send requests from one origin that were in flight at once. */
  maxInFlight: number
  /** While set, /send requests wait for it before they are answered. */
  hold: Promise<void> | null
  /** Connections to the peer fail (its front forwards to a closed port) until up(). */
  down(): void
  up(): void
  close(): Promise<void>
}

/**
 * Starts the peer behind `front` (its server name is 127.0.0.1:<front port>); `originKeys` are the public keys
 * of the servers allowed to send to it, by server name and key ID (read from their /_matrix/key/v2/server).
 */
export async function startFederationPeer(front: TlsFront, originKeys: Map<string, Map<string, KeyObject>>): Promise<FederationPeer> {
  const serverName = `127.0.0.1:${front.port}`
  const key = signingKeyFromSeed('ed25519:peer', randomBytes(32))
  const inFlight = new Map<string, number>()
  const peer: FederationPeer = {
    serverName,
    key,
    received: [],
    refused: [],
    maxInFlight: 0,
    hold: null,
    down: () => {
      front.target = 1
      server.closeAllConnections() // and the connections kept alive through the front with them
    },
    up: () => (front.target = port),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
  const answer = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const url = req.url ?? ''
    if (req.method === 'GET' && url === '/_matrix/key/v2/server') {
      const doc = { server_name: serverName, valid_until_ts: Date.now() + 3_600_000, verify_keys: { [key.keyId]: { key: key.publicKeyBase64 } }, old_verify_keys: {} }
      return answer(res, 200, signJson(doc, serverName, key))
    }
    const send = /^\/_matrix\/federation\/v1\/send\/([^/?]+)$/.exec(url)
    if (req.method !== 'PUT' || !send) return answer(res, 404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' })
    let body: any
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      return answer(res, 400, { errcode: 'M_NOT_JSON', error: 'Body is not JSON' })
    }
    const auth = parseXMatrix(req.headers.authorization ?? '')
    const verifyKey = auth && originKeys.get(auth.origin)?.get(auth.key)
    if (!auth || !verifyKey || auth.destination !== serverName || !verifyRequestSignature({ method: 'PUT', uri: url, origin: auth.origin, destination: serverName, content: body }, auth, verifyKey)) {
      peer.refused.push(`401 ${auth ? `${auth.origin} to ${auth.destination}` : 'no X-Matrix header'}`)
      return answer(res, 401, { errcode: 'M_UNAUTHORIZED', error: 'Bad signature' })
    }
    if (body.origin !== auth.origin || !Array.isArray(body.pdus) || (body.edus !== undefined && !Array.isArray(body.edus)) || body.pdus.length > 50 || (body.edus?.length ?? 0) > 100) {
      peer.refused.push(`400 malformed transaction from ${auth.origin}`)
      return answer(res, 400, { errcode: 'M_BAD_JSON', error: 'Malformed transaction' })
    }
    const now = (inFlight.get(auth.origin) ?? 0) + 1
    inFlight.set(auth.origin, now)
    peer.maxInFlight = Math.max(peer.maxInFlight, now)
    try {
      // A little time in flight, so two senders racing for the destination would overlap here.
      await new Promise((resolve) => setTimeout(resolve, 5))
      if (peer.hold) await peer.hold
      peer.received.push({ txnId: decodeURIComponent(send[1] as string), origin: auth.origin, pdus: body.pdus, edus: body.edus ?? [] })
    } finally {
      inFlight.set(auth.origin, (inFlight.get(auth.origin) ?? 1) - 1)
    }
    answer(res, 200, { pdus: {} })
  }
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => answer(res, 500, { errcode: 'M_UNKNOWN', error: err.message }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  front.target = port
  return peer
}

/** A server's published verify keys (GET /_matrix/key/v2/server at `baseUrl`), for a peer's originKeys. */
export async function publishedKeys(baseUrl: string): Promise<[string, Map<string, KeyObject>]> {
  const doc = (await (await fetch(`${baseUrl}/_matrix/key/v2/server`)).json()) as { server_name: string; verify_keys: Record<string, { key: string }> }
  const keys = new Map<string, KeyObject>()
  for (const [id, { key }] of Object.entries(doc.verify_keys)) keys.set(id, verifyKeyFromBase64(key) as KeyObject)
  return [doc.server_name, keys]
}
