// BlobStore on an S3 bucket (AWS or any S3-compatible store), key <prefix><sha256>. An upload is staged in a
// local temporary file while it is hashed, then sent with its length known, so the object appears whole
// under its content address and identical content is sent only once; the staged file is kept until
// discarded, so a commit can be repeated. Credentials: the standard AWS chain.
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3'
import { createReadStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { SHA256_HEX, stageToFile, type BlobStore, type StagedBlob } from './blob-store.ts'

export interface S3StoreOptions {
  bucket: string
  prefix: string
  region: string
  endpoint: string | null
  forcePathStyle: boolean
  /** Local directory for staging uploads. */
  stagingDir: string
}

export class S3BlobStore implements BlobStore {
  private readonly client: S3Client
  private readonly options: S3StoreOptions
  constructor(options: S3StoreOptions) {
    this.options = options
    this.client = new S3Client({
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    })
  }

  private keyOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new Error(`not a blob name: ${sha256}`)
    return `${this.options.prefix}${sha256}`
  }

  stage(source: Readable, maxBytes: number): Promise<StagedBlob> {
    return stageToFile(source, this.options.stagingDir, maxBytes)
  }

  async commit(staged: StagedBlob): Promise<void> {
    if (await this.has(staged.sha256)) return
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.options.bucket,
        Key: this.keyOf(staged.sha256),
        Body: createReadStream(staged.path),
        ContentLength: staged.size,
        ContentType: 'application/octet-stream',
      }),
    )
  }

  async discard(staged: StagedBlob): Promise<void> {
    await rm(staged.path, { force: true })
  }

  async get(sha256: string): Promise<Readable | null> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: this.keyOf(sha256) }))
      return (out.Body as Readable | undefined) ?? null
    } catch (err) {
      if (isNotFound(err)) return null
      throw err
    }
  }

  async delete(sha256: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.keyOf(sha256) }))
  }

  async close(): Promise<void> {
    this.client.destroy()
  }

  async has(sha256: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.keyOf(sha256) }))
      return true
    } catch (err) {
      if (isNotFound(err)) return false
      throw err
    }
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof S3ServiceException && (err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata.httpStatusCode === 404)
}
