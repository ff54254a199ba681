// Sliding sync extensions (to_device, e2ee, account_data, receipts, typing) over real traffic: messages, keys,
// account data, typing and receipts go through HTTP, and the extensions are built from the server's own
// storage and sync sources at the notifier's positions, as a sliding sync request builds them.
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, enc } from '../support/rooms.ts'
import { TestDevice, loginAgain } from '../support/e2ee.ts'
import { MatrixError } from '../../src/shared/errors.ts'
import type { Requester } from '../../src/users/index.ts'
import { buildExtensions, parseExtensions, type ExtensionsRequest, type ExtensionsResult } from '../../src/sync/sliding/extensions.ts'

const t: TestServer = await startTestServer()
const client = () => RoomClient.register(t.api)
let txn = 0

/** A position every write that has answered is below (what a request's upTo is). */
async function position(): Promise<number> {
  await t.server.ctx.notifier.refresh()
  return t.server.ctx.notifier.current
}

function requester(c: RoomClient): Requester {
  return { userId: c.userId, deviceId: c.deviceId, isAdmin: false, tokenHash: createHash('sha256').update(c.token).digest() } as Requester
}

interface ScopeSpec {
  lists?: Record<string, string[]>
  subscriptions?: string[]
  rooms?: Record<string, { initial: boolean; membership: string }>
}

async function build(c: RoomClient, config: ExtensionsRequest, since: number | null, scope: ScopeSpec = {}, upTo?: number): Promise<ExtensionsResult & { upTo: number }> {
  const end = upTo ?? (await position())
  const result = await buildExtensions({
    storage: t.server.ctx.storage,
    sources: t.server.ctx.sync.sources,
    requester: requester(c),
    since,
    upTo: end,
    scope: {
      lists: new Map(Object.entries(scope.lists ?? {})),
      subscriptions: scope.subscriptions ?? [],
      rooms: new Map(Object.entries(scope.rooms ?? {})),
    },
    config,
  })
  return { ...result, upTo: end }
}

async function sendToDevice(from: RoomClient, to: RoomClient, content: Record<string, unknown>): Promise<void> {
  const res = await from.put(`/sendToDevice/x.test/sss${++txn}`, { messages: { [to.userId]: { [to.deviceId]: content } } })
  assert.equal(res.status, 200, JSON.stringify(res.body))
}

async function putAccountData(c: RoomClient, type: string, content: Record<string, unknown>, roomId?: string): Promise<void> {
  const path = roomId === undefined ? `/user/${enc(c.userId)}/account_data/${enc(type)}` : `/user/${enc(c.userId)}/rooms/${enc(roomId)}/account_data/${enc(type)}`
  const res = await c.put(path, content)
  assert.equal(res.status, 200, JSON.stringify(res.body))
}

async function type(c: RoomClient, roomId: string, typing = true): Promise<void> {
  const res = await c.put(`/rooms/${enc(roomId)}/typing/${enc(c.userId)}`, typing ? { typing: true, timeout: 60000 } : { typing: false })
  assert.equal(res.status, 200, JSON.stringify(res.body))
}

async function receipt(c: RoomClient, roomId: string, eventId: string, receiptType = 'm.read'): Promise<void> {
  const res = await c.post(`/rooms/${enc(roomId)}/receipt/${receiptType}/${enc(eventId)}`, {})
  assert.equal(res.status, 200, JSON.stringify(res.body))
}

/** Alice's public rooms, with every other client joined. */
async function rooms(owner: RoomClient, others: RoomClient[], n: number): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const roomId = await owner.createRoom({ preset: 'public_chat' })
    for (const c of others) await c.join(roomId)
    out.push(roomId)
  }
  return out
}

const ON = { enabled: true }
const receiptUsers = (event: any) => Object.values(event.content).flatMap((byType: any) => Object.values(byType).flatMap((byUser: any) => Object.keys(byUser)))

