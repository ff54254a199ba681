// The outbound guard's address classifier: IPv6 addresses that carry an IPv4 one, in every spelling, are
// judged by the IPv4 address they reach; and its POST (identity servers), checked like a GET.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { OutboundGuard } from '../../src/outbound/index.ts'

const guard = new OutboundGuard()

describe('OutboundGuard.isAllowed: IPv4 inside IPv6', () => {
  it('refuses IPv4-mapped forms of refused addresses, in any spelling', () => {
    for (const address of ['::ffff:127.0.0.1', '::ffff:7f00:1', '::FFFF:7F00:0001', '0:0:0:0:0:ffff:7f00:1', '0::ffff:10.0.0.1', '::ffff:a9fe:a9fe']) {
      assert.equal(guard.isAllowed(address), false, address)
    }
  })

  it('refuses IPv4-compatible forms (::a.b.c.d) of refused addresses', () => {
    for (const address of ['::7f00:1', '::127.0.0.1', '::a00:1', '::a9fe:a9fe', '0:0:0:0:0:0:c0a8:101']) assert.equal(guard.isAllowed(address), false, address)
  })

  it('refuses IPv4-translated forms (::ffff:0:a.b.c.d) of refused addresses', () => {
    for (const address of ['::ffff:0:7f00:1', '::ffff:0:127.0.0.1', '0:0:0:0:ffff:0:a00:1']) assert.equal(guard.isAllowed(address), false, address)
  })

  it('judges mapped, compatible and translated forms of public addresses as those addresses', () => {
    for (const address of ['::ffff:8.8.8.8', '::ffff:808:808', '::808:808', '::ffff:0:808:808']) assert.equal(guard.isAllowed(address), true, address)
    const allowing = new OutboundGuard({ allowlist: ['127.0.0.2/32'] })
    assert.equal(allowing.isAllowed('::ffff:127.0.0.2'), true, 'an allowlisted IPv4 address in mapped form')
    assert.equal(allowing.isAllowed('::ffff:0:7f00:1'), false)
  })

  it('refuses NAT64, 6to4 and Teredo addresses by default', () => {
    for (const address of ['64:ff9b::808:808', '64:ff9b::7f00:1', '2002:808:808::1', '2002:7f00:1::1', '2001:0:4136:e378:8000:63bf:3fff:fdd2']) {
      assert.equal(guard.isAllowed(address), false, address)
    }
  })

  it('refuses NAT64, 6to4 and Teredo addresses carrying a refused IPv4 address even when their prefix is allowlisted', () => {
    const gateways = new OutboundGuard({ allowlist: ['64:ff9b::/96', '2002::/16', '2001::/32'] })
    for (const address of ['64:ff9b::808:808', '64:ff9b::8.8.4.4', '2002:808:808::1', '2001:0:808:808::f7f7:f7f7']) {
      assert.equal(gateways.isAllowed(address), true, address)
    }
    const refused = [
      '64:ff9b::7f00:1', '64:ff9b::127.0.0.1', '64:ff9b::a9fe:a9fe', '64:ff9b::c0a8:1',
      '2002:7f00:1::1', '2002:a00:1::', '2002:a9fe:a9fe:1::1',
      // Teredo: a private server, or a client (stored inverted) of 127.0.0.1 or 10.0.0.1.
      '2001:0:a00:1::f7f7:f7f7', '2001:0:808:808:0:0:80ff:fffe', '2001:0:808:808::f5ff:fffe',
    ]
    for (const address of refused) assert.equal(gateways.isAllowed(address), false, address)
  })

  it('still refuses the IPv6 special ranges and allows public IPv6', () => {
    for (const address of ['::', '::1', 'fe80::1', 'fc00::1', 'ff02::1', '2001:db8::1']) assert.equal(guard.isAllowed(address), false, address)
    for (const address of ['2606:4700:4700::1111', '2001:4860:4860::8888']) assert.equal(guard.isAllowed(address), true, address)
  })
})

describe('OutboundGuard: outbound.ip_range_blocklist and ip_range_allowlist', () => {
  it("blocks Synapse's default ranges by default", () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '100.64.0.1', '169.254.169.254', '224.0.0.1', '::1', 'fe80::1', 'fc00::1', 'fec0::1', 'ff02::1']) {
      assert.equal(guard.isAllowed(address), false, address)
    }
  })

  it('replaces the default blocklist with the configured one', () => {
    const custom = new OutboundGuard({ blocklist: ['8.8.8.0/24', '2001:4860::/32'] })
    assert.equal(custom.isAllowed('8.8.8.8'), false)
    assert.equal(custom.isAllowed('2001:4860:4860::8888'), false)
    assert.equal(custom.isAllowed('10.0.0.1'), true)
    assert.equal(custom.isAllowed('::ffff:8.8.8.8'), false, 'the mapped form of a blocked address')
  })

  it('never allows the unspecified address, whatever the lists say', () => {
    const open = new OutboundGuard({ blocklist: [], allowlist: ['0.0.0.0/0', '::/0'] })
    for (const address of ['0.0.0.0', '::', '0:0:0:0:0:0:0:0', '::ffff:0.0.0.0']) assert.equal(open.isAllowed(address), false, address)
    assert.equal(open.isAllowed('127.0.0.1'), true)
  })

  it('refuses a range that is not a CIDR', () => {
    assert.throws(() => new OutboundGuard({ allowlist: ['10.0.0.0/40'] }), /not a CIDR range/)
    assert.throws(() => new OutboundGuard({ blocklist: ['example.com'] }), /not a CIDR range/)
  })
})

describe('OutboundGuard.fetch: POST', () => {
  it('sends the JSON body and answers a redirect as it is, without following it', async () => {
    const seen: Array<{ method?: string; url?: string; type?: string; body: string }> = []
    const server = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, type: req.headers['content-type'], body })
        res.writeHead(req.url === '/moved' ? 302 : 200, req.url === '/moved' ? { location: '/elsewhere' } : { 'content-type': 'application/json' })
        res.end(req.url === '/moved' ? '' : '{"ok":true}')
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    try {
      const loopback = new OutboundGuard({ allowlist: ['127.0.0.0/8'] })
      const ok = await loopback.fetch(`http://127.0.0.1:${port}/store`, { method: 'POST', json: { a: 1 }, maxBytes: 1024, timeoutMs: 5000 })
      assert.equal(ok.status, 200)
      ok.body.resume()
      const moved = await loopback.fetch(`http://127.0.0.1:${port}/moved`, { method: 'POST', json: {}, maxBytes: 1024, timeoutMs: 5000 })
      assert.equal(moved.status, 302)
      moved.body.resume()
      assert.deepEqual(seen, [
        { method: 'POST', url: '/store', type: 'application/json', body: '{"a":1}' },
        { method: 'POST', url: '/moved', type: 'application/json', body: '{}' },
      ])
      await assert.rejects(guard.fetch(`http://127.0.0.1:${port}/store`, { method: 'POST', json: {}, maxBytes: 1024, timeoutMs: 5000 }), /not allowed/)
      assert.equal(seen.length, 2, 'a refused address is never connected to')
    } finally {
      server.close()
    }
  })
})
