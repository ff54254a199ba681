// Simplified sliding sync (MSC4186) driven by matrix-js-sdk's own SlidingSync class through SlidingSyncSdk
// (client.startClient({ slidingSync })), against a real Homestead: a room list window by activity with its
// count, a room moving into the window on a new message, a wider range bringing more rooms, lists with their
// own filters and counts, room subscriptions with their own timeline_limit (and nothing after unsubscribing),
// the account_data, typing and receipts extensions reaching the SDK's models, and Megolm-encrypted messages
// between Rust-crypto clients that all sync only through sliding sync: room keys by to-device through the
// to_device extension, a new device learnt through device_lists in the e2ee extension.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ClientEvent, EventTimeline, EventType, RoomEvent, RoomMemberEvent, type MatrixClient, type MatrixEvent } from 'matrix-js-sdk'
import {
  SlidingSync,
  SlidingSyncEvent,
  SlidingSyncState,
  type MSC3575List,
  type MSC3575RoomSubscription,
  type MSC3575SlidingSyncResponse,
} from 'matrix-js-sdk/lib/sliding-sync.js'
import { CryptoEvent } from 'matrix-js-sdk/lib/crypto-api/index.js'
import { CS, enc } from '../support/rooms.ts'
import { registerUser, startTestServer, type Session, type TestServer } from '../support/server.ts'
import { cryptoClient, cryptoOf, decryption, loginNewDevice, startSyncing, stopClients, timelineEvent, waitUntil, type Session as Device } from '../support/sdk-crypto.ts'

const t: TestServer = await startTestServer()
const clients: MatrixClient[] = []

const SSS = '/_matrix/client/unstable/org.matrix.simplified_msc3575/sync'
/** The long-poll a SlidingSync asks for; responses come earlier whenever something changes. */
const LONG_POLL_MS = 10_000

interface SlidingClient {
  client: MatrixClient
  sliding: SlidingSync
  /** Every response the client has processed, in order. */
  responses: MSC3575SlidingSyncResponse[]
  /** The errcodes of the requests that failed. */
  errors: string[]
}

/** A Rust-crypto client syncing only through a SlidingSync with these lists, once its first response is processed. */
async function slidingClient(session: Device, lists: Record<string, MSC3575List>, subscription: MSC3575RoomSubscription = { timeline_limit: 0 }): Promise<SlidingClient> {
  const client = await cryptoClient(t.url, session)
  clients.push(client)
  const sliding = new SlidingSync(t.url, new Map(Object.entries(lists)), subscription, client, LONG_POLL_MS)
  const responses: MSC3575SlidingSyncResponse[] = []
  const errors: string[] = []
  sliding.on(SlidingSyncEvent.Lifecycle, (state, resp, err) => {
    if (state === SlidingSyncState.Complete && resp) responses.push(resp)
    if (state === SlidingSyncState.RequestFinished && err) errors.push((err as { errcode?: string }).errcode ?? String(err))
  })
  await startSyncing(client, undefined, sliding)
  return { client, sliding, responses, errors }
}

async function ok(res: Promise<{ status: number; body: any }>, what: string): Promise<any> {
  const r = await res
  assert.equal(r.status, 200, `${what}: ${JSON.stringify(r.body)}`)
  return r.body
}

function createRoom(user: Session, body: Record<string, unknown>): Promise<string> {
  return ok(t.api.post(`${CS}/createRoom`, body, user.access_token), 'createRoom').then((b) => b.room_id)
}

let txn = 0
function send(user: Session, roomId: string, body: string): Promise<string> {
  return ok(t.api.put(`${CS}/rooms/${enc(roomId)}/send/m.room.message/sss${++txn}`, { msgtype: 'm.text', body }, user.access_token), `send ${body}`).then((b) => b.event_id)
}

/** The IDs of the client's rooms, sorted. */
function knownRooms(client: MatrixClient): string[] {
  return client
    .getRooms()
    .map((r) => r.roomId)
    .sort()
}

