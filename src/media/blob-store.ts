// Where media bytes live. Blobs are named by their SHA-256, so the same content uploaded twice is stored
// once; the database says which media and thumbnails use which blob.
import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { MatrixError } from '../shared/errors.ts'

/** Bytes kept from the start of every upload, enough to recognise its format. */
export const HEAD_BYTES = 4100

export interface StoredBlob {
  sha256: string
  size: number
  /** The first HEAD_BYTES bytes, for content sniffing. */
  head: Buffer
}

/** An upload written to a local staging file and hashed, not yet in the store. */
export interface StagedBlob extends StoredBlob {
  path: string
}

/**
 * Blobs are written in two steps so that deduplication is safe against a concurrent delete: `stage` streams
 * the bytes to a local file while hashing them; `commit` puts them under their SHA-256 (a no-op when that
 * blob exists) and may be called again if the blob vanished meanwhile; `discard` removes the staging file.
 */
export interface BlobStore {
  /** Streams `source` to a staging file, hashing as it goes; refuses (M_TOO_LARGE) past `maxBytes`. */
  stage(source: Readable, maxBytes: number): Promise<StagedBlob>
  commit(staged: StagedBlob): Promise<void>
  discard(staged: StagedBlob): Promise<void>
  has(sha256: string): Promise<boolean>
  /** The blob's bytes, or null when it is absent. */
  get(sha256: string): Promise<Readable | null>
  delete(sha256: string): Promise<void>
  /** Releases clients and sockets (S3). */
  close(): Promise<void>
}

export const SHA256_HEX = /^[0-9a-f]{64}$/

export function tooLarge(maxBytes: number): MatrixError {
  return new MatrixError('M_TOO_LARGE', `Cannot upload files larger than ${maxBytes} bytes`, 413)
}

/**
 * Writes a stream to a fresh file under `dir`, hashing and counting on the way, never holding more than a
 * chunk in memory. The caller moves or uploads the file, then removes it.
 */
export async function stageToFile(source: Readable, dir: string, maxBytes: number): Promise<StagedBlob> {
  await mkdir(dir, { recursive: true })
  const path = join(dir, `upload-${randomBytes(12).toString('hex')}`)
  const hash = createHash('sha256')
  const headChunks: Buffer[] = []
  let headLength = 0
  let size = 0
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length
      if (size > maxBytes) return done(tooLarge(maxBytes))
      hash.update(chunk)
      if (headLength < HEAD_BYTES) {
        const part = chunk.subarray(0, HEAD_BYTES - headLength)
        headChunks.push(Buffer.from(part))
        headLength += part.length
      }
      done(null, chunk)
    },
  })
  // The source is piped by hand rather than through pipeline(), so a refusal leaves the request stream
  // undestroyed and the client still gets its 413 before the connection closes.
  source.on('error', (err) => meter.destroy(err))
  // A client that goes away mid-upload may only close the stream, without an error.
  source.on('close', () => {
    if (!source.readableEnded) meter.destroy(new Error('upload stream closed early'))
  })
  meter.on('error', () => source.unpipe(meter))
  source.pipe(meter)
  try {
    await pipeline(meter, createWriteStream(path, { flags: 'wx', mode: 0o600 }))
  } catch (err) {
    await rm(path, { force: true })
    if (err instanceof MatrixError) throw err
    // The client went away mid-upload, or the request stream broke.
    throw new MatrixError('M_UNKNOWN', 'The upload was interrupted', 400)
  }
  return { path, sha256: hash.digest('hex'), size, head: Buffer.concat(headChunks) }
}
