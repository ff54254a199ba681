// URL previews and the outbound guard: OpenGraph extraction with the image stored as media, caching, size
// and time limits, and refusal of loopback/private/link-local/multicast targets, directly, through DNS and
// through a redirect. A loopback server on 127.0.0.2 stands in for "the internet" (allowlisted); 127.0.0.1
// stays forbidden.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after } from 'node:test'
import { assertError } from '../support/rooms.ts'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'
import { BlockedAddressError, OutboundGuard } from '../../src/outbound/index.ts'
import { download, png, V1 } from './media-support.ts'
import { whileHealthy } from '../support/hostile.ts'

const image = await png(120, 80)
let pageHits = 0
const site: Server = createServer((req, res) => {
  const port = (site.address() as AddressInfo).port
  if (req.url === '/page') {
    pageHits++
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(`<html><head><title>Fallback title</title>
      <meta property="og:title" content="Homestead &amp; friends">
      <meta property="og:description" content="A small homeserver">
      <meta property="og:image" content="/img.png"></head><body>hi</body></html>`)
  } else if (req.url === '/plain') {
    res.writeHead(200, { 'content-type': 'text/html' })
    res.end('<html><head><title> Just a title </title><meta name="description" content="From meta"></head></html>')
  } else if (req.url === '/img.png') {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(image.length) })
    res.end(image)
  } else if (req.url === '/huge') {
    res.writeHead(200, { 'content-type': 'text/html' })
    res.end('x'.repeat(200 * 1024))
  } else if (req.url?.startsWith('/hostile/')) {
    // Pathological HTML a regular-expression or tree-building parser chokes on, each ~400 KB and more.
    const body = HOSTILE[req.url.slice('/hostile/'.length)]
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'text/html' })
    res.end(body)
  } else if (req.url === '/endless-after-head') {
    // The preview is complete after <head>; the page then never ends, so only a reader that stops there answers.
    res.writeHead(200, { 'content-type': 'text/html' })
    res.write(`<html><head><meta property="og:title" content="Early"><meta property="og:description" content="d">
      <meta property="og:image" content="http://127.0.0.1/x.png"></head><body>${'<p>text</p>'.repeat(1000)}`)
    const more = setInterval(() => res.write('<p>more</p>'), 50)
    res.on('close', () => clearInterval(more))
  } else if (req.url === '/slow') {
    // Never answers within the preview timeout.
    setTimeout(() => res.end('late'), 5000).unref()
  } else if (req.url === '/to-loopback') {
    res.writeHead(302, { location: `http://127.0.0.1:${port}/page` })
    res.end()
  } else if (req.url === '/to-localhost') {
    res.writeHead(301, { location: `http://localhost:${port}/page` })
    res.end()
  } else {
    res.writeHead(404)
    res.end()
  }
})
const HOSTILE: Record<string, string> = {
  'unclosed-meta': `<html><head><title>t</title>${'<meta '.repeat(70_000)}`,
  'unclosed-meta-attrs': `<html><head>${'<meta property="og:x" content="'.repeat(13_000)}`,
  'deep-nesting': `<html><head><title>Deep</title></head><body>${'<div>'.repeat(200_000)}`,
  'huge-attribute': `<html><head><meta property="og:title" content="${'a'.repeat(900_000)}"></head></html>`,
  'unclosed-comment': `<html><head><title>c</title><!--${'<meta property="og:title" content="no">'.repeat(20_000)}`,
  'unclosed-script': `<html><head><script>${'<meta a="'.repeat(100_000)}`,
  'many-attributes': `<html><head><meta ${Array.from({ length: 60_000 }, (_, i) => `a${i}="v"`).join(' ')}>`,
}

await new Promise<void>((resolve) => site.listen(0, '127.0.0.2', resolve))
after(() => new Promise<void>((resolve) => site.close(() => resolve())))
site.unref()
const origin = `http://127.0.0.2:${(site.address() as AddressInfo).port}`

