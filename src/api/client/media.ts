// The content repository. Spec: client-server-api, "Content repository" (authenticated media, v1.11).
// GET  /_matrix/client/v1/media/config | download/{serverName}/{mediaId}[/{fileName}] | thumbnail/… | preview_url
// POST /_matrix/media/v3/upload, POST /_matrix/media/v1/create, PUT /_matrix/media/v3/upload/{serverName}/{mediaId}
// GET  /_matrix/media/v3/download|thumbnail/… (legacy, unauthenticated: only media older than the cut-off)
// Another server's media is fetched from it over federation and cached (media/remote.ts); the legacy
// endpoints serve only what is cached, as they serve only old local media.
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Readable } from 'node:stream'
import { contentDisposition, type Served } from '../../media/index.ts'
import { defineRoute, type RouteDefinition } from '../route.ts'

const V1 = '/_matrix/client/v1/media'
const legacy = (path: string) => [`/_matrix/media/v3${path}`, `/_matrix/media/r0${path}`]

const MediaParams = Type.Object({
  serverName: Type.String({ minLength: 1, maxLength: 255 }),
  mediaId: Type.String({ minLength: 1, maxLength: 255 }),
})
const MediaFileParams = Type.Object({
  serverName: Type.String({ minLength: 1, maxLength: 255 }),
  mediaId: Type.String({ minLength: 1, maxLength: 255 }),
  fileName: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
})
const DownloadQuery = Type.Object({
  timeout_ms: Type.Optional(Type.Integer({ minimum: 0 })),
  allow_remote: Type.Optional(Type.Boolean()),
  allow_redirect: Type.Optional(Type.Boolean()),
})
export const ThumbnailQuery = Type.Object({
  width: Type.Integer({ minimum: 1, maximum: 10000 }),
  height: Type.Integer({ minimum: 1, maximum: 10000 }),
  method: Type.Optional(Type.Union([Type.Literal('crop'), Type.Literal('scale')])),
  animated: Type.Optional(Type.Boolean()),
  timeout_ms: Type.Optional(Type.Integer({ minimum: 0 })),
  allow_remote: Type.Optional(Type.Boolean()),
  allow_redirect: Type.Optional(Type.Boolean()),
})
const UploadQuery = Type.Object({ filename: Type.Optional(Type.String({ maxLength: 1024 })) })
export const DEFAULT_TIMEOUT_MS = 20_000

/** Headers that keep a browser from running or sniffing downloaded content. */
function serve(reply: FastifyReply, served: Served, fileName: string | null, cache: string): Readable {
  reply
    .header('Content-Type', served.contentType)
    .header('Content-Length', String(served.size))
    .header('Content-Disposition', contentDisposition(served.contentType, fileName))
    .header('Content-Security-Policy', "sandbox; default-src 'none'")
    .header('X-Content-Type-Options', 'nosniff')
    .header('Cross-Origin-Resource-Policy', 'cross-origin')
    .header('Cache-Control', cache)
  return served.stream
}

function uploadInput(request: FastifyRequest, userId: string, fileName: string | undefined) {
  const length = request.headers['content-length']
  return {
    userId,
    body: request.body as Readable | undefined,
    contentType: request.headers['content-type'],
    contentLength: length === undefined ? null : Number(length),
    fileName: fileName ?? null,
  }
}

/** An upload refused before its body was read: close the connection rather than drain what is left. */
async function closingOnError<T>(reply: FastifyReply, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (err) {
    reply.header('Connection', 'close')
    throw err
  }
}

export const mediaConfig = defineRoute({
  method: 'GET',
  url: [`${V1}/config`, ...legacy('/config')],
  auth: 'user',
  async handler(ctx) {
    return ctx.media.media.uploadConfig()
  },
})

export const upload = defineRoute({
  method: 'POST',
  url: legacy('/upload'),
  auth: 'user',
  rawBody: true,
  query: UploadQuery,
  async handler(ctx, { requester, query, request, reply }) {
    const uri = await closingOnError(reply, () => ctx.media.media.upload(uploadInput(request, requester.userId, query.filename)))
    return { content_uri: uri }
  },
})

