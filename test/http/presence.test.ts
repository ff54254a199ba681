// GET/PUT /presence/{userId}/status, /sync's set_presence, the presence section of /sync (also through
// Presence.forSync directly, for its filters) and the sweeper that times out users who stopped syncing.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, assertError, enc, sharedRoom } from '../support/rooms.ts'
import { OFFLINE_AFTER_MS } from '../../src/presence/index.ts'

const t: TestServer = await startTestServer()
const presence = t.server.ctx.presence

const status = (client: RoomClient, userId = client.userId) => client.get(`/presence/${enc(userId)}/status`)
const setStatus = (client: RoomClient, body: Record<string, unknown>, userId = client.userId) => client.put(`/presence/${enc(userId)}/status`, body)

/** The stream position everything written so far is at or below (what a /sync made now would reach). */
function positionNow(): Promise<number> {
  return t.server.ctx.storage.repos.stream.fence()
}

describe('PUT /presence/:userId/status', () => {
  it('sets one’s own presence and status message, and GET returns them', async () => {
    const alice = await RoomClient.register(t.api)
    assert.equal((await setStatus(alice, { presence: 'online', status_msg: 'In a meeting' })).status, 200)
    const res = await status(alice)
    assert.equal(res.status, 200)
    assert.equal(res.body.presence, 'online')
    assert.equal(res.body.status_msg, 'In a meeting')
    assert.equal(res.body.currently_active, true)
    assert.ok(Number.isInteger(res.body.last_active_ago) && res.body.last_active_ago >= 0)

    assert.equal((await setStatus(alice, { presence: 'unavailable' })).status, 200)
    const idle = (await status(alice)).body
    assert.equal(idle.presence, 'unavailable')
    assert.equal(idle.status_msg, null, 'a PUT without status_msg clears it')
    assert.equal(idle.currently_active, undefined)
  })

  it('refuses to set another user’s presence with 403 M_FORBIDDEN', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    assertError(await setStatus(alice, { presence: 'offline' }, bob.userId), 403, 'M_FORBIDDEN')
  })

  it('refuses malformed requests with the spec error codes', async () => {
    const alice = await RoomClient.register(t.api)
    assertError(await setStatus(alice, { presence: 'busy' }), 400, 'M_BAD_JSON')
    assertError(await setStatus(alice, {}), 400, 'M_MISSING_PARAM')
    assertError(await setStatus(alice, { presence: 'online', status_msg: 5 }), 400, 'M_BAD_JSON')
    assertError(await alice.get('/presence/not-a-user/status'), 400, 'M_INVALID_PARAM')
    assertError(await t.api.get(`/_matrix/client/v3/presence/${enc(alice.userId)}/status`), 401, 'M_MISSING_TOKEN')
  })
})

describe('GET /presence/:userId/status', () => {
  it('shows a room-mate’s presence, offline when never set, and refuses it to anyone else', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    const eve = await RoomClient.register(t.api)
    assertError(await status(eve, alice.userId), 403, 'M_FORBIDDEN', 'no shared room')
    const roomId = await sharedRoom(alice, [bob])
    assert.deepEqual((await status(bob, alice.userId)).body, { presence: 'offline' })
    await setStatus(alice, { presence: 'unavailable', status_msg: 'lunch' })
    const seen = await status(bob, alice.userId)
    assert.equal(seen.status, 200)
    assert.equal(seen.body.presence, 'unavailable')
    assert.equal(seen.body.status_msg, 'lunch')
    assertError(await status(eve, alice.userId), 403, 'M_FORBIDDEN', 'still no shared room')
    await bob.leave(roomId)
    assertError(await status(bob, alice.userId), 403, 'M_FORBIDDEN', 'after leaving the shared room')
  })
})

describe('GET /sync set_presence', () => {
  it('marks the user online when omitted, unavailable when asked, and leaves presence alone with offline', async () => {
    const alice = await RoomClient.register(t.api)
    await alice.sync({ set_presence: 'offline' })
    assert.deepEqual((await status(alice)).body, { presence: 'offline' }, 'offline does not mark the user online')
    await alice.sync({ set_presence: 'unavailable' })
    assert.equal((await status(alice)).body.presence, 'unavailable')
    await alice.sync()
    assert.equal((await status(alice)).body.presence, 'online')
    await alice.sync({ set_presence: 'offline' })
    assert.equal((await status(alice)).body.presence, 'online')
    assertError(await alice.get('/sync?set_presence=away'), 400, 'M_INVALID_PARAM')
  })

  it('keeps a user online while one device syncs online, whatever an idle device asks for', async () => {
    const phone = await RoomClient.register(t.api)
    const laptop = new RoomClient(t.api, (await t.api.post('/_matrix/client/v3/login', { type: 'm.login.password', identifier: { type: 'm.id.user', user: phone.userId }, password: 'correct horse battery staple' })).body)
    await phone.sync()
    await laptop.sync({ set_presence: 'unavailable' })
    assert.equal((await status(phone)).body.presence, 'online', 'the idle laptop does not override the phone in use')
    // An explicit PUT is the user's own choice and applies at once.
    await setStatus(laptop, { presence: 'unavailable' })
    assert.equal((await status(phone)).body.presence, 'unavailable')
  })

  it('keeps the status message when a sync changes the state', async () => {
    const alice = await RoomClient.register(t.api)
    await setStatus(alice, { presence: 'offline', status_msg: 'back soon' })
    await alice.sync()
    assert.deepEqual([(await status(alice)).body.presence, (await status(alice)).body.status_msg], ['online', 'back soon'])
  })
})

