// The content repository over real HTTP on the filesystem store: uploads (direct and asynchronous),
// downloads, thumbnails, the safety headers and every refusal, the legacy endpoints' cut-off, retention
// and the Synapse-compatible admin API.
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import sharp from 'sharp'
import { RoomClient, assertError } from '../support/rooms.ts'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'
import { animatedGif, download, jpeg, png, roundTripSuite, upload, V1 } from './media-support.ts'
import { Media, mediaPath, sweepMedia, type BlobStore } from '../../src/media/index.ts'
import { systemClock } from '../../src/shared/clock.ts'
import { Readable } from 'node:stream'

const CUTOFF = Date.now() + 24 * 3600 * 1000
const t: TestServer = await startTestServer({
  'media.max_upload_size': 25 * 1024 * 1024,
  'media.max_pending_uploads': 2,
  'media.unauthenticated_media_cutoff_ts': CUTOFF,
})
let alice: { user_id: string; access_token: string }
let bob: { user_id: string; access_token: string }
before(async () => {
  alice = await registerUser(t.api)
  bob = await registerUser(t.api)
})

describe('media on the filesystem store', () => {
  roundTripSuite(() => t, () => alice.access_token)

  it('keeps a shared blob when its last other user is deleted in the middle of an upload', async () => {
    const bytes = Buffer.from(`same bytes ${Date.now()}`)
    const first = await upload(t, alice.access_token, bytes, 'text/plain')
    const real = t.server.ctx.media.media.store
    let raced = false
    // The store's commit finds the blob present (a no-op), then the only other media using it is deleted.
    const racing: BlobStore = {
      stage: (source, max) => real.stage(source, max),
      commit: async (staged) => {
        await real.commit(staged)
        if (!raced) {
          raced = true
          await t.server.ctx.media.media.deleteMedia(first.serverName, [first.mediaId])
        }
      },
      discard: (staged) => real.discard(staged),
      has: (sha) => real.has(sha),
      get: (sha) => real.get(sha),
      delete: (sha) => real.delete(sha),
      close: async () => {},
    }
    const media = new Media({ storage: t.server.ctx.storage, store: racing, config: t.config.media, serverName: t.config.server_name, clock: systemClock, logger: t.server.ctx.logger })
    const uri = await media.upload({ userId: alice.user_id, body: Readable.from([bytes]), contentType: 'text/plain', contentLength: null, fileName: null })
    assert.ok(raced)
    const got = await download(t, alice.access_token, `${V1}/download/${uri.replace('mxc://', '')}`)
    assert.equal(got.status, 200)
    assert.ok(got.bytes.equals(bytes))
  })

  it('keeps blobs under data_dir/media by default', async () => {
    await upload(t, alice.access_token, 'hello', 'text/plain')
    const entries = await readdir(mediaPath(t.config))
    assert.ok(entries.some((e) => /^[0-9a-f]{2}$/.test(e)), entries.join(','))
  })
})

describe('GET /_matrix/client/v1/media/config', () => {
  it('reports the upload limit', async () => {
    const res = await t.api.get(`${V1}/config`, alice.access_token)
    assert.equal(res.status, 200)
    assert.equal(res.body['m.upload.size'], 25 * 1024 * 1024)
  })
  it('requires an access token', async () => {
    assertError(await t.api.get(`${V1}/config`), 401, 'M_MISSING_TOKEN')
  })
})

