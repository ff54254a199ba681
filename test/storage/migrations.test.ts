// Migrations on a fresh database of the target server (embedded or external PostgreSQL): concurrent
// starts apply each migration once, a newer schema is refused, re-running is a no-op, a failing
// migration leaves nothing behind.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Database, listMigrations, migrate } from '../../src/storage/index.ts'
import { cleanupTestDatabases, createTestDatabase, targetName, type TestDatabase } from '../support/database.ts'

const databases: TestDatabase[] = []
const pools: Database[] = []

after(async () => {
  await Promise.allSettled(pools.map((p) => p.close()))
  await Promise.allSettled(databases.map((d) => d.drop()))
  await cleanupTestDatabases()
})

async function freshDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase()
  databases.push(database)
  return database
}

function pool(url: string, poolSize = 2): Database {
  const db = new Database({ connectionString: url }, { poolSize, statementTimeoutMs: 30000 })
  pools.push(db)
  return db
}

async function appliedVersions(db: Database): Promise<number[]> {
  const { rows } = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')
  return rows.map((r) => r.version)
}

const known = listMigrations()
const allVersions = known.map((m) => m.version)

describe(`migrate() on the ${targetName()}`, () => {
  it('applies every migration exactly once when several instances start at the same moment', async () => {
    const database = await freshDatabase()
    // Separate pools, like separate Homestead processes; all released at once.
    const instances = Array.from({ length: 4 }, () => pool(database.url))
    const results = await Promise.all(instances.map((db) => migrate(db)))
    const applied = results.map((r) => r.applied)
    assert.equal(applied.filter((a) => a.length > 0).length, 1, `exactly one instance applies: ${JSON.stringify(applied)}`)
    assert.deepEqual(applied.flat().sort((a, b) => a - b), allVersions)
    for (const r of results) assert.equal(r.current, known.length)
    const check = instances[0] as Database
    assert.deepEqual(await appliedVersions(check), allVersions)
    const { rows } = await check.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations')
    assert.equal(rows[0]?.n, known.length)
    // The schema really exists: a table from the first migration answers.
    await check.query('SELECT user_id FROM users LIMIT 1')
  })

  it('is idempotent: a second run applies nothing and changes no recorded row', async () => {
    const database = await freshDatabase()
    const db = pool(database.url)
    const first = await migrate(db)
    assert.deepEqual(first.applied, allVersions)
    const before = await db.query('SELECT version, name, applied_ts FROM schema_migrations ORDER BY version')
    const second = await migrate(db)
    assert.deepEqual(second, { applied: [], current: known.length })
    const afterRun = await db.query('SELECT version, name, applied_ts FROM schema_migrations ORDER BY version')
    assert.deepEqual(afterRun.rows, before.rows)
  })

  it('refuses a database whose schema is newer than this release, naming both versions', async () => {
    const database = await freshDatabase()
    const db = pool(database.url)
    await migrate(db)
    const future = known.length + 41
    await db.query('INSERT INTO schema_migrations (version, name, applied_ts) VALUES ($1, $2, $3)', [future, 'from_the_future', Date.now()])
    await assert.rejects(migrate(db), (err: Error) => {
      assert.match(err.message, new RegExp(`schema is at version ${future}, newer than this Homestead knows \\(${known.length}\\)`))
      return true
    })
    // Refusing took nothing away and the lock was released: a plain query and another refusal both work.
    assert.deepEqual(await appliedVersions(db), [...allVersions, future])
    await assert.rejects(migrate(pool(database.url)), /newer than this Homestead knows/)
  })

  it('rolls back a failing migration, records nothing for it and names it in the error', async () => {
    const database = await freshDatabase()
    const db = pool(database.url)
    const dir = await mkdtemp(join(tmpdir(), 'hs-migrations-'))
    try {
      await writeFile(join(dir, '0001_first.sql'), 'CREATE TABLE first_table (id int PRIMARY KEY);')
      await writeFile(join(dir, '0002_broken.sql'), 'CREATE TABLE half_made (id int);\nSELECT no_such_column FROM first_table;')
      await assert.rejects(migrate(db, listMigrations(dir)), /migration 2 \(broken\) failed: .*no_such_column/)
      assert.deepEqual(await appliedVersions(db), [1])
      const { rows } = await db.query<{ t: string | null }>("SELECT to_regclass('half_made')::text AS t")
      assert.equal(rows[0]?.t, null, 'the failing migration left a table behind')
      // After the fix, the next run picks up exactly where it stopped.
      await writeFile(join(dir, '0002_broken.sql'), 'CREATE TABLE half_made (id int);')
      assert.deepEqual((await migrate(db, listMigrations(dir))).applied, [2])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('refuses a gap in the migration numbers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hs-migrations-'))
    try {
      await writeFile(join(dir, '0001_a.sql'), 'SELECT 1;')
      await writeFile(join(dir, '0003_c.sql'), 'SELECT 1;')
      assert.throws(() => listMigrations(dir), /found 3 at position 2/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