/** The bodies of the messages in the room's live timeline at the client, oldest first. */
function messageBodies(client: MatrixClient, roomId: string): string[] {
  const room = client.getRoom(roomId)
  assert.ok(room, `${roomId} at ${client.getUserId()}`)
  return room
    .getLiveTimeline()
    .getEvents()
    .filter((e) => e.getType() === EventType.RoomMessage)
    .map((e) => e.getContent().body)
}

/** The lists of the E2EE tests: every member, for the clients to know whom to encrypt for. */
const E2EE_LISTS: Record<string, MSC3575List> = {
  rooms: {
    ranges: [[0, 9]],
    timeline_limit: 10,
    required_state: [
      [EventType.RoomEncryption, ''],
      [EventType.RoomMember, '*'],
      [EventType.RoomName, ''],
    ],
  },
}

/**
 * Waits until the device's keys are on the server: its client uploads them after its first response, and its
 * next response lists its own user in device_lists.changed.
 */
function deviceKeysUploaded(owner: MatrixClient, session: Device): Promise<unknown> {
  return waitUntil(
    owner,
    [ClientEvent.Sync],
    async () => {
      const res = await t.api.post(`${CS}/keys/query`, { device_keys: { [session.user_id]: [] } }, session.access_token)
      return res.body?.device_keys?.[session.user_id]?.[session.device_id]
    },
    `the device keys of ${session.device_id} on the server`,
  )
}

