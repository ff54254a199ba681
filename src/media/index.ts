// The media module's public surface and its construction from config.
import { resolve } from 'node:path'
import type { Config } from '../config/schema.ts'
import type { Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import type { OutboundGuard } from '../outbound/index.ts'
import type { Storage } from '../storage/index.ts'
import type { BlobStore } from './blob-store.ts'
import { FsBlobStore } from './fs-store.ts'
import { Media } from './media.ts'
import { MediaAdmin } from './admin.ts'
import { UrlPreviews } from './preview.ts'
import { MediaSweeper } from './retention.ts'
import { S3BlobStore } from './s3-store.ts'
import type { RemoteMediaSource } from './remote.ts'

export type { BlobStore, StagedBlob, StoredBlob } from './blob-store.ts'
export { Media, MEDIA_ID, type Served, type MediaConfig } from './media.ts'
export { MediaAdmin } from './admin.ts'
export { UrlPreviews } from './preview.ts'
export { MediaSweeper, sweepMedia } from './retention.ts'
export { contentDisposition, isInline } from './content-types.ts'
export { FsBlobStore } from './fs-store.ts'
export { S3BlobStore } from './s3-store.ts'
export { FederationMediaSource, type RemoteMediaSource } from './remote.ts'
export { multipartMedia, readMultipartMedia, boundaryOf } from './multipart.ts'

/** The fs store's directory: media.path (relative paths under data_dir), else data_dir/media. */
export function mediaPath(config: Config): string {
  return resolve(config.data_dir, config.media.path ?? 'media')
}

export function createBlobStore(config: Config): BlobStore {
  const media = config.media
  if (media.store === 's3') {
    if (!media.s3.bucket) throw new Error('media.s3.bucket must be set when media.store is s3')
    return new S3BlobStore({
      bucket: media.s3.bucket,
      prefix: media.s3.prefix,
      region: media.s3.region,
      endpoint: media.s3.endpoint,
      forcePathStyle: media.s3.force_path_style,
      stagingDir: resolve(config.data_dir, 'media-staging'),
    })
  }
  return new FsBlobStore(mediaPath(config))
}

export interface MediaServices {
  media: Media
  admin: MediaAdmin
  previews: UrlPreviews
  sweeper: MediaSweeper
}

export function createMediaServices(options: {
  config: Config
  storage: Storage
  clock: Clock
  logger: Logger
  guard: OutboundGuard
  store?: BlobStore
  /** Where other servers' media is fetched from (federation media); absent: only cached media is served. */
  remote?: RemoteMediaSource
}): MediaServices {
  const { config, storage, clock, logger } = options
  const media = new Media({
    storage,
    store: options.store ?? createBlobStore(config),
    config: config.media,
    serverName: config.server_name,
    clock,
    logger,
    ...(options.remote ? { remote: options.remote } : {}),
  })
  return {
    media,
    admin: new MediaAdmin(storage, media),
    previews: new UrlPreviews({ storage, media, clock, logger, guard: options.guard }),
    sweeper: new MediaSweeper(storage, media, clock, logger),
  }
}
