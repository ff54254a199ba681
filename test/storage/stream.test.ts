// The stream: positions taken inside stream transactions, the fence, the log of what each position touched,
// its pruning, and the "which kinds changed" check /sync relies on to skip work.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import { Database, STREAM_CHANNEL, Storage, migrate } from '../../src/storage/index.ts'
import { cleanupTestDatabases, createTestDatabase, targetName, type TestDatabase } from '../support/database.ts'

let database: TestDatabase
let db: Database
let storage: Storage

before(async () => {
  database = await createTestDatabase()
  db = new Database({ connectionString: database.url }, { poolSize: 10, statementTimeoutMs: 30000 })
  await migrate(db)
  storage = new Storage(db)
})

after(async () => {
  await db?.close()
  await database?.drop()
  await cleanupTestDatabases()
})

const take = (kind: string, room: string | null, user: string | null) => storage.streamTransaction((repos) => repos.stream.next(kind, room, user))

describe(`the stream on the ${targetName()}`, () => {
  it('hands out increasing positions and the fence reaches the last committed one', async () => {
    const a = await take('event', '!r:x', null)
    const b = await take('typing', '!r:x', null)
    assert.ok(b > a)
    assert.equal(await storage.repos.stream.fence(), b)
  })

  it('keeps the fence below a position whose transaction has not committed', async () => {
    const before = await storage.repos.stream.fence()
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    let taken = 0
    const slow = storage.streamTransaction(async (repos) => {
      taken = await repos.stream.next('event', '!slow:x', null)
      await held
    })
    while (taken === 0) await new Promise((r) => setImmediate(r))
    const later = await take('event', '!fast:x', null)
    assert.ok(later > taken)
    // The fence answers at once, below the slow writer's position, however many later ones committed.
    const during = await storage.repos.stream.fence()
    assert.ok(during < taken, `fence ${during} is below the uncommitted position ${taken}`)
    assert.ok(during >= before)
    release()
    await slow
    assert.ok((await storage.repos.stream.fence()) >= later, 'once it commits, the fence passes both')
  })

  it('never waits for writers, and never blocks them', async () => {
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    let taken = 0
    const slow = storage.streamTransaction(async (repos) => {
      taken = await repos.stream.next('event', '!slow2:x', null)
      await held
    })
    while (taken === 0) await new Promise((r) => setImmediate(r))
    // Many fence reads and writers interleave while a transaction stays open: none of them waits for it.
    const results = await Promise.all([
      ...Array.from({ length: 10 }, () => storage.repos.stream.fence()),
      ...Array.from({ length: 10 }, (_, i) => take('event', `!w${i}:x`, null)),
    ])
    assert.ok(results.slice(0, 10).every((f) => f < taken))
    release()
    await slow
  })

  it('reports the kinds of change in a range, and says when pruning made the range incomplete', async () => {
    const start = await storage.repos.stream.fence()
    await take('receipt', '!k:x', null)
    await take('presence', null, '@u:x')
    const end = await storage.repos.stream.fence()
    const inRange = await storage.repos.stream.kindsInRange(start, end)
    assert.deepEqual([...inRange.kinds].sort(), ['presence', 'receipt'])
    assert.equal(inRange.complete, true)
    assert.deepEqual([...(await storage.repos.stream.kindsInRange(end, end)).kinds], [])

    const deleted = await storage.repos.stream.prune(end)
    assert.ok(deleted > 0)
    const pruned = await storage.repos.stream.kindsInRange(start, end)
    assert.equal(pruned.complete, false, 'rows below the range end were pruned')
    const after = await take('event', '!k:x', null)
    const fresh = await storage.repos.stream.kindsInRange(end, after)
    assert.equal(fresh.complete, true)
    assert.deepEqual([...fresh.kinds], ['event'])
  })

  it('reads the fence with the changes after a position in one call, or the fence alone', async () => {
    const start = await storage.repos.stream.fence()
    const a = await take('event', '!fc:x', null)
    const b = await take('account_data', null, '@fc:x')
    const both = await storage.repos.stream.fenceAndChanges(start, true)
    assert.equal(both.safe, b)
    assert.deepEqual(
      both.changes.map((c) => [c.position, c.kind, c.room_id, c.user_id]),
      [
        [a, 'event', '!fc:x', null],
        [b, 'account_data', null, '@fc:x'],
      ],
    )
    assert.deepEqual(await storage.repos.stream.fenceAndChanges(start, false), { safe: b, changes: [] })
    assert.deepEqual(await storage.repos.stream.fenceAndChanges(b, true), { safe: b, changes: [] })
  })

  it('brings the fence and the changes back with a COMMIT when the commit observer asks, else tells it after the commit', async () => {
    let nudged = 0
    const start = await storage.repos.stream.fence()
    const reads: Array<{ safe: number; changes: Array<{ position: number }> }> = []
    let reading = true
    storage.setCommitObserver({ readWithCommit: () => (reading ? { after: start, onRead: (r) => (reads.push(r), false) } : null), committed: () => nudged++ })
    try {
      const p = await take('event', '!cr:x', null)
      assert.equal(reads.length, 1)
      assert.equal(reads[0]?.safe, p)
      assert.deepEqual(reads[0]?.changes.map((c) => c.position), [p])
      assert.equal(nudged, 0, 'the read came with the commit: no separate wake-up')
      // A transaction that took no position reads nothing.
      await storage.streamTransaction(async () => {})
      assert.equal(reads.length, 1)
      reading = false
      await take('event', '!cr:x', null)
      assert.equal(nudged, 1)
    } finally {
      storage.setCommitObserver(null)
    }
  })

  it('answers the writer after the readers its commit woke have run', async () => {
    // A woken reader (a /sync long-poll) continues through a chain of promises; the writer's caller runs
    // only once every such chain has, so readers answer first.
    const hops = (n: number, done: () => void): void => void (n === 0 ? done() : Promise.resolve().then(() => hops(n - 1, done)))
    const order: string[] = []
    let woke = true
    storage.setCommitObserver({
      readWithCommit: () => ({ after: 0, onRead: () => (hops(200, () => order.push('reader')), woke) }),
      committed: () => {},
    })
    try {
      await take('event', '!order:x', null)
      order.push('writer')
      assert.deepEqual(order, ['reader', 'writer'])
      // Nobody woken: the writer goes on right away, before a chain that long.
      woke = false
      order.length = 0
      await take('event', '!order:x', null)
      order.push('writer')
      assert.deepEqual(order, ['writer'])
      await new Promise((resolve) => setImmediate(resolve))
      assert.deepEqual(order, ['writer', 'reader'])
    } finally {
      storage.setCommitObserver(null)
    }
  })

  it('tells listening instances after a commit', async () => {
    const listener = new pg.Client({ connectionString: database.url })
    await listener.connect()
    try {
      await listener.query(`LISTEN ${STREAM_CHANNEL}`)
      const heard = new Promise<pg.Notification>((resolve) => listener.once('notification', resolve))
      await take('event', '!n:x', null)
      const notification = await heard
      assert.equal(notification.channel, STREAM_CHANNEL)
      assert.ok(storage.sentByThisProcess(notification.processId), 'sent by one of this process’s connections')
      assert.equal(storage.sentByThisProcess((listener as pg.Client & { processID: number }).processID), false)
    } finally {
      await listener.end()
    }
  })
})

