// loadConfig (defaults < YAML file < HOMESTEAD_* environment) and generateConfig, on real temp files.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { ConfigError, loadConfig } from '../../src/config/load.ts'
import { generateConfig } from '../../src/config/generate.ts'

const dir = mkdtempSync(join(tmpdir(), 'hs-config-'))
after(() => rmSync(dir, { recursive: true, force: true }))

let fileCounter = 0
function yamlFile(text: string): string {
  const file = join(dir, `config-${++fileCounter}.yaml`)
  writeFileSync(file, text)
  return file
}

/** Asserts that loading throws a ConfigError whose message matches every pattern. */
function assertConfigError(load: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(load, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
    for (const pattern of patterns) assert.match(err.message, pattern)
    return true
  })
}

describe('loadConfig defaults', () => {
  it('runs on defaults when given no file and an empty environment', () => {
    const config = loadConfig({ env: {} })
    assert.equal(config.server_name, 'localhost')
    assert.equal(config.listen.port, 8008)
    assert.equal(config.listen.host, '0.0.0.0')
    assert.equal(config.data_dir, resolve(process.cwd(), 'data'))
    assert.equal(config.public_baseurl, 'http://localhost:8008/')
    assert.equal(config.database.url, null)
    assert.equal(config.registration.enabled, false)
    assert.equal(config.rate_limits.enabled, true)
  })

  it('resolves data_dir against the given cwd', () => {
    const config = loadConfig({ env: {}, cwd: '/srv/homestead' })
    assert.equal(config.data_dir, '/srv/homestead/data')
  })

  it('treats an empty YAML file as all defaults', () => {
    assert.equal(loadConfig({ env: {}, file: yamlFile('') }).server_name, 'localhost')
  })

  it('defaults public_baseurl to https://<server_name>/ for a non-localhost name', () => {
    assert.equal(loadConfig({ env: { HOMESTEAD_SERVER_NAME: 'example.org' } }).public_baseurl, 'https://example.org/')
    assert.equal(loadConfig({ env: { HOMESTEAD_SERVER_NAME: 'example.org:8448' } }).public_baseurl, 'https://example.org:8448/')
  })

  it('uses the listen port in the default localhost public_baseurl', () => {
    assert.equal(loadConfig({ env: { HOMESTEAD_PORT: '9000' } }).public_baseurl, 'http://localhost:9000/')
  })

  it('returns a deeply frozen config', () => {
    const config = loadConfig({ env: {} })
    assert.ok(Object.isFrozen(config))
    assert.ok(Object.isFrozen(config.listen))
    assert.ok(Object.isFrozen(config.rate_limits.login_address))
    assert.throws(() => {
      ;(config as { server_name: string }).server_name = 'other'
    }, TypeError)
    assert.throws(() => {
      ;(config.listen as { port: number }).port = 1
    }, TypeError)
  })
})

describe('loadConfig YAML file', () => {
  it('overrides defaults and keeps defaults for keys it does not set', () => {
    const file = yamlFile(
      [
        'server_name: example.com',
        'listen:',
        '  port: 8448',
        'data_dir: /var/lib/homestead',
        'database:',
        '  url: postgres://u:p@db:5432/hs',
        '  pool_size: 7',
        'registration:',
        '  enabled: true',
        'log:',
        '  level: warn',
      ].join('\n'),
    )
    const config = loadConfig({ env: {}, file })
    assert.equal(config.server_name, 'example.com')
    assert.equal(config.listen.port, 8448)
    assert.equal(config.listen.host, '0.0.0.0')
    assert.equal(config.data_dir, '/var/lib/homestead')
    assert.equal(config.database.url, 'postgres://u:p@db:5432/hs')
    assert.equal(config.database.pool_size, 7)
    assert.equal(config.database.ssl, 'disable')
    assert.equal(config.registration.enabled, true)
    assert.equal(config.log.level, 'warn')
    assert.equal(config.public_baseurl, 'https://example.com/')
  })

  it('adds the trailing slash to an explicit public_baseurl', () => {
    const config = loadConfig({ env: {}, file: yamlFile('public_baseurl: https://matrix.example.com') })
    assert.equal(config.public_baseurl, 'https://matrix.example.com/')
  })
})

