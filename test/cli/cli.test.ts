// `homestead start` with no configuration file, as a real process over one data_dir: the embedded
// PostgreSQL is initialised, survives restarts, crashes and stale lock files, and stops with Homestead.
// The tests run in order and share the data_dir (each step builds on the previous one's state).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  CliServer,
  cleanupCli,
  cliEnv,
  hasPostmasterPid,
  isAlive,
  passwordLogin,
  postmasterPidFile,
  postmasters,
  runCli,
  tempDataDir,
} from '../support/cli.ts'

let dataDir: string
let env: NodeJS.ProcessEnv
const PASSWORD = 'a long and private passphrase'

before(async () => {
  dataDir = await tempDataDir()
  // Only what a first-time operator would set: where, which port, how loud. Rate limits are off so
  // the repeated logins of these steps are not refused (the buckets live in the database).
  env = cliEnv({
    HOMESTEAD_DATA_DIR: dataDir,
    HOMESTEAD_PORT: '0', // the kernel picks a free port; CliServer reads it from the log
    HOMESTEAD_HOST: '127.0.0.1',
    HOMESTEAD_LOG_LEVEL: 'info',
    HOMESTEAD_RATE_LIMITS: 'false',
  })
})

after(cleanupCli)

async function startServer(): Promise<CliServer> {
  const server = new CliServer(['start'], env)
  await server.waitReady()
  return server
}

/** SIGTERM, then: exit 0, no postmaster.pid and no PostgreSQL left running on this data_dir. */
async function stopGracefully(server: CliServer): Promise<void> {
  const exit = await server.stop()
  assert.deepEqual(exit, { code: 0, signal: null }, server.output)
  assert.ok(server.hasLog('stopped'), server.output)
  assert.equal(hasPostmasterPid(dataDir), false, 'postmaster.pid is left behind')
  assert.deepEqual(postmasters(dataDir), [], 'the embedded PostgreSQL is still running')
}

async function assertAliceLogsIn(server: CliServer): Promise<void> {
  const login = await passwordLogin(server.url, 'alice', PASSWORD)
  assert.equal(login.status, 200, JSON.stringify(login.body))
  assert.equal(login.body.user_id, '@alice:localhost')
}

/** A pid that belonged to a process which has exited (a short-lived child we waited for). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await new Promise((resolve) => child.on('close', resolve))
  const pid = child.pid as number
  assert.equal(isAlive(pid), false)
  return pid
}

/** What a server killed by power loss leaves: a postmaster.pid in PostgreSQL's format naming `pid`. */
function writeStalePidFile(pid: number): void {
  const cluster = join(dataDir, 'postgres')
  const lines = [pid, cluster, Math.floor(Date.now() / 1000), 5432, cluster, '', '  5432001      3276800', 'ready', '']
  writeFileSync(postmasterPidFile(dataDir), lines.join('\n'))
}

describe('homestead start without a config file', () => {
  let server: CliServer

  it('initialises the embedded PostgreSQL under <data_dir>/postgres and serves /_matrix/client/versions and /health', async () => {
    assert.equal(existsSync(join(dataDir, 'postgres')), false)
    server = await startServer()
    assert.ok(existsSync(join(dataDir, 'postgres', 'PG_VERSION')), 'no cluster in data_dir/postgres')
    assert.equal(postmasters(dataDir).length, 1, 'no PostgreSQL serving data_dir/postgres')
    assert.ok(server.hasLog('initialised the embedded PostgreSQL cluster'), server.output)

    const versions = await fetch(`${server.url}/_matrix/client/versions`)
    assert.equal(versions.status, 200)
    const body = (await versions.json()) as { versions: string[] }
    assert.ok(body.versions.includes('v1.11'), JSON.stringify(body))
    const health = await fetch(`${server.url}/health`)
    assert.equal(health.status, 200)
    assert.equal(await health.text(), 'OK')
  })

  it('register-user NAME --password-file F (while a server runs on the same data_dir) creates an account that logs in over HTTP', async () => {
    const passwordFile = join(dataDir, 'alice-password')
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 }) // the trailing newline is not part of the password
    const result = await runCli(['register-user', 'alice', '--password-file', passwordFile], { env })
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /Created @alice:localhost/)
    await assertAliceLogsIn(server)
    // The command reused the server's PostgreSQL and did not stop it on its way out.
    assert.ok(server.running)
    assert.equal(postmasters(dataDir).length, 1)
    assert.equal((await fetch(`${server.url}/health`)).status, 200)
  })

  it('SIGTERM exits 0 and stops the embedded PostgreSQL (no postmaster.pid, no postgres process left)', async () => {
    await stopGracefully(server)
  })

  it('a second start reuses the same cluster and data: the user created in the first run still logs in', async () => {
    server = await startServer()
    assert.equal(server.hasLog('initialised the embedded PostgreSQL cluster'), false, 'the cluster was initialised again')
    await assertAliceLogsIn(server)
  })

  it('after SIGKILL of Homestead the orphaned PostgreSQL keeps running, and the next start reuses it', async () => {
    server.signal('SIGKILL')
    assert.equal((await server.waitExit()).signal, 'SIGKILL')
    // pg_ctl detached the server from Homestead, so it outlives the crash.
    assert.equal(postmasters(dataDir).length, 1, 'expected the orphaned PostgreSQL to be running')

    server = await startServer()
    assert.ok(server.hasLog('reusing the embedded PostgreSQL already running'), server.output)
    await assertAliceLogsIn(server)
    // The server that adopted the orphan also stops it on SIGTERM.
    await stopGracefully(server)
  })

  it('a stale postmaster.pid naming a process that no longer exists does not stop the next start', async () => {
    writeStalePidFile(await deadPid())
    server = await startServer()
    assert.ok(server.hasLog('removed a stale'), server.output)
    await assertAliceLogsIn(server)
    await stopGracefully(server)
  })

  it('a stale postmaster.pid naming a live process that is not PostgreSQL (this test runner) does not stop the next start', async () => {
    writeStalePidFile(process.pid)
    server = await startServer()
    assert.ok(server.hasLog('removed a stale'), server.output)
    assert.ok(isAlive(process.pid))
    await assertAliceLogsIn(server)
    const pidFile = readFileSync(postmasterPidFile(dataDir), 'utf8')
    assert.notEqual(Number(pidFile.split('\n')[0]), process.pid, 'PostgreSQL did not write its own postmaster.pid')
    await stopGracefully(server)
  })

  it('migrate applies the schema, exits 0 and stops the PostgreSQL it started', async () => {
    const result = await runCli(['migrate'], { env })
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /Database schema is up to date/)
    assert.equal(hasPostmasterPid(dataDir), false)
    assert.deepEqual(postmasters(dataDir), [])
  })
})
