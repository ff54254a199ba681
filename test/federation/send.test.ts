// PUT /_matrix/federation/v1/send/{txnId} between two Homesteads with different server names over HTTPS with
// a test CA: A's FederationClient (or a request signed with A's key) sends transactions to B. Proven here:
// the transaction limits and origin check, dedup per (origin, txnId) in PostgreSQL (a replay, even to another
// instance, answers the first answer and processes nothing again), each PDU checked (a forged signature is
// dropped with an error, a hash mismatch redacted, an unknown room named, a server denied by the room's ACL
// refused) before the ingest adds it to the room, and the EDUs (typing, receipts, presence, to-device,
// device lists, signing keys) reaching B's user through /sync. A's user joins B's rooms over federation.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { startInstanceOn, type TestInstance } from '../support/server.ts'
import { federatedPair } from '../support/federation.ts'
import { RoomClient, assertError, enc } from '../support/rooms.ts'
import { TestDevice, crossSigningKeys, userWithKeys, type Json } from '../support/e2ee.ts'
import { buildEvent } from '../../src/protocol/events/index.ts'
import { roomVersion } from '../../src/protocol/room-versions.ts'
import { signingKeyFromSeed, type SigningKey } from '../../src/protocol/signing.ts'
import { signRequest } from '../../src/protocol/x-matrix.ts'
import { FederationError } from '../../src/federation/index.ts'
import { pduEventId } from '../../src/federation/pdu-check.ts'
import type { AppContext } from '../../src/context.ts'
import type { Api } from '../support/server.ts'

const { fronts, a, b } = await federatedPair()
const { nameA, nameB, common } = fronts
const ctxA: AppContext = a.server.ctx
const ctxB: AppContext = b.server.ctx
let b2: TestInstance
before(async () => {
  b2 = await startInstanceOn(b.database, { ...common(), server_name: nameB })
})
after(async () => {
  await b2.close()
})

// alice is A's user, with a device and keys, so that A can answer B's questions about her devices.
const aliceOnA = await userWithKeys(a.api)
const alice = aliceOnA.client.userId
const bob = await RoomClient.register(b.api)
const roomId = await bob.createRoom({ preset: 'public_chat' })
const version = roomVersion((await ctxB.storage.repos.rooms.get(roomId))!.room_version)!
const firstMessage = await bob.send(roomId, 'hello from B')

/** alice joins a room of B's over federation (make_join/send_join through A's POST /join). */
async function aliceJoins(room: string): Promise<void> {
  const res = await aliceOnA.client.post(`/join/${enc(room)}?via=${enc(nameB)}`, {})
  assert.equal(res.status, 200, JSON.stringify(res.body))
}
await aliceJoins(roomId)

let txnCounter = 0
const nextTxn = () => `txn-${process.pid}-${++txnCounter}`
const txn = (body: { pdus?: unknown[]; edus?: unknown[] }) => ({ origin: nameA, origin_server_ts: Date.now(), pdus: body.pdus ?? [], edus: body.edus ?? [] })
/** A's signed PUT /send to B over HTTPS. */
const send = (txnId: string, body: Json) => ctxA.federation.client.put<Json>(nameB, `/_matrix/federation/v1/send/${enc(txnId)}`, body)
/** The same, signed by hand and sent to one instance's plain HTTP port (destination and key choosable). */
function sendRaw(api: Api, txnId: string, body: unknown, options: { destination?: string; key?: SigningKey } = {}) {
  const uri = `/_matrix/federation/v1/send/${enc(txnId)}`
  const authorization = signRequest({ method: 'PUT', uri, origin: nameA, destination: options.destination ?? nameB, content: body }, options.key ?? ctxA.serverKeys.signingKey)
  return api.request('PUT', uri, { body, headers: { Authorization: authorization } })
}

