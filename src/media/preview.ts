// URL previews (GET /media/preview_url): OpenGraph and HTML title/description/image of a page, fetched
// through the outbound guard, its image stored as local media, the result cached for everyone.
import type { Clock } from '../shared/clock.ts'
import { MatrixError, invalidParam } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import type { Storage } from '../storage/index.ts'
import type { Media } from './media.ts'
import { parseOpenGraph, type OpenGraph } from './open-graph.ts'
import { BlockedAddressError, OutboundError, type OutboundGuard } from '../outbound/index.ts'

export type { OpenGraph }

/** The longest normalised URL previewed: the cache is keyed by it, and an index entry holds ~2,700 bytes. */
const MAX_URL_BYTES = 2000

export class UrlPreviews {
  private readonly guard: OutboundGuard
  private readonly storage: Storage
  private readonly media: Media
  private readonly clock: Clock
  private readonly logger: Logger

  constructor(options: { storage: Storage; media: Media; clock: Clock; logger: Logger; guard: OutboundGuard }) {
    this.storage = options.storage
    this.media = options.media
    this.clock = options.clock
    this.logger = options.logger
    this.guard = options.guard
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
    const og = await this.parse(response, String(response.headers['content-type']))
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
      const size = await this.media.dimensions(mediaId)
      return {
        ...og,
        'og:image': uri,
        'og:image:type': row?.content_type ?? 'application/octet-stream',
        'matrix:image:size': Number(row?.size ?? 0),
        // The image's own size, as the client lays out the preview by it (the page's claim is not trusted).
        ...(size ? { 'og:image:width': size.width, 'og:image:height': size.height } : {}),
      }
    } catch (err) {
      throw this.translate(err)
    }
  }

  private async fetch(url: string, timeoutMs: number) {
    try {
      return await this.guard.fetch(url, { maxBytes: this.media.config.url_preview.max_spider_size, timeoutMs, headers: { 'user-agent': 'Homestead URL preview' } })
    } catch (err) {
      throw this.translate(err)
    }
  }

  private async parse(response: Awaited<ReturnType<OutboundGuard['fetch']>>, contentType: string): Promise<OpenGraph> {
    const cfg = this.media.config.url_preview
    try {
      return await parseOpenGraph(response.body, response.url, contentType, { maxBytes: cfg.max_html_bytes, maxParseMs: cfg.max_html_parse_ms })
    } catch (err) {
      throw this.translate(err)
    } finally {
      // Parsing may stop before the end of the page; the rest is not read.
      response.body.destroy()
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
