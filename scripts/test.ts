// `npm test` (after the type check): runs every suite on an embedded PostgreSQL started here, then the
// storage, HTTP and client suites again on an external server when HOMESTEAD_TEST_POSTGRES_URL is set.
import { spawn } from 'node:child_process'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EmbeddedPostgres } from '../src/storage/index.ts'

const ALL = ['test/unit/**/*.test.ts', 'test/storage/**/*.test.ts', 'test/http/**/*.test.ts', 'test/client/**/*.test.ts', 'test/federation/**/*.test.ts', 'test/cli/**/*.test.ts', 'test/deploy/**/*.test.ts']
const DATABASE_SUITES = ['test/storage/**/*.test.ts', 'test/http/**/*.test.ts', 'test/client/**/*.test.ts', 'test/federation/**/*.test.ts']

function runNodeTest(label: string, patterns: string[], env: NodeJS.ProcessEnv): Promise<number> {
  console.log(`\n=== ${label} ===`)
  const args = ['--test', '--test-concurrency=4', '--test-timeout=300000', ...(process.env.HOMESTEAD_TEST_ONLY ? [process.env.HOMESTEAD_TEST_ONLY] : patterns)]
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit', env: { ...process.env, ...env } })
    child.on('close', (code) => resolve(code ?? 1))
  })
}

const dir = await mkdtemp(join(tmpdir(), 'hs-tests-'))
await chmod(dir, 0o755)
const embedded = new EmbeddedPostgres(dir, { info: () => {}, warn: (m) => console.warn(m) })
let failed = false
try {
  const connection = await embedded.start()
  const embeddedEnv = { HOMESTEAD_TEST_TARGET: 'embedded', HOMESTEAD_TEST_EMBEDDED_SOCKET: connection.host }
  failed ||= (await runNodeTest('all suites on the embedded PostgreSQL', ALL, embeddedEnv)) !== 0
  if (process.env.HOMESTEAD_TEST_POSTGRES_URL) {
    const external = { HOMESTEAD_TEST_TARGET: 'external' }
    failed ||= (await runNodeTest(`database suites on ${new URL(process.env.HOMESTEAD_TEST_POSTGRES_URL).host}`, DATABASE_SUITES, external)) !== 0
  } else {
    console.log('\nHOMESTEAD_TEST_POSTGRES_URL is not set: the external-PostgreSQL pass is skipped')
  }
} finally {
  await embedded.stop()
  await rm(dir, { recursive: true, force: true })
}
process.exit(failed ? 1 : 0)