describe(`a writer's expectation of its room, checked with BEGIN, on the ${targetName()}`, () => {
  it("commits when the room's extremities and the push rules version are as expected, else fails with HS409 before anything is written", async () => {
    await db.query("INSERT INTO room_extremities (room_id, event_id) VALUES ('!kept:x', '$a')")
    const version = Number((await db.query<{ version: string }>('SELECT version FROM push_rules_version')).rows[0]?.version)
    const send = (extremities: string[], pushRulesVersion: number) =>
      storage.streamTransaction(
        async (repos) => {
          assert.deepEqual(repos.rooms.preChecked?.extremities, extremities)
          // What was checked with BEGIN is not sent again.
          await repos.rooms.expectWriteState(repos.rooms.preChecked!)
          return repos.stream.next('event', '!kept:x', null)
        },
        { lockRoom: '!kept:x', expectRoom: { roomId: '!kept:x', extremities, pushRulesVersion } },
      )
    const position = await send(['$a'], version)
    assert.equal(await storage.repos.stream.fence(), position)
    for (const [extremities, pushVersion] of [[['$b'], version], [['$a', '$b'], version], [['$a'], version + 1]] as const) {
      await assert.rejects(send([...extremities], pushVersion), (err: { code?: string }) => err.code === 'HS409')
    }
    // The refused transactions wrote nothing.
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM stream_log WHERE position > $1', [position])
    assert.equal(rows[0]?.n, 0)
  })
})