describe('POST /_matrix/media/v3/upload', () => {
  it('refuses an upload over max_upload_size with 413 M_TOO_LARGE (announced length)', async () => {
    const res = await upload(t, alice.access_token, Buffer.alloc(25 * 1024 * 1024 + 1), 'application/octet-stream')
    assert.equal(res.status, 413)
    assert.equal(res.body.errcode, 'M_TOO_LARGE')
  })

  it('refuses a chunked upload once it passes max_upload_size', async () => {
    const chunk = Buffer.alloc(1024 * 1024)
    let sent = 0
    const body = new ReadableStream({
      pull(controller) {
        if (sent >= 30) return controller.close()
        sent++
        controller.enqueue(chunk)
      },
    })
    const res = await fetch(`${t.url}/_matrix/media/v3/upload`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${alice.access_token}`, 'Content-Type': 'application/octet-stream' },
      body,
      duplex: 'half',
    } as RequestInit).catch((err: Error) => err)
    assert.ok(!(res instanceof Error), String(res))
    assert.equal(res.status, 413)
    assert.equal(((await res.json()) as { errcode: string }).errcode, 'M_TOO_LARGE')
    const list = await t.server.ctx.media.admin.listUser(alice.user_id, 0, 1000, 'created_ts', 'f')
    assert.ok(list.media.every((m) => (m.media_length ?? 0) < 25 * 1024 * 1024))
  })

  it('cleans up after a client that disconnects mid-upload', async () => {
    const req = request(new URL(`${t.url}/_matrix/media/v3/upload`), {
      method: 'POST',
      headers: { Authorization: `Bearer ${alice.access_token}`, 'Content-Type': 'application/octet-stream', 'Content-Length': '10000000' },
    })
    req.on('error', () => {})
    req.write(Buffer.alloc(1_000_000))
    await new Promise((r) => setTimeout(r, 300))
    req.destroy()
    await new Promise((r) => setTimeout(r, 500))
    assert.deepEqual(await readdir(join(mediaPath(t.config), 'tmp')).catch(() => []), [])
    assert.equal((await t.api.get(`${V1}/config`, alice.access_token)).status, 200)
  })

  it('requires an access token', async () => {
    const res = await upload(t, '', 'x', 'text/plain')
    assert.equal(res.status, 401)
  })

  it('stores application/octet-stream when no Content-Type is sent', async () => {
    const up = await upload(t, alice.access_token, Buffer.from([0, 1, 2, 3]))
    assert.equal(up.status, 200)
    const got = await download(t, alice.access_token, `${V1}/download/${up.serverName}/${up.mediaId}`)
    assert.equal(got.headers.get('content-type'), 'application/octet-stream')
    assert.equal(got.headers.get('content-disposition'), 'attachment')
  })

  it('checks a declared image type against the bytes: HTML labelled image/png is not served inline', async () => {
    const up = await upload(t, alice.access_token, '<html><script>alert(1)</script></html>', 'image/png')
    const got = await download(t, alice.access_token, `${V1}/download/${up.serverName}/${up.mediaId}`)
    assert.equal(got.headers.get('content-type'), 'application/octet-stream')
    assert.match(got.headers.get('content-disposition') ?? '', /^attachment/)
  })

  it('corrects a JPEG labelled image/png to image/jpeg', async () => {
    const up = await upload(t, alice.access_token, await jpeg(20, 20), 'image/png')
    const got = await download(t, alice.access_token, `${V1}/download/${up.serverName}/${up.mediaId}`)
    assert.equal(got.headers.get('content-type'), 'image/jpeg')
  })

  it('refuses to serve HTML labelled text/plain inline', async () => {
    const up = await upload(t, alice.access_token, '<!DOCTYPE html><p>hi', 'text/plain')
    const got = await download(t, alice.access_token, `${V1}/download/${up.serverName}/${up.mediaId}`)
    assert.match(got.headers.get('content-disposition') ?? '', /^attachment/)
  })
})

describe('GET /_matrix/client/v1/media/download', () => {
  it('sends CSP sandbox and nosniff on every download, and attachment for unsafe types', async () => {
    const up = await upload(t, alice.access_token, '<html><body>hi</body></html>', 'text/html', 'page.html')
    const got = await download(t, alice.access_token, `${V1}/download/${up.serverName}/${up.mediaId}`)
    assert.equal(got.status, 200)
    assert.equal(got.headers.get('content-type'), 'text/html')
    assert.equal(got.headers.get('content-disposition'), 'attachment; filename="page.html"')
    assert.equal(got.headers.get('content-security-policy'), "sandbox; default-src 'none'")
    assert.equal(got.headers.get('x-content-type-options'), 'nosniff')
  })

  it('serves plain text inline', async () => {
    const up = await upload(t, alice.access_token, 'just words', 'text/plain')
    const got = await download(t, alice.access_token, `${V1}/download/${up.serverName}/${up.mediaId}`)
    assert.equal(got.headers.get('content-disposition'), 'inline')
    assert.equal(got.bytes.toString(), 'just words')
  })

  it('sanitizes file names in Content-Disposition and encodes non-ASCII ones', async () => {
    const up = await upload(t, alice.access_token, 'x', 'text/plain', 'a"b\r\nSet-Cookie: x=1;../é.txt')
    const got = await download(t, alice.access_token, `${V1}/download/${up.serverName}/${up.mediaId}`)
    const disposition = got.headers.get('content-disposition') ?? ''
    assert.equal(got.headers.get('set-cookie'), null)
    assert.doesNotMatch(disposition, /[\r\n"]b|Set-Cookie: x=1;/)
    assert.match(disposition, /^inline; filename\*=utf-8''/)
    const named = await download(t, alice.access_token, `${V1}/download/${up.serverName}/${up.mediaId}/${encodeURIComponent('report final.txt')}`)
    assert.equal(named.headers.get('content-disposition'), 'inline; filename="report final.txt"')
  })

  it('answers M_NOT_FOUND for unknown media and uncached media of other servers with allow_remote=false, 502 when their server cannot be reached', async () => {
    assertError(await t.api.get(`${V1}/download/${t.config.server_name}/nosuchmedia`, alice.access_token), 404, 'M_NOT_FOUND')
    assertError(await t.api.get(`${V1}/download/elsewhere.example/abc?allow_remote=false`, alice.access_token), 404, 'M_NOT_FOUND')
    assertError(await t.api.get(`${V1}/download/elsewhere.example/abc`, alice.access_token), 502, 'M_UNKNOWN')
  })

  it('requires an access token', async () => {
    const up = await upload(t, alice.access_token, 'x', 'text/plain')
    assertError(await t.api.get(`${V1}/download/${up.serverName}/${up.mediaId}`), 401, 'M_MISSING_TOKEN')
  })
})

describe('GET /_matrix/client/v1/media/thumbnail', () => {
  it('crops to the closest configured size, made once and then served from the store', async () => {
    const up = await upload(t, alice.access_token, await jpeg(1000, 500), 'image/jpeg')
    const path = `${V1}/thumbnail/${up.serverName}/${up.mediaId}?width=90&height=90&method=crop`
    const first = await download(t, alice.access_token, path)
    assert.equal(first.status, 200)
    assert.equal(first.headers.get('content-type'), 'image/jpeg')
    const meta = await sharp(first.bytes).metadata()
    assert.deepEqual([meta.width, meta.height], [96, 96])
    const second = await download(t, alice.access_token, path)
    assert.ok(second.bytes.equals(first.bytes))
    const row = await t.server.ctx.storage.repos.media.getThumbnail(up.serverName, up.mediaId, 96, 96, 'crop', false)
    assert.ok(row, 'thumbnail not stored')
  })

  it('keeps an animated GIF animated when animated=true, and gives one frame otherwise', async () => {
    const up = await upload(t, alice.access_token, await animatedGif(300, 200), 'image/gif')
    const animated = await download(t, alice.access_token, `${V1}/thumbnail/${up.serverName}/${up.mediaId}?width=96&height=96&method=crop&animated=true`)
    assert.equal(animated.status, 200)
    assert.equal(animated.headers.get('content-type'), 'image/gif')
    assert.equal((await sharp(animated.bytes, { animated: true }).metadata()).pages, 3)
    const still = await download(t, alice.access_token, `${V1}/thumbnail/${up.serverName}/${up.mediaId}?width=96&height=96&method=crop`)
    assert.equal(still.headers.get('content-type'), 'image/png')
    assert.equal((await sharp(still.bytes, { animated: true }).metadata()).pages ?? 1, 1)
  })

  it('stores one thumbnail of a format that cannot animate, whether animated is asked for or not', async () => {
    const up = await upload(t, alice.access_token, await jpeg(300, 200), 'image/jpeg')
    for (const animated of ['true', 'false']) {
      const got = await download(t, alice.access_token, `${V1}/thumbnail/${up.serverName}/${up.mediaId}?width=96&height=96&method=crop&animated=${animated}`)
      assert.equal(got.status, 200)
    }
    const { rows } = await t.server.ctx.storage.db.query<{ n: number }>('SELECT count(*)::int AS n FROM media_thumbnails WHERE media_id = $1', [up.mediaId])
    assert.equal(rows[0]?.n, 1)
  })

  it('does not enlarge a small image', async () => {
    const up = await upload(t, alice.access_token, await png(50, 40), 'image/png')
    const got = await download(t, alice.access_token, `${V1}/thumbnail/${up.serverName}/${up.mediaId}?width=800&height=600`)
    const meta = await sharp(got.bytes).metadata()
    assert.deepEqual([meta.width, meta.height], [50, 40])
  })

  it('answers 400 M_UNKNOWN for content that cannot be thumbnailed', async () => {
    const up = await upload(t, alice.access_token, 'not an image', 'text/plain')
    assertError(await t.api.get(`${V1}/thumbnail/${up.serverName}/${up.mediaId}?width=32&height=32`, alice.access_token), 400, 'M_UNKNOWN')
    const svg = await upload(t, alice.access_token, '<svg xmlns="http://www.w3.org/2000/svg"/>', 'image/svg+xml')
    assertError(await t.api.get(`${V1}/thumbnail/${svg.serverName}/${svg.mediaId}?width=32&height=32`, alice.access_token), 400, 'M_UNKNOWN')
    // SVG bytes labelled as a format sharp reads never reach sharp: the label is checked at upload.
    const disguised = await upload(t, alice.access_token, '<svg xmlns="http://www.w3.org/2000/svg"/>', 'image/tiff')
    assert.equal((await t.server.ctx.storage.repos.media.get(disguised.serverName, disguised.mediaId))?.content_type, 'application/octet-stream')
    assertError(await t.api.get(`${V1}/thumbnail/${disguised.serverName}/${disguised.mediaId}?width=32&height=32`, alice.access_token), 400, 'M_UNKNOWN')
  })

  it('answers 400 M_UNKNOWN for a corrupt image, M_NOT_FOUND for unknown media', async () => {
    const broken = Buffer.concat([(await png(100, 100)).subarray(0, 60)])
    const up = await upload(t, alice.access_token, broken, 'image/png')
    assertError(await t.api.get(`${V1}/thumbnail/${up.serverName}/${up.mediaId}?width=32&height=32`, alice.access_token), 400, 'M_UNKNOWN')
    assertError(await t.api.get(`${V1}/thumbnail/${t.config.server_name}/missing?width=32&height=32`, alice.access_token), 404, 'M_NOT_FOUND')
  })

  it('refuses bad dimensions with M_INVALID_PARAM', async () => {
    const up = await upload(t, alice.access_token, await png(10, 10), 'image/png')
    assertError(await t.api.get(`${V1}/thumbnail/${up.serverName}/${up.mediaId}?width=-1&height=32`, alice.access_token), 400, 'M_INVALID_PARAM')
    assertError(await t.api.get(`${V1}/thumbnail/${up.serverName}/${up.mediaId}?width=32`, alice.access_token), 400, 'M_MISSING_PARAM')
  })
})

describe('asynchronous upload (POST /media/v1/create, PUT /media/v3/upload/{serverName}/{mediaId})', () => {
  it('reserves an ID, waits for the content and serves it once uploaded', async () => {
    const created = await t.api.post('/_matrix/media/v1/create', {}, bob.access_token)
    assert.equal(created.status, 200)
    assert.ok(created.body.unused_expires_at > Date.now())
    const [serverName, mediaId] = String(created.body.content_uri).replace('mxc://', '').split('/') as [string, string]
    assertError(await t.api.get(`${V1}/download/${serverName}/${mediaId}?timeout_ms=0`, bob.access_token), 504, 'M_NOT_YET_UPLOADED')
    const waiting = download(t, bob.access_token, `${V1}/download/${serverName}/${mediaId}?timeout_ms=10000`)
    await new Promise((r) => setTimeout(r, 300))
    const put = await t.api.request('PUT', `/_matrix/media/v3/upload/${serverName}/${mediaId}`, { body: Buffer.from('later'), token: bob.access_token, headers: { 'Content-Type': 'text/plain' } })
    assert.equal(put.status, 200, JSON.stringify(put.body))
    const got = await waiting
    assert.equal(got.status, 200)
    assert.equal(got.bytes.toString(), 'later')
    const again = await t.api.request('PUT', `/_matrix/media/v3/upload/${serverName}/${mediaId}`, { body: Buffer.from('again'), token: bob.access_token, headers: { 'Content-Type': 'text/plain' } })
    assertError(again, 409, 'M_CANNOT_OVERWRITE_MEDIA')
  })

  it("refuses another user's media ID with M_FORBIDDEN", async () => {
    const created = await t.api.post('/_matrix/media/v1/create', {}, bob.access_token)
    const path = String(created.body.content_uri).replace('mxc://', '')
    const res = await t.api.request('PUT', `/_matrix/media/v3/upload/${path}`, { body: Buffer.from('x'), token: alice.access_token, headers: { 'Content-Type': 'text/plain' } })
    assertError(res, 403, 'M_FORBIDDEN')
    await t.api.request('PUT', `/_matrix/media/v3/upload/${path}`, { body: Buffer.from('x'), token: bob.access_token, headers: { 'Content-Type': 'text/plain' } })
  })

  it('limits pending uploads per user with M_LIMIT_EXCEEDED', async () => {
    const carol = await registerUser(t.api)
    assert.equal((await t.api.post('/_matrix/media/v1/create', {}, carol.access_token)).status, 200)
    assert.equal((await t.api.post('/_matrix/media/v1/create', {}, carol.access_token)).status, 200)
    assertError(await t.api.post('/_matrix/media/v1/create', {}, carol.access_token), 429, 'M_LIMIT_EXCEEDED')
  })

  it('expires reservations that never got content', async () => {
    const dave = await registerUser(t.api)
    const created = await t.api.post('/_matrix/media/v1/create', {}, dave.access_token)
    const [serverName, mediaId] = String(created.body.content_uri).replace('mxc://', '').split('/') as [string, string]
    const result = await sweepMedia(t.server.ctx.storage, t.server.ctx.media.media, t.config.media, created.body.unused_expires_at + 1)
    assert.ok(result.pending >= 1)
    const res = await t.api.request('PUT', `/_matrix/media/v3/upload/${serverName}/${mediaId}`, { body: Buffer.from('x'), token: dave.access_token, headers: { 'Content-Type': 'text/plain' } })
    assertError(res, 404, 'M_NOT_FOUND')
  })

  it('refuses an unknown media ID with M_NOT_FOUND', async () => {
    const res = await t.api.request('PUT', `/_matrix/media/v3/upload/${t.config.server_name}/nope`, { body: Buffer.from('x'), token: bob.access_token, headers: { 'Content-Type': 'text/plain' } })
    assertError(res, 404, 'M_NOT_FOUND')
  })
})

describe('legacy unauthenticated /_matrix/media/v3/download and thumbnail', () => {
  it('serve media uploaded before the cut-off without a token', async () => {
    const up = await upload(t, alice.access_token, await png(400, 300), 'image/png')
    const got = await download(t, null, `/_matrix/media/v3/download/${up.serverName}/${up.mediaId}`)
    assert.equal(got.status, 200)
    assert.equal(got.headers.get('content-security-policy'), "sandbox; default-src 'none'")
    const thumb = await download(t, null, `/_matrix/media/v3/thumbnail/${up.serverName}/${up.mediaId}?width=32&height=32&method=crop`)
    assert.equal(thumb.status, 200)
  })

  it('answer M_NOT_FOUND for media uploaded after the cut-off', async () => {
    const up = await upload(t, alice.access_token, 'new', 'text/plain')
    await t.server.ctx.storage.db.query('UPDATE media SET created_ts = $1 WHERE media_id = $2', [CUTOFF + 1, up.mediaId])
    assertError(await t.api.get(`/_matrix/media/v3/download/${up.serverName}/${up.mediaId}`), 404, 'M_NOT_FOUND')
    assertError(await t.api.get(`/_matrix/media/v3/thumbnail/${up.serverName}/${up.mediaId}?width=32&height=32`), 404, 'M_NOT_FOUND')
    // The authenticated endpoint still serves it.
    assert.equal((await download(t, alice.access_token, `${V1}/download/${up.serverName}/${up.mediaId}`)).status, 200)
  })
})

describe('retention', () => {
  it('deletes local media not accessed for local_media_lifetime_ms, with its blob', async () => {
    const up = await upload(t, alice.access_token, 'forgotten file contents', 'text/plain')
    const row = await t.server.ctx.storage.repos.media.get(up.serverName, up.mediaId)
    await t.server.ctx.storage.db.query('UPDATE media SET last_access_ts = 1 WHERE media_id = $1', [up.mediaId])
    const config = { ...t.config.media, retention: { ...t.config.media.retention, local_media_lifetime_ms: 1000 } }
    await t.server.ctx.storage.db.query('UPDATE media SET last_access_ts = $1 WHERE media_id <> $2 AND remote = false', [Date.now(), up.mediaId])
    const result = await sweepMedia(t.server.ctx.storage, t.server.ctx.media.media, config, Date.now())
    assert.equal(result.local, 1)
    assertError(await t.api.get(`${V1}/download/${up.serverName}/${up.mediaId}`, alice.access_token), 404, 'M_NOT_FOUND')
    assert.equal(await t.server.ctx.media.media.store.get(row!.sha256!), null)
  })

  it('deletes cached remote media not accessed for remote_media_lifetime_ms, keeping a blob local media still uses', async () => {
    // The cache row is written as a federation fetch writes it (test/federation/remote-queries.test.ts fetches for real).
    const up = await upload(t, alice.access_token, 'shared by a local and a cached remote file', 'text/plain')
    const row = await t.server.ctx.storage.repos.media.get(up.serverName, up.mediaId)
    const content = { contentType: 'text/plain', uploadName: null, size: Number(row!.size), sha256: row!.sha256! }
    assert.equal(await t.server.ctx.storage.repos.media.insertRemote('remote.example', 'cachedmedia', content, 1), true)
    const config = { ...t.config.media, retention: { ...t.config.media.retention, remote_media_lifetime_ms: 1000, local_media_lifetime_ms: null } }
    const result = await sweepMedia(t.server.ctx.storage, t.server.ctx.media.media, config, Date.now())
    assert.equal(result.remote, 1)
    assert.equal(result.local, 0)
    assert.equal(await t.server.ctx.storage.repos.media.get('remote.example', 'cachedmedia'), null)
    const local = await t.api.get(`${V1}/download/${up.serverName}/${up.mediaId}`, alice.access_token)
    assert.equal(local.status, 200, 'the local file and its blob stay')
  })
})

describe('media admin API (/_synapse/admin/v1)', () => {
  let admin: string
  before(async () => {
    const account = await t.server.ctx.accounts.createAccount({ username: `mediaadmin${process.pid}`, password: 'a long enough password', admin: true, login: {} })
    admin = account.access_token as string
  })

  it('quarantines media (served as M_NOT_FOUND) and releases it', async () => {
    const up = await upload(t, alice.access_token, 'bad', 'text/plain')
    assert.equal((await t.api.post(`/_synapse/admin/v1/media/quarantine/${up.serverName}/${up.mediaId}`, {}, admin)).status, 200)
    assertError(await t.api.get(`${V1}/download/${up.serverName}/${up.mediaId}`, alice.access_token), 404, 'M_NOT_FOUND')
    const info = await t.api.get(`/_synapse/admin/v1/media/${up.serverName}/${up.mediaId}`, admin)
    assert.equal(info.body.media_info.quarantined_by, (await t.api.get('/_matrix/client/v3/account/whoami', admin)).body.user_id)
    await t.api.post(`/_synapse/admin/v1/media/unquarantine/${up.serverName}/${up.mediaId}`, {}, admin)
    assert.equal((await download(t, alice.access_token, `${V1}/download/${up.serverName}/${up.mediaId}`)).status, 200)
  })

  it('does not quarantine protected media', async () => {
    const up = await upload(t, alice.access_token, 'keep', 'text/plain')
    await t.api.post(`/_synapse/admin/v1/media/protect/${up.mediaId}`, {}, admin)
    await t.api.post(`/_synapse/admin/v1/media/quarantine/${up.serverName}/${up.mediaId}`, {}, admin)
    assert.equal((await download(t, alice.access_token, `${V1}/download/${up.serverName}/${up.mediaId}`)).status, 200)
  })

  it("lists a user's media with paging", async () => {
    const erin = await registerUser(t.api)
    for (const n of [1, 2, 3]) await upload(t, erin.access_token, `file ${n}`, 'text/plain', `f${n}.txt`)
    const page = await t.api.get(`/_synapse/admin/v1/users/${encodeURIComponent(erin.user_id)}/media?limit=2`, admin)
    assert.equal(page.status, 200)
    assert.equal(page.body.total, 3)
    assert.equal(page.body.media.length, 2)
    assert.equal(page.body.next_token, 2)
    assert.deepEqual(Object.keys(page.body.media[0]).sort(), ['created_ts', 'last_access_ts', 'media_id', 'media_length', 'media_type', 'quarantined_by', 'safe_from_quarantine', 'upload_name'])
    const del = await t.api.delete(`/_synapse/admin/v1/users/${encodeURIComponent(erin.user_id)}/media`, undefined, admin)
    assert.equal(del.body.total, 3)
  })

  it('deletes one media item', async () => {
    const up = await upload(t, alice.access_token, 'delete me', 'text/plain')
    const res = await t.api.delete(`/_synapse/admin/v1/media/${up.serverName}/${up.mediaId}`, undefined, admin)
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, { deleted_media: [up.mediaId], total: 1 })
    assertError(await t.api.get(`${V1}/download/${up.serverName}/${up.mediaId}`, alice.access_token), 404, 'M_NOT_FOUND')
  })

  it("lists and quarantines the media a room's events name", async () => {
    const owner = new RoomClient(t.api, { ...alice, device_id: 'x' })
    const roomId = await owner.createRoom({})
    const up = await upload(t, alice.access_token, await png(30, 30), 'image/png')
    const sent = await owner.put(`/rooms/${encodeURIComponent(roomId)}/send/m.room.message/m1`, { msgtype: 'm.image', body: 'pic', url: up.mxc })
    assert.equal(sent.status, 200)
    const listed = await t.api.get(`/_synapse/admin/v1/room/${encodeURIComponent(roomId)}/media`, admin)
    assert.deepEqual(listed.body, { local: [up.mxc], remote: [] })
    const q = await t.api.post(`/_synapse/admin/v1/room/${encodeURIComponent(roomId)}/media/quarantine`, {}, admin)
    assert.equal(q.body.num_quarantined, 1)
    assertError(await t.api.get(`${V1}/download/${up.serverName}/${up.mediaId}`, alice.access_token), 404, 'M_NOT_FOUND')
  })

  it('is refused to non-admins', async () => {
    assertError(await t.api.get(`/_synapse/admin/v1/users/${encodeURIComponent(alice.user_id)}/media`, alice.access_token), 403, 'M_FORBIDDEN')
  })
})
