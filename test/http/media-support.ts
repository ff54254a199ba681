// Shared by the media tests: test images made with sharp, upload/download helpers and the round trip that
// every BlobStore must pass.
import { it } from 'node:test'
import assert from 'node:assert/strict'
import sharp from 'sharp'
import type { TestServer } from '../support/server.ts'

export const UPLOAD = '/_matrix/media/v3/upload'
export const V1 = '/_matrix/client/v1/media'

export function png(width: number, height: number, rgb = { r: 10, g: 120, b: 200 }): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: rgb } }).png().toBuffer()
}

export function jpeg(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 40 } } }).jpeg().toBuffer()
}

export async function animatedGif(width: number, height: number, frames = 3): Promise<Buffer> {
  const images = await Promise.all(
    Array.from({ length: frames }, (_, i) => sharp({ create: { width, height, channels: 3, background: { r: (i * 90) % 256, g: 0, b: 0 } } }).png().toBuffer()),
  )
  return sharp(images, { join: { animated: true } }).gif().toBuffer()
}

export interface Uploaded {
  status: number
  body: any
  mxc: string
  serverName: string
  mediaId: string
}

/** POST /upload with raw bytes. */
export async function upload(t: TestServer, token: string, data: Buffer | string, contentType?: string, filename?: string): Promise<Uploaded> {
  const headers: Record<string, string> = {}
  if (contentType) headers['Content-Type'] = contentType
  const qs = filename === undefined ? '' : `?filename=${encodeURIComponent(filename)}`
  const res = await t.api.request('POST', `${UPLOAD}${qs}`, { body: typeof data === 'string' ? Buffer.from(data) : data, token, headers })
  const mxc = String(res.body?.content_uri ?? '')
  const [serverName = '', mediaId = ''] = mxc.replace('mxc://', '').split('/')
  return { status: res.status, body: res.body, mxc, serverName, mediaId }
}

export async function download(t: TestServer, token: string | null, path: string): Promise<{ status: number; headers: Headers; bytes: Buffer; json: any }> {
  const res = await fetch(t.url + path, { headers: token ? { Authorization: `Bearer ${token}` } : {} })
  const bytes = Buffer.from(await res.arrayBuffer())
  let json: any
  try {
    json = JSON.parse(bytes.toString('utf8'))
  } catch {}
  return { status: res.status, headers: res.headers, bytes, json }
}

/** The round trip every store must pass: upload, download (same bytes), thumbnail (a real, smaller image). */
export function roundTripSuite(server: () => TestServer, token: () => string): void {
  it('uploads an image, downloads the same bytes and thumbnails it', async () => {
    const t = server()
    const image = await png(1200, 900)
    const up = await upload(t, token(), image, 'image/png', 'holiday.png')
    assert.equal(up.status, 200, JSON.stringify(up.body))
    assert.match(up.mxc, new RegExp(`^mxc://${t.config.server_name}/[A-Za-z0-9_-]+$`))
    const got = await download(t, token(), `${V1}/download/${up.serverName}/${up.mediaId}`)
    assert.equal(got.status, 200)
    assert.ok(got.bytes.equals(image), 'downloaded bytes differ from the upload')
    assert.equal(got.headers.get('content-type'), 'image/png')
    assert.equal(got.headers.get('content-disposition'), 'inline; filename="holiday.png"')
    const thumb = await download(t, token(), `${V1}/thumbnail/${up.serverName}/${up.mediaId}?width=320&height=240&method=scale`)
    assert.equal(thumb.status, 200, thumb.bytes.toString())
    const meta = await sharp(thumb.bytes).metadata()
    assert.equal(meta.format, 'png')
    assert.equal(meta.width, 320)
    assert.equal(meta.height, 240)
  })

  it('streams a 20 MB upload through and back unchanged', async () => {
    const t = server()
    const data = Buffer.alloc(20 * 1024 * 1024)
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i)
    const up = await upload(t, token(), data, 'application/octet-stream')
    assert.equal(up.status, 200, JSON.stringify(up.body))
    const got = await download(t, token(), `${V1}/download/${up.serverName}/${up.mediaId}`)
    assert.equal(got.status, 200)
    assert.equal(got.bytes.length, data.length)
    assert.ok(got.bytes.equals(data))
  })

  it('stores identical content once and keeps it while another upload still uses it', async () => {
    const t = server()
    const image = await png(64, 64, { r: 1, g: 2, b: 3 })
    const a = await upload(t, token(), image, 'image/png')
    const b = await upload(t, token(), image, 'image/png')
    assert.notEqual(a.mediaId, b.mediaId)
    const rowA = await t.server.ctx.storage.repos.media.get(a.serverName, a.mediaId)
    const rowB = await t.server.ctx.storage.repos.media.get(b.serverName, b.mediaId)
    assert.equal(rowA?.sha256, rowB?.sha256)
    await t.server.ctx.media.media.deleteMedia(a.serverName, [a.mediaId])
    const got = await download(t, token(), `${V1}/download/${b.serverName}/${b.mediaId}`)
    assert.equal(got.status, 200)
    assert.ok(got.bytes.equals(image))
    await t.server.ctx.media.media.deleteMedia(b.serverName, [b.mediaId])
    assert.equal(await t.server.ctx.media.media.store.get(rowB!.sha256!), null, 'the blob outlived its last media row')
  })
}
