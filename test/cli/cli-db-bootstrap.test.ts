// `homestead db-bootstrap`: as the administrator, a login role for Homestead with only what it needs (no
// superuser, CREATEDB or CREATEROLE; CONNECT on its database; a schema of its own), idempotent and safe
// when run twice at once; the migrations then run as that role and the server serves. On a PostgreSQL that
// checks passwords, the role signs in with the password from the app secret (moto's Secrets Manager).
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import pg from 'pg'
import { loadConfig } from '../../src/config/load.ts'
import { startServer } from '../../src/server.ts'
import { cleanupCli, cliEnv, runCli } from '../support/cli.ts'
import { targetName, targetUrl } from '../support/database.ts'
import { motoUnavailable, startMoto } from '../support/moto.ts'
import { startPasswordPostgres } from '../support/password-postgres.ts'
import { Api, registerUser, TEST_DEFAULTS } from '../support/server.ts'

after(cleanupCli)

/** `url` signing in as `user` (with `password`, if any) to `database`. */
function as(url: string, user: string, database: string, password = ''): string {
  const parsed = new URL(url)
  parsed.username = user
  parsed.password = password
  parsed.pathname = `/${database}`
  return parsed.toString()
}

async function query(url: string, text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await client.query(text, values)
  } finally {
    await client.end()
  }
}

/** Starts Homestead with these settings, registers a user and asks who it is, then stops it. */
async function servesWith(overrides: Record<string, unknown>): Promise<void> {
  const server = await startServer(loadConfig({ env: {}, overrides: { ...TEST_DEFAULTS, ...overrides } }))
  try {
    const api = new Api(server.url)
    const user = await registerUser(api)
    assert.equal((await api.get('/_matrix/client/v3/account/whoami', user.access_token)).status, 200)
  } finally {
    await server.close()
  }
}

describe(`homestead db-bootstrap (${targetName()})`, () => {
  const name = `hs_boot_${randomBytes(4).toString('hex')}`
  let admin: string

  after(async () => {
    if (!admin) return
    await query(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {})
    await query(admin, `DROP ROLE IF EXISTS ${name}`).catch(() => {})
  })

  it('creates a role with only what it needs, twice at once, and the migrations run as it', async () => {
    admin = await targetUrl('postgres')
    const appUrl = as(admin, name, name, 'app-password-0123456789abcdef')
    const env = cliEnv({ HOMESTEAD_DATABASE_URL: appUrl, HOMESTEAD_BOOTSTRAP_DATABASE_URL: admin })
    const runs = await Promise.all([runCli(['db-bootstrap'], { env }), runCli(['db-bootstrap', '--admin-url', admin], { env })])
    for (const run of runs) assert.equal(run.code, 0, run.stderr)
    assert.deepEqual(runs.map((r) => r.stdout.includes('created the role')).sort(), [false, true], runs.map((r) => r.stdout).join('\n'))

    const { rows } = await query(admin, 'SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = $1', [name])
    assert.deepEqual(rows[0], { rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolcanlogin: true, rolreplication: false, rolbypassrls: false })
    const rights = await query(
      as(admin, new URL(admin).username, name),
      `SELECT has_database_privilege($1, current_database(), 'CONNECT') AS connect,
              has_database_privilege($1, current_database(), 'CREATE') AS create_schema,
              (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = $1) AS schema_owner,
              has_schema_privilege($1, 'public', 'CREATE') AS create_in_public`,
      [name],
    )
    assert.deepEqual(rights.rows[0], { connect: true, create_schema: false, schema_owner: name, create_in_public: false })

    // The migrations run as the role, into its schema.
    const migrated = await runCli(['migrate'], { env: cliEnv({ HOMESTEAD_DATABASE_URL: appUrl }) })
    assert.equal(migrated.code, 0, migrated.stderr)
    const tables = await query(as(admin, new URL(admin).username, name), "SELECT schemaname, count(*)::int AS n FROM pg_tables WHERE tableowner = $1 GROUP BY schemaname", [name])
    assert.equal(tables.rows.length, 1)
    assert.equal(tables.rows[0].schemaname, name)
    assert.ok(tables.rows[0].n > 20)

    // The server serves as the role.
    await servesWith({ 'database.url': appUrl })

    // Again, after the migrations: nothing to create, the role updated, the data untouched.
    const again = await runCli(['db-bootstrap', '--admin-url', admin], { env: cliEnv({ HOMESTEAD_DATABASE_URL: appUrl }) })
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /updated the role$/m)
    assert.equal((await query(appUrl, 'SELECT count(*)::int AS n FROM users')).rows[0].n, 1)
  })

  it('refuses to run Homestead as the administrator or as a superuser, and needs an admin URL', async () => {
    admin ??= await targetUrl('postgres')
    const adminUser = new URL(admin).username
    const self = await runCli(['db-bootstrap', '--admin-url', admin], { env: cliEnv({ HOMESTEAD_DATABASE_URL: as(admin, adminUser, name, 'x') }) })
    assert.equal(self.code, 1)
    assert.match(self.stderr, /names the administrator/)
    await query(admin, `CREATE ROLE ${name}_su LOGIN SUPERUSER`)
    try {
      const superuser = await runCli(['db-bootstrap', '--admin-url', admin], { env: cliEnv({ HOMESTEAD_DATABASE_URL: as(admin, `${name}_su`, name, 'x') }) })
      assert.equal(superuser.code, 1)
      assert.match(superuser.stderr, /is a superuser; Homestead will not run as one/)
    } finally {
      await query(admin, `DROP ROLE ${name}_su`)
    }
    const missing = await runCli(['db-bootstrap'], { env: cliEnv({ HOMESTEAD_DATABASE_URL: as(admin, name, name, 'x') }) })
    assert.equal(missing.code, 64)
    assert.match(missing.stderr, /needs --admin-url/)
  })
})

