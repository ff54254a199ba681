import { randomBytes, randomInt } from 'node:crypto'
import { encodeBase64Url } from '../protocol/base64.ts'

/** 32 bytes (256 bits) of randomness, URL-safe Base64. */
export function randomToken(prefix: string): string {
  return prefix + encodeBase64Url(randomBytes(32))
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** A random string over [A-Za-z0-9], uniformly distributed. */
export function randomString(length: number, alphabet = ALPHABET): string {
  let out = ''
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)]
  return out
}
