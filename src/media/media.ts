// The content repository: uploads (direct and asynchronous), downloads and thumbnails over a BlobStore,
// metadata in PostgreSQL. Bytes stream through; no whole file is ever held in memory.
import { Readable } from 'node:stream'
import type { Config } from '../config/schema.ts'
import type { Clock } from '../shared/clock.ts'
import { MatrixError, notFound } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import { randomString } from '../shared/random.ts'
import type { MediaContent, MediaRow, Repositories, Storage } from '../storage/index.ts'
import { tooLarge, type BlobStore, type StagedBlob } from './blob-store.ts'
import { checkedContentType, sanitizeFileName } from './content-types.ts'
import { remoteMediaError, type RemoteMediaSource } from './remote.ts'
import { isValidServerName } from '../shared/ids.ts'
import { canAnimate, canThumbnail, chooseSize, imageDimensions, renderThumbnail, type ThumbnailMethod } from './thumbnails.ts'

export type MediaConfig = Config['media']

export const MEDIA_ID = /^[A-Za-z0-9_-]{1,255}$/
/** The longest a download of a pending upload waits for its content. */
const MAX_WAIT_MS = 60_000
const WAIT_STEP_MS = 250
/** Retention counts in days: a download records its time at most this often, not on every request. */
const TOUCH_EVERY_MS = 60 * 60 * 1000

export interface UploadInput {
  userId: string
  body: Readable | undefined
  contentType: string | undefined
  contentLength: number | null
  fileName: string | null
}

export interface Served {
  stream: Readable
  contentType: string
  size: number
  uploadName: string | null
}

export interface ServeOptions {
  timeoutMs: number
  /** A legacy unauthenticated endpoint: only media older than the configured cut-off, nothing fetched. */
  legacy: boolean
  /** Another server's media not cached yet is fetched from it (the client's allow_remote; default true). */
  allowRemote?: boolean
}

export interface MediaOptions {
  storage: Storage
  store: BlobStore
  config: MediaConfig
  serverName: string
  clock: Clock
  logger: Logger
  /** Where other servers' media comes from (federation); absent: only what is cached is served. */
  remote?: RemoteMediaSource
}

export class Media {
  readonly store: BlobStore
  readonly config: MediaConfig
  readonly serverName: string
  private readonly storage: Storage
  private readonly clock: Clock
  private readonly logger: Logger
  private readonly remote: RemoteMediaSource | null
  /** Fetches of remote media in progress in this process, by server and media ID: one per item at a time. */
  private readonly fetching = new Map<string, Promise<void>>()

  constructor(options: MediaOptions) {
    this.remote = options.remote ?? null
    this.storage = options.storage
    this.store = options.store
    this.config = options.config
    this.serverName = options.serverName
    this.clock = options.clock
    this.logger = options.logger
  }

  uploadConfig(): Record<string, unknown> {
    return { 'm.upload.size': this.config.max_upload_size }
  }

  /** POST /media/v3/upload: stores the body and returns its mxc:// URI. */
  async upload(input: UploadInput): Promise<string> {
    const mediaId = randomString(24)
    const { staged, content } = await this.receive(input)
    await this.record(staged, (repos) => repos.media.insertLocal(this.serverName, mediaId, input.userId, content, this.clock.now()))
    return `mxc://${this.serverName}/${mediaId}`
  }

  /** POST /media/v1/create: reserves a media ID whose content comes later. */
  async create(userId: string): Promise<{ content_uri: string; unused_expires_at: number }> {
    const now = this.clock.now()
    const pending = await this.storage.repos.media.countPending(userId, now)
    if (pending >= this.config.max_pending_uploads) {
      throw new MatrixError('M_LIMIT_EXCEEDED', 'Too many pending uploads', 429, { retry_after_ms: 60_000 })
    }
    const mediaId = randomString(24)
    const expires = now + this.config.pending_upload_lifetime_ms
    await this.storage.repos.media.insertPending(this.serverName, mediaId, userId, now, expires)
    return { content_uri: `mxc://${this.serverName}/${mediaId}`, unused_expires_at: expires }
  }