describe('loadConfig environment', () => {
  const file = yamlFile(
    [
      'server_name: from-yaml.example',
      'public_baseurl: https://yaml.example/',
      'listen: { port: 1111 }',
      'data_dir: /yaml/data',
      'database: { url: "postgres://yaml/db", pool_size: 3 }',
      'registration: { enabled: true, shared_secret: yaml-secret-yaml-secret }',
      'rate_limits: { enabled: true }',
    ].join('\n'),
  )

  it('lets each HOMESTEAD_* alias override the YAML file', () => {
    const config = loadConfig({
      file,
      env: {
        HOMESTEAD_SERVER_NAME: 'from-env.example',
        HOMESTEAD_PORT: '2222',
        HOMESTEAD_DATA_DIR: '/env/data',
        HOMESTEAD_DATABASE_URL: 'postgresql://env/db',
        HOMESTEAD_REGISTRATION_SHARED_SECRET: 'env-secret-env-secret',
        HOMESTEAD_ENABLE_REGISTRATION: 'false',
        HOMESTEAD_RATE_LIMITS: 'off',
        HOMESTEAD_PUBLIC_BASEURL: 'https://env.example',
      },
    })
    assert.equal(config.server_name, 'from-env.example')
    assert.equal(config.listen.port, 2222)
    assert.equal(config.data_dir, '/env/data')
    assert.equal(config.database.url, 'postgresql://env/db')
    assert.equal(config.database.pool_size, 3)
    assert.equal(config.registration.shared_secret, 'env-secret-env-secret')
    assert.equal(config.registration.enabled, false)
    assert.equal(config.rate_limits.enabled, false)
    assert.equal(config.public_baseurl, 'https://env.example/')
  })

  it('leaves YAML values alone when no variable is set', () => {
    const config = loadConfig({ file, env: {} })
    assert.equal(config.server_name, 'from-yaml.example')
    assert.equal(config.listen.port, 1111)
    assert.equal(config.registration.enabled, true)
  })

  it('reads true/false and on/off for booleans', () => {
    assert.equal(loadConfig({ env: { HOMESTEAD_ENABLE_REGISTRATION: 'true' } }).registration.enabled, true)
    assert.equal(loadConfig({ env: { HOMESTEAD_ENABLE_REGISTRATION: 'FALSE' } }).registration.enabled, false)
    assert.equal(loadConfig({ env: { HOMESTEAD_RATE_LIMITS: 'on' } }).rate_limits.enabled, true)
    assert.equal(loadConfig({ env: { HOMESTEAD_RATE_LIMITS: 'off' } }).rate_limits.enabled, false)
  })

  it('clears a nullable key with an empty variable', () => {
    assert.equal(loadConfig({ file, env: { HOMESTEAD_DATABASE_URL: '' } }).database.url, null)
  })

  it('sets any key with HOMESTEAD__SECTION__KEY, overriding the YAML file', () => {
    const config = loadConfig({
      file,
      env: {
        HOMESTEAD__DATABASE__POOL_SIZE: '40',
        HOMESTEAD__RATE_LIMITS__LOGIN_ADDRESS__BURST: '9',
        HOMESTEAD__LOG__LEVEL: 'debug',
        HOMESTEAD__WELL_KNOWN__SERVER: 'matrix.example.com:443',
      },
    })
    assert.equal(config.database.pool_size, 40)
    assert.equal(config.rate_limits.login_address.burst, 9)
    assert.equal(config.rate_limits.login_address.per_second, 0.003)
    assert.equal(config.log.level, 'debug')
    assert.equal(config.well_known.server, 'matrix.example.com:443')
  })

  it('ignores HOMESTEAD_ variables that are neither aliases nor the generic form', () => {
    assert.equal(loadConfig({ env: { HOMESTEAD_TEST_TARGET: 'external', PATH: '/bin' } }).server_name, 'localhost')
  })
})

describe('loadConfig empty sections', () => {
  it('treats a section left empty in YAML as its defaults', () => {
    const config = loadConfig({ env: {}, file: yamlFile('registration:\nrate_limits:\n  login_address:\n') })
    assert.equal(config.registration.enabled, false)
    assert.equal(config.rate_limits.login_address.burst, 5)
  })
})