describe('sliding sync to_device extension', () => {
  it('delivers a device its messages oldest first, at most limit at a time, with next_batch where the batch stopped', async () => {
    const alice = await client()
    const bob = await client()
    for (const n of [1, 2, 3]) await sendToDevice(alice, bob, { n })
    const first = await build(bob, { to_device: { enabled: true, limit: 2 } }, null)
    const firstPart = first.extensions.to_device as any
    assert.deepEqual(firstPart.events, [
      { sender: alice.userId, type: 'x.test', content: { n: 1 } },
      { sender: alice.userId, type: 'x.test', content: { n: 2 } },
    ])
    assert.equal(first.hasData, true)
    assert.ok(Number(firstPart.next_batch) < first.upTo, 'the limit cut the batch: next_batch is the last message sent')

    const second = await build(bob, { to_device: { enabled: true, limit: 2, since: firstPart.next_batch } }, first.upTo)
    const secondPart = second.extensions.to_device as any
    assert.deepEqual(secondPart.events.map((e: any) => e.content), [{ n: 3 }])
    assert.equal(secondPart.next_batch, String(second.upTo), 'everything up to upTo was read')

    const third = await build(bob, { to_device: { enabled: true, since: secondPart.next_batch } }, second.upTo)
    assert.deepEqual(third.extensions.to_device, { next_batch: secondPart.next_batch, events: [] })
    assert.equal(third.hasData, false)
  })

  it('deletes what the since sent back acknowledges, and sends again what it does not (a lost response)', async () => {
    const alice = await client()
    const bob = await client()
    for (const n of [1, 2]) await sendToDevice(alice, bob, { n })
    const first = await build(bob, { to_device: { enabled: true, limit: 1 } }, null)
    const since = (first.extensions.to_device as any).next_batch
    const retry = await build(bob, { to_device: { enabled: true, limit: 1 } }, null)
    assert.deepEqual((retry.extensions.to_device as any).events, (first.extensions.to_device as any).events, 'nothing acknowledged yet')

    const next = await build(bob, { to_device: { enabled: true, limit: 1, since } }, null)
    assert.deepEqual((next.extensions.to_device as any).events.map((e: any) => e.content), [{ n: 2 }])
    const left = await t.server.ctx.storage.repos.toDevice.pending(bob.userId, bob.deviceId, 0, next.upTo, 10)
    assert.deepEqual(left.map((r) => JSON.parse(r.content)), [{ n: 2 }], 'the acknowledged message is deleted, the other kept')

    await build(bob, { to_device: { enabled: true, since: (next.extensions.to_device as any).next_batch } }, null)
    assert.deepEqual(await t.server.ctx.storage.repos.toDevice.pending(bob.userId, bob.deviceId, 0, next.upTo, 10), [])
  })

  it('sends at most 100 messages a response, whatever limit asks for, and the rest on the next', async () => {
    const alice = await client()
    const bob = await client()
    for (let n = 1; n <= 100; n += 20) await Promise.all(Array.from({ length: 20 }, (_, i) => sendToDevice(alice, bob, { n: n + i })))
    await sendToDevice(alice, bob, { n: 101 })
    const first = await build(bob, { to_device: { enabled: true, limit: 1000 } }, null)
    const part = first.extensions.to_device as any
    assert.equal(part.events.length, 100)
    const next = await build(bob, { to_device: { enabled: true, limit: 1000, since: part.next_batch } }, first.upTo)
    assert.deepEqual((next.extensions.to_device as any).events.map((e: any) => e.content), [{ n: 101 }])
  })

  it("serves only the requesting device's messages, and a message sent after pos on a later request", async () => {
    const alice = await client()
    const bob = await client()
    const laptop = await loginAgain(t.api, bob)
    const first = await build(bob, { to_device: ON }, null)
    assert.deepEqual((first.extensions.to_device as any).events, [])
    await sendToDevice(alice, laptop, { to: 'laptop' })
    await sendToDevice(alice, bob, { to: 'phone' })
    const next = await build(bob, { to_device: { enabled: true, since: (first.extensions.to_device as any).next_batch } }, first.upTo)
    assert.deepEqual((next.extensions.to_device as any).events.map((e: any) => e.content), [{ to: 'phone' }])
  })
})