  /** PUT /media/v3/upload/{serverName}/{mediaId}: fills a reservation made by create(). */
  async uploadTo(serverName: string, mediaId: string, input: UploadInput): Promise<void> {
    if (serverName !== this.serverName) throw notFound('Unknown media')
    const row = await this.storage.repos.media.get(serverName, mediaId)
    if (!row || row.remote) throw notFound('Unknown media')
    if (row.user_id !== input.userId) throw new MatrixError('M_FORBIDDEN', 'This media ID was created by another user', 403)
    if (row.sha256 !== null) throw new MatrixError('M_CANNOT_OVERWRITE_MEDIA', 'Media already uploaded', 409)
    if (row.expires_ts !== null && row.expires_ts <= this.clock.now()) throw notFound('The media ID has expired')
    const { staged, content } = await this.receive(input)
    const done = await this.record(staged, (repos) => repos.media.completePending(serverName, mediaId, content, this.clock.now()))
    if (!done) {
      // Another request filled it first; the blob may now be unreferenced.
      await this.collect([content.sha256])
      throw new MatrixError('M_CANNOT_OVERWRITE_MEDIA', 'Media already uploaded', 409)
    }
  }

  private async receive(input: UploadInput): Promise<{ staged: StagedBlob; content: MediaContent }> {
    const max = this.config.max_upload_size
    if (input.contentLength !== null && input.contentLength > max) throw tooLarge(max)
    const staged = await this.store.stage(input.body ?? Readable.from([]), max)
    const content = { contentType: checkedContentType(input.contentType, staged.head), uploadName: input.fileName, size: staged.size, sha256: staged.sha256 }
    return { staged, content }
  }

  /**
   * Puts a staged blob in the store and records its use. The slow commit runs first, unlocked; the row is
   * written under the blob's lock, after checking the blob is still there: a delete of the last other user
   * of identical content may have removed it in between, and the staged copy puts it back.
   */
  private async record<T>(staged: StagedBlob, write: (repos: Repositories) => Promise<T>): Promise<T> {
    try {
      await this.store.commit(staged)
      try {
        return await this.storage.transaction(async (repos) => {
          await repos.media.lockBlob(staged.sha256)
          if (!(await this.store.has(staged.sha256))) await this.store.commit(staged)
          return write(repos)
        })
      } catch (err) {
        // The blob is in the store but no row was written: remove it unless something else names it.
        await this.collect([staged.sha256])
        throw err
      }
    } finally {
      await this.store.discard(staged)
    }
  }

  /** The media row once it has content, waiting up to timeoutMs for a pending upload. */
  private async ready(serverName: string, mediaId: string, options: ServeOptions): Promise<MediaRow & { sha256: string; content_type: string }> {
    if (!MEDIA_ID.test(mediaId)) throw notFound('Unknown media')
    const waitMs = Math.min(Math.max(options.timeoutMs, 0), MAX_WAIT_MS)
    const deadline = this.clock.now() + waitMs
    let fetched = false
    for (;;) {
      const row = await this.storage.repos.media.get(serverName, mediaId)
      if (!row) {
        // Another server's media is fetched once into the cache, then read from there. The legacy
        // endpoints never fetch: unauthenticated remote media is frozen at what is cached.
        const fetchable = serverName !== this.serverName && !options.legacy && options.allowRemote !== false && this.remote !== null
        if (!fetchable || fetched || !isValidServerName(serverName)) throw notFound('Unknown media')
        await this.fetchRemote(serverName, mediaId, waitMs)
        fetched = true
        continue
      }
      if (row.quarantined_by !== null) throw notFound('Media is quarantined')
      if (options.legacy) {
        const cutoff = this.config.unauthenticated_media_cutoff_ts
        if (cutoff === null || row.created_ts >= cutoff) throw notFound('Unknown media: use the authenticated /_matrix/client/v1/media endpoints')
      }
      if (row.sha256 !== null && row.content_type !== null) {
        if (this.clock.now() - (row.last_access_ts ?? 0) > TOUCH_EVERY_MS) {
          void this.storage.repos.media.touch(serverName, mediaId, this.clock.now()).catch((err) => this.logger.warn({ err }, 'media access time not recorded'))
        }
        return row as MediaRow & { sha256: string; content_type: string }
      }
      if (row.expires_ts !== null && row.expires_ts <= this.clock.now()) throw notFound('Unknown media')
      if (this.clock.now() >= deadline) throw new MatrixError('M_NOT_YET_UPLOADED', 'Media has not been uploaded yet', 504)
      await new Promise((r) => setTimeout(r, WAIT_STEP_MS))
    }
  }

  /** Fetches another server's media into the cache; concurrent requests for the same item share one fetch. */
  private fetchRemote(serverName: string, mediaId: string, waitMs: number): Promise<void> {
    const key = `${serverName}/${mediaId}`
    let running = this.fetching.get(key)
    if (!running) {
      running = this.cacheRemote(serverName, mediaId, waitMs).finally(() => this.fetching.delete(key))
      this.fetching.set(key, running)
    }
    return running
  }

