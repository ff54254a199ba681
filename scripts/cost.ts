// Prints the monthly cost tables of deploy/aws (us-east-1, on demand) computed from the prices and usage in
// test/deploy/support/cost.ts, or with --write puts them into deploy/aws/README.md ("What it costs").
//   node scripts/cost.ts [--write]
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PROFILES, renderTables, replaceTables, total, type Profile } from '../test/deploy/support/cost.ts'

const readmePath = join(import.meta.dirname, '..', 'deploy', 'aws', 'README.md')

if (process.argv.includes('--write')) {
  writeFileSync(readmePath, replaceTables(readFileSync(readmePath, 'utf8')))
  console.log(`wrote the cost tables into ${readmePath}`)
} else {
  console.log(renderTables())
}
for (const profile of Object.keys(PROFILES) as Profile[]) console.log(`${profile}: ${total(profile)} a month`)
