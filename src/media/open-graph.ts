// OpenGraph extraction from a page's HTML for URL previews, with htmlparser2's streaming tokenizer instead
// of regular expressions: the page arrives in pieces, each piece is parsed as it comes, and parsing stops as
// soon as the preview is complete or a budget is spent (bytes read, milliseconds parsed, element depth).
// Whatever was found by then is the preview; hostile HTML costs at most the budget, never the event loop.
import { Parser } from 'htmlparser2'

export type OpenGraph = Record<string, string | number>

export interface HtmlBudget {
  /** HTML bytes read; the rest of the page is not read. */
  maxBytes: number
  /** Milliseconds spent in the parser, summed over the pieces. */
  maxParseMs: number
}

/** Elements open at once. htmlparser2 keeps its open elements with Array.unshift, so nesting costs
 * depth² (200,000 unclosed <div>s take ~15 s); real pages stay far below this. */
const MAX_DEPTH = 256
/** The parser is fed at most this many characters at a time, between which the time budget is checked and
 * other requests get the event loop. */
const PIECE_CHARS = 16 * 1024
const MAX_TEXT = 1000
/** <title> text kept while reading (whitespace is collapsed afterwards). */
const MAX_TITLE_READ = 4 * MAX_TEXT

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s)

/** Collects what a preview shows while the parser runs; `done` once nothing more is needed. */
class Collector {
  readonly og: OpenGraph = {}
  description: string | null = null
  title: string | null = null
  image: string | null = null
  headClosed = false
  stopped = false
  private depth = 0
  private foreign = 0
  private titleText: string | null = null
  readonly parser: Parser

  constructor() {
    this.parser = new Parser(
      {
        onopentag: (name, attribs) => this.open(name, attribs),
        onclosetag: (name) => this.close(name),
        ontext: (text) => {
          if (this.titleText !== null && this.titleText.length < MAX_TITLE_READ) this.titleText += text
        },
      },
      { decodeEntities: true },
    )
  }

  get done(): boolean {
    if (this.stopped) return true
    const title = this.og['og:title'] !== undefined || this.title !== null
    const description = this.og['og:description'] !== undefined || this.description !== null
    const image = this.og['og:image'] !== undefined || this.image !== null
    // OpenGraph tags live in <head>; once it is over only the fallback image is worth reading on for.
    return title && description && image ? true : this.headClosed && title && image
  }

  private stop(): void {
    this.stopped = true
    this.parser.pause()
  }

  private open(name: string, attribs: Record<string, string>): void {
    if (++this.depth > MAX_DEPTH) return this.stop()
    if (name === 'svg' || name === 'math') this.foreign++
    if (name === 'body') this.headClosed = true
    if (name === 'meta') this.meta(attribs)
    else if (name === 'title' && this.title === null && this.foreign === 0) this.titleText = ''
    else if (name === 'img' && this.image === null && attribs.src) this.image = attribs.src
    if (this.done) this.stop()
  }

  private close(name: string): void {
    this.depth--
    if (name === 'svg' || name === 'math') this.foreign--
    if (name === 'head') this.headClosed = true
    if (name === 'title' && this.titleText !== null) {
      this.title = this.titleText.replace(/\s+/g, ' ').trim()
      this.titleText = null
    }
    if (this.done) this.stop()
  }

  private meta(attribs: Record<string, string>): void {
    const key = (attribs.property ?? attribs.name)?.toLowerCase()
    const content = attribs.content
    if (!key || content === undefined) return
    if (key.startsWith('og:') && this.og[key] === undefined) this.og[key] = clip(content.trim(), MAX_TEXT)
    if (key === 'description' && this.description === null) this.description = content.trim()
  }

  result(baseUrl: string): OpenGraph {
    const og = { ...this.og }
    if (og['og:title'] === undefined && this.title) og['og:title'] = clip(this.title, MAX_TEXT)
    if (og['og:description'] === undefined && this.description) og['og:description'] = clip(this.description, MAX_TEXT)
    if (og['og:image'] === undefined && this.image) og['og:image'] = this.image
    if (typeof og['og:image'] === 'string') {
      try {
        og['og:image'] = new URL(og['og:image'], baseUrl).toString()
      } catch {
        delete og['og:image']
      }
    }
    return og
  }
}

/** The decoder for a Content-Type's charset; UTF-8 when it names none or one unknown here. */
function decoderFor(contentType: string): TextDecoder {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1]
  try {
    return new TextDecoder(charset ?? 'utf-8')
  } catch {
    return new TextDecoder('utf-8')
  }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * OpenGraph properties of an HTML page read from `body`, falling back to <title>, the meta description and
 * the first <img>. Stops reading when the preview is complete or a budget is spent; the caller destroys the
 * body afterwards.
 */
export async function parseOpenGraph(body: AsyncIterable<Buffer> | Iterable<Buffer>, baseUrl: string, contentType: string, budget: HtmlBudget): Promise<OpenGraph> {
  const collector = new Collector()
  const decoder = decoderFor(contentType)
  let bytes = 0
  let parseMs = 0
  const feed = async (text: string): Promise<boolean> => {
    for (let at = 0; at < text.length; at += PIECE_CHARS) {
      const started = performance.now()
      collector.parser.write(text.slice(at, at + PIECE_CHARS))
      parseMs += performance.now() - started
      if (collector.stopped || parseMs >= budget.maxParseMs) return false
      await nextTurn()
    }
    return true
  }
  let complete = true
  for await (const chunk of body) {
    const room = budget.maxBytes - bytes
    const piece = chunk.length > room ? chunk.subarray(0, room) : chunk
    bytes += piece.length
    if (!(await feed(decoder.decode(piece, { stream: true }))) || bytes >= budget.maxBytes) {
      complete = false
      break
    }
  }
  if (complete && !collector.stopped) {
    await feed(decoder.decode())
    // end() closes the elements still open, which completes a <title> the page never closed.
    if (!collector.stopped) collector.parser.end()
  }
  return collector.result(baseUrl)
}

/** The same, over a whole page in memory (for tests and callers that already hold the HTML). */
export function parseOpenGraphText(html: string, baseUrl: string, budget: HtmlBudget): Promise<OpenGraph> {
  return parseOpenGraph([Buffer.from(html)], baseUrl, 'text/html; charset=utf-8', budget)
}
