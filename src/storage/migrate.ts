// Numbered, forward-only migrations (storage/migrations/NNNN_name.sql), applied at start under a
// PostgreSQL advisory lock so several instances starting together apply each exactly once. A data repair
// that needs Homestead's own algorithms (the redaction of an event by its room version) is a module,
// NNNN_name.ts, whose `up(client)` runs in the migration's transaction like an SQL file.
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { join } from 'node:path'
import type pg from 'pg'
import type { Database } from './db.ts'

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url))
// An arbitrary constant naming "Homestead schema migrations" among advisory locks.
const MIGRATION_LOCK_KEY = 7_386_051_112

export interface Migration {
  version: number
  name: string
  /** An SQL migration's text. */
  sql?: string
  /** A module migration's file (exports MigrationModule's `up`). */
  module?: string
}

/** What a module migration's `up` is given: the connection its transaction runs on. */
export type MigrationClient = Pick<pg.PoolClient, 'query'>

export interface MigrationModule {
  up(client: MigrationClient): Promise<void>
}

export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const migrations = readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.(sql|ts)$/.test(f))
    .sort()
    .map((file): Migration => {
      const version = Number(file.slice(0, 4))
      if (file.endsWith('.ts')) return { version, name: file.slice(5, -3), module: join(dir, file) }
      return { version, name: file.slice(5, -4), sql: readFileSync(join(dir, file), 'utf8') }
    })
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration numbers must run 1, 2, 3…; found ${m.version} at position ${i + 1}`)
  })
  return migrations
}

export interface MigrateResult {
  applied: number[]
  current: number
}

export async function migrate(db: Database, migrations = listMigrations()): Promise<MigrateResult> {
  const client = await db.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_ts bigint NOT NULL
      )`)
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')
      const done = new Set(rows.map((r) => r.version))
      const newest = migrations.length
      const ahead = rows.find((r) => r.version > newest)
      if (ahead) {
        throw new Error(
          `the database schema is at version ${ahead.version}, newer than this Homestead knows (${newest}); run a newer release`,
        )
      }
      const applied: number[] = []
      for (const m of migrations) {
        if (done.has(m.version)) continue
        await client.query('BEGIN')
        try {
          if (m.module !== undefined) await ((await import(pathToFileURL(m.module).href)) as MigrationModule).up(client)
          else await client.query(m.sql ?? '')
          await client.query('INSERT INTO schema_migrations (version, name, applied_ts) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()])
          await client.query('COMMIT')
        } catch (err) {
          await client.query('ROLLBACK')
          throw new Error(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`)
        }
        applied.push(m.version)
      }
      return { applied, current: newest }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
    }
  } finally {
    client.release()
  }
}