describe('simplified sliding sync with matrix-js-sdk SlidingSync and SlidingSyncSdk', () => {
  // Inside the suite, so it runs before the file's hook closes the server.
  after(() => stopClients(clients))

  it('lists the most recently active rooms in range with the full count, moves a room into range on a new message, and widens with setListRanges', async () => {
    const alice = await registerUser(t.api)
    const rooms: string[] = []
    for (let i = 0; i < 5; i++) rooms.push(await createRoom(alice, { name: `Room ${i}` }))
    const id = (i: number): string => rooms[i] as string
    // Activity, most recent first: Room 4, 3, 2, 1, 0.
    for (let i = 0; i < 5; i++) await send(alice, id(i), `message ${i}`)

    const { client, sliding, responses } = await slidingClient(alice, {
      rooms: { ranges: [[0, 2]], timeline_limit: 1, required_state: [[EventType.RoomName, '']] },
    })
    assert.equal(sliding.getListData('rooms')?.joinedCount, 5, 'count is every room of the list, not only those in range')
    assert.equal(responses[0]?.lists.rooms?.count, 5)
    assert.deepEqual(Object.keys(responses[0]?.rooms ?? {}).sort(), [id(4), id(3), id(2)].sort(), 'the three most recently active rooms')
    assert.deepEqual(knownRooms(client), [id(4), id(3), id(2)].sort())
    for (const i of [2, 3, 4]) {
      const room = client.getRoom(id(i))
      assert.equal(room?.name, `Room ${i}`)
      assert.deepEqual(messageBodies(client, id(i)), [`message ${i}`], 'timeline_limit 1: the latest message')
    }
    const bump = (i: number) => client.getRoom(id(i))?.getBumpStamp() ?? 0
    assert.ok(bump(4) > bump(3) && bump(3) > bump(2), 'bump stamps follow the activity')

    // A new message in the least active room brings it to the top, into the range.
    const latest = await send(alice, id(0), 'back to the top')
    await timelineEvent(client, id(0), latest)
    assert.equal(client.getRoom(id(0))?.name, 'Room 0', 'sent whole: with its required_state')
    assert.deepEqual(messageBodies(client, id(0)), ['back to the top'])
    assert.ok(bump(0) > bump(4), 'its bump stamp is now the highest')
    assert.equal(sliding.getListData('rooms')?.joinedCount, 5)
    assert.equal(client.getRoom(id(1)), null, 'Room 1 is still out of range')

    // A wider range brings the rest.
    sliding.setListRanges('rooms', [[0, 9]])
    await waitUntil(client, [ClientEvent.Room, ClientEvent.Sync], () => client.getRoom(id(1)), 'Room 1 after widening the range')
    assert.deepEqual(knownRooms(client), [...rooms].sort())
    assert.deepEqual(messageBodies(client, id(1)), ['message 1'])
    assert.equal(sliding.getListData('rooms')?.joinedCount, 5)
  })

  it('keeps a count per list: direct chats and other rooms, each list with its own filter and range', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const dmBob = await createRoom(alice, { is_direct: true, invite: [bob.user_id], preset: 'trusted_private_chat' })
    const dmCarol = await createRoom(alice, { is_direct: true, invite: [carol.user_id], preset: 'trusted_private_chat' })
    await ok(t.api.put(`${CS}/user/${enc(alice.user_id)}/account_data/m.direct`, { [bob.user_id]: [dmBob], [carol.user_id]: [dmCarol] }, alice.access_token), 'm.direct')
    const groups: string[] = []
    for (let i = 0; i < 3; i++) groups.push(await createRoom(alice, { name: `Group ${i}` }))
    await send(alice, dmBob, 'latest direct message')

    const { client, sliding } = await slidingClient(alice, {
      dms: { ranges: [[0, 0]], timeline_limit: 1, required_state: [], filters: { is_dm: true } },
      groups: { ranges: [[0, 0]], timeline_limit: 1, required_state: [], filters: { is_dm: false } },
    })
    assert.equal(sliding.getListData('dms')?.joinedCount, 2)
    assert.equal(sliding.getListData('groups')?.joinedCount, 3)
    assert.deepEqual(knownRooms(client), [dmBob, groups[2] as string].sort(), 'the most recent room of each list')
    assert.deepEqual(messageBodies(client, dmBob), ['latest direct message'])
    assert.deepEqual(client.getAccountData(EventType.Direct)?.getContent(), { [bob.user_id]: [dmBob], [carol.user_id]: [dmCarol] })
  })

  it('sends a subscribed room with the timeline_limit of the subscription and its new messages after, until unsubscribed', async () => {
    const alice = await registerUser(t.api)
    const subscribed = await createRoom(alice, { name: 'Subscribed' })
    const sent: string[] = []
    for (let i = 1; i <= 6; i++) sent.push(await send(alice, subscribed, `old ${i}`))
    // The list holds only rooms tagged u.favourite: the subscribed room is never in it.
    const favourite = await createRoom(alice, { name: 'Favourite' })
    await ok(t.api.put(`${CS}/user/${enc(alice.user_id)}/rooms/${enc(favourite)}/tags/u.favourite`, {}, alice.access_token), 'tag')

    const { client, sliding } = await slidingClient(
      alice,
      { favourites: { ranges: [[0, 9]], timeline_limit: 1, required_state: [], filters: { tags: ['u.favourite'] } } },
      { timeline_limit: 3, required_state: [['*', '*']] },
    )
    assert.deepEqual(knownRooms(client), [favourite], 'only the favourite is in the list')
    assert.equal(sliding.getListData('favourites')?.joinedCount, 1)

    sliding.modifyRoomSubscriptions(new Set([subscribed]))
    const room = await waitUntil(client, [ClientEvent.Room, ClientEvent.Sync], () => client.getRoom(subscribed), 'the subscribed room')
    assert.deepEqual(messageBodies(client, subscribed), ['old 4', 'old 5', 'old 6'], 'the last three messages')
    assert.deepEqual(
      room
        .getLiveTimeline()
        .getEvents()
        .map((e) => e.getId()),
      sent.slice(3),
      'nothing else in the timeline',
    )
    assert.equal(room.name, 'Subscribed')
    assert.equal(room.currentState.getStateEvents(EventType.RoomCreate, '')?.getSender(), alice.user_id, "required_state ['*', '*']: the whole state")
    assert.ok(room.getLiveTimeline().getPaginationToken(EventTimeline.BACKWARDS), 'limited: a token to page back with')

    // The subscription stays: a new message in the room arrives though the room is in no list.
    const live = await send(alice, subscribed, 'live')
    await timelineEvent(client, subscribed, live)
    assert.deepEqual(messageBodies(client, subscribed), ['old 4', 'old 5', 'old 6', 'live'])

    // Unsubscribed, the room gets nothing more: a message in the favourite, sent after one in the unsubscribed
    // room, reaches the client, and the earlier one has not.
    sliding.modifyRoomSubscriptions(new Set())
    // modifyRoomSubscriptions aborts the pending request at once; account data written after it reaches the
    // client in the answer to a later request, the one carrying unsubscribe_rooms.
    await ok(t.api.put(`${CS}/user/${enc(alice.user_id)}/account_data/org.example.sss.barrier`, { n: 1 }, alice.access_token), 'account data')
    await waitUntil(client, [ClientEvent.AccountData], () => client.getAccountData('org.example.sss.barrier' as never), 'the account data after unsubscribing')
    const ignored = await send(alice, subscribed, 'not for an unsubscribed room')
    const barrier = await send(alice, favourite, 'barrier')
    await timelineEvent(client, favourite, barrier)
    assert.equal(room.findEventById(ignored), undefined, 'no update of the unsubscribed room')
    assert.deepEqual(messageBodies(client, subscribed), ['old 4', 'old 5', 'old 6', 'live'])
  })

  it('starts again without pos after M_UNKNOWN_POS, when another request without pos replaced the connection', async () => {
    const alice = await registerUser(t.api)
    const roomId = await createRoom(alice, { name: 'Restart' })
    await send(alice, roomId, 'before')
    const { client, errors } = await slidingClient(alice, { rooms: { ranges: [[0, 9]], timeline_limit: 5, required_state: [] } })
    assert.deepEqual(messageBodies(client, roomId), ['before'])

    // The same device starts the connection (no conn_id, as the SDK's) again: the SDK's pos is now unknown.
    await ok(t.api.post(SSS, { lists: { other: { ranges: [[0, 0]], timeline_limit: 0 } } }, alice.access_token), 'a new connection')
    const after = await send(alice, roomId, 'after the reset')
    await timelineEvent(client, roomId, after)
    assert.ok(errors.includes('M_UNKNOWN_POS'), `the SDK's request with the old pos failed: ${JSON.stringify(errors)}`)
    // The room came whole again on the new connection; the SDK kept each event once.
    assert.deepEqual(messageBodies(client, roomId), ['before', 'after the reset'])
    assert.equal(client.getRoom(roomId)?.name, 'Restart')
  })

  it('delivers account data, typing and read receipts through the extensions to the SDK models', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const roomId = await createRoom(alice, { name: 'Chatter', preset: 'public_chat' })
    await ok(t.api.post(`${CS}/join/${enc(roomId)}`, {}, bob.access_token), 'bob joins')
    await send(bob, roomId, 'hello')
    // After bob's message: his client's receipt moves forward only.
    const aliceMessage = await send(alice, roomId, 'anyone there?')

    const { client, responses } = await slidingClient(alice, {
      rooms: { ranges: [[0, 9]], timeline_limit: 5, required_state: [[EventType.RoomMember, '*']] },
    })
    const room = client.getRoom(roomId)
    assert.ok(room, 'the room is in the first response')
    assert.equal(room.getMember(bob.user_id)?.membership, 'join')
    assert.ok(client.getAccountData(EventType.PushRules), 'the push rules came with the first response')

    // Global account data.
    const globalData = new Promise<MatrixEvent>((resolve) => {
      const on = (event: MatrixEvent) => {
        if (event.getType() !== 'org.example.sss.settings') return
        client.off(ClientEvent.AccountData, on)
        resolve(event)
      }
      client.on(ClientEvent.AccountData, on)
    })
    await ok(t.api.put(`${CS}/user/${enc(alice.user_id)}/account_data/org.example.sss.settings`, { theme: 'dark' }, alice.access_token), 'global account data')
    assert.deepEqual((await globalData).getContent(), { theme: 'dark' })
    assert.deepEqual(client.getAccountData('org.example.sss.settings' as never)?.getContent(), { theme: 'dark' })

    // Room account data and tags.
    await ok(t.api.put(`${CS}/user/${enc(alice.user_id)}/rooms/${enc(roomId)}/account_data/org.example.sss.note`, { text: 'weekly' }, alice.access_token), 'room account data')
    await ok(t.api.put(`${CS}/user/${enc(alice.user_id)}/rooms/${enc(roomId)}/tags/u.work`, { order: 0.5 }, alice.access_token), 'tag')
    await waitUntil(client, [RoomEvent.AccountData, RoomEvent.Tags, ClientEvent.Event], () => room.getAccountData('org.example.sss.note') && room.tags['u.work'], 'room account data and the tag')
    assert.deepEqual(room.getAccountData('org.example.sss.note')?.getContent(), { text: 'weekly' })
    assert.deepEqual(room.tags['u.work'], { order: 0.5 })

    // Typing, on bob's member.
    const typing = (on: boolean) => ok(t.api.put(`${CS}/rooms/${enc(roomId)}/typing/${enc(bob.user_id)}`, on ? { typing: true, timeout: 30_000 } : { typing: false }, bob.access_token), 'typing')
    await typing(true)
    await waitUntil(client, [RoomMemberEvent.Typing], () => room.getMember(bob.user_id)?.typing === true, 'bob typing at alice')
    await typing(false)
    await waitUntil(client, [RoomMemberEvent.Typing], () => room.getMember(bob.user_id)?.typing === false, 'bob no longer typing at alice')

    // Bob's read receipt on alice's message.
    await ok(t.api.post(`${CS}/rooms/${enc(roomId)}/receipt/m.read/${enc(aliceMessage)}`, {}, bob.access_token), 'receipt')
    await waitUntil(client, [RoomEvent.Receipt], () => room.getEventReadUpTo(bob.user_id) === aliceMessage, () => `bob's receipt at alice; receipts extensions: ${JSON.stringify(responses.map((r) => r.extensions.receipts))}`)
    assert.ok(room.getUsersReadUpTo(room.findEventById(aliceMessage) as MatrixEvent).includes(bob.user_id))
  })

  let alice: Session
  let bob: Session
  let aliceClient: MatrixClient
  let aliceResponses: MSC3575SlidingSyncResponse[] = []
  let bobClient: MatrixClient
  let roomId = ''

  it('carries Megolm-encrypted messages both ways between two Rust-crypto clients on sliding sync only', async () => {
    alice = await registerUser(t.api)
    bob = await registerUser(t.api)
    const aliceSide = await slidingClient(alice, E2EE_LISTS)
    aliceClient = aliceSide.client
    aliceResponses = aliceSide.responses
    const bobSide = await slidingClient(bob, E2EE_LISTS)
    bobClient = bobSide.client

    await deviceKeysUploaded(aliceClient, alice)
    await deviceKeysUploaded(bobClient, bob)

    roomId = (
      await aliceClient.createRoom({
        name: 'Secret plans',
        invite: [bob.user_id],
        initial_state: [{ type: EventType.RoomEncryption, state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
      })
    ).room_id
    const invited = await waitUntil(bobClient, [ClientEvent.Room, ClientEvent.Sync], () => bobClient.getRoom(roomId), 'the invite at bob')
    assert.equal(invited.getMyMembership(), 'invite', 'sent with invite_state')
    assert.equal(invited.name, 'Secret plans')
    await ok(t.api.post(`${CS}/join/${enc(roomId)}`, {}, bob.access_token), 'bob joins')
    await waitUntil(aliceClient, [ClientEvent.Sync], () => aliceClient.getRoom(roomId)?.getMember(bob.user_id)?.membership === 'join', "bob's join at alice")
    await waitUntil(bobClient, [ClientEvent.Sync], () => bobClient.getRoom(roomId)?.getMyMembership() === 'join', "bob's join at bob")
    assert.equal(await cryptoOf(aliceClient).isEncryptionEnabledInRoom(roomId), true, 'm.room.encryption from required_state reached the crypto')
    assert.equal(await cryptoOf(bobClient).isEncryptionEnabledInRoom(roomId), true)
    const secret = 'The cake is in the oven 🎂'
    const first = (await aliceClient.sendTextMessage(roomId, secret)).event_id
    const stored = await ok(t.api.get(`${CS}/rooms/${enc(roomId)}/event/${enc(first)}`, alice.access_token), 'stored event')
    assert.equal(stored.type, EventType.RoomMessageEncrypted, 'the server holds an m.room.encrypted event')
    assert.ok(!JSON.stringify(stored).includes(secret), 'no plaintext on the server')
    const received = await decryption(bobClient, await timelineEvent(bobClient, roomId, first))
    assert.equal(received.getWireType(), EventType.RoomMessageEncrypted)
    assert.equal(received.getType(), EventType.RoomMessage)
    assert.equal(received.getContent().body, secret)
    // The room key came as an Olm-encrypted to-device message from alice's device, in the to_device extension.
    const toDevice = bobSide.responses.flatMap((r) => (r.extensions.to_device as { events?: Array<{ sender: string; type: string }> } | undefined)?.events ?? [])
    assert.ok(
      toDevice.some((e) => e.sender === alice.user_id && e.type === EventType.RoomMessageEncrypted),
      `an m.room.encrypted to-device message from alice: ${JSON.stringify(toDevice.map((e) => [e.sender, e.type]))}`,
    )

    const reply = (await bobClient.sendTextMessage(roomId, 'Say nothing to Carol')).event_id
    const answer = await decryption(aliceClient, await timelineEvent(aliceClient, roomId, reply))
    assert.equal(answer.getContent().body, 'Say nothing to Carol')
  })

  it("encrypts for bob's new device, learnt by alice's client from device_lists in the e2ee extension", async () => {
    const before = aliceResponses.length
    const phoneSession = await loginNewDevice(t.url, bob, "Bob's phone")
    const { client: phone } = await slidingClient(phoneSession, E2EE_LISTS)
    await deviceKeysUploaded(phone, phoneSession)
    // Alice's client already queried bob's keys; only device_lists.changed makes it query them again.
    await waitUntil(
      aliceClient,
      [CryptoEvent.DevicesUpdated, ClientEvent.Sync],
      async () => (await cryptoOf(aliceClient).getUserDeviceInfo([bob.user_id])).get(bob.user_id)?.has(phoneSession.device_id),
      "bob's new device in alice's device list",
    )
    const changed = aliceResponses.slice(before).flatMap((r) => (r.extensions.e2ee as { device_lists?: { changed: string[] } } | undefined)?.device_lists?.changed ?? [])
    assert.ok(changed.includes(bob.user_id), `bob in device_lists.changed at alice: ${JSON.stringify(changed)}`)
    const eventId = (await aliceClient.sendTextMessage(roomId, 'Welcome, new phone')).event_id
    assert.equal((await decryption(phone, await timelineEvent(phone, roomId, eventId))).getContent().body, 'Welcome, new phone')
    assert.equal((await decryption(bobClient, await timelineEvent(bobClient, roomId, eventId))).getContent().body, 'Welcome, new phone', "bob's first device too")
  })
})
