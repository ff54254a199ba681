// pino JSON logs. Tokens, passwords and message content are never logged: URLs lose their access_token, and
// the token and client_secret of the links in validation mails.
import { pino, type Logger } from 'pino'

export type { Logger }

/** A query key as the query-string parser reads it (+ is a space, %XX a byte); lenient where it is malformed. */
function queryKey(raw: string): string {
  const spaced = raw.replaceAll('+', ' ')
  try {
    return decodeURIComponent(spaced)
  } catch {
    return spaced.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
  }
}

/** Query parameters whose values are secrets: an access token, and a mailed link's token and client_secret. */
const SECRET_QUERY_KEYS = new Set(['access_token', 'token', 'client_secret'])

/**
 * The URL with the value of every parameter the server would read as a secret redacted, however its name is
 * spelt (access%5Ftoken, %61ccess_token are the same key once decoded).
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  const params = url
    .slice(q + 1)
    .split('&')
    .map((param) => {
      const eq = param.indexOf('=')
      const key = eq === -1 ? param : param.slice(0, eq)
      return SECRET_QUERY_KEYS.has(queryKey(key)) ? `${key}=<redacted>` : param
    })
  return `${url.slice(0, q + 1)}${params.join('&')}`
}

/** `toStderr`: for one-shot CLI commands, whose stdout is their result (e.g. JSON lines) and must stay parseable. */
export function createLogger(level: string, bindings: Record<string, unknown> = {}, toStderr = false): Logger {
  const options = { level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime }
  return toStderr ? pino(options, pino.destination({ fd: 2, sync: true })) : pino(options)
}
