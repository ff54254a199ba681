// Sync tokens ("s<position>", or "s<position>_<to-device ack>"): a position in the stream, and, when the
// response carried to-device messages, the last of them, which the next request acknowledges.
import { MatrixError } from './errors.ts'

export interface SyncToken {
  position: number
  /** Set when the response that made this token delivered to-device messages up to this position. */
  toDevice?: number
}

const PATTERN = /^s(\d{1,15})(?:_(\d{1,15}))?$/

export function parseSyncToken(text: string): SyncToken | null {
  const m = PATTERN.exec(text)
  if (!m) return null
  return m[2] === undefined ? { position: Number(m[1]) } : { position: Number(m[1]), toDevice: Number(m[2]) }
}

export function parseSyncTokenOrThrow(text: string, what = 'since'): SyncToken {
  const token = parseSyncToken(text)
  if (!token) throw new MatrixError('M_INVALID_PARAM', `Invalid ${what} token`)
  return token
}

export function formatSyncToken(token: SyncToken): string {
  return token.toDevice === undefined ? `s${token.position}` : `s${token.position}_${token.toDevice}`
}
