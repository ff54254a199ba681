// The multipart/mixed answers of federation media (server-server API, "Content Repository"): exactly two
// parts, JSON metadata ({} today) and then the media, either its bytes or a Location to fetch them from.
// Both directions stream: the bytes are never held whole, only the small head of the answer is buffered.
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'

/** Largest preamble, boundary line, header block or metadata part read (all small in practice). */
const MAX_HEAD_BYTES = 64 * 1024
const CRLF = Buffer.from('\r\n')

export class MultipartError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'MultipartError'
  }
}

export interface MultipartAnswer {
  contentType: string
  length: number
  body: Readable
}

/** A multipart/mixed answer: `{}` metadata, then the media with its Content-Type and Content-Disposition. */
export function multipartMedia(media: { stream: Readable; contentType: string; size: number; disposition: string }): MultipartAnswer {
  const boundary = randomBytes(16).toString('hex')
  const head = Buffer.from(
    `--${boundary}\r\nContent-Type: application/json\r\n\r\n{}\r\n` +
      `--${boundary}\r\nContent-Type: ${media.contentType}\r\nContent-Disposition: ${media.disposition}\r\n\r\n`,
  )
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
  async function* parts(): AsyncGenerator<Buffer> {
    yield head
    for await (const chunk of media.stream) yield chunk as Buffer
    yield tail
  }
  return { contentType: `multipart/mixed; boundary=${boundary}`, length: head.length + media.size + tail.length, body: Readable.from(parts(), { objectMode: false }) }
}

/** The boundary of a multipart/mixed Content-Type (RFC 2046: 1 to 70 characters), or null. */
export function boundaryOf(contentType: string | undefined): string | null {
  if (!contentType || !/^\s*multipart\/mixed\s*;/i.test(contentType)) return null
  const match = /;\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^\s;"]{1,70}))\s*(?:;|$)/i.exec(contentType)
  return match ? ((match[1] ?? match[2]) as string) : null
}

/** Reads a stream chunk by chunk, finding delimiters across chunk edges. */
class ByteReader {
  private buffer: Buffer
  private ended = false
  private readonly source: AsyncIterator<Buffer>

  constructor(source: Readable, start: Buffer) {
    this.source = source[Symbol.asyncIterator]()
    this.buffer = start
  }

  private async more(): Promise<void> {
    if (this.ended) throw new MultipartError('the answer ended early')
    const next = await this.source.next()
    if (next.done) {
      this.ended = true
      throw new MultipartError('the answer ended early')
    }
    this.buffer = this.buffer.length === 0 ? next.value : Buffer.concat([this.buffer, next.value])
  }

  /** Whether the unread bytes start with `prefix` (reading as much as that needs). */
  async startsWith(prefix: Buffer): Promise<boolean> {
    while (this.buffer.length < prefix.length) await this.more()
    return this.buffer.subarray(0, prefix.length).equals(prefix)
  }

  skip(n: number): void {
    this.buffer = this.buffer.subarray(n)
  }

  /** The bytes before `delimiter` (at most `max` of them), consuming the delimiter too. */
  async until(delimiter: Buffer, max: number): Promise<Buffer> {
    for (;;) {
      const at = this.buffer.indexOf(delimiter)
      if (at >= 0) {
        const before = this.buffer.subarray(0, at)
        this.buffer = this.buffer.subarray(at + delimiter.length)
        return before
      }
      if (this.buffer.length > max + delimiter.length) throw new MultipartError('a part of the answer is too large')
      await this.more()
    }
  }

  /**
   * The bytes before `delimiter`, streamed; fails if the source ends first. The source is let go once the
   * delimiter is found (what follows it is the closing line) or the reader stops early.
   */
  async *streamUntil(delimiter: Buffer): AsyncGenerator<Buffer> {
    const keep = delimiter.length - 1
    try {
      for (;;) {
        const at = this.buffer.indexOf(delimiter)
        if (at >= 0) {
          if (at > 0) yield this.buffer.subarray(0, at)
          return
        }
        if (this.buffer.length > keep) {
          yield this.buffer.subarray(0, this.buffer.length - keep)
          this.buffer = this.buffer.subarray(this.buffer.length - keep)
        }
        await this.more()
      }
    } finally {
      await this.close()
    }
  }

  async close(): Promise<void> {
    this.buffer = Buffer.alloc(0)
    try {
      await this.source.return?.()
    } catch {
      // The source had failed already; there is nothing left to release.
    }
  }
}

/** A part's header block: lower-cased names → values. */
function parseHeaders(block: Buffer): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const line of block.toString('latin1').split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return headers
}

async function partHeaders(reader: ByteReader): Promise<Record<string, string>> {
  // The rest of the boundary line (transport padding), then headers up to a blank line; none at all is allowed.
  await reader.until(CRLF, MAX_HEAD_BYTES)
  if (await reader.startsWith(CRLF)) {
    reader.skip(CRLF.length)
    return {}
  }
  return parseHeaders(await reader.until(Buffer.from('\r\n\r\n'), MAX_HEAD_BYTES))
}

export interface MediaPart {
  /** The first part, parsed. */
  metadata: unknown
  /** The second part's headers (lower-cased names): Content-Type, Content-Disposition or Location. */
  headers: Record<string, string>
  /** The second part's bytes (empty when it is a Location); fails with MultipartError if cut short. */
  body: Readable
}

/** Reads a federation media answer up to its second part, whose bytes the caller streams on. */
export async function readMultipartMedia(source: Readable, boundary: string): Promise<MediaPart> {
  const delimiter = Buffer.from(`\r\n--${boundary}`)
  // The first delimiter may open the body without a CRLF before it: reading starts after a virtual one.
  const reader = new ByteReader(source, Buffer.from(CRLF))
  try {
    await reader.until(delimiter, MAX_HEAD_BYTES)
    const metadataHeaders = await partHeaders(reader)
    if (!/^application\/json\b/i.test(metadataHeaders['content-type'] ?? '')) throw new MultipartError('the first part is not JSON')
    const metadata = parseJson(await reader.until(delimiter, MAX_HEAD_BYTES))
    if (await reader.startsWith(Buffer.from('--'))) throw new MultipartError('the answer has no second part')
    const headers = await partHeaders(reader)
    return { metadata, headers, body: Readable.from(reader.streamUntil(delimiter), { objectMode: false }) }
  } catch (err) {
    await reader.close()
    throw err
  }
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch {
    throw new MultipartError('the first part is not valid JSON')
  }
}

/** The file name a Content-Disposition gives (filename*=UTF-8''… preferred over filename=), or null. */
export function fileNameOf(disposition: string | undefined): string | null {
  if (!disposition) return null
  const extended = /;\s*filename\*\s*=\s*utf-8''([^;\s]+)/i.exec(disposition)
  if (extended) {
    try {
      return decodeURIComponent(extended[1] as string)
    } catch {
      return null
    }
  }
  const plain = /;\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(disposition)
  if (!plain) return null
  const name = plain[1] !== undefined ? plain[1].replace(/\\(.)/g, '$1') : (plain[2] as string)
  // Header values arrive as latin1; a UTF-8 name sent raw is decoded back.
  return Buffer.from(name, 'latin1').toString('utf8')
}