const noMoto = motoUnavailable('the db-bootstrap test with an app secret')

describe('homestead db-bootstrap with the app secret, as an administrator that is no superuser, on a PostgreSQL that checks passwords', { skip: noMoto ?? false }, () => {
  it('sets the secret\'s password (not sent as text), and Homestead signs in with it', async () => {
    const postgres = await startPasswordPostgres()
    const moto = await startMoto()
    const secrets = new SecretsManagerClient({ endpoint: moto.endpoint, region: 'eu-west-1' })
    try {
      const password = 'a-random-app-password-0123456789'
      const { ARN: arn } = await secrets.send(new CreateSecretCommand({ Name: 'homestead/app-db', SecretString: JSON.stringify({ username: 'homestead_app', password }) }))
      const appUrl = postgres.url('homestead_app', 'homestead')
      const env = cliEnv({
        HOMESTEAD_DATABASE_URL: appUrl,
        HOMESTEAD__DATABASE__PASSWORD_SECRET_ARN: arn as string,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: moto.endpoint,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
      })
      // The administrator is no superuser, as the master user of RDS and Aurora is not.
      await postgres.sql("CREATE ROLE master LOGIN CREATEDB CREATEROLE PASSWORD 'master-password-0123456789'")
      const run = await runCli(['db-bootstrap', '--admin-url', postgres.url('master', 'postgres', 'master-password-0123456789')], { env })
      assert.equal(run.code, 0, run.stderr)
      assert.match(run.stdout, /created the database, created the role, created its schema/)
      // Stored as a SCRAM verifier computed here; the server accepts the password and refuses another.
      const stored = await postgres.sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'homestead_app'")
      assert.match(stored.rows[0].rolpassword, /^SCRAM-SHA-256\$4096:/)
      assert.equal((await query(postgres.url('homestead_app', 'homestead', password), 'SELECT current_user AS u')).rows[0].u, 'homestead_app')
      await assert.rejects(query(postgres.url('homestead_app', 'homestead', 'wrong'), 'SELECT 1'), /password authentication failed/)

      process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = moto.endpoint
      try {
        await servesWith({ 'database.url': appUrl, 'database.password_secret_arn': arn })
      } finally {
        delete process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER
      }
    } finally {
      secrets.destroy()
      moto.stop()
      await postgres.stop()
    }
  })
})
