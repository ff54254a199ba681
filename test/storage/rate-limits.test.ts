// RateLimitsRepository.take on the target server: a token bucket in one row, refilled by explicit clock
// values, shared by every connection (and so every instance) without granting more than the burst.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Database, migrate, repositories } from '../../src/storage/index.ts'
import { cleanupTestDatabases, createTestDatabase, targetName, type TestDatabase } from '../support/database.ts'

let database: TestDatabase
let db: Database
const extraPools: Database[] = []

before(async () => {
  database = await createTestDatabase()
  db = new Database({ connectionString: database.url }, { poolSize: 20, statementTimeoutMs: 30000 })
  await migrate(db)
})

after(async () => {
  await Promise.allSettled(extraPools.map((p) => p.close()))
  await db?.close()
  await database?.drop()
  await cleanupTestDatabases()
})

const T0 = 1_700_000_000_000
let keyCounter = 0
const freshKey = () => `test:${++keyCounter}`

function rateLimits() {
  return repositories(db).rateLimits
}

describe(`RateLimitsRepository.take on the ${targetName()}`, () => {
  it('grants exactly the burst at one instant, then refuses without taking anything', async () => {
    const key = freshKey()
    const results = []
    for (let i = 0; i < 5; i++) results.push(await rateLimits().take(key, 1, 3, 1, T0))
    assert.deepEqual(
      results.map((r) => r.allowed),
      [true, true, true, false, false],
    )
    assert.deepEqual(
      results.map((r) => r.tokens),
      [2, 1, 0, 0, 0],
    )
  })

  it('refills at per_second using the clock the caller passes and never above the burst', async () => {
    const key = freshKey()
    const take = (nowMs: number) => rateLimits().take(key, 2, 4, 1, nowMs)
    for (let i = 0; i < 4; i++) assert.equal((await take(T0)).allowed, true)
    assert.equal((await take(T0)).allowed, false)
    // 2 tokens a second: 400 ms is not yet a whole token, 500 ms is.
    assert.equal((await take(T0 + 400)).allowed, false)
    const afterHalfSecond = await take(T0 + 500)
    assert.equal(afterHalfSecond.allowed, true)
    assert.ok(Math.abs(afterHalfSecond.tokens) < 1e-9, `tokens ${afterHalfSecond.tokens}`)
    assert.equal((await take(T0 + 500)).allowed, false)
    // An hour later the bucket holds the burst, not 7200 tokens.
    const hourLater = T0 + 500 + 3_600_000
    const granted = []
    for (let i = 0; i < 6; i++) granted.push((await take(hourLater)).allowed)
    assert.deepEqual(granted, [true, true, true, true, false, false])
  })

  it('takes a cost larger than one, and refuses a cost above what is left without spending it', async () => {
    const key = freshKey()
    const first = await rateLimits().take(key, 1, 10, 7, T0)
    assert.deepEqual(first, { allowed: true, tokens: 3 })
    const tooMuch = await rateLimits().take(key, 1, 10, 4, T0)
    assert.deepEqual(tooMuch, { allowed: false, tokens: 3 })
    const fits = await rateLimits().take(key, 1, 10, 3, T0)
    assert.deepEqual(fits, { allowed: true, tokens: 0 })
  })

  it('refuses a first request whose cost exceeds the burst', async () => {
    const key = freshKey()
    const result = await rateLimits().take(key, 1, 2, 3, T0)
    assert.equal(result.allowed, false)
    assert.equal((await rateLimits().take(key, 1, 2, 2, T0)).allowed, true)
  })

  it('keeps buckets of different keys apart', async () => {
    const a = freshKey()
    const b = freshKey()
    assert.equal((await rateLimits().take(a, 1, 1, 1, T0)).allowed, true)
    assert.equal((await rateLimits().take(a, 1, 1, 1, T0)).allowed, false)
    assert.equal((await rateLimits().take(b, 1, 1, 1, T0)).allowed, true)
  })

  it('never grants more than the burst to concurrent takes on a new key from many connections', async () => {
    // Four pools, like four instances, 15 connections in all, 60 requests at the same instant.
    const pools = [db, ...Array.from({ length: 3 }, () => new Database({ connectionString: database.url }, { poolSize: 5, statementTimeoutMs: 30000 }))]
    extraPools.push(...pools.slice(1))
    const key = freshKey()
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => repositories(pools[i % pools.length] as Database).rateLimits.take(key, 0.5, 5, 1, T0)))
    assert.equal(results.filter((r) => r.allowed).length, 5)
    // Later takes from any pool see the same shared, empty bucket.
    assert.equal((await repositories(pools[3] as Database).rateLimits.take(key, 0.5, 5, 1, T0)).allowed, false)
  })

  it('never grants more than the burst plus the refill to concurrent takes over time', async () => {
    const key = freshKey()
    // Fill the bucket row first, then race 40 takes at T0 and 40 at T0 + 2 s (one token a second: 2 more).
    assert.equal((await rateLimits().take(key, 1, 8, 1, T0)).allowed, true)
    const racers = [
      ...Array.from({ length: 40 }, () => rateLimits().take(key, 1, 8, 1, T0)),
      ...Array.from({ length: 40 }, () => rateLimits().take(key, 1, 8, 1, T0 + 2000)),
    ]
    const granted = (await Promise.all(racers)).filter((r) => r.allowed).length
    // 7 left at T0 and 2 refilled by T0 + 2 s: 9, or 8 when a later take comes first and the refill
    // hits the cap of 8. More would mean an earlier clock rewound the bucket and the refill counted twice.
    assert.ok(granted >= 8 && granted <= 9, `granted ${granted}`)
  })

  it('does not let a take stamped earlier (a skewed instance) rewind the bucket and refill it twice', async () => {
    const key = freshKey()
    const take = (nowMs: number) => rateLimits().take(key, 1, 2, 1, nowMs)
    assert.equal((await take(T0)).allowed, true)
    assert.equal((await take(T0)).allowed, true)
    assert.equal((await take(T0 + 1000)).allowed, true, 'one token refilled after a second')
    assert.equal((await take(T0)).allowed, false, 'an instance whose clock is a second behind')
    assert.equal((await take(T0 + 1000)).allowed, false, 'the same second of refill was granted twice')
  })
})
