// Federation test fixtures: a test CA made with openssl, TLS fronts that terminate HTTPS for a Homestead
// listening on plain HTTP (as the ALB or the federation listener does), and a DNS server on loopback.
import { execFileSync } from 'node:child_process'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { connect, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls'
import assert from 'node:assert/strict'
import { after } from 'node:test'
import { FederationError } from '../../src/federation/index.ts'
import { startTestServer, type TestServer } from './server.ts'

export interface TestCa {
  dir: string
  caFile: string
  /** A certificate for these names: DNS names and IP addresses. */
  issue(names: string[]): { key: string; cert: string }
  remove(): void
}

/** A throwaway CA (EC P-256, two days), its certificates signed by openssl. */
export function makeTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'hs-ca-'))
  const caFile = join(dir, 'ca.pem')
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', caFile, '-days', '2', '-subj', '/CN=Homestead test CA')
  let serial = 0
  return {
    dir,
    caFile,
    issue(names) {
      const n = ++serial
      const san = names.map((name) => (/^[\d.]+$|:/.test(name) ? `IP:${name}` : `DNS:${name}`)).join(',')
      writeFileSync(join(dir, `leaf${n}.ext`), `subjectAltName=${san}\n`)
      run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `leaf${n}.key`, '-out', `leaf${n}.csr`, '-subj', `/CN=${names[0]}`)
      run('x509', '-req', '-in', `leaf${n}.csr`, '-CA', caFile, '-CAkey', 'ca.key', '-set_serial', String(1000 + n), '-out', `leaf${n}.pem`, '-days', '2', '-extfile', `leaf${n}.ext`)
      return { key: readFileSync(join(dir, `leaf${n}.key`), 'utf8'), cert: readFileSync(join(dir, `leaf${n}.pem`), 'utf8') }
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}

export interface TlsFront {
  server: TlsServer
  port: number
  /** Where decrypted connections go: a Homestead's plain HTTP port on 127.0.0.1. */
  target: number
  /** Request lines seen ("GET /path"), from the decrypted stream. */
  requests: string[]
  close(): Promise<void>
}

/** Terminates TLS on host:0 and pipes each connection to the current target port. */
export async function startTlsFront(credentials: { key: string; cert: string }, host = '127.0.0.1'): Promise<TlsFront> {
  const front: TlsFront = { server: null as unknown as TlsServer, port: 0, target: 0, requests: [], close: async () => {} }
  const open = new Set<{ destroy(): void }>()
  front.server = createTlsServer(credentials, (socket) => {
    const upstream = connect(front.target, '127.0.0.1')
    open.add(socket).add(upstream)
    socket.on('close', () => open.delete(socket))
    upstream.on('close', () => open.delete(upstream))
    socket.on('data', (chunk: Buffer) => {
      for (const m of chunk.toString('latin1').matchAll(/^(GET|POST|PUT|DELETE) (\S+) HTTP\/1\.1\r$/gm)) front.requests.push(`${m[1]} ${m[2]}`)
    })
    socket.pipe(upstream).pipe(socket)
    socket.on('error', () => upstream.destroy())
    upstream.on('error', () => socket.destroy())
  })
  await new Promise<void>((resolve) => front.server.listen(0, host, resolve))
  front.port = (front.server.address() as AddressInfo).port
  // Connections still open (a keep-alive one a stopped server's peer never closed) end with the front.
  front.close = () =>
    new Promise((resolve) => {
      front.server.close(() => resolve())
      for (const socket of open) socket.destroy()
    })
  return front
}

export type DnsRecord = { type: 'A'; address: string } | { type: 'AAAA'; address: string } | { type: 'SRV'; priority: number; weight: number; port: number; target: string }

const TYPE_CODE = { A: 1, AAAA: 28, SRV: 33 } as const

function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean)
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])])
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.split('::') as [string, string | undefined]
  const h = head ? head.split(':') : []
  const t = tail ? tail.split(':') : []
  const words = [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t]
  return Buffer.from(words.flatMap((w) => [parseInt(w, 16) >> 8, parseInt(w, 16) & 255]))
}

export interface TestDns {
  server: string
  records: Map<string, DnsRecord[]>
  /** Questions asked, "name TYPE", in order. */
  asked: string[]
  close(): Promise<void>
}

