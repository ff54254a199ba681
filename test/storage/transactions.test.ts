// Database.transaction on the target server: all-or-nothing, and real serialization failures and
// deadlocks (provoked by two concurrent transactions, not simulated) are retried from the start.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Database, Storage, type Queryable } from '../../src/storage/index.ts'
import { cleanupTestDatabases, createTestDatabase, targetName, type TestDatabase } from '../support/database.ts'

let database: TestDatabase
let db: Database

before(async () => {
  database = await createTestDatabase()
  db = new Database({ connectionString: database.url }, { poolSize: 6, statementTimeoutMs: 30000 })
  await db.query('CREATE TABLE items (id text PRIMARY KEY)')
  await db.query('CREATE TABLE counters (id int PRIMARY KEY, value int NOT NULL)')
})

after(async () => {
  await db?.close()
  await database?.drop()
  await cleanupTestDatabases()
})

/** Resolves every waiter once `parties` of them have arrived. */
function barrier(parties: number): () => Promise<void> {
  let arrived = 0
  let release!: () => void
  const all = new Promise<void>((resolve) => (release = resolve))
  return () => {
    if (++arrived === parties) release()
    return all
  }
}

async function counter(id: number): Promise<number> {
  const { rows } = await db.query<{ value: number }>('SELECT value FROM counters WHERE id = $1', [id])
  return rows[0]?.value as number
}

