// Server discovery and the federation client over real DNS (a DNS server on loopback) and real HTTPS
// (a test CA): IP literals, explicit ports, .well-known delegation and its caching, SRV _matrix-fed then
// _matrix, port 8448, the Host header and SNI the spec asks for; the outbound guard and the CA check.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { makeTestCa, startTestDns } from '../support/federation.ts'
import { OutboundGuard } from '../../src/outbound/index.ts'
import { dnsAt, FederationClient, FederationError, federationSecureContext, ServerDiscovery } from '../../src/federation/index.ts'
import { signingKeyFromSeed } from '../../src/protocol/signing.ts'
import { parseXMatrix } from '../../src/protocol/x-matrix.ts'

const ca = makeTestCa()
const names = ['ported.test', 'delegated.test', 'dlg2.test', 'srv.test', 'legacy.test', 'plain.test', 'wk.test', 'wk2.test', 'wkerr.test', '127.0.0.1']
const goodCert = ca.issue(names)
const wrongCert = ca.issue(['other.test'])
const dns = await startTestDns()
const resolver = dnsAt([dns.server])
let now = Date.now()
const clock = { now: () => now }
const key = signingKeyFromSeed('ed25519:t', Buffer.alloc(32, 1))

type Seen = { host: string; sni: string | false | null; path: string; auth: string | null; method: string }
async function listen(credentials: { key: string; cert: string }, host: string, port: number, handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void): Promise<Server | null> {
  const server = createServer(credentials, handler)
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, resolve)
    })
  } catch {
    return null
  }
  return server
}
const echo = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
  const seen: Seen = { host: String(req.headers.host), sni: (req.socket as TLSSocket).servername, path: String(req.url), auth: req.headers.authorization ?? null, method: String(req.method) }
  res.setHeader('content-type', 'application/json')
  if (req.url?.startsWith('/big')) return res.end(JSON.stringify({ pad: 'x'.repeat(5000) }))
  res.end(JSON.stringify(seen))
}
const echoServer = (await listen(goodCert, '127.0.0.1', 0, echo))!
const wrongServer = (await listen(wrongCert, '127.0.0.1', 0, echo))!
const echoPort = (echoServer.address() as AddressInfo).port
const wrongPort = (wrongServer.address() as AddressInfo).port
const wellKnownHits: Record<string, number> = {}
// Privileged ports: the spec's 443 (.well-known) and 8448; skipped where the tests may not bind them.
const wellKnownServer = await listen(goodCert, '127.0.0.61', 443, (req, res) => {
  const host = String(req.headers.host)
  wellKnownHits[host] = (wellKnownHits[host] ?? 0) + 1
  if (req.url !== '/.well-known/matrix/server') return res.writeHead(404).end()
  if (host === 'wk.test') return res.writeHead(200, { 'cache-control': 'public, max-age=600' }).end(JSON.stringify({ 'm.server': `delegated.test:${echoPort}` }))
  if (host === 'wk2.test') return res.writeHead(200).end(JSON.stringify({ 'm.server': 'dlg2.test' }))
  res.writeHead(404).end('{}')
})
const port8448 = await listen(goodCert, '127.0.0.63', 8448, echo)
const privileged = wellKnownServer !== null && port8448 !== null ? {} : { skip: 'cannot listen on ports 443 and 8448 here' }

const A = (address: string) => [{ type: 'A' as const, address }]
const SRV = (target: string, port: number) => [{ type: 'SRV' as const, priority: 10, weight: 5, port, target }]
dns.records.set('ported.test', A('127.0.0.1'))
dns.records.set('delegated.test', A('127.0.0.1'))
dns.records.set('wk.test', A('127.0.0.61'))
dns.records.set('wk2.test', A('127.0.0.61'))
dns.records.set('wkerr.test', A('127.0.0.61'))
dns.records.set('dlg2.test', A('127.0.0.64'))
dns.records.set('_matrix-fed._tcp.dlg2.test', SRV('target.test', echoPort))
dns.records.set('srv.test', A('127.0.0.62'))
dns.records.set('_matrix-fed._tcp.srv.test', SRV('target.test', echoPort))
dns.records.set('_matrix._tcp.srv.test', SRV('nowhere.test', 1))
dns.records.set('legacy.test', A('127.0.0.62'))
dns.records.set('_matrix._tcp.legacy.test', SRV('target.test', echoPort))
dns.records.set('target.test', A('127.0.0.1'))
dns.records.set('plain.test', A('127.0.0.63'))
dns.records.set('private.test', A('10.0.0.1'))
dns.records.set('wrong.test', A('127.0.0.1'))

function federation(options: { allowlist?: string[]; caFile?: string | null } = {}) {
  const guard = new OutboundGuard({ allowlist: options.allowlist ?? ['127.0.0.0/8'], resolve: (host) => resolver.lookup(host) })
  const secureContext = federationSecureContext(options.caFile === undefined ? ca.caFile : options.caFile)
  const discovery = new ServerDiscovery({ dns: resolver, guard, secureContext, clock })
  const client = new FederationClient({ serverName: 'origin.test', signingKey: () => key, discovery, guard, secureContext })
  return { discovery, client }
}
const { discovery, client } = federation()

