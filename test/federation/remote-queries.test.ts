// Client reads that reach another server, between two Homesteads with different server names over HTTPS
// with a test CA: A's clients read profiles of B's users, query and claim their keys, and download B's media
// and thumbnails (fetched over authenticated federation media, then served from A's cache). A server that
// cannot be reached is reported as the spec says: a failure in key answers, 502 for profiles and media.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type AddressInfo } from 'node:net'
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import sharp from 'sharp'
import { startTestServer, type TestServer } from '../support/server.ts'
import { federationFronts, startTlsFront } from '../support/federation.ts'
import { RoomClient, enc } from '../support/rooms.ts'
import { crossSigningKeys, userWithKeys, type Json } from '../support/e2ee.ts'
import { FederationError } from '../../src/federation/index.ts'
import { boundaryOf, readMultipartMedia } from '../../src/media/index.ts'
import type { AppContext } from '../../src/context.ts'
import { V1, download } from '../http/media-support.ts'

const fronts = await federationFronts()
const { nameA, nameB, common } = fronts
// A's media.max_upload_size bounds what it fetches from other servers.
const MAX_REMOTE_MEDIA = 1024 * 1024
const a: TestServer = await startTestServer({ ...common(), server_name: nameA, 'media.max_upload_size': MAX_REMOTE_MEDIA })
const b: TestServer = await startTestServer({ ...common(), server_name: nameB })
fronts.route(fronts.frontA, a.url)
fronts.route(fronts.frontB, b.url)

after(() => fronts.close())

/** A loopback port nothing listens on: a server name that cannot be reached. */
async function deadPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
const deadName = `127.0.0.1:${await deadPort()}`


const alice = await RoomClient.register(a.api)
const bob = await userWithKeys(b.api, 3)
await bob.client.put(`/profile/${enc(bob.client.userId)}/displayname`, { displayname: 'Bob' })
await bob.client.put(`/profile/${enc(bob.client.userId)}/m.tz`, { 'm.tz': 'Europe/Paris' })
const bobCross = crossSigningKeys(bob.client.userId)
assert.equal((await bob.client.post('/keys/device_signing/upload', bobCross.body)).status, 200)

describe("GET /profile/{userId} for another server's user", () => {
  it("asks the user's server for the whole profile and for one field", async () => {
    const profile = await alice.get(`/profile/${enc(bob.client.userId)}`)
    assert.deepEqual([profile.status, profile.body], [200, { displayname: 'Bob', 'm.tz': 'Europe/Paris' }])
    const name = await alice.get(`/profile/${enc(bob.client.userId)}/displayname`)
    assert.deepEqual([name.status, name.body], [200, { displayname: 'Bob' }])
    const tz = await alice.get(`/profile/${enc(bob.client.userId)}/m.tz`)
    assert.deepEqual([tz.status, tz.body], [200, { 'm.tz': 'Europe/Paris' }])
  })

  it('answers 404 for a field the user has not set and for a user the server does not know', async () => {
    const avatar = await alice.get(`/profile/${enc(bob.client.userId)}/avatar_url`)
    assert.deepEqual([avatar.status, avatar.body.errcode], [404, 'M_NOT_FOUND'])
    const nobody = await alice.get(`/profile/${enc(`@nobody:${nameB}`)}`)
    assert.deepEqual([nobody.status, nobody.body.errcode], [404, 'M_NOT_FOUND'])
  })

  it('answers 502 when the server cannot be reached', async () => {
    const res = await alice.get(`/profile/${enc(`@carol:${deadName}`)}`)
    assert.deepEqual([res.status, res.body.errcode], [502, 'M_UNKNOWN'])
  })
})

