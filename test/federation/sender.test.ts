// The durable outbound federation sender: a Homestead sends its local events to a remote server joined to the
// room, played by a signed test peer over HTTPS with a test CA, which checks each transaction's X-Matrix
// signature and records it. Until inbound send_join exists, the peer's user joins through the room writer
// (ctx.rooms.join with a remote requester), the path a remote join will take: room_servers learns of the
// peer's server from that membership, as it will from one arriving over federation.
import { after, afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startInstanceOn, startTestServer, type TestInstance, type TestServer } from '../support/server.ts'
import { federationFronts } from '../support/federation.ts'
import { publishedKeys, startFederationPeer, type ReceivedTransaction } from '../support/federation-peer.ts'
import { RoomClient } from '../support/rooms.ts'
import type { AppContext } from '../../src/context.ts'
import type { UserId } from '../../src/shared/ids.ts'
import { signRequest } from '../../src/protocol/x-matrix.ts'

const fronts = await federationFronts()
const { nameA, common } = fronts
const settings = {
  'federation.sender.backoff_base_ms': 100,
  'federation.sender.backoff_max_ms': 400,
  'federation.sender.catch_up_max_events': 40,
  'federation.sender.poll_interval_ms': 200,
}
const a: TestServer = await startTestServer({ ...common(), server_name: nameA, ...settings })
fronts.route(fronts.frontA, a.url)
const ctx: AppContext = a.server.ctx
const [origin, keys] = await publishedKeys(a.url)
const peer = await startFederationPeer(fronts.frontB, new Map([[origin, keys]]))
const remoteUser = `@peer:${peer.serverName}` as UserId
const alice = await RoomClient.register(a.api)
let second: TestInstance | null = null

// A test that failed with the peer down leaves it up for the next one.
let releaseHold = () => {}
afterEach(() => {
  peer.up()
  peer.hold = null
  releaseHold()
})

after(async () => {
  await second?.close()
  await peer.close()
  await fronts.close()
})

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A public room of alice's that the peer's user has joined. */
async function sharedRoom(): Promise<string> {
  const roomId = await alice.createRoom({ preset: 'public_chat' })
  await ctx.rooms.join({ userId: remoteUser, deviceId: 'PEER', isAdmin: false, tokenHash: Buffer.alloc(32) }, roomId)
  return roomId
}

const pdusOf = (txns: ReceivedTransaction[], roomId: string) => txns.flatMap((t) => t.pdus.filter((p) => p.room_id === roomId))
const bodiesIn = (txns: ReceivedTransaction[], roomId: string) => pdusOf(txns, roomId).map((p) => p.content?.body as string)
const destinationRow = async () =>
  (await ctx.storage.db.query<{ failures: number; lease_holder: string | null }>('SELECT failures, lease_holder FROM federation_destinations WHERE destination = $1', [peer.serverName])).rows[0]
/** Puts the destination's next attempt an hour away (as after long backoff): what is queued waits for heardFrom. */
const holdBackoff = () => ctx.storage.db.query('UPDATE federation_destinations SET retry_at = retry_at + 3600000 WHERE destination = $1', [peer.serverName])
const queued = async () => (await ctx.storage.db.query<{ n: number }>('SELECT count(*)::int AS n FROM federation_pdu_queue WHERE destination = $1', [peer.serverName])).rows[0]?.n ?? 0

describe('room_servers', () => {
  it('counts joined members per server as memberships change, in the same transaction', async () => {
    const roomId = await sharedRoom()
    const servers = async () =>
      (await ctx.storage.db.query<{ server_name: string; joined_count: number }>('SELECT server_name, joined_count FROM room_servers WHERE room_id = $1 ORDER BY server_name', [roomId])).rows
    assert.deepEqual(await servers(), [{ server_name: nameA, joined_count: 1 }, { server_name: peer.serverName, joined_count: 1 }].sort((x, y) => (x.server_name < y.server_name ? -1 : 1)))
    const bob = await RoomClient.register(a.api)
    await bob.join(roomId)
    assert.equal((await servers()).find((s) => s.server_name === nameA)?.joined_count, 2)
    await alice.membershipRaw('kick', roomId, remoteUser)
    assert.deepEqual((await servers()).map((s) => s.server_name), [nameA], 'a server with no joined member left is not in the room')
  })
})