/** A DNS server on 127.0.0.1 (UDP) answering A, AAAA and SRV questions from `records` (name → records). */
export async function startTestDns(): Promise<TestDns> {
  const socket: UdpSocket = createSocket('udp4')
  const dns: TestDns = { server: '', records: new Map(), asked: [], close: () => new Promise((resolve) => socket.close(() => resolve())) }
  socket.on('message', (query, peer) => {
    let at = 12
    const labels: string[] = []
    while (query[at] !== 0 && at < query.length) {
      const len = query[at] as number
      labels.push(query.subarray(at + 1, at + 1 + len).toString())
      at += len + 1
    }
    const qtype = query.readUInt16BE(at + 1)
    const question = query.subarray(12, at + 5)
    const name = labels.join('.').toLowerCase()
    const typeName = (Object.keys(TYPE_CODE) as Array<keyof typeof TYPE_CODE>).find((k) => TYPE_CODE[k] === qtype) ?? String(qtype)
    dns.asked.push(`${name} ${typeName}`)
    const known = dns.records.get(name)
    const answers = (known ?? []).filter((r) => TYPE_CODE[r.type] === qtype).map((r) => {
      const rdata =
        r.type === 'A' ? Buffer.from(r.address.split('.').map(Number))
        : r.type === 'AAAA' ? ipv6Bytes(r.address)
        : Buffer.concat([Buffer.from([r.priority >> 8, r.priority & 255, r.weight >> 8, r.weight & 255, r.port >> 8, r.port & 255]), encodeName(r.target)])
      const head = Buffer.alloc(12)
      head.writeUInt16BE(0xc00c, 0)
      head.writeUInt16BE(qtype, 2)
      head.writeUInt16BE(1, 4)
      head.writeUInt32BE(60, 6)
      head.writeUInt16BE(rdata.length, 10)
      return Buffer.concat([head, rdata])
    })
    const header = Buffer.alloc(12)
    query.copy(header, 0, 0, 2)
    header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2)
    header.writeUInt16BE(1, 4)
    header.writeUInt16BE(answers.length, 6)
    socket.send(Buffer.concat([header, question, ...answers]), peer.port, peer.address)
  })
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  dns.server = `127.0.0.1:${socket.address().port}`
  return dns
}

export interface FederationFronts {
  ca: TestCa
  frontA: TlsFront
  frontB: TlsFront
  /** The server names the two fronts serve: 127.0.0.1:<port>. */
  nameA: string
  nameB: string
  /** Settings every server of the pair needs: the test CA trusted, loopback allowed, no notary. */
  common(): Record<string, unknown>
  /** Points a front at a Homestead's plain HTTP URL. */
  route(front: TlsFront, url: string): void
  close(): Promise<void>
}

/** A test CA and two HTTPS fronts on loopback, for two Homesteads with different server names. */
export async function federationFronts(): Promise<FederationFronts> {
  const ca = makeTestCa()
  const leaf = ca.issue(['127.0.0.1'])
  const frontA = await startTlsFront(leaf)
  const frontB = await startTlsFront(leaf)
  return {
    ca,
    frontA,
    frontB,
    nameA: `127.0.0.1:${frontA.port}`,
    nameB: `127.0.0.1:${frontB.port}`,
    common: () => ({ 'federation.ca_file': ca.caFile, 'outbound.ip_range_allowlist': ['127.0.0.0/8'], 'federation.trusted_key_servers': [] }),
    route: (front, url) => {
      front.target = Number(new URL(url).port)
    },
    close: async () => {
      await frontA.close()
      await frontB.close()
      ca.remove()
    },
  }
}

/**
 * Two Homesteads named after the two fronts (A and B), each reachable from the other over HTTPS; stopped
 * with the test file. Call at the top level of the file, as startTestServer.
 */
export async function federatedPair(): Promise<{ fronts: FederationFronts; a: TestServer; b: TestServer; nameA: string; nameB: string }> {
  const fronts = await federationFronts()
  const { nameA, nameB, common } = fronts
  const a = await startTestServer({ ...common(), server_name: nameA })
  const b = await startTestServer({ ...common(), server_name: nameB })
  fronts.route(fronts.frontA, a.url)
  fronts.route(fronts.frontB, b.url)
  after(() => fronts.close())
  return { fronts, a, b, nameA, nameB }
}

/** Asserts that a federation request failed with this status and errcode. */
export async function refusedBy(promise: Promise<unknown>, status: number, errcode: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof FederationError, String(err))
    assert.deepEqual([err.status, err.errcode], [status, errcode], err.message)
    return true
  })
}

/**
 * An unsigned GET over HTTPS (as a client or a third party sends it), the server's certificate checked
 * against `ca` for `servername` (default: the host); the answer's JSON body parsed.
 */
export function httpsGet(target: { host: string; port: number; ca: Buffer | string; servername?: string }, path: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: target.host, port: target.port, path, ca: target.ca, ...(target.servername ? { servername: target.servername } : {}) }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}
