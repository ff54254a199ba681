// The boot rehearsal: the real user-data template, rendered with the example's values, runs as an instance's
// first boot in an isolated root on this machine (test/deploy/support/boot-root.sh): it downloads the
// release built by `npm run release` from S3, checks its sha256, installs it, writes the configuration,
// bootstraps Homestead's database role with the master secret, and starts homestead.service. AWS is served
// on loopback (moto_server for S3 and Secrets Manager, a fake instance metadata service), the database is
// the machine's PostgreSQL standing in for Aurora. Then a person's first steps go through the started
// service. A user data that cannot start Homestead fails here.
// The one seam between this and an instance: test/deploy/support/boot-seam (see its README).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { stringify } from 'yaml'
import { ARTIFACT_CA_BUNDLE } from '../../scripts/release.ts'
import { ROOT, passwordLogin, waitFor } from '../support/cli.ts'
import { s3Unavailable, startS3Server } from '../support/s3-server.ts'
import { Api } from '../support/server.ts'
import { BootRoot, renderTemplate, startFakeImds, templateVariables, type FakeImds } from './support/boot.ts'
import { moduleConfig } from './support/module-config.ts'
import { buildArtifacts, roomAndMessage } from './support/release.ts'

const TEMPLATES = join(ROOT, 'deploy', 'aws', 'templates')
const REGION = 'eu-west-1' // the example's region
const PORT = 8008 // listen.port in compute.tf's configuration
const POSTGRES = process.env.HOMESTEAD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const suffix = randomBytes(4).toString('hex')
const names = { db: `hs_rehearsal_${suffix}`, master: `hs_master_${suffix}` }

const skip = s3Unavailable() ?? (process.getuid?.() !== 0 ? 'the rehearsal builds an isolated root: it runs as root' : null) ?? (spawnSync('/usr/bin/aws', ['--version']).status !== 0 ? 'the AWS CLI (Debian package awscli) is not installed' : null)

const work = mkdtempSync(join(tmpdir(), 'hs-boot-'))
let userData = ''
let appRole = ''
let imds: FakeImds
let instance: BootRoot
const timings: Record<string, number> = {}

