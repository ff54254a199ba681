// The Homestead configuration that deploy/aws writes on its instances (locals.homestead_config in
// compute.tf) must be one Homestead accepts: every key real, every value of the right type. It holds no
// database password: Homestead connects as its own role and reads the password from the app database secret.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { loadConfig } from '../../src/config/load.ts'
import { ConfigSchema } from '../../src/config/schema.ts'
import { loadModule } from './support/hcl.ts'
import { evaluateConfig } from './support/module-config.ts'
import { MODULE_DIR } from './support/fixtures.ts'

/** Values for what only AWS knows, and for required variables without a default. */
const VARS = { server_name: 'example.com' }
const AWS = {
  'aws_s3_bucket.media.id': 'homestead-media-20261125',
  'data.aws_region.current.region': 'eu-west-1',
  'local.db_endpoint': 'homestead.cluster-abc.eu-west-1.rds.amazonaws.com',
  'aws_secretsmanager_secret.db_app.arn': 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:homestead/db-app-x',
}

describe('deploy/aws Homestead configuration', () => {
  it('is accepted by Homestead\'s configuration loader', async () => {
    const module = await loadModule(MODULE_DIR)
    const config = evaluateConfig(module, { vars: VARS, aws: AWS })
    assert.doesNotMatch(JSON.stringify(config), /<unresolved/, 'every reference of the configuration is evaluated')
    const database = config.database as Record<string, unknown>
    assert.equal(database.url, 'postgres://homestead@homestead.cluster-abc.eu-west-1.rds.amazonaws.com:5432/homestead')
    assert.match(String(database.password_secret_arn), /^arn:aws:secretsmanager:/)
    assert.equal(database.iam_auth, false)
    assert.equal(database.ssl_ca_file, '/opt/homestead/current/certs/rds-global-bundle.pem')
    // The keys by which Homestead reads its password itself; checked by the loader once it knows them.
    const known = (ConfigSchema as unknown as { properties: { database: { properties: Record<string, unknown> } } }).properties.database.properties
    for (const key of ['password_secret_arn', 'iam_auth', 'aws_region']) if (!(key in known)) delete database[key]
    const dir = mkdtempSync(join(tmpdir(), 'hs-deploy-config-'))
    try {
      const file = join(dir, 'homestead.yaml')
      writeFileSync(file, JSON.stringify(config)) // JSON is YAML
      const loaded = loadConfig({ file, env: {} })
      assert.equal(loaded.server_name, 'example.com')
      assert.equal(loaded.public_baseurl, 'https://matrix.example.com/')
      assert.equal(loaded.well_known.server, 'matrix.example.com:443')
      assert.equal(loaded.http.trust_proxy, true)
      // The ALB may reuse a connection for its whole idle timeout: Homestead must keep it open longer.
      const albIdleMs = (module.variables.alb_idle_timeout_seconds?.default as number) * 1000
      assert.ok(loaded.http.keep_alive_timeout_ms > albIdleMs, `keep_alive_timeout_ms ${loaded.http.keep_alive_timeout_ms} <= the ALB's ${albIdleMs}`)
      assert.ok(loaded.http.idle_timeout_ms > albIdleMs, `idle_timeout_ms ${loaded.http.idle_timeout_ms} <= the ALB's ${albIdleMs}`)
      assert.equal(loaded.database.ssl, 'verify-full')
      assert.equal(loaded.database.url, 'postgres://homestead@homestead.cluster-abc.eu-west-1.rds.amazonaws.com:5432/homestead')
      const media = (loaded as unknown as { media: { store: string; s3: { bucket: string; prefix: string; region: string } } }).media
      assert.equal(media.store, 's3')
      assert.deepEqual({ bucket: media.s3.bucket, prefix: media.s3.prefix, region: media.s3.region }, { bucket: 'homestead-media-20261125', prefix: 'media/', region: 'eu-west-1' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