describe('sliding sync e2ee extension', () => {
  it('counts the device one-time keys and unused fallback keys, with device_lists only on incremental requests', async () => {
    const bob = await client()
    const device = new TestDevice(bob.userId, bob.deviceId)
    const upload = await bob.post('/keys/upload', { device_keys: device.deviceKeys(), one_time_keys: device.oneTimeKeys(5), fallback_keys: device.oneTimeKeys(1, true) })
    assert.equal(upload.status, 200, JSON.stringify(upload.body))
    const first = await build(bob, { e2ee: ON }, null)
    assert.deepEqual(first.extensions.e2ee, { device_one_time_keys_count: { signed_curve25519: 5 }, device_unused_fallback_key_types: ['signed_curve25519'] })

    const quiet = await build(bob, { e2ee: ON }, first.upTo)
    assert.deepEqual((quiet.extensions.e2ee as any).device_lists, { changed: [], left: [] })
    assert.equal(quiet.hasData, false, 'key counts alone do not end a long-poll')
  })

  it('lists a room-mate whose keys changed, and one who left every shared room', async () => {
    const alice = await client()
    const bob = await client()
    const carol = await client()
    const [roomId] = await rooms(alice, [bob, carol], 1)
    const since = await position()
    const device = new TestDevice(carol.userId, carol.deviceId)
    assert.equal((await carol.post('/keys/upload', { device_keys: device.deviceKeys() })).status, 200)
    await alice.leave(roomId as string)
    const next = await build(bob, { e2ee: ON }, since)
    const lists = (next.extensions.e2ee as any).device_lists
    assert.ok(lists.changed.includes(carol.userId), JSON.stringify(lists))
    assert.deepEqual(lists.left, [alice.userId])
    assert.equal(next.hasData, true)
  })
})

describe('sliding sync account_data extension', () => {
  it('sends all global account data and the push rules first, then only what changed', async () => {
    const bob = await client()
    await putAccountData(bob, 'x.first', { a: 1 })
    const first = await build(bob, { account_data: ON }, null)
    const global = (first.extensions.account_data as any).global
    assert.deepEqual(global.find((e: any) => e.type === 'x.first'), { type: 'x.first', content: { a: 1 } })
    assert.ok(global.some((e: any) => e.type === 'm.push_rules' && e.content.global), 'push rules on the first request')
    assert.equal((first.extensions.account_data as any).rooms, undefined, 'no rooms in scope')

    const quiet = await build(bob, { account_data: ON }, first.upTo)
    assert.deepEqual(quiet.extensions.account_data, { global: [] })
    assert.equal(quiet.hasData, false)

    await putAccountData(bob, 'x.second', { b: 2 })
    const next = await build(bob, { account_data: ON }, quiet.upTo)
    assert.deepEqual(next.extensions.account_data, { global: [{ type: 'x.second', content: { b: 2 } }] })
    assert.equal(next.hasData, true)
  })

  it('sends room account data only for the rooms of the lists and subscriptions it names', async () => {
    const bob = await client()
    const [a, b, c] = (await rooms(bob, [], 3)) as [string, string, string]
    for (const roomId of [a, b, c]) await putAccountData(bob, 'x.room', { roomId }, roomId)
    const scope = { lists: { all: [a, b], dms: [] }, subscriptions: [c] }
    const roomsOf = async (config: ExtensionsRequest) => {
      const part = (await build(bob, config, null, scope)).extensions.account_data as any
      return Object.keys(part.rooms ?? {}).sort()
    }

    assert.deepEqual(await roomsOf({ account_data: ON }), [a, b, c].sort(), 'every list and subscription by default')
    assert.deepEqual(await roomsOf({ account_data: { enabled: true, lists: ['all'], rooms: [] } }), [a, b].sort())
    assert.deepEqual(await roomsOf({ account_data: { enabled: true, lists: [], rooms: ['*'] } }), [c])
    assert.deepEqual(await roomsOf({ account_data: { enabled: true, lists: ['dms', 'unknown'], rooms: [b] } }), [], 'b is no subscription')
    const first = await build(bob, { account_data: ON }, null, scope)
    assert.deepEqual((first.extensions.account_data as any).rooms[a], [{ type: 'x.room', content: { roomId: a } }])

    const since = await position()
    await putAccountData(bob, 'x.later', { n: 1 }, a)
    await putAccountData(bob, 'x.later', { n: 1 }, b)
    const next = await build(bob, { account_data: ON }, since, { lists: { all: [a] }, subscriptions: [c] })
    assert.deepEqual((next.extensions.account_data as any).rooms, { [a]: [{ type: 'x.later', content: { n: 1 } }] }, 'b changed but is out of scope')

    const whole = await build(bob, { account_data: ON }, since, { lists: { all: [b] }, rooms: { [b]: { initial: true, membership: 'join' } } })
    assert.deepEqual(
      (whole.extensions.account_data as any).rooms[b],
      [{ type: 'x.room', content: { roomId: b } }, { type: 'x.later', content: { n: 1 } }],
      'a room the response sends whole gets all its account data',
    )
  })
})

