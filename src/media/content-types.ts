// What a stored file really is, and how it may be served. A browser opening a download must never run it:
// only formats that cannot carry script are served inline, and a declared type those formats claim must
// match the bytes.

/** Served with Content-Disposition: inline; everything else is an attachment. */
const INLINE_TYPES = new Set([
  'text/plain',
  'image/jpeg',
  'image/png',
  'image/apng',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/bmp',
  'video/mp4',
  'video/webm',
  'video/ogg',
  'video/quicktime',
  'audio/mp4',
  'audio/webm',
  'audio/aac',
  'audio/mpeg',
  'audio/ogg',
  'audio/wav',
  'audio/wave',
  'audio/x-wav',
  'audio/flac',
  'audio/x-flac',
])

const MIME = /^[a-z0-9!#$&^_.+-]{1,127}\/[a-z0-9!#$&^_.+-]{1,127}$/

/** The media type without parameters, lower-cased; null when it is not a valid type. */
export function essence(contentType: string | undefined | null): string | null {
  if (!contentType) return null
  const base = (contentType.split(';')[0] ?? '').trim().toLowerCase()
  return MIME.test(base) ? base : null
}

export function isInline(contentType: string): boolean {
  return INLINE_TYPES.has(essence(contentType) ?? '')
}

function startsWith(head: Buffer, bytes: number[], offset = 0): boolean {
  if (head.length < offset + bytes.length) return false
  return bytes.every((b, i) => head[offset + i] === b)
}

function ascii(head: Buffer, offset: number, text: string): boolean {
  return head.length >= offset + text.length && head.toString('latin1', offset, offset + text.length) === text
}

/** Recognises the formats that may be served inline (and a few others) from their first bytes. */
/** Image formats sharp may read to make thumbnails; SVG is left out on purpose (it can reference other files). */
export const THUMBNAIL_SOURCES: ReadonlySet<string> = new Set(['image/jpeg', 'image/png', 'image/apng', 'image/gif', 'image/webp', 'image/avif', 'image/heic', 'image/tiff'])

export function sniff(head: Buffer): string | null {
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png'
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'image/jpeg'
  if (ascii(head, 0, 'GIF87a') || ascii(head, 0, 'GIF89a')) return 'image/gif'
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WEBP')) return 'image/webp'
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WAVE')) return 'audio/wav'
  if (ascii(head, 0, 'BM') && head.length > 14) return 'image/bmp'
  if (startsWith(head, [0x49, 0x49, 0x2a, 0x00]) || startsWith(head, [0x4d, 0x4d, 0x00, 0x2a])) return 'image/tiff'
  if (ascii(head, 4, 'ftyp')) {
    const brand = head.toString('latin1', 8, 12)
    if (brand === 'avif' || brand === 'avis') return 'image/avif'
    if (brand.startsWith('hei') || brand === 'mif1') return 'image/heic'
    if (brand === 'qt  ') return 'video/quicktime'
    if (brand.startsWith('M4A')) return 'audio/mp4'
    return 'video/mp4'
  }
  if (startsWith(head, [0x1a, 0x45, 0xdf, 0xa3])) return 'video/webm'
  if (ascii(head, 0, 'OggS')) return 'audio/ogg'
  if (ascii(head, 0, 'fLaC')) return 'audio/flac'
  if (ascii(head, 0, 'ID3') || startsWith(head, [0xff, 0xfb]) || startsWith(head, [0xff, 0xf3]) || startsWith(head, [0xff, 0xf2])) return 'audio/mpeg'
  if (startsWith(head, [0xff, 0xf1]) || startsWith(head, [0xff, 0xf9])) return 'audio/aac'
  if (ascii(head, 0, '%PDF-')) return 'application/pdf'
  return null
}

/** Plain text: valid UTF-8 without NULs that no browser would take for markup. */
function looksLikePlainText(head: Buffer): boolean {
  if (head.includes(0)) return false
  const text = new TextDecoder('utf-8', { fatal: false }).decode(head)
  // A truncated multi-byte character at the end of the head is not an error.
  if (text.slice(0, -1).includes('\uFFFD')) return false
  return !/^\s*<(!doctype|html|head|body|script|svg|\?xml)/i.test(text)
}

function family(type: string): string {
  return type.split('/')[0] ?? ''
}

/**
 * The Content-Type to store for an upload: the declared one, unless it claims a format that is served
 * inline or thumbnailed (and so read by a browser or by sharp) that the bytes are not. A mislabelled image
 * gets its real type; anything unrecognisable becomes application/octet-stream and is then only ever
 * served as an attachment, never thumbnailed.
 */
export function checkedContentType(declared: string | undefined, head: Buffer): string {
  const base = declared && declared.length <= 255 ? essence(declared) : null
  if (!base) return sniff(head) ?? 'application/octet-stream'
  if (!INLINE_TYPES.has(base) && !THUMBNAIL_SOURCES.has(base)) return declared!.trim()
  if (base === 'text/plain') return looksLikePlainText(head) ? declared!.trim() : (sniff(head) ?? 'application/octet-stream')
  const detected = sniff(head)
  if (detected === base) return declared!.trim()
  // Audio in a video container (and the reverse) is the same bytes under another name.
  if (detected && (family(base) === 'audio' || family(base) === 'video') && (family(detected) === 'audio' || family(detected) === 'video')) {
    return declared!.trim()
  }
  return detected ?? 'application/octet-stream'
}

/** A file name safe for a header: no control characters, separators or quotes, at most 255 characters. */
export function sanitizeFileName(name: string | null | undefined): string | null {
  if (!name) return null
  const cleaned = name
    .normalize('NFC')
    // Controls, separators and quotes; and bidirectional controls, which can disguise an extension.
    .replace(/[\u0000-\u001f\u007f-\u009f"\\/;:*?<>|\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '_')
    .replace(/^[.\s]+/, '')
    .trim()
    .slice(0, 255)
  return cleaned === '' ? null : cleaned
}

/** Content-Disposition for a download: inline only for safe types, the name encoded per RFC 6266/5987. */
export function contentDisposition(contentType: string, fileName: string | null): string {
  const kind = isInline(contentType) ? 'inline' : 'attachment'
  const name = sanitizeFileName(fileName)
  if (!name) return kind
  if (/^[\x20-\x7e]*$/.test(name)) return `${kind}; filename="${name}"`
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return `${kind}; filename*=utf-8''${encoded}`
}
