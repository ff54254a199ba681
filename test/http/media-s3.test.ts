// The content repository on the S3 BlobStore, against moto_server (an S3-compatible server started on
// loopback by the test): the same round trips as the filesystem store, and the objects' layout.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'
import { s3Unavailable, startS3Server, type S3TestServer } from '../support/s3-server.ts'
import { download, png, roundTripSuite, upload, V1 } from './media-support.ts'

const skip = s3Unavailable()
// Servers start at the top level so their clean-up attaches to the file (see startTestServer).
const s3: S3TestServer | null = skip ? null : await startS3Server()
const t: TestServer | null = s3
  ? await startTestServer({
      'media.store': 's3',
      'media.s3.bucket': s3.bucket,
      'media.s3.prefix': 'media/',
      'media.s3.endpoint': s3.endpoint,
      'media.s3.force_path_style': true,
    })
  : null
const token = t ? (await registerUser(t.api)).access_token : ''

const tt = () => t as TestServer
const ss = () => s3 as S3TestServer

describe('media on the S3 store', { skip: skip ?? false }, () => {
  roundTripSuite(() => t!, () => token)

  it('keeps each blob under prefix + SHA-256 and thumbnails in the same bucket', async () => {
    const t = tt()
    const s3 = ss()
    const up = await upload(t, token, await png(700, 500), 'image/png')
    const row = await t.server.ctx.storage.repos.media.get(up.serverName, up.mediaId)
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `media/${row!.sha256}` }))
    assert.equal(head.ContentLength, row!.size)
    const thumb = await download(t, token, `${V1}/thumbnail/${up.serverName}/${up.mediaId}?width=32&height=32&method=crop`)
    assert.equal(thumb.status, 200)
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'media/' }))
    assert.ok((listed.Contents ?? []).every((o) => /^media\/[0-9a-f]{64}$/.test(o.Key ?? '')))
  })
})