describe('FederationSender: local events', () => {
  it('delivers local messages to the joined server in order, at most 50 PDUs a transaction, signed', async () => {
    const roomId = await sharedRoom()
    const before = peer.received.length
    peer.hold = new Promise((resolve) => (releaseHold = resolve))
    const sent: string[] = []
    for (let i = 1; i <= 70; i++) {
      sent.push(`message ${i}`)
      await alice.send(roomId, `message ${i}`)
    }
    peer.hold = null
    releaseHold()
    await until('the peer has every message', () => bodiesIn(peer.received.slice(before), roomId).length >= 70)
    const txns = peer.received.slice(before)
    assert.deepEqual(bodiesIn(txns, roomId), sent, 'each message once, in the order sent')
    assert.ok(txns.every((t) => t.pdus.length <= 50), 'no transaction over 50 PDUs')
    assert.ok(txns.some((t) => t.pdus.length === 50), 'what queued while the peer was busy went in full transactions')
    assert.ok(pdusOf(txns, roomId).every((p) => p.sender === alice.userId), "the remote member's own join is not sent back")
    assert.equal(new Set(txns.map((t) => t.txnId)).size, txns.length, 'every transaction has its own ID')
    assert.deepEqual(peer.refused, [])
    await until('the queue is empty and the lease given back', async () => (await queued()) === 0 && (await destinationRow())?.lease_holder === null)
  })

  it('backs off while the destination is down, then delivers what it missed in order', async () => {
    const roomId = await sharedRoom()
    const before = peer.received.length
    peer.down()
    await alice.send(roomId, 'missed 1')
    await until('a failure is recorded', async () => ((await destinationRow())?.failures ?? 0) >= 1)
    await alice.send(roomId, 'missed 2')
    await alice.send(roomId, 'missed 3')
    await until('a second failure (backoff, then a retry)', async () => ((await destinationRow())?.failures ?? 0) >= 2)
    assert.deepEqual(bodiesIn(peer.received.slice(before), roomId), [])
    peer.up()
    await until('the peer caught up', () => bodiesIn(peer.received.slice(before), roomId).length >= 3)
    assert.deepEqual(bodiesIn(peer.received.slice(before), roomId), ['missed 1', 'missed 2', 'missed 3'])
    await until('the backoff is cleared', async () => (await destinationRow())?.failures === 0)
  })

  it('sends a destination far behind only the newest event of each room', async () => {
    const room1 = await sharedRoom()
    const room2 = await sharedRoom()
    const before = peer.received.length
    peer.down()
    await alice.send(room1, 'one 0')
    await until('a failure is recorded', async () => ((await destinationRow())?.failures ?? 0) >= 1)
    await holdBackoff()
    for (let i = 1; i <= 25; i++) {
      await alice.send(room1, `one ${i}`)
      await alice.send(room2, `two ${i}`)
    }
    assert.ok((await queued()) > 40, 'more queued than catch_up_max_events')
    peer.up()
    await ctx.federationSender.heardFrom(peer.serverName)
    await until('the peer has the newest of both rooms', () => bodiesIn(peer.received.slice(before), room1).includes('one 25') && bodiesIn(peer.received.slice(before), room2).includes('two 25'))
    await until('the queue is empty', async () => (await queued()) === 0)
    assert.deepEqual(bodiesIn(peer.received.slice(before), room1), ['one 25'])
    assert.deepEqual(bodiesIn(peer.received.slice(before), room2), ['two 25'])
  })

  it('ends the backoff when the destination sends us a transaction: what waited goes at once', async () => {
    const roomId = await sharedRoom()
    const before = peer.received.length
    peer.down()
    await alice.send(roomId, 'waiting')
    await until('a failure is recorded', async () => ((await destinationRow())?.failures ?? 0) >= 1)
    await holdBackoff()
    peer.up()
    // The peer's own PUT /send, signed with its key (which Homestead fetches from it over HTTPS).
    const body = { origin: peer.serverName, origin_server_ts: Date.now(), pdus: [], edus: [] }
    const uri = `/_matrix/federation/v1/send/hello${Date.now()}`
    const authorization = signRequest({ method: 'PUT', uri, origin: peer.serverName, destination: nameA, content: body }, peer.key)
    const res = await a.api.request('PUT', uri, { body, headers: { Authorization: authorization } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    await until('the peer has the message', () => bodiesIn(peer.received.slice(before), roomId).length >= 1)
    assert.deepEqual(bodiesIn(peer.received.slice(before), roomId), ['waiting'])
  })

  it("takes a destination over once the lease of an instance that died lapses", async () => {
    const roomId = await sharedRoom()
    const before = peer.received.length
    // An instance took the destination and died: its lease runs for a second more.
    await ctx.storage.db.query(
      `UPDATE federation_destinations SET lease_holder = 'a-dead-instance', lease_until = (extract(epoch from clock_timestamp()) * 1000)::bigint + 1000 WHERE destination = $1`,
      [peer.serverName],
    )
    await alice.send(roomId, 'after the takeover')
    await until('the peer has the message', () => bodiesIn(peer.received.slice(before), roomId).length >= 1)
    assert.deepEqual(bodiesIn(peer.received.slice(before), roomId), ['after the takeover'])
    assert.notEqual((await destinationRow())?.lease_holder, 'a-dead-instance')
  })

  it('delivers each event once when two instances on one database send at the same time (the lease)', async () => {
    second = await startInstanceOn(a.database, { ...common(), server_name: nameA, ...settings })
    const roomId = await sharedRoom()
    const before = peer.received.length
    peer.maxInFlight = 0
    const viaSecond = alice.on(second.api)
    const sent: string[] = []
    await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        for (let j = 1; j <= 4; j++) {
          const body = `concurrent ${i}.${j}`
          sent.push(body)
          await (i % 2 === 0 ? alice : viaSecond).send(roomId, body)
        }
      }),
    )
    await until('the peer has every message', () => new Set(bodiesIn(peer.received.slice(before), roomId)).size >= sent.length)
    await until('the queue is empty', async () => (await queued()) === 0)
    const got = bodiesIn(peer.received.slice(before), roomId)
    assert.equal(got.length, sent.length, 'no event delivered twice')
    assert.deepEqual([...got].sort(), [...sent].sort())
    assert.equal(peer.maxInFlight, 1, 'one transaction in flight to the destination at a time')
  })
})