  private async cacheRemote(serverName: string, mediaId: string, waitMs: number): Promise<void> {
    // A fetch that finished between the caller's read and this one has cached it already.
    if (await this.storage.repos.media.get(serverName, mediaId)) return
    const max = this.config.max_upload_size
    const opened = await (this.remote as RemoteMediaSource).open(serverName, mediaId, waitMs, max)
    let staged: StagedBlob
    try {
      staged = await this.store.stage(opened.body, max)
    } catch (err) {
      opened.body.destroy()
      throw remoteMediaError(err)
    }
    const content = { contentType: checkedContentType(opened.contentType, staged.head), uploadName: sanitizeFileName(opened.fileName), size: staged.size, sha256: staged.sha256 }
    const inserted = await this.record(staged, (repos) => repos.media.insertRemote(serverName, mediaId, content, this.clock.now()))
    // Another instance cached it first (the same bytes, normally): the blob is kept while that row names it.
    if (!inserted) await this.collect([content.sha256])
  }

  async download(serverName: string, mediaId: string, options: ServeOptions): Promise<Served> {
    const row = await this.ready(serverName, mediaId, options)
    const stream = await this.store.get(row.sha256)
    if (!stream) {
      this.logger.error({ media_id: mediaId, sha256: row.sha256 }, 'media blob missing from the store')
      throw notFound('Media content is missing')
    }
    return { stream, contentType: row.content_type, size: Number(row.size), uploadName: row.upload_name }
  }

  /** The width and height of a stored local image (null: not an image sharp reads, or missing). */
  async dimensions(mediaId: string): Promise<{ width: number; height: number } | null> {
    const row = await this.storage.repos.media.get(this.serverName, mediaId)
    if (!row?.sha256 || !row.content_type || !canThumbnail(row.content_type)) return null
    const source = await this.store.get(row.sha256)
    return source ? imageDimensions(source, this.config.max_image_pixels) : null
  }

  async thumbnail(
    serverName: string,
    mediaId: string,
    request: { width: number; height: number; method: ThumbnailMethod; animated: boolean },
    options: ServeOptions,
  ): Promise<Served> {
    const row = await this.ready(serverName, mediaId, options)
    if (!canThumbnail(row.content_type)) throw new MatrixError('M_UNKNOWN', 'Cannot generate thumbnails for the requested content', 400)
    // A format that cannot animate gives one thumbnail whatever `animated` says: stored once, not twice.
    const animated = request.animated && canAnimate(row.content_type)
    const size = chooseSize(this.config.thumbnail_sizes, request.width, request.height, request.method)
    const repo = this.storage.repos.media
    const existing = await repo.getThumbnail(serverName, mediaId, size.width, size.height, size.method, animated)
    if (existing) {
      const stream = await this.store.get(existing.sha256)
      if (stream) return { stream, contentType: existing.content_type, size: existing.size, uploadName: null }
    }
    const source = await this.store.get(row.sha256)
    if (!source) throw notFound('Media content is missing')
    const thumb = await renderThumbnail(source, row.content_type, size, animated, this.config.max_image_pixels)
    const staged = await this.store.stage(Readable.from([thumb.data]), Number.MAX_SAFE_INTEGER)
    const stored = { width: size.width, height: size.height, method: size.method, animated, content_type: thumb.contentType, size: staged.size, sha256: staged.sha256 }
    const inserted = await this.record(staged, (repos) => repos.media.insertThumbnail(serverName, mediaId, stored))
    // A concurrent request stored the same thumbnail first; its bytes may differ from these.
    if (!inserted) await this.collect([stored.sha256])
    return { stream: Readable.from([thumb.data]), contentType: thumb.contentType, size: thumb.data.length, uploadName: null }
  }

  /** Deletes media rows and then every blob nothing names any more. Returns the media IDs deleted. */
  async deleteMedia(serverName: string, mediaIds: string[]): Promise<string[]> {
    const { deleted, blobs } = await this.storage.repos.media.delete(serverName, mediaIds)
    await this.collect(blobs)
    return deleted
  }

  /** Removes the blobs among these that no row references any more, each under its lock (see record). */
  private async collect(sha256s: string[]): Promise<void> {
    for (const sha of new Set(sha256s)) {
      try {
        await this.storage.transaction(async (repos) => {
          await repos.media.lockBlob(sha)
          if ((await repos.media.unreferenced([sha])).length === 1) await this.store.delete(sha)
        })
      } catch (err) {
        this.logger.warn({ err, sha256: sha }, 'media blob not deleted')
      }
    }
  }
}
