// The push queue's badge updates (storage/repositories/pushers.ts) when the user reads again while an update
// is being delivered: the one in flight was counted before the new read, so the queue must keep one for the
// new count. Driven step by step on a server that delivers nothing itself (push.delivery.enabled false).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'

const t: TestServer = await startTestServer({ 'push.delivery.enabled': false, 'outbound.ip_range_allowlist': ['127.0.0.0/8'] })

describe('badge updates in the push queue', () => {
  it('keeps one queued when the user reads again while the last one is being delivered', async () => {
    const alice = await registerUser(t.api)
    const set = await t.api.post('/_matrix/client/v3/pushers/set', { kind: 'http', app_id: 'org.example.q', pushkey: 'k1', app_display_name: 'Q', device_display_name: 'Phone', lang: 'en', data: { url: 'http://127.0.0.1:9/_matrix/push/v1/notify' } }, alice.access_token)
    assert.equal(set.status, 200, JSON.stringify(set.body))
    const repo = t.server.ctx.storage.repos.pushers
    const [pusher] = await repo.list(alice.user_id)
    const id = (pusher as { id: number }).id
    assert.ok(await repo.takeLease(id, 'worker', 60_000))

    await repo.enqueueBadge(alice.user_id, Date.now())
    await repo.enqueueBadge(alice.user_id, Date.now())
    const inFlight = await repo.next(id)
    assert.ok(inFlight && inFlight.event_id === null, 'one badge update, however many reads came before')
    // The user reads again while the worker sends the count it read before.
    assert.deepEqual(await repo.enqueueBadge(alice.user_id, Date.now()), [id])
    assert.equal(await repo.delivered(id, 'worker', inFlight.id, 1, 60_000), true)
    const again = await repo.next(id)
    assert.ok(again && again.event_id === null && again.id !== inFlight.id, 'the newer read is still to be told')
    assert.equal(await repo.delivered(id, 'worker', again.id, 0, 60_000), true)
    assert.equal(await repo.next(id), null)
  })

  it("gives a pusher's lease up only when nothing is queued, and says when another instance holds it now", async () => {
    const alice = await registerUser(t.api)
    const set = await t.api.post('/_matrix/client/v3/pushers/set', { kind: 'http', app_id: 'org.example.q', pushkey: 'k2', app_display_name: 'Q', device_display_name: 'Phone', lang: 'en', data: { url: 'http://127.0.0.1:9/_matrix/push/v1/notify' } }, alice.access_token)
    assert.equal(set.status, 200, JSON.stringify(set.body))
    const repo = t.server.ctx.storage.repos.pushers
    const id = ((await repo.list(alice.user_id))[0] as { id: number }).id
    assert.ok(await repo.takeLease(id, 'worker', 60_000))
    await repo.enqueueBadge(alice.user_id, Date.now())
    assert.equal(await repo.release(id, 'worker'), 'kept', 'something is queued: the lease stays')
    // The lease lapsed and another instance took it: the first must stop delivering.
    await t.server.ctx.storage.db.query(`UPDATE pushers SET lease_holder = 'another', lease_until = 0 WHERE id = $1`, [id])
    assert.equal(await repo.release(id, 'worker'), 'lost')
    assert.ok(await repo.takeLease(id, 'worker', 60_000), 'a lapsed lease can be taken again')
    const item = await repo.next(id)
    assert.ok(item)
    assert.equal(await repo.delivered(id, 'worker', item.id, 0, 60_000), true)
    assert.equal(await repo.release(id, 'worker'), 'released')
  })
})