const disabled: TestServer = await startTestServer()
const t: TestServer = await startTestServer({
  'media.url_preview.enabled': true,
  'outbound.ip_range_allowlist': ['127.0.0.2/32'],
  'media.url_preview.max_spider_size': 64 * 1024,
  'media.url_preview.timeout_ms': 1000,
})
const user = await registerUser(t.api)
// A server that reads pages of a few megabytes, so the parser's own budget is what bounds the work.
const big: TestServer = await startTestServer({
  'media.url_preview.enabled': true,
  'outbound.ip_range_allowlist': ['127.0.0.2/32'],
  'media.url_preview.max_spider_size': 4 * 1024 * 1024,
  'media.url_preview.max_html_bytes': 2 * 1024 * 1024,
  'media.url_preview.timeout_ms': 10000,
})
const bigUser = await registerUser(big.api)
const preview = (url: string) => t.api.get(`${V1}/preview_url?url=${encodeURIComponent(url)}`, user.access_token)

describe('GET /_matrix/client/v1/media/preview_url', () => {
  it('is disabled by default (M_UNRECOGNIZED)', async () => {
    const someone = await registerUser(disabled.api)
    assertError(await disabled.api.get(`${V1}/preview_url?url=${encodeURIComponent(`${origin}/page`)}`, someone.access_token), 404, 'M_UNRECOGNIZED')
  })

  it('returns OpenGraph data with the image stored as media, and caches the result', async () => {
    const res = await preview(`${origin}/page`)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body['og:title'], 'Homestead & friends')
    assert.equal(res.body['og:description'], 'A small homeserver')
    assert.match(res.body['og:image'], /^mxc:\/\//)
    assert.equal(res.body['og:image:type'], 'image/png')
    assert.equal(res.body['matrix:image:size'], image.length)
    assert.deepEqual([res.body['og:image:width'], res.body['og:image:height']], [120, 80], "the image's own size")
    const [serverName, mediaId] = String(res.body['og:image']).replace('mxc://', '').split('/')
    const got = await download(t, user.access_token, `${V1}/download/${serverName}/${mediaId}`)
    assert.ok(got.bytes.equals(image))
    const hits = pageHits
    const again = await preview(`${origin}/page#fragment`)
    assert.deepEqual(again.body, res.body)
    assert.equal(pageHits, hits, 'the cached preview was fetched again')
  })

  it('falls back to <title> and the meta description', async () => {
    const res = await preview(`${origin}/plain`)
    assert.deepEqual(res.body, { 'og:title': 'Just a title', 'og:description': 'From meta' })
  })

  it('previews an image URL as the image itself', async () => {
    const res = await preview(`${origin}/img.png`)
    assert.match(res.body['og:image'], /^mxc:\/\//)
    assert.deepEqual([res.body['og:image:width'], res.body['og:image:height']], [120, 80])
  })

  it('refuses loopback targets (M_FORBIDDEN), by address and by name', async () => {
    const port = (site.address() as AddressInfo).port
    assertError(await preview(`http://127.0.0.1:${port}/page`), 403, 'M_FORBIDDEN')
    assertError(await preview(`http://localhost:${port}/page`), 403, 'M_FORBIDDEN')
    assertError(await preview(`http://[::1]:${port}/page`), 403, 'M_FORBIDDEN')
  })

  it('refuses a URL too long to cache, also when percent-encoding makes it so, with M_INVALID_PARAM', async () => {
    assertError(await preview(`http://example.com/${'a'.repeat(2100)}`), 400, 'M_INVALID_PARAM')
    // 1,000 characters sent, ~6,000 once each é is percent-encoded.
    assertError(await preview(`http://example.com/${'é'.repeat(1000)}`), 400, 'M_INVALID_PARAM')
  })

  it('refuses a redirect into 127.0.0.1 from an allowed host', async () => {
    const hits = pageHits
    assertError(await preview(`${origin}/to-loopback`), 403, 'M_FORBIDDEN')
    assertError(await preview(`${origin}/to-localhost`), 403, 'M_FORBIDDEN')
    assert.equal(pageHits, hits, 'the loopback page was fetched')
  })

  it('refuses pages over max_spider_size with M_TOO_LARGE', async () => {
    assertError(await preview(`${origin}/huge`), 502, 'M_TOO_LARGE')
  })

  it('gives up after the timeout', async () => {
    const started = Date.now()
    const res = await preview(`${origin}/slow`)
    assert.equal(res.status, 504)
    assert.ok(Date.now() - started < 4000)
  })

  it('previews pathological HTML (unclosed tags, deep nesting, huge attributes) promptly, with /health answering meanwhile', async () => {
    for (const [name, body] of Object.entries(HOSTILE)) {
      assert.ok(body.length > 400_000, name)
      const res = await whileHealthy(big.api, () =>
        big.api.get(`${V1}/preview_url?url=${encodeURIComponent(`${origin}/hostile/${name}`)}`, bigUser.access_token),
      )
      assert.equal(res.status, 200, `${name}: ${JSON.stringify(res.body)}`)
      assert.equal(typeof res.body, 'object', name)
    }
    const titled = await big.api.get(`${V1}/preview_url?url=${encodeURIComponent(`${origin}/hostile/deep-nesting`)}`, bigUser.access_token)
    assert.equal(titled.body['og:title'], 'Deep')
    const clipped = await big.api.get(`${V1}/preview_url?url=${encodeURIComponent(`${origin}/hostile/huge-attribute`)}`, bigUser.access_token)
    assert.equal(String(clipped.body['og:title']).length, 1000)
  })

  it('stops reading a page once its preview is complete', async () => {
    const res = await preview(`${origin}/endless-after-head`)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body, { 'og:title': 'Early', 'og:description': 'd' })
  })

  it('refuses other schemes with M_INVALID_PARAM', async () => {
    assertError(await preview('file:///etc/passwd'), 400, 'M_INVALID_PARAM')
    assertError(await preview('not a url'), 400, 'M_INVALID_PARAM')
  })
})

