// Unpadded Base64 (appendices, "Unpadded Base64") and its URL-safe variant.

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '')
}

export function encodeBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/

/** Decodes padded or unpadded Base64 (standard or URL-safe); returns null for anything else. */
export function decodeBase64(text: string): Buffer | null {
  if (BASE64.test(text)) {
    if (text.replace(/=+$/, '').length % 4 === 1) return null
    return Buffer.from(text, 'base64')
  }
  if (BASE64URL.test(text)) {
    if (text.replace(/=+$/, '').length % 4 === 1) return null
    return Buffer.from(text, 'base64url')
  }
  return null
}
