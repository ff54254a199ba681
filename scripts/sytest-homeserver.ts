// One Homestead for SyTest, started by scripts/sytest-homeserver.sh (SyTest's --hs-command): maps the
// SYTEST_* variables onto Homestead's settings, on a fresh database of the machine's PostgreSQL
// (SYTEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres) that is dropped on exit,
// and serves until SIGINT/SIGTERM. Settings follow what SyTest's own Synapse configuration sets: open
// registration, no rate limits, its shared secret, its CA trusted, URL previews of loopback allowed, its
// identity server's certificate not checked.
import { join } from 'node:path'
import { loadConfig } from '../src/config/load.ts'
import { scratchDatabase } from './scratch-database.ts'
import { startServer } from '../src/server.ts'
import { createLogger } from '../src/shared/logger.ts'

function required(name: string): string {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: this command is run by SyTest (see scripts/sytest-homeserver.sh)`)
  return value
}

const hsDir = required('SYTEST_HS_DIR')
const clientPort = Number(required('SYTEST_CLIENT_PORT'))
const adminUrl = process.env.SYTEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres'
// Named by port: SyTest never runs two servers on one port, so a database left by a killed run is reused
// (dropped and created again) rather than piling up.
const dbName = `sytest_homestead_${clientPort}`


const database = await scratchDatabase(adminUrl, dbName)

const bindHost = process.env.SYTEST_BIND_HOST || '127.0.0.1'
const config = loadConfig({
  env: {},
  overrides: {
    server_name: required('SYTEST_SERVER_NAME'),
    public_baseurl: required('SYTEST_PUBLIC_BASEURL'),
    'listen.host': bindHost,
    'listen.port': clientPort,
    data_dir: join(hsDir, 'data'),
    'database.url': database.url,
    'database.pool_size': 10,
    'federation.listen.host': bindHost,
    'federation.listen.port': Number(required('SYTEST_FEDERATION_PORT')),
    'federation.tls_certificate_file': required('SYTEST_TLS_CERT'),
    'federation.tls_private_key_file': required('SYTEST_TLS_KEY'),
    'federation.ca_file': process.env.SYTEST_CA_CERT || null,
    'registration.enabled': true,
    // SyTest's guest tests need guest accounts, which Synapse's SyTest configuration enables.
    'registration.allow_guest_access': true,
    'registration.shared_secret': required('SYTEST_REGISTRATION_SHARED_SECRET'),
    // SyTest's secret is reg_secret (tests/10apidoc/01register.pl), shorter than Homestead's default minimum.
    'registration.shared_secret_min_length': 10,
    'rate_limits.enabled': false,
    'media.url_preview.enabled': true,
    // SyTest's MSC2228 tests expect self-destructing messages, as Synapse's test config enables them.
    'rooms.ephemeral_messages': true,
    'outbound.ip_range_allowlist': ['127.0.0.0/8', '::1/128'],
    // SyTest's identity server (tests/30rooms/12thirdpartyinvite.pl) answers on 127.0.0.1 with a self-signed
    // certificate for "localhost": as Synapse under SyTest (use_insecure_ssl_client_just_for_testing_do_not_use),
    // its certificate is not checked.
    'identity_server.tls_verify': false,
    // SyTest's servers are the only ones; nothing asks matrix.org for keys.
    'federation.trusted_key_servers': [],
    'log.level': process.env.SYTEST_LOG_LEVEL || 'info',
    // SyTest's fake reCAPTCHA service (tests/11register.pl), checked without being required, as in Synapse's SyTest setup.
    ...(process.env.SYTEST_RECAPTCHA_PRIVATE_KEY
      ? {
          'registration.recaptcha.private_key': process.env.SYTEST_RECAPTCHA_PRIVATE_KEY,
          'registration.recaptcha.public_key': process.env.SYTEST_RECAPTCHA_PUBLIC_KEY ?? null,
          ...(process.env.SYTEST_RECAPTCHA_SITEVERIFY_API ? { 'registration.recaptcha.siteverify_api': process.env.SYTEST_RECAPTCHA_SITEVERIFY_API } : {}),
        }
      : {}),
    // SyTest's fake mail server (plain SMTP on loopback, no authentication) receives the validation mails of
    // its 3PID tests, as Synapse's SyTest config sets email.smtp_host/smtp_port and notif_from.
    ...(process.env.SYTEST_SMTP_HOST
      ? { 'email.smtp_host': process.env.SYTEST_SMTP_HOST, 'email.smtp_port': Number(process.env.SYTEST_SMTP_PORT || 25), 'email.notif_from': 'homestead@localhost' }
      : {}),
    // SyTest's fake CAS server (tests/12login/02cas.pl, 10apidoc/13ui-auth.pl), on loopback like the rest.
    ...(process.env.SYTEST_CAS_SERVER_URL ? { 'sso.cas.enabled': true, 'sso.cas.server_url': process.env.SYTEST_CAS_SERVER_URL } : {}),
  },
})

const logger = createLogger(config.log.level, { sytest_hs: process.env.SYTEST_HS_INDEX })
const server = await startServer(config, { logger })

let stopping = false
async function stop(signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  logger.info({ signal }, 'stopping for SyTest')
  let code = 0
  try {
    await server.close()
  } catch (err) {
    logger.error({ err }, 'error during shutdown')
    code = 1
  }
  // SYTEST_KEEP_DB=1 keeps it for a look after a failure (the next run on the port drops it).
  if (!process.env.SYTEST_KEEP_DB) await database.drop().catch((err: unknown) => logger.warn({ err }, 'could not drop the database'))
  process.exit(code)
}
process.on('SIGINT', () => void stop('SIGINT'))
process.on('SIGTERM', () => void stop('SIGTERM'))