describe('the /sync presence section (Presence.forSync)', () => {
  it('gives an initial sync the current presence of the user and room-mates, offline and strangers left out', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    const carol = await RoomClient.register(t.api)
    const eve = await RoomClient.register(t.api)
    await sharedRoom(alice, [bob, carol])
    await setStatus(alice, { presence: 'online' })
    await setStatus(bob, { presence: 'unavailable', status_msg: 'away' })
    await setStatus(carol, { presence: 'offline' })
    await setStatus(eve, { presence: 'online' })
    const events = await presence.forSync(alice.userId, null, Number.MAX_SAFE_INTEGER)
    assert.deepEqual(events.map((e) => e.sender).sort(), [alice.userId, bob.userId].sort())
    const bobs = events.find((e) => e.sender === bob.userId) as { type: string; content: Record<string, unknown> }
    assert.equal(bobs.type, 'm.presence')
    assert.equal(bobs.content.presence, 'unavailable')
    assert.equal(bobs.content.status_msg, 'away')
    assert.equal(typeof bobs.content.last_active_ago, 'number')
  })

  it('gives an incremental sync the changes in its range, and the presence of users who became room-mates in it', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    const dave = await RoomClient.register(t.api)
    const roomId = await sharedRoom(alice, [bob])
    await setStatus(bob, { presence: 'online' })
    await setStatus(dave, { presence: 'unavailable' })
    const since = await positionNow()
    assert.deepEqual(await presence.forSync(alice.userId, since, Number.MAX_SAFE_INTEGER), [], 'nothing changed since')

    await setStatus(bob, { presence: 'offline' })
    await dave.join(roomId)
    const events = await presence.forSync(alice.userId, since, Number.MAX_SAFE_INTEGER)
    assert.deepEqual(
      events.map((e) => [e.sender, (e.content as { presence: string }).presence]).sort(),
      [[bob.userId, 'offline'], [dave.userId, 'unavailable']].sort(),
    )
    assert.deepEqual(await presence.forSync(alice.userId, since, since), [], 'nothing beyond upTo')
    const onlyDave = await presence.forSync(alice.userId, since, Number.MAX_SAFE_INTEGER, { senders: [dave.userId] })
    assert.deepEqual(onlyDave.map((e) => e.sender), [dave.userId])
    assert.deepEqual(await presence.forSync(alice.userId, since, Number.MAX_SAFE_INTEGER, { not_types: ['m.*'] }), [])
  })

  it('turns users who stopped syncing offline, as a change in the stream', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    await sharedRoom(alice, [bob])
    await bob.sync()
    assert.equal((await status(alice, bob.userId)).body.presence, 'online')
    const since = await positionNow()
    assert.equal(await presence.sweep(Date.now()), 0, 'nobody has been gone long enough')
    assert.ok((await presence.sweep(Date.now() + OFFLINE_AFTER_MS + 1000)) >= 1)
    assert.equal((await status(alice, bob.userId)).body.presence, 'offline')
    const events = await presence.forSync(alice.userId, since, Number.MAX_SAFE_INTEGER)
    assert.deepEqual(events.map((e) => [e.sender, (e.content as { presence: string }).presence]), [[bob.userId, 'offline']])
  })
})

describe('GET /sync presence section', () => {
  it('gives the presence of new room-mates once, offline ones and users never seen too', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    const start = await alice.sync({ set_presence: 'offline' })
    await bob.join(roomId)
    const joined = await alice.sync({ since: start.next_batch, set_presence: 'offline' })
    assert.deepEqual(
      joined.presence.events.filter((e: { sender: string }) => e.sender !== alice.userId),
      [{ type: 'm.presence', sender: bob.userId, content: { presence: 'offline' } }],
      'bob never synced: offline, with no last_active_ago',
    )
    await alice.send(roomId, 'later')
    const later = await alice.sync({ since: joined.next_batch, set_presence: 'offline' })
    assert.deepEqual(later.presence.events, [], 'told once')
    // The joiner learns the presence of the room's members as well.
    const bobStart = await bob.sync({ set_presence: 'offline' })
    const carolRoom = await alice.createRoom({ preset: 'public_chat' })
    await bob.join(carolRoom)
    const bobs = await bob.sync({ since: bobStart.next_batch, set_presence: 'offline' })
    assert.deepEqual(bobs.presence.events.map((e: { sender: string }) => e.sender), [alice.userId])
  })

  it('wakes a room-mate\'s long-poll with the new presence, and leaves strangers out', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    const stranger = await RoomClient.register(t.api)
    await sharedRoom(alice, [bob])
    const bobStart = await bob.sync()
    const strangerStart = await stranger.sync()
    const poll = bob.sync({ since: bobStart.next_batch, timeout: 20000 })
    assert.equal((await setStatus(alice, { presence: 'online', status_msg: 'here' })).status, 200)
    const woken = await poll
    const event = woken.presence.events.find((e: { sender: string }) => e.sender === alice.userId)
    assert.ok(event, 'alice\'s presence reaches bob')
    assert.equal(event.type, 'm.presence')
    assert.equal(event.content.presence, 'online')
    assert.equal(event.content.status_msg, 'here')
    const strangers = await stranger.sync({ since: strangerStart.next_batch })
    assert.equal(strangers.presence.events.some((e: { sender: string }) => e.sender === alice.userId), false)
  })
})
