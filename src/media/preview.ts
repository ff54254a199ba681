// URL previews (GET /media/preview_url): OpenGraph and HTML title/description/image of a page, fetched
// through the outbound guard, its image stored as local media, the result cached for everyone.
import type { Clock } from '../shared/clock.ts'
import { MatrixError, invalidParam } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import type { Storage } from '../storage/index.ts'
import type { Media } from './media.ts'
import { BlockedAddressError, OutboundError, OutboundGuard, readBody } from './ssrf.ts'

export type OpenGraph = Record<string, string | number>

/** The longest normalised URL previewed: the cache is keyed by it, and an index entry holds ~2,700 bytes. */
const MAX_URL_BYTES = 2000
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' }

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, code: string) => {
    if (code[0] === '#') {
      const n = code[1] === 'x' || code[1] === 'X' ? parseInt(code.slice(2), 16) : parseInt(code.slice(1), 10)
      return Number.isFinite(n) && n > 0 && n < 0x110000 ? String.fromCodePoint(n) : whole
    }
    return ENTITIES[code.toLowerCase()] ?? whole
  })
}

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const m of tag.matchAll(/([a-zA-Z_:.-]+)\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+))/g)) {
    out[(m[1] as string).toLowerCase()] = decodeEntities(m[3] ?? m[4] ?? m[5] ?? '')
  }
  return out
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s)

/** OpenGraph properties of an HTML page, falling back to <title>, meta description and the first <img>. */
export function parseHtml(html: string, baseUrl: string): OpenGraph {
  const og: OpenGraph = {}
  let description: string | null = null
  for (const m of html.matchAll(/<meta\b[^>]*>/gi)) {
    const a = attributes(m[0])
    const key = a.property ?? a.name
    const content = a.content
    if (!key || content === undefined) continue
    if (/^og:/i.test(key) && og[key.toLowerCase()] === undefined) og[key.toLowerCase()] = clip(content.trim(), 1000)
    if (key.toLowerCase() === 'description' && description === null) description = content.trim()
  }
  if (og['og:title'] === undefined) {
    const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(html)
    if (title) og['og:title'] = clip(decodeEntities((title[1] as string).replace(/\s+/g, ' ').trim()), 1000)
  }
  if (og['og:description'] === undefined && description) og['og:description'] = clip(description, 1000)
  if (og['og:image'] === undefined) {
    const img = /<img\b[^>]*>/i.exec(html)
    const src = img ? attributes(img[0]).src : undefined
    if (src) og['og:image'] = src
  }
  if (typeof og['og:image'] === 'string') {
    try {
      og['og:image'] = new URL(og['og:image'], baseUrl).toString()
    } catch {
      delete og['og:image']
    }
  }
  return og
}

export class UrlPreviews {
  private readonly guard: OutboundGuard
  private readonly storage: Storage
  private readonly media: Media
  private readonly clock: Clock
  private readonly logger: Logger

  constructor(options: { storage: Storage; media: Media; clock: Clock; logger: Logger; guard?: OutboundGuard }) {
    this.storage = options.storage
    this.media = options.media
    this.clock = options.clock
    this.logger = options.logger
    this.guard = options.guard ?? new OutboundGuard(options.media.config.url_preview.ip_range_allowlist)
  }

  get enabled(): boolean {
    return this.media.config.url_preview.enabled
  }

  async preview(userId: string, url: string): Promise<OpenGraph> {
    if (!this.enabled) throw new MatrixError('M_UNRECOGNIZED', 'URL previews are disabled on this server', 404)
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw invalidParam('url is not a valid URL')
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw invalidParam('Only http and https URLs can be previewed')
    parsed.hash = ''
    const key = parsed.toString()
    // The normalised URL keys the cache; percent-encoding can triple what the client sent.
    if (Buffer.byteLength(key) > MAX_URL_BYTES) throw invalidParam('url is too long')
    const now = this.clock.now()
    const cached = await this.storage.repos.media.getPreview(key, now)
    if (cached) return cached as OpenGraph
    const og = await this.build(userId, key)
    await this.storage.repos.media.putPreview(key, og, now + this.media.config.url_preview.cache_ms)
    return og
  }