/** A message from alice that B's room accepts: on its forward extremities, with the auth events it needs. */
async function alicesAcceptedMessage(body: string, room = roomId) {
  const repos = ctxB.storage.repos
  const prev = await repos.events.getMany(room, (await repos.rooms.extremities(room)).map((x) => x.event_id))
  const auth = await repos.state.currentEvents(room, [['m.room.create', ''], ['m.room.power_levels', ''], ['m.room.member', alice]])
  return buildEvent(
    { type: 'm.room.message', sender: alice, room_id: room, content: { msgtype: 'm.text', body }, origin_server_ts: Date.now(), depth: Math.max(...prev.map((e) => e.depth)) + 1 },
    { version, serverName: nameA, signingKey: ctxA.serverKeys.signingKey, prevEventRefs: prev.map((e) => ({ event_id: e.event_id })), authEventRefs: auth.map((r) => ({ event_id: r.event_id })) },
  )
}

/** A message from alice in B's room, signed by A (or by `key`), not meant to be accepted. */
function alicesMessage(body: string, key: SigningKey = ctxA.serverKeys.signingKey, room = roomId) {
  return buildEvent(
    { type: 'm.room.message', sender: alice, room_id: room, content: { msgtype: 'm.text', body }, origin_server_ts: Date.now(), depth: 10 },
    { version, serverName: nameA, signingKey: key, prevEventRefs: [{ event_id: firstMessage }], authEventRefs: [] },
  )
}

const toDeviceEdu = (messageId: string, text: string) => ({
  edu_type: 'm.direct_to_device',
  content: { sender: alice, type: 'm.test.ping', message_id: messageId, messages: { [bob.userId]: { [bob.deviceId]: { text } } } },
})