export const createMedia = defineRoute({
  method: 'POST',
  url: '/_matrix/media/v1/create',
  auth: 'user',
  async handler(ctx, { requester }) {
    return ctx.media.media.create(requester.userId)
  },
})

export const uploadToMediaId = defineRoute({
  method: 'PUT',
  url: legacy('/upload/:serverName/:mediaId'),
  auth: 'user',
  rawBody: true,
  params: MediaParams,
  query: UploadQuery,
  async handler(ctx, { requester, params, query, request, reply }) {
    await closingOnError(reply, () => ctx.media.media.uploadTo(params.serverName, params.mediaId, uploadInput(request, requester.userId, query.filename)))
    return {}
  },
})

const PRIVATE_CACHE = 'private, max-age=86400'
const PUBLIC_CACHE = 'public, max-age=86400'

type Ctx = Parameters<RouteDefinition['handler']>[0]
interface DownloadInput {
  params: Static<typeof MediaFileParams>
  query: Static<typeof DownloadQuery>
  reply: FastifyReply
}
interface ThumbnailInput {
  params: Static<typeof MediaParams>
  query: Static<typeof ThumbnailQuery>
  reply: FastifyReply
}

/** The file name in the path, when given, replaces the uploaded one in Content-Disposition. */
const downloadHandler = (legacy: boolean) => async (ctx: Ctx, { params, query, reply }: DownloadInput) => {
  const served = await ctx.media.media.download(params.serverName, params.mediaId, { timeoutMs: query.timeout_ms ?? DEFAULT_TIMEOUT_MS, legacy, allowRemote: query.allow_remote ?? true })
  return serve(reply, served, params.fileName ?? served.uploadName, legacy ? PUBLIC_CACHE : PRIVATE_CACHE)
}

const thumbnailHandler = (legacy: boolean) => async (ctx: Ctx, { params, query, reply }: ThumbnailInput) => {
  const served = await ctx.media.media.thumbnail(
    params.serverName,
    params.mediaId,
    { width: query.width, height: query.height, method: query.method ?? 'scale', animated: query.animated ?? false },
    { timeoutMs: query.timeout_ms ?? DEFAULT_TIMEOUT_MS, legacy, allowRemote: query.allow_remote ?? true },
  )
  return serve(reply, served, null, legacy ? PUBLIC_CACHE : PRIVATE_CACHE)
}

export const download = defineRoute({
  method: 'GET',
  url: [`${V1}/download/:serverName/:mediaId`, `${V1}/download/:serverName/:mediaId/:fileName`],
  auth: 'user',
  guest: true,
  params: MediaFileParams,
  query: DownloadQuery,
  handler: downloadHandler(false),
})

export const thumbnail = defineRoute({
  method: 'GET',
  url: `${V1}/thumbnail/:serverName/:mediaId`,
  auth: 'user',
  guest: true,
  params: MediaParams,
  query: ThumbnailQuery,
  handler: thumbnailHandler(false),
})

export const previewUrl = defineRoute({
  method: 'GET',
  url: [`${V1}/preview_url`, ...legacy('/preview_url')],
  auth: 'user',
  // URLs are cached keyed by their text: 2,000 characters stays well within an index entry even percent-encoded.
  query: Type.Object({ url: Type.String({ minLength: 1, maxLength: 2000 }), ts: Type.Optional(Type.Integer()) }),
  async handler(ctx, { requester, query }) {
    return ctx.media.previews.preview(requester.userId, query.url)
  },
})

export const legacyDownload = defineRoute({
  method: 'GET',
  url: [...legacy('/download/:serverName/:mediaId'), ...legacy('/download/:serverName/:mediaId/:fileName')],
  auth: 'none',
  params: MediaFileParams,
  query: DownloadQuery,
  handler: downloadHandler(true),
})

export const legacyThumbnail = defineRoute({
  method: 'GET',
  url: legacy('/thumbnail/:serverName/:mediaId'),
  auth: 'none',
  params: MediaParams,
  query: ThumbnailQuery,
  handler: thumbnailHandler(true),
})
