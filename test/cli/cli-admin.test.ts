// The operator's commands as real processes: generate-config feeding `start --config`, register-user
// (password file, stdin, --admin), registration-token create/list/delete, and invalid settings refused
// before anything starts.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { CliServer, cleanupCli, cliEnv, passwordLogin, runCli, tempDataDir } from '../support/cli.ts'

let dir: string
let configFile: string
let env: NodeJS.ProcessEnv
let server: CliServer

before(async () => {
  dir = await tempDataDir()
  configFile = join(dir, 'homestead.yaml')
  // The file keeps its defaults; the environment overrides where and on which port (defaults < file < env).
  env = cliEnv({
    HOMESTEAD_DATA_DIR: join(dir, 'data'),
    HOMESTEAD_PORT: '0', // the kernel picks a free port; CliServer reads it from the log
    HOMESTEAD_HOST: '127.0.0.1',
    HOMESTEAD_LOG_LEVEL: 'info',
    HOMESTEAD_RATE_LIMITS: 'false',
  })
})

after(async () => {
  if (server?.running) await server.stop()
  await cleanupCli()
})

async function adminTokens(token: string, path = ''): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}/_synapse/admin/v1/registration_tokens${path}`, { headers: { Authorization: `Bearer ${token}` } })
  return { status: res.status, body: await res.json() }
}

function jsonLines(stdout: string): any[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line))
}

describe('homestead generate-config', () => {
  it('--output writes a private YAML file for the server name, with a generated shared secret', async () => {
    const result = await runCli(['generate-config', '--server-name', 'example.org', '--output', configFile], { env })
    assert.equal(result.code, 0, result.stderr)
    assert.equal(statSync(configFile).mode & 0o777, 0o600)
    const yaml = parseYaml(readFileSync(configFile, 'utf8'))
    assert.equal(yaml.server_name, 'example.org')
    assert.equal(yaml.database.url, null)
    assert.match(yaml.registration.shared_secret, /^\S{48}$/)
  })

  it('refuses to overwrite an existing file and leaves it untouched', async () => {
    const before = readFileSync(configFile, 'utf8')
    const result = await runCli(['generate-config', '--server-name', 'other.org', '--output', configFile], { env })
    assert.notEqual(result.code, 0)
    assert.match(result.stderr, /already exists; not overwriting it/)
    assert.equal(readFileSync(configFile, 'utf8'), before)
  })

  it('writes a file that `start --config` accepts: its server name and shared secret take effect', async () => {
    server = new CliServer(['start', '--config', configFile], env)
    await server.waitReady()
    const yaml = parseYaml(readFileSync(configFile, 'utf8'))
    // Shared-secret registration (register_new_matrix_user's protocol) with the secret from the file.
    const { nonce } = (await (await fetch(`${server.url}/_synapse/admin/v1/register`)).json()) as { nonce: string }
    const mac = createHmac('sha1', yaml.registration.shared_secret).update(`${nonce}\0carol\0a long passphrase\0notadmin`).digest('hex')
    const res = await fetch(`${server.url}/_synapse/admin/v1/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ nonce, username: 'carol', password: 'a long passphrase', admin: false, mac }),
    })
    assert.equal(res.status, 200, await res.clone().text())
    assert.equal(((await res.json()) as { user_id: string }).user_id, '@carol:example.org')
  })
})

describe('homestead register-user', () => {
  it('--password-file creates a user of the configured server that logs in over HTTP', async () => {
    const passwordFile = join(dir, 'alice.pw')
    writeFileSync(passwordFile, 'alice has a long password\n')
    const result = await runCli(['register-user', 'alice', '--password-file', passwordFile, '--config', configFile], { env })
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout.trim(), 'Created @alice:example.org')
    const login = await passwordLogin(server.url, 'alice', 'alice has a long password')
    assert.equal(login.status, 200, JSON.stringify(login.body))
    assert.equal(login.body.user_id, '@alice:example.org')
    // Not an admin: the admin API refuses her.
    const refused = await adminTokens(login.body.access_token)
    assert.equal(refused.status, 403)
    assert.equal(refused.body.errcode, 'M_FORBIDDEN')
  })

  it('--admin with the password on stdin creates an admin who may use the admin API', async () => {
    const result = await runCli(['register-user', '@bob:example.org', '--admin', '--config', configFile], {
      env,
      input: 'bob is the admin here\nignored second line\n',
    })
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout.trim(), 'Created @bob:example.org (admin)')
    const login = await passwordLogin(server.url, 'bob', 'bob is the admin here')
    assert.equal(login.status, 200, JSON.stringify(login.body))
    const tokens = await adminTokens(login.body.access_token)
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body))
    assert.ok(Array.isArray(tokens.body.registration_tokens))
  })

  it('refuses a name that is already taken, exiting non-zero with the reason', async () => {
    const result = await runCli(['register-user', 'alice', '--config', configFile], { env, input: 'another password\n' })
    assert.equal(result.code, 1)
    assert.match(result.stderr, /User ID already taken/)
  })
})