describe('OutboundGuard', () => {
  const guard = new OutboundGuard()

  it('blocks loopback, private, link-local, multicast and special ranges (IPv4 and IPv6)', () => {
    const blocked = [
      '127.0.0.1', '127.1.2.3', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0',
      '224.0.0.1', '239.255.255.250', '255.255.255.255', '198.18.0.1',
      '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '64:ff9b::a00:1', '2002:7f00:1::1',
    ]
    for (const address of blocked) assert.equal(guard.isAllowed(address), false, address)
    for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '2001:4860:4860::8888']) assert.equal(guard.isAllowed(address), true, address)
  })

  it('lets allowlisted ranges through', () => {
    const allowing = new OutboundGuard({ allowlist: ['10.1.0.0/16', 'fd00::/8'] })
    assert.equal(allowing.isAllowed('10.1.2.3'), true)
    assert.equal(allowing.isAllowed('10.2.0.1'), false)
    assert.equal(allowing.isAllowed('fd00::5'), true)
  })

  it('refuses a name when any of its addresses is blocked', async () => {
    const resolving = new OutboundGuard({ resolve: async () => [
      { address: '93.184.216.34', family: 4 },
      { address: '10.0.0.7', family: 4 },
    ] })
    await assert.rejects(resolving.check('mixed.example'), BlockedAddressError)
  })

  it('connects to the address it checked, not to a fresh resolution', async () => {
    // The resolver answers the allowlisted test site once; the request must go there.
    let calls = 0
    const pinned = new OutboundGuard({ allowlist: ['127.0.0.2/32'], resolve: async () => {
      calls++
      return calls === 1 ? [{ address: '127.0.0.2', family: 4 }] : [{ address: '127.0.0.1', family: 4 }]
    } })
    const port = (site.address() as AddressInfo).port
    const res = await pinned.fetch(`http://rebinding.example:${port}/plain`, { maxBytes: 65536, timeoutMs: 2000 })
    assert.equal(res.status, 200)
    res.body.destroy()
    assert.equal(calls, 1)
  })
})