after(async () => {
  client.close()
  for (const server of [echoServer, wrongServer, wellKnownServer, port8448]) server?.close()
  await dns.close()
  ca.remove()
})

async function failure(promise: Promise<unknown>): Promise<FederationError> {
  try {
    await promise
  } catch (err) {
    assert.ok(err instanceof FederationError, String(err))
    return err
  }
  throw new Error('the request succeeded')
}

describe('server discovery', () => {
  it('connects to an IP literal with its port, the Host header the server name, and no SNI', async () => {
    const seen = await client.get<Seen>(`127.0.0.1:${echoPort}`, '/_matrix/federation/v1/version')
    assert.equal(seen.host, `127.0.0.1:${echoPort}`)
    assert.equal(seen.sni, false)
  })

  it('resolves a name with an explicit port by its A record; Host is name:port, SNI the name', async () => {
    const seen = await client.get<Seen>(`ported.test:${echoPort}`, '/x')
    assert.deepEqual([seen.host, seen.sni], [`ported.test:${echoPort}`, 'ported.test'])
    assert.ok(!dns.asked.some((q) => q.includes('_tcp.ported.test')), 'no SRV lookup for a name with a port')
  })

  it('follows .well-known to a delegated name:port, caching the answer for its max-age', privileged, async () => {
    const seen = await client.get<Seen>('wk.test', '/x')
    assert.deepEqual([seen.host, seen.sni], [`delegated.test:${echoPort}`, 'delegated.test'])
    await client.get('wk.test', '/x')
    assert.equal(wellKnownHits['wk.test'], 1)
    now += 599_000
    await client.get('wk.test', '/x')
    assert.equal(wellKnownHits['wk.test'], 1)
    now += 2000
    await client.get('wk.test', '/x')
    assert.equal(wellKnownHits['wk.test'], 2)
  })

  it('looks up _matrix-fed._tcp of a delegated name without port; Host and certificate are the delegated name', privileged, async () => {
    const seen = await client.get<Seen>('wk2.test', '/x')
    assert.deepEqual([seen.host, seen.sni], ['dlg2.test', 'dlg2.test'])
  })

  it('without .well-known uses _matrix-fed._tcp, before the deprecated _matrix._tcp; Host and SNI are the server name', privileged, async () => {
    const seen = await client.get<Seen>('srv.test', '/x')
    assert.deepEqual([seen.host, seen.sni], ['srv.test', 'srv.test'])
    const legacy = await client.get<Seen>('legacy.test', '/x')
    assert.deepEqual([legacy.host, legacy.sni], ['legacy.test', 'legacy.test'])
  })

  it('falls back to port 8448 when there is no .well-known and no SRV record', privileged, async () => {
    const seen = await client.get<Seen>('plain.test', '/x')
    assert.deepEqual([seen.host, seen.sni], ['plain.test', 'plain.test'])
  })

  it('caches a failed .well-known for an hour, not for its default day', privileged, async () => {
    await client.get(`wkerr.test`, '/x').catch(() => {})
    now += 30 * 60_000
    await client.get(`wkerr.test`, '/x').catch(() => {})
    assert.equal(wellKnownHits['wkerr.test'], 1)
    now += 31 * 60_000
    await client.get(`wkerr.test`, '/x').catch(() => {})
    assert.equal(wellKnownHits['wkerr.test'], 2)
  })

  it('refuses a name that is not a server name', async () => {
    assert.equal((await failure(client.get('not a name', '/x'))).kind, 'invalid')
  })
})

describe('FederationClient', () => {
  it('signs requests with X-Matrix naming origin, destination and key', async () => {
    const seen = await client.post<Seen>(`ported.test:${echoPort}`, '/_matrix/federation/v1/x', { a: 1 })
    const auth = parseXMatrix(seen.auth ?? '')
    assert.deepEqual(auth && [auth.origin, auth.destination, auth.key], ['origin.test', `ported.test:${echoPort}`, 'ed25519:t'])
    const unsigned = await client.request<Seen>(`ported.test:${echoPort}`, { method: 'GET', path: '/_matrix/key/v2/server', signed: false })
    assert.equal(unsigned.auth, null)
  })

  it('refuses addresses the outbound guard blocks, after resolving the name', async () => {
    assert.equal((await failure(client.get('private.test:8448', '/x'))).kind, 'blocked')
    const strict = federation({ allowlist: [] })
    assert.equal((await failure(strict.client.get(`ported.test:${echoPort}`, '/x'))).kind, 'blocked')
    assert.equal((await failure(strict.client.get(`127.0.0.1:${echoPort}`, '/x'))).kind, 'blocked')
    strict.client.close()
  })

  it('refuses a certificate from a CA it does not trust, and one for another name', async () => {
    const noTestCa = federation({ caFile: null })
    assert.equal((await failure(noTestCa.client.get(`ported.test:${echoPort}`, '/x'))).kind, 'unreachable')
    noTestCa.client.close()
    assert.equal((await failure(client.get(`wrong.test:${wrongPort}`, '/x'))).kind, 'unreachable')
  })

  it('refuses an answer larger than its limit', async () => {
    assert.equal((await failure(client.request(`ported.test:${echoPort}`, { method: 'GET', path: '/big', maxBytes: 1000 }))).kind, 'too_large')
  })
})