describe('loadConfig errors', () => {
  it('names an unknown YAML key', () => {
    assertConfigError(() => loadConfig({ env: {}, file: yamlFile('bogus: 1') }), /bogus/, /unknown key/)
    assertConfigError(() => loadConfig({ env: {}, file: yamlFile('listen:\n  bogus: 1') }), /listen\.bogus/, /unknown key/)
  })

  it('refuses a support contact with neither a matrix_id nor an email_address', () => {
    assertConfigError(
      () => loadConfig({ env: {}, file: yamlFile('well_known:\n  support_contacts:\n    - role: m.role.admin\n      matrix_id: "@admin:example.org"\n    - role: m.role.security') }),
      /well_known\.support_contacts\.1/,
      /matrix_id, an email_address or both/,
    )
  })

  it('names a key of the wrong type', () => {
    assertConfigError(() => loadConfig({ env: {}, file: yamlFile('listen:\n  port: "eighty"') }), /listen\.port/, /eighty/)
    assertConfigError(() => loadConfig({ env: {}, file: yamlFile('registration:\n  enabled: "maybe"') }), /registration\.enabled/)
    assertConfigError(() => loadConfig({ env: {}, file: yamlFile('listen: 5') }), /listen/)
  })

  it('keeps e-mail off by default and checks the e-mail settings together', () => {
    const config = loadConfig({ env: {} })
    assert.equal(config.email.smtp_host, null)
    assert.equal(config.email.smtp_port, 25)
    assert.equal(config.email.app_name, 'Matrix')
    assert.equal(config.registration.requires_email, false)
    const mail = loadConfig({ env: { HOMESTEAD__EMAIL__SMTP_HOST: 'smtp.example.org', HOMESTEAD__EMAIL__SMTP_PORT: '587' }, file: yamlFile('email:\n  force_tls: true') })
    assert.equal(mail.email.smtp_host, 'smtp.example.org')
    assert.equal(mail.email.smtp_port, 587)
    assert.equal(mail.email.force_tls, true)
    assertConfigError(() => loadConfig({ env: {}, overrides: { 'registration.requires_email': true } }), /registration\.requires_email/, /email\.smtp_host/)
    assertConfigError(() => loadConfig({ env: {}, overrides: { 'email.smtp_host': 'smtp.example.org', 'email.smtp_user': 'me' } }), /email\.smtp_pass/)
    // Digest mails: off by default, Synapse's defaults otherwise; they need an SMTP server.
    assert.equal(config.email.enable_notifs, false)
    assert.equal(config.email.notif_for_new_users, true)
    assert.equal(config.email.client_base_url, 'https://matrix.to')
    assert.equal(config.email.notif_delay_ms, 600_000)
    assertConfigError(() => loadConfig({ env: {}, overrides: { 'email.enable_notifs': true } }), /email\.enable_notifs/, /email\.smtp_host/)
    assertConfigError(() => loadConfig({ env: {}, overrides: { 'email.client_base_url': 'javascript:alert(1)' } }), /email\.client_base_url/)
    assertConfigError(() => loadConfig({ env: {}, file: yamlFile('email:\n  smtp_port: 0') }), /email\.smtp_port/)
    // The SMTP password is not repeated in an error.
    try {
      loadConfig({ env: {}, file: yamlFile('email:\n  smtp_pass: 12345') })
      assert.fail('expected a ConfigError')
    } catch (err) {
      assert.ok(err instanceof ConfigError)
      assert.match(err.message, /email\.smtp_pass/)
      assert.doesNotMatch(err.message, /12345/)
    }
  })

  it('lists the choices of an enum key', () => {
    assertConfigError(
      () => loadConfig({ env: {}, file: yamlFile('log:\n  level: loud') }),
      /log\.level/,
      /fatal, error, warn, info, debug, trace, silent/,
      /loud/,
    )
    assertConfigError(() => loadConfig({ env: { HOMESTEAD_DATABASE_SSL: 'maybe' } }), /database\.ssl/, /disable, require, verify-full/)
  })

  it('refuses CAS single sign-on enabled without its server URL, or a server URL that is not http(s)', () => {
    assertConfigError(() => loadConfig({ env: {}, overrides: { 'sso.cas.enabled': true } }), /sso\.cas\.server_url/, /needed when sso\.cas\.enabled/)
    assertConfigError(() => loadConfig({ env: {}, overrides: { 'sso.cas.enabled': true, 'sso.cas.server_url': 'ftp://cas.example.org' } }), /sso\.cas\.server_url/)
    const config = loadConfig({ env: {}, overrides: { 'sso.cas.enabled': true, 'sso.cas.server_url': 'https://cas.example.org/cas' } })
    assert.equal(config.sso.cas.idp_name, 'CAS')
    assert.equal(loadConfig({ env: {} }).sso.cas.enabled, false)
  })

  it('refuses values outside the schema limits', () => {
    assertConfigError(() => loadConfig({ env: { HOMESTEAD_PORT: '70000' } }), /listen\.port/)
    assertConfigError(() => loadConfig({ env: {}, overrides: { 'registration.shared_secret': '' } }), /registration\.shared_secret/)
    assertConfigError(() => loadConfig({ env: { HOMESTEAD_SERVER_NAME: 'bad name!' } }), /server_name/)
  })

  it('says which limit a nullable key breaks, without repeating a secret', () => {
    assert.throws(
      () => loadConfig({ env: {}, file: yamlFile('registration:\n  shared_secret: ""') }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError)
        assert.equal(err.message, 'invalid configuration: registration.shared_secret: must not be empty')
        return true
      },
    )
    assertConfigError(() => loadConfig({ env: {}, file: yamlFile('registration:\n  shared_secret: 5') }), /shared_secret: must be null or a non-empty string$/)
  })

  it('needs a certificate and key for the federation TLS listener, which is off by default', () => {
    assert.equal(loadConfig({ env: {} }).federation.listen.port, null)
    assertConfigError(() => loadConfig({ env: {}, overrides: { 'federation.listen.port': 8448 } }), /federation\.tls_certificate_file: needed by the TLS listener/)
    assertConfigError(
      () => loadConfig({ env: {}, overrides: { 'federation.listen.port': 8448, 'federation.tls_certificate_file': '/etc/tls.crt' } }),
      /federation\.tls_private_key_file/,
    )
  })

  it('refuses a shared secret shorter than registration.shared_secret_min_length (16) in one plain sentence, without repeating it', () => {
    for (const load of [
      () => loadConfig({ env: { HOMESTEAD_REGISTRATION_SHARED_SECRET: 'reg_secret' } }),
      () => loadConfig({ env: {}, file: yamlFile('registration:\n  shared_secret: fifteen-chars!!') }),
    ]) {
      assert.throws(load, (err: unknown) => {
        assert.ok(err instanceof ConfigError)
        assert.equal(err.message, 'invalid configuration: registration.shared_secret: must be at least 16 characters (registration.shared_secret_min_length)')
        return true
      })
    }
    assert.equal(loadConfig({ env: { HOMESTEAD_REGISTRATION_SHARED_SECRET: 'sixteen-chars!!!' } }).registration.shared_secret, 'sixteen-chars!!!')
    assert.equal(loadConfig({ env: {} }).registration.shared_secret_min_length, 16)
  })

  it('accepts a shorter shared secret when registration.shared_secret_min_length is lowered (SyTest registers with a 10-character one)', () => {
    const env = { HOMESTEAD_REGISTRATION_SHARED_SECRET: 'reg_secret', HOMESTEAD__REGISTRATION__SHARED_SECRET_MIN_LENGTH: '10' }
    assert.equal(loadConfig({ env }).registration.shared_secret, 'reg_secret')
    assertConfigError(() => loadConfig({ env: { ...env, HOMESTEAD__REGISTRATION__SHARED_SECRET_MIN_LENGTH: '11' } }), /^invalid configuration: registration\.shared_secret: must be at least 11 characters/)
    assertConfigError(() => loadConfig({ env: {}, overrides: { 'registration.shared_secret_min_length': 0 } }), /registration\.shared_secret_min_length: must be at least 1$/)
  })

  it('describes union, list and number mismatches in words', () => {
    const load = (yaml: string) => () => loadConfig({ env: {}, file: yamlFile(yaml) })
    assertConfigError(load('auth:\n  refresh_token_lifetime_ms: soon'), /auth\.refresh_token_lifetime_ms: must be null or an integer of at least 1000 \(got "soon"\)/)
    assertConfigError(load('auth:\n  refresh_token_lifetime_ms: 5'), /auth\.refresh_token_lifetime_ms: must be at least 1000 \(got 5\)/)
    assertConfigError(load('media:\n  path: ""'), /media\.path: must not be empty/)
    assertConfigError(load('listen:\n  port: 70000'), /listen\.port: must be at most 65535 \(got 70000\)/)
    assertConfigError(load('media:\n  thumbnail_sizes: [{width: 0, height: 1, method: crop}]'), /media\.thumbnail_sizes\.0\.width: must be at least 1/)
    assertConfigError(load('media:\n  thumbnail_sizes: [{width: 1, height: 1, method: fill}]'), /media\.thumbnail_sizes\.0\.method: must be one of crop, scale/)
    assertConfigError(load('outbound:\n  ip_range_allowlist: [3]'), /outbound\.ip_range_allowlist\.0: must be a string \(got 3\)/)
    assertConfigError(load('rate_limits:\n  message:\n    per_second: 0'), /rate_limits\.message\.per_second: must be above 0/)
    assertConfigError(load('registration:\n  enabled: maybe'), /registration\.enabled: must be true or false/)
    for (const message of [load('registration:\n  shared_secret: ""'), load('media:\n  path: ""')]) {
      assert.throws(message, (err: Error) => !/Expected|union/.test(err.message))
    }
  })

  it('refuses a range that is not a CIDR in outbound.ip_range_blocklist or ip_range_allowlist, naming it', () => {
    const load = (yaml: string) => () => loadConfig({ env: {}, file: yamlFile(yaml) })
    assertConfigError(load('outbound:\n  ip_range_allowlist: [127.0.0.0/8, 10.0.0.0/33]'), /outbound\.ip_range_allowlist\.1: not a CIDR range .*"10\.0\.0\.0\/33"/)
    assertConfigError(load('outbound:\n  ip_range_blocklist: [example.com]'), /outbound\.ip_range_blocklist\.0: not a CIDR range/)
    const config = loadConfig({ env: {}, file: yamlFile('outbound:\n  ip_range_allowlist: [127.0.0.0/8, "fd00::/8", 10.1.2.3]') })
    assert.deepEqual(config.outbound.ip_range_allowlist, ['127.0.0.0/8', 'fd00::/8', '10.1.2.3'])
    assert.ok(config.outbound.ip_range_blocklist.includes('169.254.0.0/16'))
  })

  it('names the new place of the moved media.url_preview.ip_range_allowlist', () => {
    assertConfigError(
      () => loadConfig({ env: {}, file: yamlFile('media:\n  url_preview:\n    ip_range_allowlist: [10.0.0.0/8]') }),
      /media\.url_preview\.ip_range_allowlist: moved to outbound\.ip_range_allowlist/,
    )
  })

  it('names the variable and key of a non-numeric HOMESTEAD_PORT', () => {
    assertConfigError(() => loadConfig({ env: { HOMESTEAD_PORT: 'abc' } }), /HOMESTEAD_PORT/, /listen\.port/, /abc/)
  })

  it('names a boolean variable that is not a boolean word', () => {
    assertConfigError(() => loadConfig({ env: { HOMESTEAD_RATE_LIMITS: 'sometimes' } }), /HOMESTEAD_RATE_LIMITS/, /rate_limits\.enabled/)
  })

  it('names an unknown HOMESTEAD__ key', () => {
    assertConfigError(() => loadConfig({ env: { HOMESTEAD__DATABASE__POOLSIZE: '4' } }), /HOMESTEAD__DATABASE__POOLSIZE/, /database\.poolsize/)
    assertConfigError(() => loadConfig({ env: { HOMESTEAD__NOPE: '1' } }), /HOMESTEAD__NOPE/)
  })

  it('names a misspelt HOMESTEAD_ variable instead of ignoring it', () => {
    assertConfigError(() => loadConfig({ env: { HOMESTEAD_PROT: '8080' } }), /HOMESTEAD_PROT/, /HOMESTEAD_PORT/)
    // Variables of the tests and of worker processes are not settings.
    assert.equal(loadConfig({ env: { HOMESTEAD_TEST_POSTGRES_URL: 'x', HOMESTEAD_CONFIG: 'y' } }).listen.port, 8008)
  })

  it('says what a URL key must look like', () => {
    assertConfigError(() => loadConfig({ env: { HOMESTEAD_PUBLIC_BASEURL: 'ftp://x' } }), /public_baseurl/, /null or a string matching \^https\?:\/\//)
  })

  it('names a file that is not valid YAML', () => {
    const file = yamlFile('listen: [\n')
    assertConfigError(() => loadConfig({ env: {}, file }), /not valid YAML/, new RegExp(file.replaceAll('.', '\\.')))
  })

  it('refuses a YAML file that is a list', () => {
    assertConfigError(() => loadConfig({ env: {}, file: yamlFile('- server_name\n- localhost\n') }), /must hold a mapping/)
  })

  it('names a config file that cannot be read', () => {
    assertConfigError(() => loadConfig({ env: {}, file: join(dir, 'missing.yaml') }), /cannot read config file/, /missing\.yaml/)
  })
})

