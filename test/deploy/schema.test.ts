// deploy/aws against the hashicorp/aws 6.x schema, offline: the stand-in for `terraform validate`.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { loadModule } from './support/hcl.ts'
import { checkSchema } from './support/schema-check.ts'
import { loadProviderSchema } from './support/schema.ts'
import { fixtures, MODULE_DIR } from './support/fixtures.ts'

const schema = loadProviderSchema()

describe('deploy/aws schema check', () => {
  it('uses a schema extracted from hashicorp/aws 6.x', () => {
    assert.match(schema.provider_version, /^6\.\d+\.\d+$/)
    assert.match(schema.source, /@cdktn\/provider-aws@/)
    assert.ok(schema.resources.aws_rds_cluster && schema.data_sources.aws_ssm_parameter)
  })

  it('finds no unknown type, argument, block, missing argument or bad reference in the module', async () => {
    assert.deepEqual(await checkSchema(await loadModule(MODULE_DIR), schema), [])
  })

  for (const example of ['basic', 'budget']) {
    it(`finds none in examples/${example}, nor in its call of the module`, async () => {
      assert.deepEqual(await checkSchema(await loadModule(join(MODULE_DIR, 'examples', example)), schema), [])
    })
  }
})

describe('deploy/aws schema check on broken fixtures', () => {
  for (const fixture of fixtures('schema')) {
    it(`rejects ${fixture.name}: ${fixture.expect}`, async () => {
      const errors = await checkSchema(await loadModule(fixture.dir), schema)
      assert.ok(errors.some((e) => e.includes(fixture.expect)), `expected an error containing ${JSON.stringify(fixture.expect)}, got:\n${errors.join('\n')}`)
    })
  }
})
