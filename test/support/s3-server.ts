// An S3-compatible server on loopback for the S3 BlobStore tests: moto's standalone server (moto_server),
// a maintained AWS mock. Tests that need it skip, saying why, when it is not installed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { after } from 'node:test'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'

export interface S3TestServer {
  endpoint: string
  bucket: string
  client: S3Client
  stop(): Promise<void>
}

/** Why the S3 tests cannot run here, or null when moto_server is available. */
export function s3Unavailable(): string | null {
  const probe = spawnSync('moto_server', ['--help'], { stdio: 'ignore' })
  return probe.error || probe.status !== 0 ? 'moto_server is not installed (pip package moto[server]); the S3 media tests need it' : null
}

/** Starts moto_server on a free loopback port and creates a bucket; stopped when the file's tests end. */
export async function startS3Server(bucket = 'homestead-media'): Promise<S3TestServer> {
  // The SDK reads credentials from the standard chain; moto accepts any.
  process.env.AWS_ACCESS_KEY_ID ??= 'testing'
  process.env.AWS_SECRET_ACCESS_KEY ??= 'testing'
  const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const endpoint = await new Promise<string>((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => reject(new Error(`moto_server did not start: ${output}`)), 20_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /Running on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(match[1] as string)
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.on('exit', (code) => reject(new Error(`moto_server exited (${code}): ${output}`)))
  })
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true })
  await client.send(new CreateBucketCommand({ Bucket: bucket }))
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    client.destroy()
    child.kill('SIGTERM')
  }
  after(stop)
  return { endpoint, bucket, client, stop }
}
