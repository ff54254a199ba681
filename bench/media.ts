// Media benchmarks: upload and download throughput (MB/s, sequential, one large file at a time, streamed
// over loopback) and thumbnail latency (first request renders and stores; later ones are served stored).
//
//   BENCH_MEDIA                 0 skips them (default on)
//   BENCH_MEDIA_FILE_MB         size of each uploaded file (default 32)
//   BENCH_MEDIA_FILES           files uploaded and then downloaded (default 8)
//   BENCH_MEDIA_THUMBNAILS      distinct 2000×2000 JPEGs thumbnailed to 320×240 (default 20)
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import sharp from 'sharp'
import { envInt, progress, summarize, type LatencySummary } from './lib.ts'
import { register, type Target } from './targets.ts'

export const mediaSettings = {
  enabled: process.env.BENCH_MEDIA !== '0',
  fileMb: envInt('BENCH_MEDIA_FILE_MB', 32),
  files: envInt('BENCH_MEDIA_FILES', 8),
  thumbnails: envInt('BENCH_MEDIA_THUMBNAILS', 20),
}

export interface MediaResults {
  upload_mb_per_s: number
  download_mb_per_s: number
  upload_ms: LatencySummary
  download_ms: LatencySummary
  thumbnail_first_ms: LatencySummary
  thumbnail_stored_ms: LatencySummary
}

async function uploadOnce(url: string, token: string, body: Buffer, type: string): Promise<string> {
  const res = await fetch(`${url}/_matrix/media/v3/upload`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': type }, body: body as RequestInit['body'] })
  if (res.status !== 200) throw new Error(`upload: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { content_uri: string }).content_uri.replace('mxc://', '')
}

/** GETs a URL and counts the bytes as they stream in, without keeping them. */
async function drain(url: string, token: string): Promise<number> {
  const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } })
  if (res.status !== 200 || !res.body) throw new Error(`GET ${url}: ${res.status}`)
  let n = 0
  for await (const chunk of res.body) n += (chunk as Uint8Array).length
  return n
}

export async function runMediaBenchmarks(target: Target): Promise<MediaResults> {
  const user = await register(target, `bench_media_${randomBytes(3).toString('hex')}`)
  const size = mediaSettings.fileMb * 1024 * 1024
  const file = randomBytes(size)
  const uploads: number[] = []
  const ids: string[] = []
  progress(`media: uploading ${mediaSettings.files} × ${mediaSettings.fileMb} MB`)
  for (let i = 0; i < mediaSettings.files; i++) {
    file.writeUInt32LE(i, 0) // distinct content each time, so deduplication does not skip the work
    const started = performance.now()
    ids.push(await uploadOnce(target.url, user.access_token, file, 'application/octet-stream'))
    uploads.push(performance.now() - started)
  }
  const downloads: number[] = []
  progress('media: downloading them')
  for (const id of ids) {
    const started = performance.now()
    const n = await drain(`${target.url}/_matrix/client/v1/media/download/${id}`, user.access_token)
    if (n !== size) throw new Error(`download returned ${n} bytes, expected ${size}`)
    downloads.push(performance.now() - started)
  }
  progress(`media: thumbnailing ${mediaSettings.thumbnails} 2000×2000 JPEGs`)
  const images: string[] = []
  for (let i = 0; i < mediaSettings.thumbnails; i++) {
    const jpeg = await sharp({ create: { width: 2000, height: 2000, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 + i } } }).jpeg().toBuffer()
    images.push(await uploadOnce(target.url, user.access_token, jpeg, 'image/jpeg'))
  }
  const first: number[] = []
  const stored: number[] = []
  for (const [samples, label] of [[first, 'first'], [stored, 'stored']] as const) {
    for (const id of images) {
      const started = performance.now()
      await drain(`${target.url}/_matrix/client/v1/media/thumbnail/${id}?width=320&height=240&method=scale`, user.access_token)
      samples.push(performance.now() - started)
    }
    progress(`media: thumbnails (${label}) done`)
  }
  const mbps = (samples: number[]) => Number(((samples.length * mediaSettings.fileMb) / (samples.reduce((a, b) => a + b, 0) / 1000)).toFixed(1))
  return {
    upload_mb_per_s: mbps(uploads),
    download_mb_per_s: mbps(downloads),
    upload_ms: summarize(uploads),
    download_ms: summarize(downloads),
    thumbnail_first_ms: summarize(first),
    thumbnail_stored_ms: summarize(stored),
  }
}
