// Request authentication (server-server-api, "Request Authentication"): the JSON a server signs for
// each request, and the `Authorization: X-Matrix ...` header that carries the signature. The header's
// grammar is RFC 9110's auth-param list: names case-insensitive, values tokens or quoted strings with
// backslash escapes, spaces and tabs around commas; colons and Base64 are accepted unquoted for older servers.
import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { decodeBase64, encodeBase64 } from './base64.ts'
import { lenientJsonBytes } from './events/event-json.ts'
import type { SigningKey } from './signing.ts'

export interface XMatrixAuth {
  origin: string
  /** Absent from older servers' headers; the receiver then assumes itself. */
  destination: string | null
  key: string
  sig: string
}

export interface SignedRequest {
  method: string
  /** The path and query exactly as sent: "/_matrix/federation/v1/send/1?x=y". */
  uri: string
  origin: string
  destination: string
  /** The parsed JSON body; undefined when the request has none. */
  content?: unknown
}

/** The object signed for a request (step 1 of the spec), without signatures. */
export function requestJson(request: SignedRequest): Record<string, unknown> {
  const json: Record<string, unknown> = { method: request.method, uri: request.uri, origin: request.origin, destination: request.destination }
  if (request.content !== undefined) json.content = request.content
  return json
}

/** The Authorization header value for a request signed with `key` (one space after X-Matrix, quoted values). */
export function signRequest(request: SignedRequest, key: SigningKey): string {
  const sig = encodeBase64(cryptoSign(null, requestBytes(request), key.privateKey))
  return formatXMatrix({ origin: request.origin, destination: request.destination, key: key.keyId, sig })
}

/**
 * The bytes a request's signature covers: its JSON in canonical form, floats written as Synapse writes them
 * (a transaction may carry events of rooms v1–v5, which may hold floats; strict canonical JSON would refuse
 * to sign or verify such a request at all). Throws only for what JSON cannot hold (NaN, Infinity).
 */
function requestBytes(request: SignedRequest): Buffer {
  return lenientJsonBytes(requestJson(request))
}

export function formatXMatrix(auth: XMatrixAuth): string {
  const quote = (value: string) => {
    // Server names, key IDs and Base64 never hold these; refusing beats escaping for older parsers.
    if (/["\\\r\n]/.test(value)) throw new Error('an X-Matrix parameter cannot hold quotes, backslashes or line breaks')
    return `"${value}"`
  }
  const params = [`origin=${quote(auth.origin)}`]
  if (auth.destination !== null) params.push(`destination=${quote(auth.destination)}`)
  params.push(`key=${quote(auth.key)}`, `sig=${quote(auth.sig)}`)
  return `X-Matrix ${params.join(',')}`
}

// A token, plus what older senders put unquoted: colons (key IDs, ports), and '/', '+', '=' of Base64.
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z:/=]/

/**
 * Parses an Authorization header value; null when it is not X-Matrix, is malformed, repeats a parameter
 * or lacks origin, key or sig. Unknown parameters are ignored.
 */
export function parseXMatrix(header: string): XMatrixAuth | null {
  const scheme = /^X-Matrix +/i.exec(header)
  if (!scheme) return null
  const params = new Map<string, string>()
  let i = scheme[0].length
  const n = header.length
  const skipSpace = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++
  }
  while (true) {
    skipSpace()
    const nameStart = i
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(header[i] as string)) i++
    if (i === nameStart) return null
    const name = header.slice(nameStart, i).toLowerCase()
    skipSpace()
    if (header[i] !== '=') return null
    i++
    skipSpace()
    let value = ''
    if (header[i] === '"') {
      i++
      let closed = false
      while (i < n) {
        const c = header[i] as string
        if (c === '"') {
          closed = true
          i++
          break
        }
        if (c === '\\') {
          if (i + 1 >= n) return null
          value += header[i + 1]
          i += 2
          continue
        }
        // qdtext: no control characters except tab.
        if (c < ' ' && c !== '\t') return null
        value += c
        i++
      }
      if (!closed) return null
    } else {
      const valueStart = i
      while (i < n && TOKEN_CHAR.test(header[i] as string)) i++
      if (i === valueStart) return null
      value = header.slice(valueStart, i)
    }
    if (params.has(name)) return null
    params.set(name, value)
    skipSpace()
    if (i === n) break
    if (header[i] !== ',') return null
    i++
  }
  const origin = params.get('origin')
  const key = params.get('key')
  const sig = params.get('sig')
  if (!origin || !key || !sig) return null
  return { origin, destination: params.get('destination') ?? null, key, sig }
}

/** Whether `auth.sig` is origin's signature, made with `verifyKey`, over the request. */
export function verifyRequestSignature(request: SignedRequest, auth: XMatrixAuth, verifyKey: KeyObject): boolean {
  const signature = decodeBase64(auth.sig)
  if (!signature || signature.length !== 64) return false
  let bytes: Buffer
  try {
    bytes = requestBytes(request)
  } catch {
    return false
  }
  return cryptoVerify(null, bytes, verifyKey, signature)
}