describe('loadConfig timeouts', () => {
  it('refuses an idle timeout that would cut off /sync long-polls', () => {
    assertConfigError(() => loadConfig({ env: {}, overrides: { 'http.idle_timeout_ms': 30000, 'limits.sync_timeout_ms': 60000 } }), /http\.idle_timeout_ms/, /limits\.sync_timeout_ms/)
    assert.equal(loadConfig({ env: {}, overrides: { 'http.idle_timeout_ms': 30000, 'limits.sync_timeout_ms': 20000 } }).http.idle_timeout_ms, 30000)
  })
})

describe('generateConfig', () => {
  it('writes YAML that loads back to the given server_name', () => {
    const config = loadConfig({ env: {}, file: yamlFile(generateConfig('example.org')) })
    assert.equal(config.server_name, 'example.org')
    assert.equal(config.public_baseurl, 'https://example.org/')
    assert.equal(config.listen.port, 8008)
    assert.equal(config.database.url, null)
  })

  it('includes a random shared secret that differs between calls', () => {
    const first = loadConfig({ env: {}, file: yamlFile(generateConfig('example.org')) }).registration.shared_secret
    const second = loadConfig({ env: {}, file: yamlFile(generateConfig('example.org')) }).registration.shared_secret
    assert.ok(first && second)
    assert.match(first, /^[A-Za-z0-9]{32,}$/)
    assert.notEqual(first, second)
  })

  it('comments every key with its description', () => {
    const text = generateConfig('example.org')
    assert.match(text, /^# The domain in your user IDs/m)
    assert.match(text, /^server_name: example\.org$/m)
  })
})

describe('loadConfig database identity', () => {
  const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:homestead/db-AbCdEf'
  const load = (database: Record<string, unknown>) =>
    loadConfig({ env: {}, overrides: Object.fromEntries(Object.entries(database).map(([k, v]) => [`database.${k}`, v])) })

  it('takes a password secret or IAM tokens beside a URL that names the user but holds no password', () => {
    assert.equal(load({ url: 'postgres://homestead@db:5432/homestead', password_secret_arn: arn }).database.password_secret_arn, arn)
    assert.equal(load({ url: 'postgres://homestead@db:5432/homestead', iam_auth: true }).database.iam_auth, true)
  })

  it('refuses a password in the URL as well, both sources at once, or a source without a URL or user', () => {
    assert.throws(() => load({ url: 'postgres://homestead:pw@db/homestead', password_secret_arn: arn }), /database\.url: holds a password/)
    assert.throws(() => load({ url: 'postgres://homestead@db/homestead', password_secret_arn: arn, iam_auth: true }), /not both/)
    assert.throws(() => load({ iam_auth: true }), /needs database\.url/)
    assert.throws(() => load({ url: 'postgres://db/homestead', iam_auth: true }), /names no user/)
  })

  it('lets HOMESTEAD_BOOTSTRAP_DATABASE_URL through for db-bootstrap', () => {
    assert.equal(loadConfig({ env: { HOMESTEAD_BOOTSTRAP_DATABASE_URL: 'postgres://master@db/postgres' } }).database.url, null)
  })
})

describe('loadConfig rooms.default_room_version', () => {
  it('defaults to room version 12', () => {
    assert.equal(loadConfig({ env: {} }).rooms.default_room_version, '12')
  })

  it('takes a supported version from YAML, quoted or not, and from the environment', () => {
    assert.equal(loadConfig({ env: {}, file: yamlFile('rooms:\n  default_room_version: "11"') }).rooms.default_room_version, '11')
    assert.equal(loadConfig({ env: {}, file: yamlFile('rooms:\n  default_room_version: 10') }).rooms.default_room_version, '10')
    assert.equal(loadConfig({ env: { HOMESTEAD__ROOMS__DEFAULT_ROOM_VERSION: '9' } }).rooms.default_room_version, '9')
  })

  it('refuses a version Homestead does not support, listing the supported ones', () => {
    assertConfigError(() => loadConfig({ env: {}, file: yamlFile('rooms:\n  default_room_version: 13') }), /rooms\.default_room_version/, /must be one of 1, 2, .*, 12/, /"13"/)
    assertConfigError(() => loadConfig({ env: { HOMESTEAD__ROOMS__DEFAULT_ROOM_VERSION: 'org.example.custom' } }), /rooms\.default_room_version/)
  })
})
