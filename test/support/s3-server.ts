// An S3-compatible server on loopback for the S3 BlobStore tests: moto's standalone server (moto_server),
// a maintained AWS mock. Tests that need it skip, saying why, when it is not installed.
import { after } from 'node:test'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { motoUnavailable, startMoto } from './moto.ts'

export interface S3TestServer {
  endpoint: string
  bucket: string
  client: S3Client
  stop(): Promise<void>
}

/** Why the S3 tests cannot run here, or null when moto_server is available. */
export function s3Unavailable(): string | null {
  return motoUnavailable('the S3 media tests')
}

/** Starts moto_server on a free loopback port and creates a bucket; stopped when the file's tests end. */
export async function startS3Server(bucket = 'homestead-media'): Promise<S3TestServer> {
  const moto = await startMoto()
  const endpoint = moto.endpoint
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true })
  await client.send(new CreateBucketCommand({ Bucket: bucket }))
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    client.destroy()
    moto.stop()
  }
  after(stop)
  return { endpoint, bucket, client, stop }
}
