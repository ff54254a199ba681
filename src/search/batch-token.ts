// next_batch tokens of POST /search: where the previous page stopped in the requested order (rank and
// stream position, or stream position alone), and the group it is scoped to when it came from a group
// ("Pagination": a token inside a group returns more results from within that group).
import { parseClientJsonBytes } from '../shared/client-json.ts'
import { invalidParam } from '../shared/errors.ts'

export type SearchOrder = 'rank' | 'recent'

export interface BatchToken {
  order: SearchOrder
  /** The last result's rank (rank order only): a float4, carried exactly as PostgreSQL printed it. */
  rank: number | null
  stream: number
  room?: string | undefined
  sender?: string | undefined
}

export function encodeBatch(token: BatchToken): string {
  const json: Record<string, unknown> = { o: token.order, s: token.stream }
  if (token.rank !== null) json.r = token.rank
  if (token.room !== undefined) json.room = token.room
  if (token.sender !== undefined) json.sender = token.sender
  return Buffer.from(JSON.stringify(json)).toString('base64url')
}

export function decodeBatch(text: string): BatchToken {
  let json: unknown
  try {
    json = parseClientJsonBytes(Buffer.from(text, 'base64url'))
  } catch {
    throw invalidParam('Invalid next_batch token')
  }
  const t = json as Record<string, unknown> | null
  const valid =
    t !== null &&
    typeof t === 'object' &&
    (t.o === 'rank' || t.o === 'recent') &&
    Number.isSafeInteger(t.s) &&
    (t.r === undefined || (typeof t.r === 'number' && Number.isFinite(t.r))) &&
    (t.room === undefined || typeof t.room === 'string') &&
    (t.sender === undefined || typeof t.sender === 'string')
  if (!valid) throw invalidParam('Invalid next_batch token')
  return {
    order: t.o as SearchOrder,
    rank: typeof t.r === 'number' ? t.r : null,
    stream: t.s as number,
    room: t.room as string | undefined,
    sender: t.sender as string | undefined,
  }
}
