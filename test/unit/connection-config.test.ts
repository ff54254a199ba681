// database.ssl → the pg connection options an external server (Aurora) is reached with.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config/load.ts'
import { connectionConfig } from '../../src/storage/index.ts'

const URL = 'postgres://homestead:pw@db.example.internal:5432/homestead'

describe('connectionConfig', () => {
  it('connects without TLS by default', () => {
    const c = connectionConfig(loadConfig({ env: {}, overrides: { 'database.url': URL } }), null)
    assert.equal(c.connectionString, URL)
    assert.equal(c.ssl, undefined)
  })

  it('encrypts without checking the certificate with ssl: require', () => {
    const c = connectionConfig(loadConfig({ env: {}, overrides: { 'database.url': URL, 'database.ssl': 'require' } }), null)
    assert.deepEqual(c.ssl, { rejectUnauthorized: false })
  })

  it('checks the certificate against the configured CA bundle with ssl: verify-full', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'hs-ca-')), 'rds-ca.pem')
    writeFileSync(file, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
    const c = connectionConfig(
      loadConfig({ env: {}, overrides: { 'database.url': URL, 'database.ssl': 'verify-full', 'database.ssl_ca_file': file } }),
      null,
    )
    assert.deepEqual(c.ssl, { rejectUnauthorized: true, ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' })
  })

  it('checks the certificate against the system CAs with verify-full and no bundle', () => {
    const c = connectionConfig(loadConfig({ env: {}, overrides: { 'database.url': URL, 'database.ssl': 'verify-full' } }), null)
    assert.deepEqual(c.ssl, { rejectUnauthorized: true })
  })

  it('uses the embedded server socket when no database.url is set', () => {
    const c = connectionConfig(loadConfig({ env: {} }), { host: '/srv/data/postgres', port: 5432, user: 'homestead' }, 'homestead')
    assert.deepEqual(c, { host: '/srv/data/postgres', port: 5432, user: 'homestead', database: 'homestead' })
  })
})