describe("GET and POST /publicRooms of another server (server=…)", () => {
  it("lists that server's published rooms, filtered and paged by it, and answers 502 when it cannot be reached", async () => {
    const owner = await RoomClient.register(b.api)
    for (const name of ['Gardening club', 'Chess club', 'Book club']) await owner.createRoom({ preset: 'public_chat', visibility: 'public', name })
    const all = await alice.get(`/publicRooms?server=${enc(nameB)}`)
    assert.equal(all.status, 200, JSON.stringify(all.body))
    assert.deepEqual(all.body.chunk.map((c: { name: string }) => c.name).sort(), ['Book club', 'Chess club', 'Gardening club'])
    const first = await alice.get(`/publicRooms?server=${enc(nameB)}&limit=2`)
    assert.equal(first.body.chunk.length, 2)
    const rest = await alice.get(`/publicRooms?server=${enc(nameB)}&limit=2&since=${enc(first.body.next_batch)}`)
    assert.equal(rest.body.chunk.length, 1)
    const chess = await alice.post(`/publicRooms?server=${enc(nameB)}`, { filter: { generic_search_term: 'chess' } })
    assert.deepEqual(chess.body.chunk.map((c: { name: string }) => c.name), ['Chess club'])
    const down = await alice.get(`/publicRooms?server=${enc(deadName)}`)
    assert.equal(down.status, 502)
  })
})