describe('sliding sync receipts and typing extensions', () => {
  it('sends what changed since pos, for the joined rooms each extension covers', async () => {
    const alice = await client()
    const bob = await client()
    const [r1, r2] = (await rooms(alice, [bob], 2)) as [string, string]
    const invitedTo = await alice.createRoom({ preset: 'private_chat' })
    await alice.invite(invitedTo, bob.userId)
    const e1 = await alice.send(r1, 'one')
    const e2 = await alice.send(r2, 'two')
    const since = await position()
    for (const roomId of [r1, r2, invitedTo]) await type(alice, roomId)
    await receipt(alice, r1, e1)
    await receipt(alice, r2, e2)
    const scope = { lists: { all: [r1, r2, invitedTo] }, subscriptions: [r2] }
    const config = { receipts: { enabled: true, lists: ['all'], rooms: [] }, typing: { enabled: true, lists: [], rooms: ['*'] } }
    const next = await build(bob, config, since, scope)

    const typing = (next.extensions.typing as any).rooms
    assert.deepEqual(typing, { [r2]: { type: 'm.typing', content: { user_ids: [alice.userId] } } }, 'typing: the subscription only, not the lists')
    const receipts = (next.extensions.receipts as any).rooms
    assert.deepEqual(Object.keys(receipts).sort(), [r1, r2].sort(), 'receipts: the list, never the room bob is only invited to')
    const read: any = receipts[r1].content[e1]['m.read'][alice.userId]
    assert.equal(typeof read.ts, 'number')
    assert.deepEqual(receipts[r1], { type: 'm.receipt', content: { [e1]: { 'm.read': { [alice.userId]: read } } } })
    assert.equal(next.hasData, true)

    await type(alice, r2, false)
    const stopped = await build(bob, config, next.upTo, scope)
    assert.deepEqual(stopped.extensions.typing, { rooms: { [r2]: { type: 'm.typing', content: { user_ids: [] } } } }, 'an empty list tells the stop')
    assert.deepEqual(stopped.extensions.receipts, {}, 'no receipt changed')

    const quiet = await build(bob, config, stopped.upTo, scope)
    assert.deepEqual(quiet.extensions, { receipts: {}, typing: {} })
    assert.equal(quiet.hasData, false)
  })

  it('sends a room sent whole its current typing and receipts, its own private receipt only to its owner', async () => {
    const alice = await client()
    const bob = await client()
    const [roomId] = (await rooms(alice, [bob], 1)) as [string]
    const eventId = await alice.send(roomId, 'hello')
    await receipt(alice, roomId, eventId)
    await receipt(bob, roomId, eventId, 'm.read.private')
    await type(alice, roomId)
    const config = { receipts: ON, typing: ON }

    const first = await build(bob, config, null, { lists: { all: [roomId] } })
    assert.deepEqual((first.extensions.typing as any).rooms[roomId].content.user_ids, [alice.userId])
    const content = (first.extensions.receipts as any).rooms[roomId].content
    assert.deepEqual(Object.keys(content[eventId]).sort(), ['m.read', 'm.read.private'])
    assert.deepEqual(Object.keys(content[eventId]['m.read.private']), [bob.userId])

    const aliceView = await build(alice, config, null, { lists: { all: [roomId] } })
    assert.deepEqual(receiptUsers((aliceView.extensions.receipts as any).rooms[roomId]), [alice.userId], "bob's private receipt stays his")

    // Later, on an incremental request: nothing changed, but the response sends the room whole again.
    const since = await position()
    const whole = await build(bob, config, since, { lists: { all: [roomId] }, rooms: { [roomId]: { initial: true, membership: 'join' } } })
    assert.deepEqual(receiptUsers((whole.extensions.receipts as any).rooms[roomId]).sort(), [alice.userId, bob.userId].sort())
    assert.deepEqual((whole.extensions.typing as any).rooms[roomId].content.user_ids, [alice.userId])
    const inRange = await build(bob, config, since, { lists: { all: [roomId] }, rooms: { [roomId]: { initial: false, membership: 'join' } } })
    assert.deepEqual(inRange.extensions, { receipts: {}, typing: {} }, 'a room the client has gets only changes')

    await type(alice, roomId, false)
    const fresh = await build(bob, { typing: ON }, null, { lists: { all: [roomId] } })
    assert.deepEqual(fresh.extensions.typing, {}, 'a first response does not say that nobody types')
    const again = await build(bob, { typing: ON }, since, { lists: { all: [roomId] }, rooms: { [roomId]: { initial: true, membership: 'join' } } })
    assert.deepEqual(again.extensions.typing, { rooms: { [roomId]: { type: 'm.typing', content: { user_ids: [] } } } }, 'a room sent whole again does')
  })
})

