// The optional TLS listener for inbound federation (federation.listen): HTTPS with the configured
// certificate, serving the server-server, key and media paths, and nothing of the Client-Server API.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestServer, type TestServer } from '../support/server.ts'
import { httpsGet as httpsGetFrom } from '../support/federation.ts'

// A self-signed certificate for localhost, made with Debian's openssl; the client trusts exactly it.
const dir = mkdtempSync(join(tmpdir(), 'hs-fed-tls-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const certFile = join(dir, 'tls.crt')
const keyFile = join(dir, 'tls.key')
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
  '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' })
const ca = await readFile(certFile)

const t: TestServer = await startTestServer({
  'federation.listen.host': '127.0.0.1',
  'federation.listen.port': 0,
  'federation.tls_certificate_file': certFile,
  'federation.tls_private_key_file': keyFile,
})
const plain: TestServer = await startTestServer()

/** GET over HTTPS to localhost:port, verifying the server's certificate against the test one. */
const httpsGet = (port: number, path: string) => httpsGetFrom({ host: '127.0.0.1', servername: 'localhost', port, ca }, path)

function federationPort(server: TestServer): number {
  assert.ok(server.server.federation, 'the federation listener is running')
  return server.server.federation.port
}

describe('federation TLS listener', () => {
  it('serves the signing key document over HTTPS with the configured certificate', async () => {
    const res = await httpsGet(federationPort(t), '/_matrix/key/v2/server')
    assert.equal(res.status, 200)
    assert.equal(res.body.server_name, 'test.localhost')
    const client = await t.api.get('/_matrix/key/v2/server')
    assert.deepEqual(Object.keys(res.body.verify_keys), Object.keys(client.body.verify_keys))
  })

  it('serves the federation API, and answers a federation path it does not know with 404 M_UNRECOGNIZED', async () => {
    const version = await httpsGet(federationPort(t), '/_matrix/federation/v1/version')
    assert.equal(version.status, 200)
    assert.equal(version.body.server.name, 'Homestead')
    const res = await httpsGet(federationPort(t), '/_matrix/federation/v1/no_such_endpoint')
    assert.equal(res.status, 404)
    assert.equal(res.body.errcode, 'M_UNRECOGNIZED')
  })

  it('serves media paths, but not the Client-Server API', async () => {
    const media = await httpsGet(federationPort(t), '/_matrix/media/v3/download/test.localhost/nothing')
    assert.notEqual(media.body.errcode, 'M_UNRECOGNIZED', 'the media route exists on this listener')
    const client = await httpsGet(federationPort(t), '/_matrix/client/versions')
    assert.equal(client.status, 404)
    assert.equal(client.body.errcode, 'M_UNRECOGNIZED')
    assert.equal((await httpsGet(federationPort(t), '/_matrix/client/v1/media/config')).status, 404)
  })

  it('is off by default', () => {
    assert.equal(plain.server.federation, null)
  })
})
