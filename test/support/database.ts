// Test databases: each test file gets a fresh database on the target server and drops it afterwards.
// Target: HOMESTEAD_TEST_TARGET=external uses HOMESTEAD_TEST_POSTGRES_URL; otherwise the embedded server
// that scripts/test.ts started (HOMESTEAD_TEST_EMBEDDED_SOCKET), or one this process starts itself.
import { readFileSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { EmbeddedPostgres } from '../../src/storage/index.ts'

export interface TestDatabase {
  /** postgres:// URL of the fresh database (a socket path in `host` for the embedded server). */
  url: string
  name: string
  drop(): Promise<void>
}

let ownEmbedded: Promise<{ adminUrl: (db: string) => string }> | null = null

async function startOwnEmbedded(): Promise<{ adminUrl: (db: string) => string }> {
  const dir = await mkdtemp(join(tmpdir(), 'hs-test-'))
  await chmod(dir, 0o755) // as root, PostgreSQL runs as the postgres user, which must reach the cluster
  const server = new EmbeddedPostgres(dir, { info: () => {}, warn: () => {} })
  const connection = await server.start()
  // If the test process ends without its clean-up (a crash, a failed hook), still stop the server: a fast
  // shutdown request is a signal, which is all an 'exit' handler can still send.
  const pid = Number(readFileSync(join(server.clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0])
  const stopOnExit = () => {
    try {
      process.kill(pid, 'SIGINT')
    } catch {}
  }
  process.once('exit', stopOnExit)
  testCleanups.push(async () => {
    process.off('exit', stopOnExit)
    await server.stop()
    await rm(dir, { recursive: true, force: true })
  })
  return { adminUrl: (db) => embeddedUrl(connection.host, connection.port, connection.user, db) }
}

export function embeddedUrl(socketDir: string, port: number, user: string, database: string): string {
  return `postgres://${encodeURIComponent(user)}@localhost:${port}/${database}?host=${encodeURIComponent(socketDir)}`
}

const testCleanups: Array<() => Promise<void>> = []

/** The URL of a database on the target server (the admin database when `database` is omitted). */
export async function targetUrl(database = 'postgres'): Promise<string> {
  if (process.env.HOMESTEAD_TEST_TARGET === 'external') {
    const base = process.env.HOMESTEAD_TEST_POSTGRES_URL
    if (!base) throw new Error('HOMESTEAD_TEST_TARGET=external needs HOMESTEAD_TEST_POSTGRES_URL')
    const url = new URL(base)
    url.pathname = `/${database}`
    return url.toString()
  }
  const socket = process.env.HOMESTEAD_TEST_EMBEDDED_SOCKET
  if (socket) return embeddedUrl(socket, 5432, 'homestead', database)
  ownEmbedded ??= startOwnEmbedded()
  return (await ownEmbedded).adminUrl(database)
}

export function targetName(): string {
  return process.env.HOMESTEAD_TEST_TARGET === 'external' ? 'external PostgreSQL' : 'embedded PostgreSQL'
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `hs_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: await targetUrl() })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  return {
    name,
    url: await targetUrl(name),
    async drop() {
      const client = new pg.Client({ connectionString: await targetUrl() })
      await client.connect()
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await client.end()
      }
    },
  }
}

/** Stops what this process started for its tests (an embedded server of its own). */
export async function cleanupTestDatabases(): Promise<void> {
  while (testCleanups.length > 0) await testCleanups.pop()?.()
}