describe(`Database.transaction on the ${targetName()}`, () => {
  it('commits every statement of a transaction that succeeds', async () => {
    const result = await db.transaction(async (tx) => {
      await tx.query("INSERT INTO items (id) VALUES ('ok-1'), ('ok-2')")
      return 'done'
    })
    assert.equal(result, 'done')
    const { rows } = await db.query("SELECT id FROM items WHERE id LIKE 'ok-%' ORDER BY id")
    assert.deepEqual(rows.map((r) => r.id), ['ok-1', 'ok-2'])
  })

  it('rolls back everything and rethrows when the callback throws', async () => {
    const boom = new Error('application failure')
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query("INSERT INTO items (id) VALUES ('rolled-back')")
        throw boom
      }),
      (err) => err === boom,
    )
    const { rowCount } = await db.query("SELECT 1 FROM items WHERE id = 'rolled-back'")
    assert.equal(rowCount, 0)
  })

  it('rolls back when a statement fails and does not retry an ordinary SQL error', async () => {
    await db.query("INSERT INTO items (id) VALUES ('dup')")
    let attempts = 0
    await assert.rejects(
      db.transaction(async (tx) => {
        attempts++
        await tx.query("INSERT INTO items (id) VALUES ('before-dup')")
        await tx.query("INSERT INTO items (id) VALUES ('dup')")
      }),
      (err: { code?: string }) => err.code === '23505',
    )
    assert.equal(attempts, 1)
    const { rowCount } = await db.query("SELECT 1 FROM items WHERE id = 'before-dup'")
    assert.equal(rowCount, 0)
    // The connection went back to the pool usable (no transaction left open on it).
    const clients = await Promise.all(Array.from({ length: 6 }, () => db.connect()))
    try {
      for (const client of clients) {
        const { rows } = await client.query<{ open: boolean }>("SELECT now() <> statement_timestamp() AS open")
        assert.equal(rows[0]?.open, false)
      }
    } finally {
      for (const client of clients) client.release()
    }
  })

  it('fails with the first failing statement when a write nobody waited for failed, and commits nothing', async () => {
    await db.query("INSERT INTO items (id) VALUES ('taken')")
    let failure: unknown
    await db
      .transaction(async (tx) => {
        await tx.write("INSERT INTO items (id) VALUES ('w-before')")
        await tx.write("INSERT INTO items (id) VALUES ('taken')")
        // Refused by PostgreSQL with 25P02 (the transaction is aborted): the write's error is the one reported.
        await tx.query("INSERT INTO items (id) VALUES ('w-after')")
      })
      .catch((err) => (failure = err))
    assert.equal((failure as { code?: string }).code, '23505')
    const { rowCount } = await db.query("SELECT 1 FROM items WHERE id IN ('w-before', 'w-after')")
    assert.equal(rowCount, 0)
  })

  it('does not take a COMMIT that PostgreSQL answered by rolling back (a failed last write) for a commit', async () => {
    await db.query("INSERT INTO items (id) VALUES ('taken-2')")
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.write("INSERT INTO items (id) VALUES ('c-first')")
        await tx.write("INSERT INTO items (id) VALUES ('taken-2')")
        return 'looks done'
      }),
      (err: { code?: string }) => err.code === '23505',
    )
    const { rowCount } = await db.query("SELECT 1 FROM items WHERE id = 'c-first'")
    assert.equal(rowCount, 0)
  })

  it('gives the callback the rows of the statements sent with BEGIN, without waiting for them first', async () => {
    const seen = await db.transaction(async (tx, begun) => {
      // Sent before the BEGIN message is answered: the connection is pipelined.
      const inside = tx.query<{ open: boolean }>('SELECT now() = statement_timestamp() AS open')
      return { begun: await begun, inside: (await inside).rows[0]?.open }
    }, { begin: "SELECT 'first' AS x; SELECT 41 + 1 AS answer" })
    assert.deepEqual(seen.begun, [{ answer: 42 }])
    assert.equal(seen.inside, false, 'the statement ran inside the transaction BEGIN opened')
  })

  it('retries a transaction that loses a serialization conflict, so no increment is lost', async () => {
    await db.query('INSERT INTO counters (id, value) VALUES (1, 0)')
    const bothRead = barrier(2)
    const attempts = [0, 0]
    const increment = (who: number) =>
      db.transaction(async (tx: Queryable) => {
        const attempt = ++(attempts[who] as number)
        await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ')
        const { rows } = await tx.query<{ value: number }>('SELECT value FROM counters WHERE id = 1')
        // First attempts both read the same snapshot before either writes: one of them must fail.
        if (attempt === 1) await bothRead()
        await tx.query('UPDATE counters SET value = $1 WHERE id = 1', [(rows[0]?.value as number) + 1])
      })
    await Promise.all([increment(0), increment(1)])
    assert.equal(await counter(1), 2)
    assert.deepEqual([...attempts].sort(), [1, 2], 'exactly one transaction was retried, once')
  })

  it('retries the victim of a deadlock, so both transactions take effect', async () => {
    await db.query('INSERT INTO counters (id, value) VALUES (2, 0), (3, 0)')
    const bothLocked = barrier(2)
    const attempts = [0, 0]
    const crossUpdate = (who: number, first: number, second: number) =>
      db.transaction(async (tx) => {
        const attempt = ++(attempts[who] as number)
        await tx.query('UPDATE counters SET value = value + 1 WHERE id = $1', [first])
        if (attempt === 1) await bothLocked()
        await tx.query('UPDATE counters SET value = value + 1 WHERE id = $1', [second])
      })
    await Promise.all([crossUpdate(0, 2, 3), crossUpdate(1, 3, 2)])
    assert.equal(await counter(2), 2)
    assert.equal(await counter(3), 2)
    // The deadlock victim was retried; under load its retry can meet the other transaction's first attempt
    // again, so that one may be retried too (PostgreSQL picks whichever waiter detects the cycle).
    assert.ok(Math.max(...attempts) >= 2, `a deadlock victim was retried (attempts ${attempts.join(', ')})`)
    assert.ok(attempts.every((a) => a >= 1 && a <= 3), `attempts ${attempts.join(', ')}`)
  })

  it('gives up after the allowed attempts and rethrows the serialization failure', async () => {
    await db.query('INSERT INTO counters (id, value) VALUES (4, 0)')
    const bothRead = barrier(2)
    const outcomes = await Promise.allSettled(
      [0, 1].map(() =>
        db.transaction(async (tx) => {
          await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ')
          await tx.query('SELECT value FROM counters WHERE id = 4')
          await bothRead()
          await tx.query('UPDATE counters SET value = value + 1 WHERE id = 4')
        }, { attempts: 1 }),
      ),
    )
    const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected')
    assert.equal(failures.length, 1)
    assert.equal((failures[0]?.reason as { code?: string }).code, '40001')
    assert.equal(await counter(4), 1)
  })
})

describe(`Storage.exclusively on the ${targetName()}`, () => {
  it('runs background work on one caller at a time: a concurrent caller skips it, a later one runs it', async () => {
    // Two Storage objects over separate pools stand for two instances.
    const other = new Database({ connectionString: database.url }, { poolSize: 2, statementTimeoutMs: 30000 })
    try {
      const first = new Storage(db)
      const second = new Storage(other)
      let release!: () => void
      const held = new Promise<void>((r) => (release = r))
      let started!: () => void
      const running = new Promise<void>((r) => (started = r))
      const firstRun = first.exclusively(42, async () => {
        started()
        await held
      })
      await running
      let ran = false
      assert.equal(await second.exclusively(42, async () => void (ran = true)), false)
      assert.equal(ran, false, 'the second instance skipped the work')
      release()
      assert.equal(await firstRun, true)
      assert.equal(await second.exclusively(42, async () => void (ran = true)), true)
      assert.equal(ran, true, 'once released, the work runs again')
    } finally {
      await other.close()
    }
  })
})
