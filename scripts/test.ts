// `npm test` (after the type check): runs every suite on an embedded PostgreSQL started here, then the
// storage, HTTP and client suites again on an external server when HOMESTEAD_TEST_POSTGRES_URL is set.
import { spawn } from 'node:child_process'
import { globSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EmbeddedPostgres } from '../src/storage/index.ts'

const ALL = ['test/unit/**/*.test.ts', 'test/storage/**/*.test.ts', 'test/http/**/*.test.ts', 'test/client/**/*.test.ts', 'test/federation/**/*.test.ts', 'test/cli/**/*.test.ts', 'test/deploy/**/*.test.ts']
const DATABASE_SUITES = ['test/storage/**/*.test.ts', 'test/http/**/*.test.ts', 'test/client/**/*.test.ts', 'test/federation/**/*.test.ts']

/**
 * Suites that bound how long /health takes while they attack a server (test/support/hostile.ts): they run
 * one at a time after the others, so that the bound times the server, not other suites' servers sharing
 * the machine's cores.
 */
const TIMED = new Set(globSync(['test/http/hostile-*.test.ts', 'test/http/media-preview.test.ts']))

/** The test files of `patterns`, with or without the timed ones. */
function files(patterns: string[], timed: boolean): string[] {
  return globSync(patterns).filter((f) => TIMED.has(f) === timed).sort()
}

async function runSuites(label: string, patterns: string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (process.env.HOMESTEAD_TEST_ONLY) return runNodeTest(label, [process.env.HOMESTEAD_TEST_ONLY], env, 4)
  const rest = await runNodeTest(label, files(patterns, false), env, 4)
  const timed = files(patterns, true)
  const alone = timed.length === 0 ? 0 : await runNodeTest(`${label}: the suites timing /health, one at a time`, timed, env, 1)
  return rest !== 0 ? rest : alone
}

function runNodeTest(label: string, patterns: string[], env: NodeJS.ProcessEnv, concurrency: number): Promise<number> {
  console.log(`\n=== ${label} ===`)
  const args = ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...patterns]
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
  failed = (await runSuites('all suites on the embedded PostgreSQL', ALL, embeddedEnv)) !== 0 || failed
  if (process.env.HOMESTEAD_TEST_POSTGRES_URL) {
    const external = { HOMESTEAD_TEST_TARGET: 'external' }
    failed = (await runSuites(`database suites on ${new URL(process.env.HOMESTEAD_TEST_POSTGRES_URL).host}`, DATABASE_SUITES, external)) !== 0 || failed
  } else {
    console.log('\nHOMESTEAD_TEST_POSTGRES_URL is not set: the external-PostgreSQL pass is skipped')
  }
} finally {
  await embedded.stop()
  await rm(dir, { recursive: true, force: true })
}
process.exit(failed ? 1 : 0)