describe('sliding sync extensions request', () => {
  it('keeps the known extensions with their settings and ignores unknown ones', () => {
    assert.deepEqual(parseExtensions(undefined), {})
    assert.deepEqual(
      parseExtensions({
        to_device: { enabled: true, since: '42', limit: 100, lists: ['x'] },
        e2ee: { enabled: true },
        account_data: { enabled: false, lists: ['*'], rooms: ['!a:b'] },
        receipts: {},
        sticky_events: { enabled: true, whatever: [1] },
        'org.example.other': 'anything',
      }),
      {
        to_device: { enabled: true, since: '42', limit: 100 },
        e2ee: { enabled: true },
        account_data: { enabled: false, lists: ['*'], rooms: ['!a:b'] },
        receipts: {},
      },
    )
  })

  it('takes null for a field or an extension as left out', () => {
    assert.deepEqual(parseExtensions(null), {})
    assert.deepEqual(parseExtensions({ e2ee: null, to_device: { enabled: true, since: null, limit: null }, typing: { enabled: null, lists: null } }), {
      to_device: { enabled: true },
      typing: {},
    })
  })

  it('refuses bad shapes with M_INVALID_PARAM', () => {
    const bad: unknown[] = [
      [],
      'e2ee',
      { e2ee: true },
      { e2ee: { enabled: 'yes' } },
      { typing: { enabled: true, lists: 'all' } },
      { typing: { enabled: true, rooms: [7] } },
      { receipts: { enabled: true, rooms: [''] } },
      { receipts: { enabled: true, rooms: ['!'.padEnd(256, 'x')] } },
      { account_data: { enabled: true, lists: Array.from({ length: 101 }, (_, i) => `l${i}`) } },
      { to_device: { enabled: true, limit: 0 } },
      { to_device: { enabled: true, limit: 1.5 } },
      { to_device: { enabled: true, limit: 1001 } },
      { to_device: { enabled: true, limit: '10' } },
      { to_device: { enabled: true, since: 12 } },
      { to_device: { enabled: true, since: 'abc' } },
      { to_device: { enabled: true, since: '99999999999999999' } },
    ]
    for (const body of bad) {
      assert.throws(
        () => parseExtensions(body),
        (err: unknown) => err instanceof MatrixError && err.errcode === 'M_INVALID_PARAM' && err.status === 400,
        JSON.stringify(body),
      )
    }
    assert.deepEqual(parseExtensions({ account_data: { lists: Array.from({ length: 100 }, (_, i) => `l${i}`) } }).account_data?.lists?.length, 100)
  })

  it('builds only the extensions that are enabled', async () => {
    const bob = await client()
    const result = await build(bob, { e2ee: {}, typing: { enabled: false }, to_device: { enabled: false } }, null)
    assert.deepEqual(result, { extensions: {}, hasData: false, upTo: result.upTo })
  })
})
