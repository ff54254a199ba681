// Policies that prove the architecture of deploy/aws, over its parsed configuration; each is shown to fail
// on a fixture that breaks it (a Terraform override file applied to the real module).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { loadModule } from './support/hcl.ts'
import { POLICIES } from './support/policy.ts'
import { fixtures, MODULE_DIR } from './support/fixtures.ts'

const module = await loadModule(MODULE_DIR)

describe('deploy/aws policies', () => {
  for (const [name, policy] of Object.entries(POLICIES)) {
    it(`${name}`, async () => {
      assert.deepEqual(await policy(module), [])
    })
  }
})

describe('deploy/aws policies on broken fixtures', () => {
  const broken = fixtures('policy')
  it('break every policy at least once', () => {
    assert.deepEqual(Object.keys(POLICIES).filter((name) => !broken.some((f) => f.policy === name)), [])
  })
  for (const fixture of broken) {
    it(`${fixture.name} breaks "${fixture.policy}"`, async () => {
      const policy = POLICIES[fixture.policy as keyof typeof POLICIES]
      assert.ok(policy, `unknown policy ${fixture.policy}`)
      const violations = await policy(await loadModule(MODULE_DIR, { overrideFiles: fixture.files }))
      assert.ok(violations.some((v) => v.includes(fixture.expect)), `expected a violation containing ${JSON.stringify(fixture.expect)}, got:\n${violations.join('\n')}`)
    })
  }
})
