// Checks a Terraform module offline, as test/deploy/ does: schema (the stand-in for `terraform validate`,
// which needs the provider binary) and, for deploy/aws, the architecture policies.
//   node scripts/terraform-check.ts [dir …]        (default: deploy/aws and its examples basic and budget)
import { join, resolve } from 'node:path'
import { loadModule } from '../test/deploy/support/hcl.ts'
import { POLICIES } from '../test/deploy/support/policy.ts'
import { checkSchema } from '../test/deploy/support/schema-check.ts'
import { loadProviderSchema } from '../test/deploy/support/schema.ts'

const root = join(import.meta.dirname, '..')
const moduleDir = join(root, 'deploy', 'aws')
const dirs = process.argv.length > 2 ? process.argv.slice(2).map((d) => resolve(d)) : [moduleDir, join(moduleDir, 'examples', 'basic'), join(moduleDir, 'examples', 'budget')]
const schema = loadProviderSchema()
console.log(`schema: ${schema.source}`)

let problems = 0
for (const dir of dirs) {
  const module = await loadModule(dir)
  const report = (label: string, found: string[]) => {
    problems += found.length
    console.log(`${found.length === 0 ? 'ok  ' : 'FAIL'} ${dir}: ${label}`)
    for (const line of found) console.log(`     ${line}`)
  }
  report('schema', await checkSchema(module, schema))
  if (dir === moduleDir) for (const [name, policy] of Object.entries(POLICIES)) report(name, await policy(module))
}
process.exit(problems === 0 ? 0 : 1)
