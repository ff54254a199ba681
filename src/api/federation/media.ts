// GET /_matrix/federation/v1/media/download/{mediaId}, GET /_matrix/federation/v1/media/thumbnail/{mediaId}
// Spec: server-server-api, "Content Repository". Our own media only (never what we cached of other
// servers), to servers that sign their request; the answer is multipart/mixed: `{}` metadata, then the bytes.
import { Type } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'
import { contentDisposition, multipartMedia, type Served } from '../../media/index.ts'
import { defineRoute } from '../route.ts'
import { DEFAULT_TIMEOUT_MS, ThumbnailQuery } from '../client/media.ts'

const MediaIdParams = Type.Object({ mediaId: Type.String({ minLength: 1, maxLength: 255 }) })

function multipart(reply: FastifyReply, served: Served, fileName: string | null) {
  const answer = multipartMedia({ stream: served.stream, contentType: served.contentType, size: served.size, disposition: contentDisposition(served.contentType, fileName) })
  reply.header('Content-Type', answer.contentType).header('Content-Length', String(answer.length))
  return answer.body
}

export const federationDownload = defineRoute({
  method: 'GET',
  url: '/_matrix/federation/v1/media/download/:mediaId',
  auth: 'server',
  params: MediaIdParams,
  query: Type.Object({ timeout_ms: Type.Optional(Type.Integer({ minimum: 0 })) }),
  async handler(ctx, { params, query, reply }) {
    const served = await ctx.media.media.download(ctx.config.server_name, params.mediaId, { timeoutMs: query.timeout_ms ?? DEFAULT_TIMEOUT_MS, legacy: false, allowRemote: false })
    return multipart(reply, served, served.uploadName)
  },
})

export const federationThumbnail = defineRoute({
  method: 'GET',
  url: '/_matrix/federation/v1/media/thumbnail/:mediaId',
  auth: 'server',
  params: MediaIdParams,
  query: ThumbnailQuery,
  async handler(ctx, { params, query, reply }) {
    const served = await ctx.media.media.thumbnail(
      ctx.config.server_name,
      params.mediaId,
      { width: query.width, height: query.height, method: query.method ?? 'scale', animated: query.animated ?? false },
      { timeoutMs: query.timeout_ms ?? DEFAULT_TIMEOUT_MS, legacy: false, allowRemote: false },
    )
    return multipart(reply, served, null)
  },
})
