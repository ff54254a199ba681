// Thumbnails with sharp: the configured sizes only (a request gets the closest), each made once and stored.
import sharp from 'sharp'
import type { Readable } from 'node:stream'
import { MatrixError } from '../shared/errors.ts'
import { THUMBNAIL_SOURCES, essence } from './content-types.ts'

export type ThumbnailMethod = 'crop' | 'scale'

export interface ThumbnailSize {
  width: number
  height: number
  method: ThumbnailMethod
}

const ANIMATABLE = new Set(['image/gif', 'image/webp', 'image/apng', 'image/png'])

/** Whether stored media can be thumbnailed: its type was checked against its bytes at upload. */
export function canThumbnail(contentType: string): boolean {
  return THUMBNAIL_SOURCES.has(essence(contentType) ?? '')
}

/** Whether a thumbnail of this type can stay animated (`animated=true` changes nothing for the others). */
export function canAnimate(contentType: string): boolean {
  return ANIMATABLE.has(essence(contentType) ?? '')
}

/**
 * The configured size closest to the request (Synapse's rule, simplified): for crop, the smallest size at
 * least as large in both dimensions; for scale, the smallest at least as large in one; else the largest.
 * Sizes of the requested method win over the others.
 */
export function chooseSize(sizes: readonly ThumbnailSize[], width: number, height: number, method: ThumbnailMethod): ThumbnailSize {
  const same = sizes.filter((s) => s.method === method)
  const pool = same.length > 0 ? same : [...sizes]
  const byArea = [...pool].sort((a, b) => a.width * a.height - b.width * b.height)
  const fits = method === 'crop' ? (s: ThumbnailSize) => s.width >= width && s.height >= height : (s: ThumbnailSize) => s.width >= width || s.height >= height
  return byArea.find(fits) ?? (byArea[byArea.length - 1] as ThumbnailSize)
}

export interface Thumbnail {
  data: Buffer
  contentType: string
  width: number
  height: number
}

/**
 * The width and height of an image as its header gives them (after its EXIF orientation), or null when sharp
 * cannot read it or it is larger than `maxPixels`.
 */
export async function imageDimensions(source: Readable, maxPixels: number): Promise<{ width: number; height: number } | null> {
  const image = sharp({ limitInputPixels: maxPixels, failOn: 'error' })
  source.on('error', (err) => image.destroy(err))
  source.pipe(image)
  try {
    const meta = await image.metadata()
    if (!meta.width || !meta.height || meta.width * meta.height > maxPixels) return null
    // Orientations 5 to 8 turn the image a quarter: its width is then the stored height.
    return (meta.orientation ?? 1) >= 5 ? { width: meta.height, height: meta.width } : { width: meta.width, height: meta.height }
  } catch {
    return null
  } finally {
    source.destroy()
  }
}

/**
 * Renders one thumbnail. The source streams into sharp; the result is small and returned whole. Images
 * larger than `maxPixels` are refused before decoding. With `animated`, an animated GIF or WebP stays
 * animated (in its own format); otherwise the first frame is used.
 */
export async function renderThumbnail(source: Readable, sourceType: string, size: ThumbnailSize, animated: boolean, maxPixels: number): Promise<Thumbnail> {
  const type = essence(sourceType) ?? ''
  const keepAnimation = animated && ANIMATABLE.has(type)
  const image = sharp({ animated: keepAnimation, limitInputPixels: maxPixels, failOn: 'error' })
  source.on('error', (err) => image.destroy(err))
  source.pipe(image)
  const resized = image.rotate().resize({
    width: size.width,
    height: size.height,
    fit: size.method === 'crop' ? 'cover' : 'inside',
    withoutEnlargement: true,
  })
  let format: 'jpeg' | 'png' | 'webp' | 'gif'
  if (keepAnimation) format = type === 'image/gif' ? 'gif' : type === 'image/webp' ? 'webp' : 'png'
  else format = type === 'image/jpeg' ? 'jpeg' : type === 'image/webp' ? 'webp' : 'png'
  try {
    const { data, info } = await resized.toFormat(format).toBuffer({ resolveWithObject: true })
    return { data, contentType: `image/${format}`, width: info.width, height: info.height }
  } catch (err) {
    const message = (err as Error).message ?? ''
    if (/pixel limit/i.test(message)) throw new MatrixError('M_TOO_LARGE', 'Content is too large to thumbnail', 413)
    throw new MatrixError('M_UNKNOWN', 'Cannot generate thumbnails for the requested content', 400)
  }
}
