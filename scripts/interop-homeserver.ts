// One Homestead for the interop run against Synapse (scripts/test-synapse.sh): the server name, ports,
// certificate and CA of the Synapse anchor's federation set-up (INTEROP_* variables), a fresh database
// on the machine's PostgreSQL (dropped on exit), and the anchor's host names (its `hosts` file, lines
// "127.0.0.1 name") resolved here, as the anchor's Synapses resolve them in their chroot.
import { join } from 'node:path'
import { loadConfig } from '../src/config/load.ts'
import { scratchDatabase } from './scratch-database.ts'
import { anchorDns } from './anchor-dns.ts'
import { startServer } from '../src/server.ts'
import { createLogger } from '../src/shared/logger.ts'

function required(name: string): string {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: this command is run by scripts/test-synapse.sh`)
  return value
}

const serverName = required('INTEROP_SERVER_NAME')
const clientPort = Number(required('INTEROP_CLIENT_PORT'))
const federationPort = Number(required('INTEROP_FEDERATION_PORT'))
const anchorRoot = required('INTEROP_ANCHOR_ROOT')
const host = serverName.replace(/:\d+$/, '')
const adminUrl = process.env.INTEROP_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres'
const dbName = `interop_homestead_${clientPort}`

const database = await scratchDatabase(adminUrl, dbName)

const config = loadConfig({
  env: {},
  overrides: {
    server_name: serverName,
    public_baseurl: `http://127.0.0.1:${clientPort}`,
    'listen.host': '127.0.0.1',
    'listen.port': clientPort,
    data_dir: required('INTEROP_DATA_DIR'),
    'database.url': database.url,
    'federation.listen.host': '127.0.0.1',
    'federation.listen.port': federationPort,
    'federation.tls_certificate_file': join(anchorRoot, 'ca', `${host}.crt`),
    'federation.tls_private_key_file': join(anchorRoot, 'ca', `${host}.key`),
    'federation.ca_file': join(anchorRoot, 'ca', 'ca.crt'),
    'federation.trusted_key_servers': [],
    'outbound.ip_range_allowlist': ['127.0.0.0/8', '::1/128'],
    'registration.enabled': true,
    'rate_limits.enabled': false,
    'log.level': process.env.INTEROP_LOG_LEVEL || 'warn',
  },
})

const logger = createLogger(config.log.level)
const server = await startServer(config, { logger, dns: anchorDns(anchorRoot) })
process.stdout.write(`ready ${server.url}\n`)

let stopping = false
async function stop(): Promise<void> {
  if (stopping) return
  stopping = true
  let code = 0
  try {
    await server.close()
  } catch (err) {
    logger.error({ err }, 'error during shutdown')
    code = 1
  }
  await database.drop().catch(() => {})
  process.exit(code)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