describe('FederationSender.queueEdu', () => {
  it('delivers a to-device EDU, and only the latest of EDUs queued under one key', async () => {
    const before = peer.received.length
    peer.down()
    const toDevice = { sender: alice.userId, type: 'm.room_key_request', message_id: 'm1', messages: { [remoteUser]: { DEVICE: { action: 'request_cancellation', request_id: 'r1', requesting_device_id: 'D' } } } }
    await ctx.federationSender.queueEdu(peer.serverName, 'm.direct_to_device', toDevice)
    await until('a failure is recorded', async () => ((await destinationRow())?.failures ?? 0) >= 1)
    await holdBackoff()
    await ctx.federationSender.queueEdu(peer.serverName, 'm.typing', { room_id: '!r:x', user_id: alice.userId, typing: true }, `!r:x ${alice.userId}`)
    await ctx.federationSender.queueEdu(peer.serverName, 'm.typing', { room_id: '!r:x', user_id: alice.userId, typing: false }, `!r:x ${alice.userId}`)
    peer.up()
    await ctx.federationSender.heardFrom(peer.serverName)
    await until('the peer has the EDUs', () => peer.received.slice(before).flatMap((t) => t.edus).length >= 2)
    const edus = peer.received.slice(before).flatMap((t) => t.edus)
    assert.deepEqual(edus, [
      { edu_type: 'm.direct_to_device', content: toDevice },
      { edu_type: 'm.typing', content: { room_id: '!r:x', user_id: alice.userId, typing: false } },
    ])
  })
})
