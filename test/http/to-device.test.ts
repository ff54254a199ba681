// Send-to-device messaging over real HTTP: PUT /sendToDevice/{type}/{txnId} and /sync to_device —
// delivered once, in order, deleted when acknowledged, idempotent per txnId, '*' for every device.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, assertError, enc } from '../support/rooms.ts'
import { loginAgain } from '../support/e2ee.ts'

const t: TestServer = await startTestServer()
const client = () => RoomClient.register(t.api)
let txn = 0

function send(from: RoomClient, type: string, messages: Record<string, Record<string, unknown>>, txnId = `td${++txn}`) {
  return from.put(`/sendToDevice/${enc(type)}/${enc(txnId)}`, { messages })
}

describe('PUT /sendToDevice/:eventType/:txnId', () => {
  it('delivers a message to the named device once, with sender, type and content', async () => {
    const alice = await client()
    const bob = await client()
    const since = (await bob.sync()).next_batch
    const res = await send(alice, 'm.room_key_request', { [bob.userId]: { [bob.deviceId]: { action: 'request', n: 1 } } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const first = await bob.sync({ since, timeout: 0 })
    assert.deepEqual(first.to_device.events, [{ sender: alice.userId, type: 'm.room_key_request', content: { action: 'request', n: 1 } }])
    const second = await bob.sync({ since: first.next_batch, timeout: 0 })
    assert.deepEqual(second.to_device.events, [], 'acknowledged by syncing with the next token')
  })

  it('delivers again when the client retries with the same token (the response may have been lost)', async () => {
    const alice = await client()
    const bob = await client()
    const since = (await bob.sync()).next_batch
    await send(alice, 'x.test', { [bob.userId]: { [bob.deviceId]: { n: 1 } } })
    const first = await bob.sync({ since, timeout: 0 })
    const retry = await bob.sync({ since, timeout: 0 })
    assert.deepEqual(retry.to_device.events, first.to_device.events)
    assert.equal(first.to_device.events.length, 1)
  })

  it("sends to every device of a user with '*', and to nobody else's", async () => {
    const alice = await client()
    const bob = await client()
    const bobLaptop = await loginAgain(t.api, bob)
    const sinces = await Promise.all([bob.sync(), bobLaptop.sync(), alice.sync()])
    await send(alice, 'x.test', { [bob.userId]: { '*': { hello: 'all' } } })
    const [a, b, c] = await Promise.all([
      bob.sync({ since: sinces[0].next_batch, timeout: 0 }),
      bobLaptop.sync({ since: sinces[1].next_batch, timeout: 0 }),
      alice.sync({ since: sinces[2].next_batch, timeout: 0 }),
    ])
    assert.deepEqual(a.to_device.events.map((e: any) => e.content), [{ hello: 'all' }])
    assert.deepEqual(b.to_device.events.map((e: any) => e.content), [{ hello: 'all' }])
    assert.deepEqual(c.to_device.events, [])
  })

  it('sends nothing twice when a txnId is reused', async () => {
    const alice = await client()
    const bob = await client()
    const since = (await bob.sync()).next_batch
    await send(alice, 'x.test', { [bob.userId]: { [bob.deviceId]: { n: 1 } } }, 'same-txn')
    const again = await send(alice, 'x.test', { [bob.userId]: { [bob.deviceId]: { n: 1 } } }, 'same-txn')
    assert.equal(again.status, 200)
    assert.equal((await bob.sync({ since, timeout: 0 })).to_device.events.length, 1)
  })

  it('keeps the order of 250 messages across several syncs (at most 100 each) and loses none', async () => {
    const alice = await client()
    const bob = await client()
    let since = (await bob.sync()).next_batch
    const batches = Array.from({ length: 250 }, (_, i) => i)
    for (const i of batches) await send(alice, 'x.order', { [bob.userId]: { [bob.deviceId]: { batch: i } } })
    const seen: number[] = []
    const sizes: number[] = []
    for (let round = 0; round < 10 && seen.length < 250; round++) {
      const sync = await bob.sync({ since, timeout: 0 })
      sizes.push(sync.to_device.events.length)
      seen.push(...sync.to_device.events.map((e: any) => e.content.batch))
      since = sync.next_batch
    }
    assert.deepEqual(seen, batches)
    assert.ok(sizes.every((n) => n <= 100), `sizes ${sizes}`)
    assert.deepEqual((await bob.sync({ since, timeout: 0 })).to_device.events, [])
  })

  it('wakes a waiting long-poll', async () => {
    const alice = await client()
    const bob = await client()
    const since = (await bob.sync()).next_batch
    const waiting = bob.sync({ since, timeout: 30_000 })
    await new Promise((r) => setTimeout(r, 200))
    await send(alice, 'x.wake', { [bob.userId]: { [bob.deviceId]: {} } })
    assert.deepEqual((await waiting).to_device.events.map((e: any) => e.type), ['x.wake'])
  })

  it('delivers pending messages in an initial sync, and drops those of a device that is deleted', async () => {
    const alice = await client()
    const bob = await client()
    const laptop = await loginAgain(t.api, bob)
    await send(alice, 'x.test', { [bob.userId]: { [bob.deviceId]: { n: 1 }, [laptop.deviceId]: { n: 2 } } })
    assert.deepEqual((await bob.sync()).to_device.events.map((e: any) => e.content), [{ n: 1 }])
    assert.equal((await laptop.post('/logout', {})).status, 200)
    const rows = await t.server.ctx.storage.repos.toDevice.pending(bob.userId, laptop.deviceId, 0, Number.MAX_SAFE_INTEGER, 10)
    assert.deepEqual(rows, [])
  })

  it('ignores unknown devices and refuses malformed or oversized messages', async () => {
    const alice = await client()
    const bob = await client()
    assert.equal((await send(alice, 'x.test', { [bob.userId]: { NOSUCHDEVICE: {} } })).status, 200)
    assertError(await alice.put('/sendToDevice/x.test/bad1', {}), 400, 'M_MISSING_PARAM')
    assertError(await send(alice, 'x.test', { 'not-a-user': {} }), 400, 'M_INVALID_PARAM')
    assertError(await send(alice, 'x.test', { [bob.userId]: { [bob.deviceId]: 'text' } as any }), 400, 'M_BAD_JSON')
    assertError(await send(alice, 'x.test', { [bob.userId]: { [bob.deviceId]: { blob: 'x'.repeat(70_000) } } }), 413, 'M_TOO_LARGE')
    assertError(await t.api.put('/_matrix/client/v3/sendToDevice/x.test/t1', { messages: {} }), 401, 'M_MISSING_TOKEN')
    assert.deepEqual((await bob.sync()).to_device.events, [], 'nothing from the refused requests was queued')
  })
})