/** Reads until `done` holds of what is read (work done in the background: a device list's resync). */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let i = 0; ; i++) {
    const value = await read()
    if (done(value) || i === 400) return value
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Bob's /sync since `since`: what arrived after it (B answers only once everything in it is committed). */
const syncSince = (since: string) => bob.sync({ since, timeout: 0 })

describe('PUT /_matrix/federation/v1/send/{txnId}: the transaction', () => {
  it('refuses more than 50 PDUs or 100 EDUs with 400, and a body over its size limit with 413', async () => {
    await assert.rejects(send(nextTxn(), txn({ pdus: Array.from({ length: 51 }, () => ({})) })), (err: FederationError) => err.status === 400 && err.errcode === 'M_BAD_JSON')
    await assert.rejects(send(nextTxn(), txn({ edus: Array.from({ length: 101 }, () => ({ edu_type: 'm.x', content: {} })) })), (err: FederationError) => err.status === 400)
    const big = txn({ edus: [{ edu_type: 'm.x', content: { pad: 'x'.repeat(8 * 1024 * 1024) } }] })
    const res = await sendRaw(b.api, nextTxn(), big)
    assertError(res, 413, 'M_TOO_LARGE')
  })

  it('refuses a transaction whose origin is not the signing server, and one signed for another destination', async () => {
    await assert.rejects(send(nextTxn(), { ...txn({}), origin: 'elsewhere.example' }), (err: FederationError) => err.status === 400 && err.errcode === 'M_BAD_JSON')
    assertError(await sendRaw(b.api, nextTxn(), txn({}), { destination: 'elsewhere.example' }), 401, 'M_UNAUTHORIZED')
    assertError(await b.api.put(`/_matrix/federation/v1/send/${nextTxn()}`, txn({})), 401, 'M_UNAUTHORIZED')
  })

  it('answers an empty transaction with no PDU results', async () => {
    assert.deepEqual(await send(nextTxn(), txn({})), { pdus: {} })
  })
})

describe('PUT /send: PDUs', () => {
  it('drops a PDU with a forged signature, with an error naming it, and adds a well-signed one to the room', async () => {
    const { next_batch: since } = await bob.sync({ timeout: 0 })
    const forger = signingKeyFromSeed(ctxA.serverKeys.signingKey.keyId, randomBytes(32))
    const forged = alicesMessage('forged', forger)
    const genuine = await alicesAcceptedMessage('genuine')
    const answer = await send(nextTxn(), txn({ pdus: [forged.pdu, genuine.pdu] }))
    assert.deepEqual(answer.pdus, { [forged.event_id]: { error: `invalid signature of ${nameA} (${forger.keyId})` }, [genuine.event_id]: {} })
    const timeline = (await syncSince(since)).rooms.join[roomId].timeline.events
    assert.deepEqual(timeline.map((e: Json) => [e.event_id, e.sender, e.content.body]), [[genuine.event_id, alice, 'genuine']])
  })

  it('redacts a PDU whose content does not match its hash and adds it so', async () => {
    const { next_batch: since } = await bob.sync({ timeout: 0 })
    const message = await alicesAcceptedMessage('as signed')
    const altered = { ...message.pdu, content: { msgtype: 'm.text', body: 'altered on the way' } }
    assert.deepEqual((await send(nextTxn(), txn({ pdus: [altered] }))).pdus, { [message.event_id]: {} })
    const timeline = (await syncSince(since)).rooms.join[roomId].timeline.events
    assert.deepEqual(timeline.map((e: Json) => [e.event_id, e.content]), [[message.event_id, {}]])
  })

  it('names a PDU of a room this server does not know with "unknown room"', async () => {
    const pdu = { ...alicesMessage('elsewhere').pdu, room_id: `!nowhere:${nameA}`, event_id: `$legacy:${nameA}` }
    const answer = await send(nextTxn(), txn({ pdus: [pdu] }))
    assert.deepEqual(answer.pdus, { [`$legacy:${nameA}`]: { error: 'unknown room' } })
  })

  it('drops a PDU that does not fit the room version, naming it when it has an event ID there', async () => {
    const message = alicesMessage('x')
    const oldFormat = { ...message.pdu, prev_events: [[firstMessage, {}]] }
    const oldId = pduEventId(oldFormat, version) as string
    const noRoom = { ...message.pdu, room_id: undefined }
    const answer = await send(nextTxn(), txn({ pdus: [oldFormat, noRoom, 'not an object'] }))
    assert.deepEqual(answer.pdus, { [oldId]: { error: `prev_events must be a list of event IDs in room version ${version.id}` } })
  })
})

describe('PUT /send: deduplication per origin and transaction ID', () => {
  it('answers a replay with the first answer and processes nothing again, even with another body', async () => {
    const { next_batch: since } = await bob.sync({ timeout: 0 })
    const txnId = nextTxn()
    const forged = alicesMessage('forged', signingKeyFromSeed(ctxA.serverKeys.signingKey.keyId, randomBytes(32)))
    const first = await send(txnId, txn({ pdus: [forged.pdu], edus: [toDeviceEdu('m-replay-1', 'once')] }))
    const replay = await send(txnId, txn({ pdus: [alicesMessage('other').pdu], edus: [toDeviceEdu('m-replay-2', 'never')] }))
    assert.deepEqual(replay, first)
    const onB2 = await sendRaw(b2.api, txnId, txn({ edus: [toDeviceEdu('m-replay-3', 'never either')] }))
    assert.deepEqual([onB2.status, onB2.body], [200, first], 'another instance answers the stored response')
    const sync = await syncSince(since)
    assert.deepEqual(sync.to_device.events.map((e: Json) => e.content.text), ['once'])
  })

  it('processes a transaction sent to two instances at once only once', async () => {
    const { next_batch: since } = await bob.sync({ timeout: 0 })
    const txnId = nextTxn()
    // Two bodies under one ID (a sender would not do that; it shows which one was processed): one wins.
    const [one, two] = await Promise.all([
      sendRaw(b.api, txnId, txn({ pdus: [alicesMessage('one').pdu], edus: [toDeviceEdu('m-concurrent-1', 'one')] })),
      sendRaw(b2.api, txnId, txn({ pdus: [alicesMessage('two').pdu], edus: [toDeviceEdu('m-concurrent-2', 'two')] })),
    ])
    assert.deepEqual([one.status, two.status], [200, 200])
    assert.deepEqual(one.body, two.body)
    const sync = await syncSince(since)
    const delivered = sync.to_device.events.map((e: Json) => e.content.text)
    assert.equal(delivered.length, 1, JSON.stringify(delivered))
  })

  it('waits for the answer of a transaction another instance is processing, and takes over a claim left stale', async () => {
    const busy = nextTxn()
    await ctxB.storage.db.query('INSERT INTO federation_inbound_txns (origin, txn_id, claimed_ts) VALUES ($1, $2, $3)', [nameA, busy, Date.now()])
    const waiting = send(busy, txn({ edus: [toDeviceEdu('m-busy', 'never')] }))
    // Once B has the request (and has found the claim), the other instance "finishes".
    while (!fronts.frontB.requests.includes(`PUT /_matrix/federation/v1/send/${busy}`)) await new Promise((r) => setTimeout(r, 20))
    await new Promise((r) => setTimeout(r, 500))
    const stored = { pdus: { [`$elsewhere:${nameA}`]: {} } }
    await ctxB.storage.db.query('UPDATE federation_inbound_txns SET response = $3 WHERE origin = $1 AND txn_id = $2', [nameA, busy, JSON.stringify(stored)])
    assert.deepEqual(await waiting, stored)

    const { next_batch: since } = await bob.sync({ timeout: 0 })
    const abandoned = nextTxn()
    await ctxB.storage.db.query('INSERT INTO federation_inbound_txns (origin, txn_id, claimed_ts) VALUES ($1, $2, $3)', [nameA, abandoned, Date.now() - 10 * 60_000])
    assert.deepEqual(await send(abandoned, txn({ edus: [toDeviceEdu('m-abandoned', 'taken over')] })), { pdus: {} })
    const sync = await syncSince(since)
    assert.deepEqual(sync.to_device.events.map((e: Json) => e.content.text), ['taken over'])
  })

  it('keeps transaction IDs per origin: the same ID from another origin is another transaction', async () => {
    const txnId = nextTxn()
    await send(txnId, txn({}))
    const rows = await ctxB.storage.db.query<{ origin: string }>('SELECT origin FROM federation_inbound_txns WHERE txn_id = $1', [txnId])
    assert.deepEqual(rows.rows.map((r) => r.origin), [nameA])
  })
})

describe('PUT /send: EDUs reach local users through /sync', () => {
  it('delivers typing of a joined member of A, and ignores typing for another server\'s user or a room they are not in', async () => {
    const { next_batch: since } = await bob.sync({ timeout: 0 })
    const otherRoom = await bob.createRoom()
    await send(nextTxn(), txn({
      edus: [
        { edu_type: 'm.typing', content: { room_id: roomId, user_id: alice, typing: true } },
        { edu_type: 'm.typing', content: { room_id: roomId, user_id: `@carol:${nameB}`, typing: true } },
        { edu_type: 'm.typing', content: { room_id: otherRoom, user_id: alice, typing: true } },
      ],
    }))
    const sync = await syncSince(since)
    const typing = (room: string) => sync.rooms?.join?.[room]?.ephemeral?.events?.find((e: Json) => e.type === 'm.typing')?.content.user_ids
    assert.deepEqual(typing(roomId), [alice])
    assert.equal(typing(otherRoom), undefined)
    await send(nextTxn(), txn({ edus: [{ edu_type: 'm.typing', content: { room_id: roomId, user_id: alice, typing: false } }] }))
    const stopped = await syncSince(sync.next_batch)
    assert.deepEqual(stopped.rooms.join[roomId].ephemeral.events.find((e: Json) => e.type === 'm.typing').content.user_ids, [])
  })

  it('stores a read receipt of a member of A for an event here and shows it in /sync', async () => {
    const { next_batch: since } = await bob.sync({ timeout: 0 })
    await send(nextTxn(), txn({
      edus: [{
        edu_type: 'm.receipt',
        content: {
          [roomId]: {
            'm.read': {
              [alice]: { event_ids: [firstMessage], data: { ts: 1_700_000_000_000 } },
              [`@mallory:${nameB}`]: { event_ids: [firstMessage], data: { ts: 1 } },
            },
          },
        },
      }],
    }))
    const sync = await syncSince(since)
    const receipt = sync.rooms.join[roomId].ephemeral.events.find((e: Json) => e.type === 'm.receipt')
    assert.deepEqual(receipt.content, { [firstMessage]: { 'm.read': { [alice]: { ts: 1_700_000_000_000 } } } })
  })

  it('delivers a to-device message to the local device once per message_id, only from the origin\'s own users', async () => {
    const { next_batch: since } = await bob.sync({ timeout: 0 })
    const forgedSender = { ...toDeviceEdu('m-forged', 'forged'), content: { ...toDeviceEdu('m-forged', 'forged').content, sender: `@eve:${nameB}` } }
    await send(nextTxn(), txn({ edus: [toDeviceEdu('m-once', 'hi bob'), forgedSender] }))
    await send(nextTxn(), txn({ edus: [toDeviceEdu('m-once', 'hi bob')] }))
    const sync = await syncSince(since)
    assert.deepEqual(sync.to_device.events, [{ sender: alice, type: 'm.test.ping', content: { text: 'hi bob' } }])
  })

  it('records presence of a member of A and shows it to users sharing a room', async () => {
    const { next_batch: since } = await bob.sync({ timeout: 0 })
    await send(nextTxn(), txn({
      edus: [{ edu_type: 'm.presence', content: { push: [{ user_id: alice, presence: 'online', last_active_ago: 5000, status_msg: 'baking', currently_active: true }] } }],
    }))
    const sync = await syncSince(since)
    const event = sync.presence.events.find((e: Json) => e.sender === alice)
    assert.equal(event.content.presence, 'online')
    assert.equal(event.content.status_msg, 'baking')
    assert.ok(event.content.last_active_ago >= 5000)
  })

  it('fetches from A a list it never had, applies updates that follow, and fetches it again after a gap', async () => {
    const { next_batch: since } = await bob.sync({ timeout: 0 })
    const phone = aliceOnA.client.deviceId
    const update = (streamId: number, prevId: number[], extra: Json = {}) => ({
      edu_type: 'm.device_list_update',
      content: { user_id: alice, device_id: 'TABLET', device_display_name: 'Tablet', stream_id: streamId, prev_id: prevId, keys: { device_keys: {} }, ...extra },
    })
    await send(nextTxn(), txn({ edus: [update(1, [])] }))
    const sync = await syncSince(since)
    assert.ok(sync.device_lists.changed.includes(alice), JSON.stringify(sync.device_lists))
    // B never had alice's list: it asks A, whose answer (her one device with keys) replaces what it kept.
    let list = await eventually(() => ctxB.remoteDeviceLists.list(alice), (l) => l?.stale === false)
    assert.deepEqual(list?.devices.map((d) => d.device_id), [phone])
    assert.deepEqual(JSON.parse(list?.devices[0]?.keys_json ?? '{}').keys, aliceOnA.device.deviceKeys().keys)
    const s = list?.streamId as number

    const sorted = (l: typeof list) => l?.devices.map((d) => [d.device_id, d.display_name]).sort((x, y) => String(x[0]).localeCompare(String(y[0])))
    await send(nextTxn(), txn({ edus: [update(s + 1, [s])] }))
    list = await ctxB.remoteDeviceLists.list(alice)
    assert.deepEqual([list?.stale, list?.streamId], [false, s + 1])
    assert.deepEqual(sorted(list), [[phone, null], ['TABLET', 'Tablet']].sort((x, y) => String(x[0]).localeCompare(String(y[0]))))
    await send(nextTxn(), txn({ edus: [update(s + 1, [s], { device_display_name: 'replayed' })] }))
    assert.equal((await ctxB.remoteDeviceLists.list(alice))?.devices.find((d) => d.device_id === 'TABLET')?.display_name, 'Tablet', 'an update seen before is not applied again')

    // An update that follows one never received: the list is fetched again, and A knows no TABLET.
    await send(nextTxn(), txn({ edus: [update(s + 3, [s + 2])] }))
    list = await eventually(() => ctxB.remoteDeviceLists.list(alice), (l) => l?.stale === false && !l.devices.some((d) => d.device_id === 'TABLET'))
    assert.deepEqual(list?.devices.map((d) => d.device_id), [phone])
  })

  it('drops an update whose keys name another device, and updates for users of other servers or not in any room here', async () => {
    const before = (await ctxB.remoteDeviceLists.list(alice))?.streamId
    const device = new TestDevice(`@dave:${nameA}`, 'DAVE')
    const forgedKeys = new TestDevice(alice, 'X').deviceKeys()
    await send(nextTxn(), txn({
      edus: [
        { edu_type: 'm.device_list_update', content: { user_id: `@dave:${nameA}`, device_id: 'DAVE', stream_id: 1, keys: device.deviceKeys() } },
        { edu_type: 'm.device_list_update', content: { user_id: `@bob2:${nameB}`, device_id: 'B', stream_id: 1 } },
        { edu_type: 'm.device_list_update', content: { user_id: alice, device_id: 'X2', stream_id: 1e12, keys: forgedKeys } },
      ],
    }))
    assert.equal(await ctxB.remoteDeviceLists.list(`@dave:${nameA}`), null)
    assert.equal(await ctxB.remoteDeviceLists.list(`@bob2:${nameB}`), null)
    assert.equal((await ctxB.remoteDeviceLists.list(alice))?.streamId, before)
  })

  it('stores signing key updates of a member of A and tells local users', async () => {
    const { next_batch: since } = await bob.sync({ timeout: 0 })
    const keys = crossSigningKeys(alice)
    await send(nextTxn(), txn({
      edus: [{ edu_type: 'm.signing_key_update', content: { user_id: alice, master_key: keys.body.master_key, self_signing_key: keys.body.self_signing_key } }],
    }))
    const sync = await syncSince(since)
    assert.ok(sync.device_lists.changed.includes(alice))
    const stored = (await ctxB.remoteDeviceLists.list(alice))?.crossSigningKeys.map((k) => [k.key_type, JSON.parse(k.key_json).keys])
    assert.deepEqual(stored, [['master', keys.body.master_key.keys], ['self_signing', keys.body.self_signing_key.keys]])
  })
})

describe('PUT /send: server ACLs', () => {
  it('refuses PDUs and ignores typing and receipts for a room whose ACL denies the origin', async () => {
    const denyingRoom = await bob.createRoom({ preset: 'public_chat' })
    const message = await bob.send(denyingRoom, 'before the ACL')
    await aliceJoins(denyingRoom)
    // A's name is an IP literal (127.0.0.1:port): allow_ip_literals false denies it.
    await bob.putState(denyingRoom, 'm.room.server_acl', '', { allow: ['*'], deny: [], allow_ip_literals: false })
    const { next_batch: since } = await bob.sync({ timeout: 0 })
    const pdu = alicesMessage('denied', ctxA.serverKeys.signingKey, denyingRoom)
    const answer = await send(nextTxn(), txn({
      pdus: [pdu.pdu],
      edus: [
        { edu_type: 'm.typing', content: { room_id: denyingRoom, user_id: alice, typing: true } },
        { edu_type: 'm.receipt', content: { [denyingRoom]: { 'm.read': { [alice]: { event_ids: [message], data: { ts: 1 } } } } } },
      ],
    }))
    assert.deepEqual(answer.pdus, { [pdu.event_id]: { error: "this server is denied by the room's server ACL" } })
    const sync = await syncSince(since)
    assert.equal(sync.rooms?.join?.[denyingRoom]?.ephemeral?.events?.length ?? 0, 0)
  })
})
