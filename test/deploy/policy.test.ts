// Policies that prove the architecture of deploy/aws, over its parsed configuration; each is shown to fail
// on a fixture that breaks it (a Terraform override file applied to the real module).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { loadModule } from './support/hcl.ts'
import { POLICIES } from './support/policy.ts'
import { FLOW_COMPONENTS, requiredTrafficFlows } from './support/policy-flows.ts'
import { join } from 'node:path'
import { FIXTURES, fixtures, MODULE_DIR } from './support/fixtures.ts'

const module = await loadModule(MODULE_DIR)

describe('deploy/aws policies', () => {
  for (const [name, policy] of Object.entries(POLICIES)) {
    it(`${name}`, async () => {
      assert.deepEqual(await policy(module), [])
    })
  }
})

// One test per network ACL and security group: what Homestead needs through it (client → ALB :443,
// ALB → app :8008, app → database :5432, app → internet :443/:8448 through the NAT, and every reply on its
// ephemeral ports) gets through. The rest of the policies prove nothing else does.
describe('deploy/aws traffic that must flow', () => {
  for (const component of FLOW_COMPONENTS) {
    it(`the ${component} lets it through`, async () => {
      assert.deepEqual((await requiredTrafficFlows(module)).filter((v) => v.startsWith(component)), [])
    })
  }
  it('the budget variant (NAT instance) too', async () => {
    const variant = await loadModule(MODULE_DIR, { overrideFiles: [join(FIXTURES, 'variants', 'budget.tf')] })
    for (const policy of Object.values(POLICIES)) assert.deepEqual(await policy(variant), [])
  })
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
