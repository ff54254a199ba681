// `terraform fmt -check -recursive deploy/` when the terraform binary is on PATH (formatting needs no provider).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { FIXTURES, MODULE_DIR } from './support/fixtures.ts'

const DEPLOY_DIR = join(MODULE_DIR, '..')
const env = { ...process.env, CHECKPOINT_DISABLE: '1', TF_IN_AUTOMATION: '1' }
const terraform = (args: string[]) => spawnSync('terraform', args, { env, encoding: 'utf8', timeout: 30000 })
const found = terraform(['version'])
const skip = found.error ? 'terraform is not on PATH: `terraform fmt -check` skipped' : false

describe('terraform fmt', { skip }, () => {
  it('finds deploy/ formatted', () => {
    const result = terraform(['fmt', '-check', '-recursive', DEPLOY_DIR])
    assert.equal(result.status, 0, `terraform fmt -check lists files to format:\n${result.stdout}${result.stderr}`)
  })

  it('fails on an unformatted fixture', () => {
    const result = terraform(['fmt', '-check', join(FIXTURES, 'fmt')])
    assert.notEqual(result.status, 0)
    assert.match(result.stdout, /unformatted\.tf/)
  })
})
