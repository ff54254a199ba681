// `homestead start` failing for reasons outside Homestead (a bad setting, a database that refuses it, a port
// already taken) says so in one line on stderr and exits non-zero; the stack trace is kept for log level
// debug, where someone is looking for it. A database that cannot be reached is waited for by `start`
// (test/cli/cli-database-outage.test.ts); the commands that only touch the database, such as `migrate`,
// report it at once, in one line too.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cleanupCli, cliEnv, freePort, runCli, tempDataDir, type CliResult } from '../support/cli.ts'
import { cleanupTestDatabases, createTestDatabase, type TestDatabase } from '../support/database.ts'

let dir: string
let database: TestDatabase
let occupied: Server
let occupiedPort: number

before(async () => {
  dir = await tempDataDir()
  database = await createTestDatabase()
  occupied = createServer()
  await new Promise<void>((resolve) => occupied.listen(0, '127.0.0.1', resolve))
  occupiedPort = (occupied.address() as { port: number }).port
})

after(async () => {
  occupied?.close()
  await database?.drop()
  await cleanupTestDatabases()
  await cleanupCli()
})

function run(command: string, extra: Record<string, string>, args: string[] = []): Promise<CliResult> {
  const env = cliEnv({ HOMESTEAD_DATA_DIR: join(dir, 'data'), HOMESTEAD_HOST: '127.0.0.1', HOMESTEAD_LOG_LEVEL: 'warn', ...extra })
  return runCli([command, ...args], { env, timeoutMs: 60_000 })
}

function start(extra: Record<string, string>, args: string[] = []): Promise<CliResult> {
  return run('start', extra, args)
}

/** Exit code non-zero, and stderr exactly one line, naming `pattern`, without a stack frame. */
function assertOneLine(result: CliResult, pattern: RegExp): void {
  assert.notEqual(result.code, 0, `exited 0\n${result.stderr}`)
  const lines = result.stderr.trimEnd().split('\n')
  assert.equal(lines.length, 1, `stderr is not one line:\n${result.stderr}`)
  assert.doesNotMatch(result.stderr, /^\s+at /m)
  assert.match(lines[0] as string, /^homestead: /)
  assert.match(lines[0] as string, pattern)
}

describe('homestead start: errors at start', () => {
  it('a configuration file with an empty registration.shared_secret: one line naming the key and the rule', async () => {
    const file = join(dir, 'empty-secret.yaml')
    writeFileSync(file, 'registration:\n  shared_secret: ""\n')
    assertOneLine(await start({}, ['--config', file]), /registration\.shared_secret: must not be empty$/)
  })

  it('a registration.shared_secret shorter than 16 characters: one line saying so, without the secret', async () => {
    const result = await start({ HOMESTEAD_REGISTRATION_SHARED_SECRET: 'reg_secret' })
    assertOneLine(result, /registration\.shared_secret: must be at least 16 characters \(registration\.shared_secret_min_length\)$/)
    assert.doesNotMatch(result.stderr, /reg_secret|Expected/)
  })

  it('a database that cannot be reached (migrate): one line', async () => {
    const port = await freePort()
    assertOneLine(await run('migrate', { HOMESTEAD_DATABASE_URL: `postgres://homestead@127.0.0.1:${port}/nowhere` }), /database.*ECONNREFUSED/)
  })

  it('a database that refuses the connection (migrate): one line with its reason', async () => {
    const url = new URL(database.url)
    url.pathname = '/no_such_database_here'
    assertOneLine(await run('migrate', { HOMESTEAD_DATABASE_URL: url.toString() }), /database.*no_such_database_here/)
  })

  it('a database that cannot be reached while the port is taken: one line naming the address', async () => {
    const port = await freePort()
    const result = await start({ HOMESTEAD_DATABASE_URL: `postgres://homestead@127.0.0.1:${port}/nowhere`, HOMESTEAD_PORT: String(occupiedPort) })
    assertOneLine(result, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${occupiedPort}: the address is already in use`))
  })

  it('a port already in use: one line naming the address', async () => {
    const result = await start({ HOMESTEAD_DATABASE_URL: database.url, HOMESTEAD_PORT: String(occupiedPort) })
    assertOneLine(result, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${occupiedPort}: the address is already in use`))
  })

  it('at log level debug, the same failure keeps its stack trace', async () => {
    const port = await freePort()
    const result = await run('migrate', { HOMESTEAD_DATABASE_URL: `postgres://homestead@127.0.0.1:${port}/nowhere`, HOMESTEAD_LOG_LEVEL: 'debug' })
    assert.notEqual(result.code, 0)
    assert.match(result.stderr, /^\s+at /m)
  })
})
