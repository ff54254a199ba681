// database.password_secret_arn over real HTTP, a PostgreSQL that checks passwords and moto's Secrets
// Manager: Homestead signs in with the secret's password, and when the password is rotated (ALTER ROLE, the
// secret updated, every connection cut) it reads the secret again and keeps serving without a restart.
// database.iam_auth: a token for every new connection, used as its password.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { loadConfig } from '../../src/config/load.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { IamPassword } from '../../src/storage/credentials.ts'
import { Database, connectionConfig } from '../../src/storage/index.ts'
import { motoUnavailable, startMoto } from '../support/moto.ts'
import { startPasswordPostgres, type PasswordPostgres } from '../support/password-postgres.ts'
import { CS, enc } from '../support/rooms.ts'
import { Api, registerUser, TEST_DEFAULTS } from '../support/server.ts'

const skip = motoUnavailable('the database password secret tests')
const ROLE = 'hs_rotating'

describe('database.password_secret_arn', { skip: skip ?? false }, () => {
  let postgres: PasswordPostgres
  let secrets: SecretsManagerClient
  let arn: string
  let server: RunningServer
  let stopMoto = () => {}

  before(async () => {
    postgres = await startPasswordPostgres()
    await postgres.sql(`CREATE ROLE ${ROLE} LOGIN PASSWORD 'first-password-0123456789abcdef'`)
    await postgres.sql(`CREATE DATABASE ${ROLE} OWNER ${ROLE}`)
    const moto = await startMoto()
    stopMoto = moto.stop
    // What the instance's environment does to point the SDK at another endpoint.
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = moto.endpoint
    secrets = new SecretsManagerClient({ endpoint: moto.endpoint, region: 'eu-west-1' })
    const created = await secrets.send(
      new CreateSecretCommand({ Name: 'homestead/db', SecretString: JSON.stringify({ username: ROLE, password: 'first-password-0123456789abcdef' }) }),
    )
    arn = created.ARN as string
    const config = loadConfig({
      env: {},
      overrides: { ...TEST_DEFAULTS, 'database.url': postgres.url(ROLE, ROLE), 'database.password_secret_arn': arn, data_dir: '/nonexistent', 'log.level': process.env.HS_LOG ?? 'silent' },
    })
    server = await startServer(config)
  })

  after(async () => {
    await server?.close()
    secrets?.destroy()
    stopMoto()
    await postgres?.stop()
    delete process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER
  })

  it('signs in with the password from the secret', async () => {
    const api = new Api(server.url)
    assert.equal((await api.get('/health/ready')).status, 200)
    const { rows } = await postgres.sql('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [ROLE])
    assert.ok(rows[0].n > 0, 'no connection signed in as the role')
  })

  it('keeps serving when the password is rotated and every connection cut, without a restart', async () => {
    const api = new Api(server.url)
    const user = await registerUser(api)
    const room = await api.post(`${CS}/createRoom`, {}, user.access_token)
    assert.equal(room.status, 200)

    const next = 'second-password-0123456789abcdef'
    await postgres.sql(`ALTER ROLE ${ROLE} PASSWORD '${next}'`)
    await secrets.send(new PutSecretValueCommand({ SecretId: arn, SecretString: JSON.stringify({ username: ROLE, password: next }) }))
    // The pool's connections first: the listener, still connected, must not be what finds the new password.
    const cut = await postgres.sql("SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE usename = $1 AND application_name NOT LIKE '%-listener'", [ROLE])
    assert.ok(cut.rows[0].n > 0)
    // Let the pool notice its connections are gone (nothing is in flight meanwhile).
    await new Promise((resolve) => setTimeout(resolve, 200))

    // Every request succeeds: the first new connection is refused, the secret is read again and the
    // connection retried once with the new password; later ones sign in with it straight away.
    for (let i = 0; i < 5; i++) {
      assert.equal((await api.get(`${CS}/account/whoami`, user.access_token)).status, 200)
      const sent = await api.put(`${CS}/rooms/${enc(room.body.room_id)}/send/m.room.message/rot-${i}`, { msgtype: 'm.text', body: `after ${i}` }, user.access_token)
      assert.equal(sent.status, 200, JSON.stringify(sent.body))
    }
    assert.equal((await api.get('/health/ready')).status, 200)
    // The notifier's LISTEN connection, cut now, comes back with the new password.
    await postgres.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND application_name LIKE '%-listener'", [ROLE])
    await new Promise((resolve) => setTimeout(resolve, 200))
    const deadline = Date.now() + 20_000
    for (;;) {
      const { rows } = await postgres.sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND application_name LIKE '%-listener'", [ROLE])
      if (rows[0].n > 0) break
      assert.ok(Date.now() < deadline, 'the LISTEN connection did not come back')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })
})

describe('database.iam_auth', () => {
  let postgres: PasswordPostgres
  const role = 'hs_iam'
  const password = 'stands-in-for-a-token-0123456789'

  before(async () => {
    postgres = await startPasswordPostgres()
    await postgres.sql(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`)
  })

  after(async () => {
    await postgres?.stop()
  })

  it('asks the signer for a token for every new connection, for the URL\'s user, host and port, and signs in with it', async () => {
    // PostgreSQL cannot check an IAM token; the signer stands in for RDS's and hands out the role's password.
    const asked: Array<{ hostname: string; port: number; username: string; region: string | undefined }> = []
    const url = postgres.url(role, 'postgres')
    const credentials = new IamPassword(url, 'eu-west-1', async (target) => {
      asked.push(target)
      return password
    })
    const config = loadConfig({ env: {}, overrides: { 'database.url': url, 'database.iam_auth': true } })
    const db = new Database(connectionConfig(config, null, 'postgres', credentials), { poolSize: 3, statementTimeoutMs: 0, credentials })
    try {
      // Three connections at once (each holds a sleep), then the pool's idle ones are reused: no new tokens.
      await Promise.all([0, 1, 2].map(() => db.query('SELECT pg_sleep(0.1)')))
      assert.equal(asked.length, 3)
      await db.query('SELECT 1')
      assert.equal(asked.length, 3)
      assert.deepEqual(asked[0], { hostname: 'localhost', port: 5432, username: role, region: 'eu-west-1' })
      const { rows } = await db.query<{ user: string }>('SELECT current_user AS user')
      assert.equal(rows[0]?.user, role)
    } finally {
      await db.close()
    }
  })
})
