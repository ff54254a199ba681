// The multipart/mixed framing of federation media: what Homestead writes reads back the same through its
// reader whatever the chunking, other servers' spellings (a preamble, no CRLF before the first boundary, a
// quoted boundary, a Location part) are understood, and answers cut short or malformed are refused.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { boundaryOf, fileNameOf, multipartMedia, MultipartError, readMultipartMedia } from '../../src/media/multipart.ts'

/** The bytes as a stream of `size`-byte chunks. */
function chunked(bytes: Buffer, size: number): Readable {
  const chunks: Buffer[] = []
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size))
  return Readable.from(chunks, { objectMode: false })
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

async function read(bytes: Buffer, boundary: string, chunkSize = 7) {
  const part = await readMultipartMedia(chunked(bytes, chunkSize), boundary)
  return { ...part, bytes: await collect(part.body) }
}

describe('multipartMedia and readMultipartMedia', () => {
  it('reads back what is written, bytes and headers, in chunks of any size', async () => {
    // Bytes that hold CRLFs and boundary-like runs, so only the real delimiter ends the part.
    const media = Buffer.concat([randomBytes(5000), Buffer.from('\r\n--not-the-boundary\r\n'), randomBytes(3000)])
    for (const size of [1, 3, 64, 100_000]) {
      const written = multipartMedia({ stream: Readable.from([media]), contentType: 'image/png', size: media.length, disposition: 'inline; filename="a.png"' })
      const bytes = await collect(written.body)
      assert.equal(bytes.length, written.length, 'Content-Length is exact')
      const boundary = boundaryOf(written.contentType)
      assert.ok(boundary)
      const got = await read(bytes, boundary, size)
      assert.deepEqual(got.metadata, {})
      assert.deepEqual(got.headers, { 'content-type': 'image/png', 'content-disposition': 'inline; filename="a.png"' })
      assert.ok(got.bytes.equals(media), `chunks of ${size}`)
    }
  })

  it("understands another server's spelling: preamble, quoted boundary, a Location part without bytes", async () => {
    const boundary = boundaryOf('multipart/mixed; boundary="6067d4698f8d40a0a794ea7d7ff5cc4"')
    assert.equal(boundary, '6067d4698f8d40a0a794ea7d7ff5cc4')
    const body = Buffer.from(
      'a preamble to ignore\r\n' +
        `--${boundary}\r\nContent-Type: application/json\r\n\r\n{"k": 1}\r\n` +
        `--${boundary}\r\nLocation: https://cdn.example/media/abc\r\n\r\n\r\n--${boundary}--\r\n`,
    )
    const got = await read(body, boundary as string)
    assert.deepEqual(got.metadata, { k: 1 })
    assert.equal(got.headers.location, 'https://cdn.example/media/abc')
    assert.equal(got.bytes.length, 0)
  })

  it('refuses an answer cut short, one without a second part and a first part that is not JSON', async () => {
    const b = 'xyz'
    const truncated = Buffer.from(`--${b}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${b}\r\nContent-Type: text/plain\r\n\r\nhalf of the`)
    await assert.rejects(read(truncated, b), MultipartError)
    const onePart = Buffer.from(`--${b}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${b}--\r\n`)
    await assert.rejects(read(onePart, b), MultipartError)
    const notJson = Buffer.from(`--${b}\r\nContent-Type: text/plain\r\n\r\n{}\r\n--${b}\r\n\r\nx\r\n--${b}--\r\n`)
    await assert.rejects(read(notJson, b), MultipartError)
    const badJson = Buffer.from(`--${b}\r\nContent-Type: application/json\r\n\r\n{nope\r\n--${b}\r\n\r\nx\r\n--${b}--\r\n`)
    await assert.rejects(read(badJson, b), MultipartError)
    const hugeHead = Buffer.concat([Buffer.from(`--${b}\r\nContent-Type: application/json\r\n\r\n"`), Buffer.alloc(70_000, 'a')])
    await assert.rejects(read(hugeHead, b, 4096), MultipartError)
  })

  it('takes the boundary from multipart/mixed only', () => {
    assert.equal(boundaryOf('multipart/mixed; boundary=abc'), 'abc')
    assert.equal(boundaryOf('Multipart/Mixed;charset=utf-8; Boundary=abc'), 'abc')
    assert.equal(boundaryOf('application/json'), null)
    assert.equal(boundaryOf('multipart/mixed'), null)
    assert.equal(boundaryOf(`multipart/mixed; boundary=${'x'.repeat(71)}`), null)
  })
})

describe('fileNameOf', () => {
  it('reads plain, quoted and RFC 5987 names, preferring the encoded one', () => {
    assert.equal(fileNameOf('inline; filename="holiday.png"'), 'holiday.png')
    assert.equal(fileNameOf('attachment; filename=report.pdf'), 'report.pdf')
    assert.equal(fileNameOf("attachment; filename=\"x.txt\"; filename*=utf-8''%C3%A9t%C3%A9.txt"), 'été.txt')
    assert.equal(fileNameOf('inline'), null)
    assert.equal(fileNameOf(undefined), null)
  })
})
