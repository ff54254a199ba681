// `homestead start` against an external PostgreSQL that is down: at boot it waits (with backoff) instead of
// exiting, answering /health/live 200 and /health/ready 503 meanwhile, and serves once the database is up;
// an outage while it runs keeps it alive (live 200, ready 503) and it recovers without a restart.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { EmbeddedPostgres } from '../../src/storage/index.ts'
import { embeddedUrl } from '../support/database.ts'
import { CliServer, cleanupCli, cliEnv, freePort, tempDataDir, waitFor } from '../support/cli.ts'
import { Api, registerUser } from '../support/server.ts'

let postgres: EmbeddedPostgres
let databaseUrl: string

before(async () => {
  const dir = await tempDataDir()
  postgres = new EmbeddedPostgres(join(dir, 'db'), { info: () => {}, warn: () => {} })
  await mkdir(postgres.dataDir, { mode: 0o755 })
  const connection = await postgres.start()
  await postgres.ensureDatabase('homestead')
  databaseUrl = embeddedUrl(connection.host, connection.port, connection.user, 'homestead')
})

after(async () => {
  await cleanupCli()
  await postgres?.stop().catch(() => {})
})

async function status(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
    await res.text()
    return res.status
  } catch {
    return 0
  }
}

describe('homestead start with an external PostgreSQL that goes away', () => {
  it('waits for a database that is down at boot, answering /health/live meanwhile, then serves', async () => {
    await postgres.stop()
    const port = await freePort()
    const server = new CliServer(['start'], cliEnv({
      HOMESTEAD_HOST: '127.0.0.1',
      HOMESTEAD_PORT: String(port),
      HOMESTEAD_DATA_DIR: await tempDataDir(),
      HOMESTEAD_DATABASE_URL: databaseUrl,
      HOMESTEAD_ENABLE_REGISTRATION: 'true',
      HOMESTEAD_LOG_LEVEL: 'info',
    }))
    const url = `http://127.0.0.1:${port}`
    await waitFor(async () => (await status(`${url}/health/live`)) === 200, 30_000, () => `no /health/live while waiting\n${server.output}`)
    assert.equal(await status(`${url}/health/ready`), 503)
    assert.equal(await status(`${url}/health`), 503)
    const versions = await fetch(`${url}/_matrix/client/versions`)
    assert.equal(versions.status, 503)
    assert.equal(((await versions.json()) as { errcode: string }).errcode, 'M_UNKNOWN')
    // Still waiting a few retries later, not exited.
    await waitFor(() => server.logs().filter((l) => l.msg === 'database unreachable at start; /health/live answers meanwhile').length >= 3, 30_000, () => server.output)
    assert.equal(server.running, true, server.output)
    assert.equal(await status(`${url}/health/live`), 200)

    await postgres.start()
    await waitFor(async () => (await status(`${url}/health/ready`)) === 200, 60_000, () => `not ready after PostgreSQL came back\n${server.output}`)
    assert.equal(server.port, port)
    const api = new Api(url)
    const user = await registerUser(api)
    assert.equal((await api.get('/_matrix/client/v3/account/whoami', user.access_token)).status, 200)

    // An outage while serving: alive throughout, not ready, then serving again without a restart.
    const pid = server.pid
    await postgres.stop()
    await waitFor(async () => (await status(`${url}/health/ready`)) === 503, 30_000, () => server.output)
    assert.equal(await status(`${url}/health/live`), 200)
    assert.equal((await api.get('/_matrix/client/v3/account/whoami', user.access_token)).status, 503)
    await postgres.start()
    await waitFor(async () => (await status(`${url}/health/ready`)) === 200, 60_000, () => server.output)
    assert.equal((await api.get('/_matrix/client/v3/account/whoami', user.access_token)).status, 200)
    assert.equal(server.pid, pid)
    assert.deepEqual(await server.stop(), { code: 0, signal: null })
  })
})