/** The AWS CLI on this machine, as the test's own operator (moto accepts any credentials). */
function awsCli(endpoint: string, args: string[], input?: string): string {
  const result = spawnSync('/usr/bin/aws', ['--endpoint-url', endpoint, '--region', REGION, '--output', 'json', ...args], {
    encoding: 'utf8',
    input,
    env: { PATH: process.env.PATH, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_EC2_METADATA_DISABLED: 'true' },
  })
  assert.equal(result.status, 0, `aws ${args.join(' ')}: ${result.stderr}`)
  return result.stdout
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

before(async () => {
  if (skip) return
  let started = Date.now()
  const [artifact] = buildArtifacts(['x64'], join(work, 'dist'))
  assert.ok(artifact)
  timings.release = (Date.now() - started) / 1000
  started = Date.now()

  // AWS on loopback: the release bucket and the media bucket, the three secrets Terraform and RDS keep.
  const s3 = await startS3Server(`homestead-release-${suffix}`)
  const aws = (args: string[]) => JSON.parse(awsCli(s3.endpoint, args) || '{}')
  awsCli(s3.endpoint, ['s3api', 'create-bucket', '--bucket', `homestead-media-${suffix}`, '--create-bucket-configuration', `LocationConstraint=${REGION}`])
  const key = `releases/${artifact.file.split('/').pop()}`
  awsCli(s3.endpoint, ['s3', 'cp', '--only-show-errors', artifact.file, `s3://${s3.bucket}/${key}`])
  const masterPassword = randomBytes(16).toString('hex')
  const master = aws(['secretsmanager', 'create-secret', '--name', `rds!cluster-${suffix}`, '--secret-string', JSON.stringify({ username: names.master, password: masterPassword })])
  const appEnv = aws(['secretsmanager', 'create-secret', '--name', `homestead-app-${suffix}`, '--secret-string', JSON.stringify({ HOMESTEAD_LOG_LEVEL: 'info' })])

  // compute.tf's configuration for the example; what only AWS knows comes from the rehearsal's stand-ins.
  const config = await moduleConfig({ vars: { server_name: 'example.com' }, aws: { 'aws_s3_bucket.media.id': `homestead-media-${suffix}`, 'data.aws_region.current.region': REGION } })
  const configured = typeof config.database?.url === 'string' && !config.database.url.includes('<unresolved') ? new URL(config.database.url) : null
  appRole = configured ? decodeURIComponent(configured.username) : 'homestead'
  const dbSecret = aws(['secretsmanager', 'create-secret', '--name', `homestead-db-${suffix}`, '--secret-string', JSON.stringify({ username: appRole, password: randomBytes(24).toString('hex') })])
  config.database = {
    ...config.database,
    url: `postgres://${encodeURIComponent(appRole)}@127.0.0.1:5432/${names.db}`,
    password_secret_arn: dbSecret.ARN,
    aws_region: REGION,
    // The machine's PostgreSQL has no TLS; on AWS verify-full checks Aurora against the release's CA bundle.
    ssl: 'disable',
  }
  assert.doesNotMatch(JSON.stringify(config), /<unresolved/, `the configuration still has references the rehearsal did not resolve: ${JSON.stringify(config)}`)

  // Aurora's stand-in: a database owned by a master role that may create roles and nothing more.
  await admin(async (c) => {
    await c.query(`CREATE ROLE ${names.master} LOGIN CREATEROLE PASSWORD '${masterPassword}'`)
    await c.query(`CREATE DATABASE ${names.db} OWNER ${names.master}`)
  })

  const template = readFileSync(join(TEMPLATES, 'user-data.sh.tftpl'), 'utf8')
  const variables = {
    release_s3_uri: `s3://${s3.bucket}/${key}`,
    release_sha256: artifact.sha256,
    release_version: (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
    region: REGION,
    config_yaml: stringify(config),
    db_master_secret_arn: master.ARN,
    db_host: '127.0.0.1',
    db_port: 5432,
    db_name: names.db,
    settings_secret_arn: appEnv.ARN,
    app_port: PORT,
    systemd_unit: readFileSync(join(ROOT, 'deploy', 'systemd', 'homestead.service'), 'utf8'),
    fetch_secrets: readFileSync(join(TEMPLATES, 'fetch-secrets.sh'), 'utf8'),
    liveness: readFileSync(join(TEMPLATES, 'liveness.sh'), 'utf8'),
    cloudwatch_agent_config: JSON.stringify({ logs: { logs_collected: { files: { collect_list: [{ file_path: '/var/log/homestead/homestead.log', log_group_name: '/homestead/app', log_stream_name: '{instance_id}/homestead' }] } } } }),
  }
  assert.deepEqual(templateVariables(template), Object.keys(variables).sort(), 'the rehearsal passes exactly the variables the template uses')
  userData = renderTemplate(template, variables)

  imds = await startFakeImds({ instanceId: `i-0${suffix}rehearsal`, region: REGION, role: 'homestead-instance' })
  timings.setup = (Date.now() - started) / 1000
  started = Date.now()
  instance = new BootRoot(work)
  instance.boot(userData, { SEAM_AWS_ENDPOINT: s3.endpoint, SEAM_IMDS_ENDPOINT: imds.endpoint })
  await waitFor(() => instance.bootStatus !== null || !instance.running, 240_000, () => `the user data did not finish\n${instance.logs()}`)
  timings.boot = (Date.now() - started) / 1000
})

after(async () => {
  await instance?.stop()
  await imds?.close()
  if (!skip) {
    await admin(async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${names.db} WITH (FORCE)`)
      for (const role of [appRole, names.master]) if (role) await c.query(`DROP ROLE IF EXISTS "${role}"`)
    }).catch((e) => console.error(`# rehearsal clean-up: ${e}`))
  }
  await rm(work, { recursive: true, force: true })
  console.log(`# rehearsal timings (s): ${JSON.stringify(timings)}`)
})

describe('boot rehearsal: the user data on an instance', { skip: skip ?? false }, () => {
  it('fits in EC2 user data (16,384 bytes) with everything it installs', () => {
    assert.ok(Buffer.byteLength(userData) < 16_384, `rendered user data is ${Buffer.byteLength(userData)} bytes`)
    const commands = userData.split('\n').filter((line) => !line.trimStart().startsWith('#'))
    assert.doesNotMatch(commands.join('\n'), /nodejs\.org|\bnpm\b|registry\.npmjs/)
  })

  it('boots: release from S3 checked and installed, configuration written, database role made, service started', async () => {
    assert.equal(instance.bootStatus, 0, `the user data failed\n${instance.logs()}`)
    const ready = Date.now()
    await waitFor(
      async () => {
        if (!instance.running) throw new Error(`the instance stopped\n${instance.logs()}`)
        return fetch(`http://127.0.0.1:${PORT}/health/ready`).then((r) => r.status === 200, () => false)
      },
      60_000,
      () => `homestead.service never became ready\n${instance.logs()}`,
    )
    timings.ready = (Date.now() - ready) / 1000
    const current = instance.exec(['readlink', '-f', '/opt/homestead/current'])
    assert.match(current.stdout.trim(), /^\/opt\/homestead\/releases\/homestead-\d+\.\d+\.\d+$/)
    const bundle = instance.exec(['test', '-s', `/opt/homestead/current/${ARTIFACT_CA_BUNDLE}`])
    assert.equal(bundle.status, 0, 'the release carries the RDS CA bundle')
    // The service's environment holds no database password: Homestead reads its own from Secrets Manager.
    const env = instance.exec(['cat', '/etc/homestead/env'])
    assert.match(env.stdout, /^HOMESTEAD_LOG_LEVEL="info"$/m)
    assert.doesNotMatch(env.stdout, /DATABASE|PASSWORD/)
    // Homestead runs as its own role, which is no superuser and may not create roles or databases.
    const role = await admin((c) => c.query('SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = $1', [appRole]))
    assert.deepEqual(role.rows, [{ rolsuper: false, rolcreaterole: false, rolcreatedb: false }])
    assert.ok(imds.requests.some((r) => r.startsWith('PUT /latest/api/token 200')), 'credentials came through IMDSv2')
  })

  it('serves a person: an account made on the instance, then a login, a room and a message through the service', async () => {
    const password = randomBytes(12).toString('hex')
    const made = instance.exec(['/opt/homestead/current/bin/homestead', 'register-user', 'alice', '--config', '/etc/homestead/homestead.yaml'], {
      user: 'homestead',
      env: { AWS_ENDPOINT_URL: readSeam('SEAM_AWS_ENDPOINT'), AWS_EC2_METADATA_SERVICE_ENDPOINT: readSeam('SEAM_IMDS_ENDPOINT') },
      input: `${password}\n`,
    })
    assert.equal(made.status, 0, `register-user: ${made.stdout}${made.stderr}`)
    const url = `http://127.0.0.1:${PORT}`
    const login = await passwordLogin(url, 'alice', password)
    assert.equal(login.status, 200, JSON.stringify(login.body))
    await roomAndMessage(new Api(url), login.body.access_token)
  })

  it('the liveness check passes while Homestead answers, and the timer is installed', () => {
    const run = instance.exec(['systemctl', 'start', 'homestead-liveness.service'])
    assert.equal(run.status, 0, `${run.stdout}${run.stderr}`)
    assert.equal(instance.exec(['test', '-e', '/run/homestead-liveness/failing-since']).status, 1)
    assert.match(instance.exec(['cat', '/run/seam-systemd/timers']).stdout, /homestead-liveness\.timer/)
  })
})

function readSeam(name: string): string {
  return new RegExp(`^${name}='([^']*)'$`, 'm').exec(readFileSync(join(instance.seam, 'env'), 'utf8'))?.[1] ?? ''
}
