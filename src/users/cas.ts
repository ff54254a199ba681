// CAS (Central Authentication Service) protocol 2.0/3.0, as a relying party: the login URL a browser is
// sent to, and the check of the ticket it comes back with (GET {server}/proxyValidate?ticket&service),
// whose XML answer names the user and, with CAS 3.0, their attributes.
import type { OutboundGuard } from '../outbound/index.ts'

/** The largest validation answer read: a user name and a few attributes. */
const MAX_RESPONSE_BYTES = 64 * 1024

export interface CasUser {
  user: string
  /** Attribute name (without its XML prefix) → its values, in document order. */
  attributes: Record<string, string[]>
}

/** Why a sign-on failed, worded for the person at the browser; `status` is the page's HTTP status. */
export class SsoError extends Error {
  readonly status: number
  readonly title: string
  constructor(status: number, title: string, message: string) {
    super(message)
    this.name = 'SsoError'
    this.status = status
    this.title = title
  }
}

/**
 * Percent-encodes everything but RFC 3986's unreserved characters (encodeURIComponent leaves !'()* as
 * they are), so a URL built here reads the same to every CAS server that compares service URLs as strings.
 */
export function encodeQueryValue(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

function decodeXmlText(text: string): string {
  return text
    .replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-z]{2,4});/g, (match, name: string) => {
      if (name.startsWith('#')) {
        const code = name[1] === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10)
        return code <= 0x10ffff ? String.fromCodePoint(code) : match
      }
      return ENTITIES[name] ?? match
    })
    .trim()
}

// Tag patterns: fixed names (never text from the answer), any namespace prefix, bounded quantifiers so
// that a hostile answer costs linear time.
const PREFIX = '(?:[A-Za-z_][\\w.-]{0,63}:)?'
const tag = (local: string): RegExp => new RegExp(`<${PREFIX}${local}(?:\\s[^<>]{0,1024})?>`, 'g')
const SUCCESS = tag('authenticationSuccess')
const USER = tag('user')
const ATTRIBUTES = tag('attributes')
const CHILD = new RegExp(`<(${PREFIX})([A-Za-z_][\\w.-]{0,254})(?:\\s[^<>]{0,1024})?(/?)>`, 'g')

/** The end of the first opening tag matching `pattern` at or after `from`, or -1. */
function openEnd(pattern: RegExp, xml: string, from: number): number {
  pattern.lastIndex = from
  const m = pattern.exec(xml)
  return m ? m.index + m[0].length : -1
}

/** An element's text content starting at `at` (up to the next tag, or a CDATA section's content), and where it ends. */
function textAt(xml: string, at: number): { text: string; end: number } {
  if (xml.startsWith('<![CDATA[', at)) {
    const close = xml.indexOf(']]>', at)
    return close < 0 ? { text: '', end: xml.length } : { text: xml.slice(at + 9, close).trim(), end: close + 3 }
  }
  const next = xml.indexOf('<', at)
  const end = next < 0 ? xml.length : next
  return { text: decodeXmlText(xml.slice(at, end)), end }
}

/**
 * Reads a CAS serviceResponse: null for an authenticationFailure or anything that is not a success naming
 * a user. Attributes (CAS 3.0) are the child elements of <attributes>; a repeated name has several values.
 */
export function parseCasResponse(xml: string): CasUser | null {
  const body = openEnd(SUCCESS, xml, 0)
  if (body < 0) return null
  const userAt = openEnd(USER, xml, body)
  const user = userAt < 0 ? '' : textAt(xml, userAt).text
  if (user === '') return null
  const attributes: Record<string, string[]> = Object.create(null)
  const block = openEnd(ATTRIBUTES, xml, body)
  if (block >= 0) {
    const blockEnd = xml.indexOf('attributes>', block)
    CHILD.lastIndex = block
    for (let m = CHILD.exec(xml); m && (blockEnd < 0 || m.index < blockEnd); m = CHILD.exec(xml)) {
      const name = m[2] as string
      const list = attributes[name] ?? (attributes[name] = [])
      if (m[3] === '/') {
        list.push('')
        continue
      }
      const content = textAt(xml, m.index + m[0].length)
      list.push(content.text)
      CHILD.lastIndex = content.end
    }
  }
  return { user, attributes }
}

export class CasClient {
  private readonly serverUrl: string
  private readonly guard: OutboundGuard
  private readonly timeoutMs: number

  constructor(serverUrl: string, guard: OutboundGuard, timeoutMs: number) {
    this.serverUrl = serverUrl.replace(/\/+$/, '')
    this.guard = guard
    this.timeoutMs = timeoutMs
  }

  /** Where the browser signs in; CAS sends it back to `service` with a `ticket` parameter. */
  loginUrl(service: string): string {
    return `${this.serverUrl}/login?service=${encodeQueryValue(service)}`
  }

  /** Checks a ticket for `service` with the CAS server; the user it names, or an SsoError. */
  async validate(ticket: string, service: string): Promise<CasUser> {
    const url = `${this.serverUrl}/proxyValidate?ticket=${encodeQueryValue(ticket)}&service=${encodeQueryValue(service)}`
    let text: string
    try {
      const response = await this.guard.fetch(url, { maxBytes: MAX_RESPONSE_BYTES, timeoutMs: this.timeoutMs, maxRedirects: 0 })
      const chunks: Buffer[] = []
      for await (const chunk of response.body) chunks.push(chunk as Buffer)
      if (response.status !== 200) throw new Error(`the CAS server answered ${response.status}`)
      text = Buffer.concat(chunks).toString('utf8')
    } catch {
      // What went wrong stays in the server's own terms; the page only says the check could not be made.
      throw new SsoError(502, 'Sign-in failed', 'The sign-in service could not be reached to check your ticket. Please try again.')
    }
    const user = parseCasResponse(text)
    if (!user) throw new SsoError(401, 'Sign-in failed', 'The sign-in service did not accept this ticket. Please sign in again.')
    return user
  }
}
