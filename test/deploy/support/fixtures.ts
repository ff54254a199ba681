// The deliberately broken fixtures: each directory under test/deploy/fixtures/<kind>/ holds .tf files whose
// first comment lines say what must fail (`# policy: …`) and which message proves it (`# expect: …`).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures')
export const MODULE_DIR = join(import.meta.dirname, '..', '..', '..', 'deploy', 'aws')

export interface Fixture {
  name: string
  dir: string
  files: string[]
  expect: string
  policy?: string
}

export function fixtures(kind: 'schema' | 'policy'): Fixture[] {
  const root = join(FIXTURES, kind)
  return readdirSync(root).sort().map((name) => {
    const dir = join(root, name)
    const files = readdirSync(dir).filter((f) => f.endsWith('.tf')).map((f) => join(dir, f))
    const header = files.map((f) => readFileSync(f, 'utf8')).join('\n')
    const expect = /^# expect: (.+)$/m.exec(header)?.[1]
    if (!expect) throw new Error(`${dir}: no "# expect:" line`)
    const policy = /^# policy: (.+)$/m.exec(header)?.[1]
    return { name, dir, files, expect, ...(policy ? { policy } : {}) }
  })
}