describe("POST /keys/query and /keys/claim for another server's users", () => {
  it('returns device keys and cross-signing keys from their server, and a failure for a server that is down', async () => {
    const res = await alice.post('/keys/query', { device_keys: { [bob.client.userId]: [], [`@carol:${deadName}`]: [] }, timeout: 5000 })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const device: Json = res.body.device_keys[bob.client.userId][bob.client.deviceId]
    assert.deepEqual(device.keys, bob.device.deviceKeys().keys)
    assert.ok(device.signatures[bob.client.userId][`ed25519:${bob.client.deviceId}`])
    assert.deepEqual(res.body.master_keys[bob.client.userId].keys, bobCross.body.master_key.keys)
    assert.deepEqual(res.body.self_signing_keys[bob.client.userId].keys, bobCross.body.self_signing_key.keys)
    assert.equal(res.body.user_signing_keys[bob.client.userId], undefined, "another user's user-signing key is never shown")
    assert.deepEqual(Object.keys(res.body.failures), [deadName])
    assert.equal(typeof res.body.failures[deadName].status, 'number')
  })

  it("lists a server that accepts the connection but never answers in failures once the client's timeout has passed", async () => {
    const held = new Set<import('node:net').Socket>()
    const silent = createServer((socket) => void held.add(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const front = await startTlsFront(fronts.ca.issue(['127.0.0.1']))
    front.target = (silent.address() as AddressInfo).port
    const name = `127.0.0.1:${front.port}`
    try {
      const res = await alice.post('/keys/query', { device_keys: { [`@dave:${name}`]: [], [bob.client.userId]: [] }, timeout: 1000 })
      assert.equal(res.status, 200)
      assert.deepEqual(Object.keys(res.body.failures), [name])
      assert.equal(res.body.failures[name].status, 503)
      assert.ok(res.body.device_keys[bob.client.userId][bob.client.deviceId], 'the servers that answer are not held up')
      const claim = await alice.post('/keys/claim', { one_time_keys: { [`@dave:${name}`]: { D: 'signed_curve25519' } }, timeout: 1000 })
      assert.deepEqual(Object.keys(claim.body.failures), [name])
    } finally {
      for (const socket of held) socket.destroy()
      silent.close()
      await front.close()
    }
  })

  it('returns only the devices asked', async () => {
    const res = await alice.post('/keys/query', { device_keys: { [bob.client.userId]: ['NOSUCHDEVICE'] } })
    assert.equal(res.status, 200)
    assert.deepEqual(res.body.device_keys, { [bob.client.userId]: {} })
    assert.deepEqual(res.body.failures, {})
  })

  it('claims a one-time key from their server, a different one each time, and reports a server that is down', async () => {
    const body = { one_time_keys: { [bob.client.userId]: { [bob.client.deviceId]: 'signed_curve25519' }, [`@carol:${deadName}`]: { D: 'signed_curve25519' } } }
    const first = await alice.post('/keys/claim', body)
    const second = await alice.post('/keys/claim', body)
    assert.equal(first.status, 200, JSON.stringify(first.body))
    const [id1, key1] = Object.entries(first.body.one_time_keys[bob.client.userId][bob.client.deviceId])[0] as [string, Json]
    const [id2] = Object.keys(second.body.one_time_keys[bob.client.userId][bob.client.deviceId])
    assert.match(id1, /^signed_curve25519:/)
    assert.notEqual(id1, id2)
    assert.ok(key1.signatures[bob.client.userId][`ed25519:${bob.client.deviceId}`], 'the key comes as its device signed it')
    assert.deepEqual(Object.keys(first.body.failures), [deadName])
  })
})

const ctxA: AppContext = a.server.ctx

/** Uploads to B as bob; the media ID. */
async function uploadToB(data: Buffer, contentType: string, filename: string): Promise<string> {
  const res = await b.api.request('POST', `/_matrix/media/v3/upload?filename=${enc(filename)}`, { body: data, token: bob.client.token, headers: { 'Content-Type': contentType } })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return String(res.body.content_uri).split('/').pop() as string
}

/** A's signed federation request to B for media, its multipart answer read. */
async function federationMedia(path: string, query: Record<string, string | number> = {}) {
  const answer = await ctxA.federation.client.stream(nameB, { method: 'GET', path, query, maxBytes: 10 * 1024 * 1024 })
  const boundary = boundaryOf(answer.headers['content-type'])
  assert.ok(boundary, `multipart/mixed with a boundary: ${answer.headers['content-type']}`)
  const part = await readMultipartMedia(answer.body, boundary)
  const chunks: Buffer[] = []
  for await (const chunk of part.body) chunks.push(chunk as Buffer)
  return { metadata: part.metadata, headers: part.headers, bytes: Buffer.concat(chunks) }
}

/** Request lines B's front saw for this media ID over federation. */
const federationFetchesOf = (mediaId: string) => fronts.frontB.requests.filter((line) => line.includes('/_matrix/federation/v1/media/') && line.includes(mediaId))

const picture = await sharp({ create: { width: 800, height: 600, channels: 3, background: { r: 10, g: 120, b: 200 } } }).png().toBuffer()
const pictureId = await uploadToB(picture, 'image/png', 'holiday.png')

describe('GET /_matrix/federation/v1/media/download|thumbnail/{mediaId}', () => {
  it('serves our media to a server that signs its request, as multipart/mixed: {} metadata, then the bytes', async () => {
    const got = await federationMedia(`/_matrix/federation/v1/media/download/${pictureId}`)
    assert.deepEqual(got.metadata, {})
    assert.equal(got.headers['content-type'], 'image/png')
    assert.match(got.headers['content-disposition'] ?? '', /filename="holiday\.png"/)
    assert.ok(got.bytes.equals(picture), 'the same bytes')
  })

  it('serves a thumbnail of our media the same way', async () => {
    const got = await federationMedia(`/_matrix/federation/v1/media/thumbnail/${pictureId}`, { width: 96, height: 96, method: 'crop' })
    assert.deepEqual(got.metadata, {})
    assert.match(got.headers['content-type'] ?? '', /^image\//)
    const meta = await sharp(got.bytes).metadata()
    assert.deepEqual([meta.width, meta.height], [96, 96])
  })

  it('refuses unauthenticated requests, and answers 404 for unknown media', async () => {
    for (const path of [`/_matrix/federation/v1/media/download/${pictureId}`, `/_matrix/federation/v1/media/thumbnail/${pictureId}?width=32&height=32`]) {
      const res = await b.api.get(path)
      assert.deepEqual([res.status, res.body.errcode], [401, 'M_UNAUTHORIZED'], path)
    }
    await assert.rejects(federationMedia('/_matrix/federation/v1/media/download/nosuchmedia'), (err: unknown) => {
      assert.ok(err instanceof FederationError && err.status === 404 && err.errcode === 'M_NOT_FOUND', String(err))
      return true
    })
  })
})

describe("GET /_matrix/client/v1/media/download|thumbnail for another server's media", () => {
  it("fetches B's media over federation once, then serves it and its thumbnails from A's cache after B deleted it", async () => {
    const first = await download(a, alice.token, `${V1}/download/${nameB}/${pictureId}`)
    assert.equal(first.status, 200, JSON.stringify(first.json))
    assert.ok(first.bytes.equals(picture), 'the same bytes')
    assert.equal(first.headers.get('content-type'), 'image/png')
    assert.match(first.headers.get('content-disposition') ?? '', /filename="holiday\.png"/)
    const thumb = await download(a, alice.token, `${V1}/thumbnail/${nameB}/${pictureId}?width=320&height=240&method=scale`)
    assert.equal(thumb.status, 200, JSON.stringify(thumb.json))
    const meta = await sharp(thumb.bytes).metadata()
    assert.deepEqual([meta.width, meta.height], [320, 240])
    const row = await ctxA.storage.repos.media.get(nameB, pictureId)
    assert.equal(row?.remote, true, 'cached as remote media, for retention')

    assert.deepEqual(await b.server.ctx.media.media.deleteMedia(nameB, [pictureId]), [pictureId])
    const fetchesBefore = federationFetchesOf(pictureId).length
    const again = await download(a, alice.token, `${V1}/download/${nameB}/${pictureId}`)
    assert.equal(again.status, 200)
    assert.ok(again.bytes.equals(picture))
    const otherSize = await download(a, alice.token, `${V1}/thumbnail/${nameB}/${pictureId}?width=32&height=32&method=crop`)
    assert.equal(otherSize.status, 200, 'a new thumbnail size is made from the cached original')
    assert.equal(federationFetchesOf(pictureId).length, fetchesBefore, 'B was not asked again')
  })

  it('fetches an item once for concurrent requests', async () => {
    const data = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toBuffer()
    const mediaId = await uploadToB(data, 'image/png', 'small.png')
    const all = await Promise.all(Array.from({ length: 5 }, () => download(a, alice.token, `${V1}/download/${nameB}/${mediaId}`)))
    assert.deepEqual(all.map((r) => r.status), [200, 200, 200, 200, 200])
    assert.ok(all.every((r) => r.bytes.equals(data)))
    assert.equal(federationFetchesOf(mediaId).length, 1)
  })

  it('answers 404 for media B does not have, or with allow_remote=false, and 502 for a server that is down', async () => {
    const unknown = await download(a, alice.token, `${V1}/download/${nameB}/nosuchmedia`)
    assert.deepEqual([unknown.status, unknown.json?.errcode], [404, 'M_NOT_FOUND'])
    const mediaId = await uploadToB(Buffer.from('hello'), 'text/plain', 'hello.txt')
    const local = await download(a, alice.token, `${V1}/download/${nameB}/${mediaId}?allow_remote=false`)
    assert.deepEqual([local.status, local.json?.errcode], [404, 'M_NOT_FOUND'])
    assert.equal(federationFetchesOf(mediaId).length, 0)
    const down = await download(a, alice.token, `${V1}/download/${deadName}/someid`)
    assert.deepEqual([down.status, down.json?.errcode], [502, 'M_UNKNOWN'])
  })

  it('keeps remote media off the legacy unauthenticated endpoints: nothing is fetched for them', async () => {
    const mediaId = await uploadToB(Buffer.from('legacy'), 'text/plain', 'legacy.txt')
    for (const path of [`/_matrix/media/v3/download/${nameB}/${mediaId}`, `/_matrix/media/v3/thumbnail/${nameB}/${mediaId}?width=32&height=32`]) {
      const res = await download(a, null, path)
      assert.deepEqual([res.status, res.json?.errcode], [404, 'M_NOT_FOUND'], path)
    }
    assert.equal(federationFetchesOf(mediaId).length, 0)
  })
})

/**
 * A peer playing another server's content repository: a plain HTTP server behind an HTTPS front with the
 * test CA. It answers A's signed requests without checking them (A only needs to ask it), each media ID
 * showing one way a server may answer.
 */
async function startMediaPeer() {
  const big = Buffer.alloc(MAX_REMOTE_MEDIA + 1024, 'x')
  const multipart = (res: ServerResponse, parts: string[], tail = '--b--\r\n') => {
    res.writeHead(200, { 'Content-Type': 'multipart/mixed; boundary=b' })
    res.end(`${parts.map((p) => `--b\r\n${p}\r\n`).join('')}${tail}`)
  }
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'Content-Type': 'application/json' })
    res.end(JSON.stringify(body))
  }
  const http = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0] as string
    const id = path.split('/').pop()
    if (path === '/blob/redirected') {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Disposition': 'attachment; filename="moved.txt"' })
      return res.end('bytes from elsewhere')
    }
    if (path.startsWith('/_matrix/media/v3/download/') && id === 'legacyonly') {
      res.writeHead(200, { 'Content-Type': 'text/plain' })
      return res.end('from the legacy endpoint')
    }
    if (!path.startsWith('/_matrix/federation/v1/media/download/')) return json(res, 404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' })
    switch (id) {
      case 'redirected':
        return multipart(res, ['Content-Type: application/json\r\n\r\n{}', `Location: http://127.0.0.1:${port}/blob/redirected\r\n`])
      case 'legacyonly':
        return json(res, 404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' })
      case 'huge':
        return multipart(res, ['Content-Type: application/json\r\n\r\n{}', `Content-Type: text/plain\r\n\r\n${big.toString()}`])
      case 'truncated':
        return multipart(res, ['Content-Type: application/json\r\n\r\n{}'], '--b\r\nContent-Type: text/plain\r\n\r\nhalf of it')
      case 'notmultipart':
        return json(res, 200, {})
      default:
        return json(res, 404, { errcode: 'M_NOT_FOUND', error: 'Not found' })
    }
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const port = (http.address() as AddressInfo).port
  const front = await startTlsFront(fronts.ca.issue(['127.0.0.1']))
  front.target = port
  after(async () => {
    await front.close()
    await new Promise<void>((resolve) => http.close(() => resolve()))
  })
  return { name: `127.0.0.1:${front.port}` }
}

describe("another server's media answers", async () => {
  const peer = await startMediaPeer()
  const get = (mediaId: string) => download(a, alice.token, `${V1}/download/${peer.name}/${mediaId}`)

  it('follows a Location part through the outbound guard and caches what it finds there', async () => {
    const res = await get('redirected')
    assert.equal(res.status, 200, JSON.stringify(res.json))
    assert.equal(res.bytes.toString(), 'bytes from elsewhere')
    assert.match(res.headers.get('content-disposition') ?? '', /filename="moved\.txt"/)
    assert.equal((await ctxA.storage.repos.media.get(peer.name, 'redirected'))?.remote, true)
  })

  it('falls back to the legacy endpoint of a server that does not know federation media', async () => {
    const res = await get('legacyonly')
    assert.equal(res.status, 200, JSON.stringify(res.json))
    assert.equal(res.bytes.toString(), 'from the legacy endpoint')
  })

  it('answers 502 M_TOO_LARGE past media.max_upload_size, 502 for a broken answer, and caches neither', async () => {
    const huge = await get('huge')
    assert.deepEqual([huge.status, huge.json?.errcode], [502, 'M_TOO_LARGE'])
    for (const id of ['truncated', 'notmultipart']) {
      const res = await get(id)
      assert.deepEqual([res.status, res.json?.errcode], [502, 'M_UNKNOWN'], id)
    }
    for (const id of ['huge', 'truncated', 'notmultipart']) assert.equal(await ctxA.storage.repos.media.get(peer.name, id), null, id)
    const missing = await get('missing')
    assert.deepEqual([missing.status, missing.json?.errcode], [404, 'M_NOT_FOUND'])
  })
})