  private async build(userId: string, url: string): Promise<OpenGraph> {
    const cfg = this.media.config.url_preview
    const started = this.clock.now()
    const response = await this.fetch(url, cfg.timeout_ms)
    const type = String(response.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    if (response.status < 200 || response.status >= 300) {
      response.body.destroy()
      throw new MatrixError('M_UNKNOWN', `The URL answered ${response.status}`, 502)
    }
    if (type.startsWith('image/')) return this.storeImage(userId, response, {})
    if (type !== 'text/html' && type !== 'application/xhtml+xml') {
      response.body.destroy()
      return {}
    }
    const html = (await this.read(response.body)).toString('utf8')
    const og = parseHtml(html, response.url)
    const image = og['og:image']
    delete og['og:image']
    if (typeof image === 'string') {
      const remaining = cfg.timeout_ms - (this.clock.now() - started)
      try {
        if (remaining <= 0) throw new OutboundError('timeout', 'no time left for the image')
        const imageResponse = await this.fetch(image, remaining)
        const imageType = String(imageResponse.headers['content-type'] ?? '')
        if (imageResponse.status === 200 && imageType.startsWith('image/')) return this.storeImage(userId, imageResponse, og)
        imageResponse.body.destroy()
      } catch (err) {
        this.logger.info({ err: (err as Error).message }, 'preview image not fetched')
      }
    }
    return og
  }

  private async storeImage(userId: string, response: Awaited<ReturnType<OutboundGuard['fetch']>>, og: OpenGraph): Promise<OpenGraph> {
    try {
      const uri = await this.media.upload({
        userId,
        body: response.body,
        contentType: String(response.headers['content-type']),
        contentLength: null,
        fileName: null,
      })
      const mediaId = uri.split('/').pop() as string
      const row = await this.storage.repos.media.get(this.media.serverName, mediaId)
      return { ...og, 'og:image': uri, 'og:image:type': row?.content_type ?? 'application/octet-stream', 'matrix:image:size': Number(row?.size ?? 0) }
    } catch (err) {
      throw this.translate(err)
    }
  }

  private async fetch(url: string, timeoutMs: number) {
    try {
      return await this.guard.fetch(url, { maxBytes: this.media.config.url_preview.max_spider_size, timeoutMs })
    } catch (err) {
      throw this.translate(err)
    }
  }

  private async read(body: Awaited<ReturnType<OutboundGuard['fetch']>>['body']): Promise<Buffer> {
    try {
      return await readBody(body)
    } catch (err) {
      throw this.translate(err)
    }
  }

  private translate(err: unknown): MatrixError {
    if (err instanceof MatrixError) {
      return err.errcode === 'M_TOO_LARGE' ? new MatrixError('M_TOO_LARGE', 'The linked content is too large', 502) : err
    }
    if (err instanceof BlockedAddressError) return new MatrixError('M_FORBIDDEN', 'That address may not be previewed', 403)
    if (err instanceof OutboundError) {
      if (err.kind === 'too_large') return new MatrixError('M_TOO_LARGE', 'The linked content is too large', 502)
      if (err.kind === 'url') return new MatrixError('M_INVALID_PARAM', err.message)
      if (err.kind === 'timeout') return new MatrixError('M_UNKNOWN', 'Timed out fetching the URL', 504)
    }
    if ((err as Error)?.name === 'AbortError' || (err as Error)?.name === 'TimeoutError') return new MatrixError('M_UNKNOWN', 'Timed out fetching the URL', 504)
    return new MatrixError('M_UNKNOWN', 'Failed to fetch the URL', 502)
  }
}