describe('homestead registration-token', () => {
  let adminToken: string

  before(async () => {
    const login = await passwordLogin(server.url, 'bob', 'bob is the admin here')
    adminToken = login.body.access_token
  })

  it('create --uses 2, list and delete round-trip as JSON lines, seen by the admin API in between', async () => {
    const created = await runCli(['registration-token', 'create', '--uses', '2', '--config', configFile], { env })
    assert.equal(created.code, 0, created.stderr)
    const [row, ...extra] = jsonLines(created.stdout)
    assert.deepEqual(extra, [])
    assert.match(row.token, /^[A-Za-z0-9._~-]{16}$/)
    assert.deepEqual({ ...row, token: undefined }, { token: undefined, uses_allowed: 2, pending: 0, completed: 0, expiry_time: null })

    const viaHttp = await adminTokens(adminToken, `/${encodeURIComponent(row.token)}`)
    assert.equal(viaHttp.status, 200)
    assert.deepEqual(viaHttp.body, row)

    const named = await runCli(['registration-token', 'create', '--token', 'party-2026', '--expires-in-days', '1', '--config', configFile], { env })
    assert.equal(named.code, 0, named.stderr)
    const [namedRow] = jsonLines(named.stdout)
    assert.equal(namedRow.token, 'party-2026')
    assert.ok(Math.abs(namedRow.expiry_time - (Date.now() + 86_400_000)) < 600_000, `expiry_time ${namedRow.expiry_time}`)

    const listed = await runCli(['registration-token', 'list', '--config', configFile], { env })
    assert.equal(listed.code, 0, listed.stderr)
    const rows = jsonLines(listed.stdout)
    assert.deepEqual(rows.map((r) => r.token).sort(), [row.token, 'party-2026'].sort())
    assert.deepEqual(rows.find((r) => r.token === row.token), row)

    // A generated token may start with '-' (its alphabet has it): after '--' it is never taken for an option.
    const deleted = await runCli(['registration-token', 'delete', '--config', configFile, '--', row.token], { env })
    assert.equal(deleted.code, 0, deleted.stderr)
    assert.equal(deleted.stdout.trim(), `Deleted ${row.token}`)

    const dashed = await runCli(['registration-token', 'create', '--token=-leading-dash', '--config', configFile], { env })
    assert.equal(dashed.code, 0, dashed.stderr)
    const dashedDeleted = await runCli(['registration-token', 'delete', '--config', configFile, '--', '-leading-dash'], { env })
    assert.equal(dashedDeleted.code, 0, dashedDeleted.stderr)

    const after = await runCli(['registration-token', 'list', '--config', configFile], { env })
    assert.deepEqual(jsonLines(after.stdout).map((r) => r.token), ['party-2026'])
    assert.equal((await adminTokens(adminToken, `/${encodeURIComponent(row.token)}`)).status, 404)
  })

  it('refuses a fractional --uses with the usage text and exit code 64', async () => {
    const result = await runCli(['registration-token', 'create', '--uses', '1.5', '--config', configFile], { env })
    assert.equal(result.code, 64)
    assert.match(result.stderr, /--uses must be a non-negative integer/)
    assert.match(result.stderr, /Usage: homestead/)
  })

  it('delete of an unknown token exits non-zero', async () => {
    const result = await runCli(['registration-token', 'delete', 'no-such-token', '--config', configFile], { env })
    assert.equal(result.code, 1)
    assert.match(result.stderr, /No such registration token/)
  })

  it('the server keeps serving after all these commands and stops cleanly', async () => {
    assert.equal((await fetch(`${server.url}/health`)).status, 200)
    assert.deepEqual(await server.stop(), { code: 0, signal: null }, server.output)
  })
})

describe('invalid settings', () => {
  async function refused(args: string[], extraEnv: Record<string, string>): Promise<string> {
    const dataDir = await tempDataDir()
    const result = await runCli(args, { env: { ...env, HOMESTEAD_DATA_DIR: dataDir, ...extraEnv } })
    assert.notEqual(result.code, 0, `${args.join(' ')} was accepted`)
    assert.equal(result.code, 1)
    // Refused before anything started: no cluster was created.
    assert.deepEqual(readdirSync(dataDir), [])
    return result.stderr
  }

  it('HOMESTEAD_PORT=abc exits non-zero naming listen.port and the variable', async () => {
    const stderr = await refused(['start'], { HOMESTEAD_PORT: 'abc' })
    assert.match(stderr, /listen\.port: HOMESTEAD_PORT must be a number, not "abc"/)
  })

  it('an unknown key in the YAML file exits non-zero naming the key', async () => {
    const bad = join(dir, 'bad.yaml')
    writeFileSync(bad, 'server_name: example.org\nlisten:\n  port: 8448\n  prot: 1\n')
    assert.match(await refused(['start', '--config', bad], {}), /invalid configuration: listen\.prot: unknown key/)
    writeFileSync(bad, 'server_name: example.org\nregistraton:\n  enabled: true\n')
    assert.match(await refused(['start', '--config', bad], {}), /invalid configuration: registraton: unknown key/)
  })

  it('a value outside its choices exits non-zero listing them', async () => {
    const stderr = await refused(['migrate'], { HOMESTEAD_LOG_LEVEL: 'loud' })
    assert.match(stderr, /log\.level: must be one of fatal, error, warn, info, debug, trace, silent \(got "loud"\)/)
  })

  it('a missing config file exits non-zero naming it', async () => {
    const missing = join(dir, 'missing.yaml')
    assert.equal(existsSync(missing), false)
    assert.match(await refused(['start', '--config', missing], {}), new RegExp(`cannot read config file ${missing}`))
  })
})
