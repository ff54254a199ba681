// Guest accounts (client-server API, "Guest Access"): registration with kind=guest, the endpoints a guest may
// call, joining only rooms whose m.room.guest_access is can_join, leaving when that changes, upgrading.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { startTestServer, type TestServer } from '../support/server.ts'
import { CS, RoomClient, assertError, enc, ids } from '../support/rooms.ts'

const t: TestServer = await startTestServer({ 'registration.allow_guest_access': true })
const user = () => RoomClient.register(t.api)

async function guest(): Promise<RoomClient> {
  const res = await t.api.post(`${CS}/register?kind=guest`, {})
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return new RoomClient(t.api, res.body)
}

/** A room of a fresh user, with guests allowed in. */
async function guestRoom() {
  const alice = await user()
  const roomId = await alice.createRoom({ preset: 'public_chat' })
  await alice.putState(roomId, 'm.room.guest_access', '', { guest_access: 'can_join' })
  return { alice, roomId }
}

async function membershipOf(client: RoomClient, roomId: string, userId: string): Promise<string | undefined> {
  const res = await client.get(`/rooms/${enc(roomId)}/state/m.room.member/${enc(userId)}`)
  return res.status === 200 ? res.body.membership : undefined
}

describe('POST /register?kind=guest', () => {
  it('registers a guest with a numeric localpart, seen as a guest by /whoami', async () => {
    const g = await guest()
    assert.match(g.userId, /^@\d+:test\.localhost$/)
    const who = await g.get('/account/whoami')
    assert.deepEqual(who.body, { user_id: g.userId, device_id: g.deviceId, is_guest: true })
  })

  it('keeps guests to the endpoints the spec lists (403 M_GUEST_ACCESS_FORBIDDEN elsewhere)', async () => {
    const g = await guest()
    assertError(await g.post('/createRoom', {}), 403, 'M_GUEST_ACCESS_FORBIDDEN')
    assertError(await g.get('/joined_rooms'), 403, 'M_GUEST_ACCESS_FORBIDDEN')
    assertError(await g.put(`/profile/${enc(g.userId)}/avatar_url`, { avatar_url: 'mxc://x/y' }), 403, 'M_GUEST_ACCESS_FORBIDDEN')
    // The stream of every room is not for guests; one room's (a preview) is.
    assertError(await g.get('/events?timeout=0'), 403, 'M_GUEST_ACCESS_FORBIDDEN')
    // The password endpoint also serves password resets without a token; a guest's token is still refused.
    assertError(await g.post('/account/password', { new_password: 'a guest password' }), 403, 'M_GUEST_ACCESS_FORBIDDEN')
    assert.equal((await g.put(`/profile/${enc(g.userId)}/displayname`, { displayname: 'creeper' })).status, 200)
    assert.equal((await t.api.get(`${CS}/profile/${enc(g.userId)}/displayname`)).body.displayname, 'creeper')
    assert.equal((await g.get('/sync?timeout=0')).status, 200)
  })
})

describe('guests in rooms', () => {
  it('joins and sends to a can_join room, and is refused a room without guest access', async () => {
    const { alice, roomId } = await guestRoom()
    const g = await guest()
    await g.join(roomId)
    const sent = await g.send(roomId, 'sup')
    assert.ok(ids((await alice.messages(roomId, { dir: 'b', limit: 5 })).chunk).includes(sent))
    const closed = await alice.createRoom({ preset: 'public_chat' })
    assertError(await g.post(`/rooms/${enc(closed)}/join`), 403, 'M_FORBIDDEN')
    assert.equal(await membershipOf(alice, closed, g.userId), undefined)
  })

  it('cannot join through PUT /state/m.room.member either, nor change anyone else\'s membership', async () => {
    const alice = await user()
    const closed = await alice.createRoom({ preset: 'public_chat' })
    const g = await guest()
    assertError(await g.put(`/rooms/${enc(closed)}/state/m.room.member/${enc(g.userId)}`, { membership: 'join' }), 403, 'M_FORBIDDEN')
    const { roomId } = await guestRoom()
    await g.join(roomId)
    const bob = await user()
    assertError(await g.put(`/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId)}`, { membership: 'invite' }), 403, 'M_FORBIDDEN')
    await g.leave(roomId)
  })

  it('cannot send to a room it has not joined', async () => {
    const { roomId } = await guestRoom()
    const g = await guest()
    assertError(await g.put(`/rooms/${enc(roomId)}/send/m.room.message/t1`, { msgtype: 'm.text', body: 'hi' }), 403, 'M_FORBIDDEN')
  })

  it('leaves the room when guest_access stops being can_join', async () => {
    const { alice, roomId } = await guestRoom()
    const g = await guest()
    const member = await user()
    await g.join(roomId)
    await member.join(roomId)
    await alice.putState(roomId, 'm.room.guest_access', '', { guest_access: 'forbidden' })
    let membership: string | undefined
    for (let i = 0; i < 50 && membership !== 'leave'; i++) {
      membership = await membershipOf(alice, roomId, g.userId)
      if (membership !== 'leave') await sleep(100)
    }
    assert.equal(membership, 'leave')
    const leave = await alice.getState(roomId, 'm.room.member', g.userId)
    assert.equal(leave.membership, 'leave')
    // Full members stay.
    assert.equal(await membershipOf(alice, roomId, member.userId), 'join')
    assertError(await g.post(`/rooms/${enc(roomId)}/join`), 403, 'M_FORBIDDEN')
  })

  it('reads a world_readable room without joining it', async () => {
    const alice = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await alice.putState(roomId, 'm.room.history_visibility', '', { history_visibility: 'world_readable' })
    const sent = await alice.send(roomId, 'public')
    const g = await guest()
    assert.ok(ids((await g.messages(roomId, { dir: 'b', limit: 5 })).chunk).includes(sent))
    assert.equal((await g.get(`/rooms/${enc(roomId)}/state`)).status, 200)
    const snapshot = await g.get(`/rooms/${enc(roomId)}/initialSync`)
    assert.equal(snapshot.status, 200)
    const peek = await g.get(`/events?room_id=${enc(roomId)}&timeout=0`)
    assert.equal(peek.status, 200)
  })
})

describe('upgrading a guest', () => {
  it('turns the guest into a full account with the same user ID', async () => {
    const g = await guest()
    const localpart = g.userId.slice(1, g.userId.indexOf(':'))
    const res = await t.api.post(`${CS}/register`, {
      username: localpart,
      password: 'a long password',
      guest_access_token: g.token,
      auth: { type: 'm.login.dummy' },
    })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.user_id, g.userId)
    const full = new RoomClient(t.api, res.body)
    assert.equal((await full.get('/account/whoami')).body.is_guest, false)
    assert.equal((await full.post('/createRoom', {})).status, 200)
    // The guest's own token now serves a full account too.
    assert.equal((await g.get('/account/whoami')).body.is_guest, false)
    const login = await t.api.post(`${CS}/login`, { type: 'm.login.password', identifier: { type: 'm.id.user', user: localpart }, password: 'a long password' })
    assert.equal(login.status, 200)
  })

  it('refuses to upgrade another guest, or a name that is not the guest\'s', async () => {
    const one = await guest()
    const two = await guest()
    const localpartOne = one.userId.slice(1, one.userId.indexOf(':'))
    const res = await t.api.post(`${CS}/register`, { username: localpartOne, password: 'a long password', guest_access_token: two.token, auth: { type: 'm.login.dummy' } })
    assertError(res, 403, 'M_FORBIDDEN')
    const full = await user()
    const notGuest = await t.api.post(`${CS}/register`, { username: localpartOne, password: 'a long password', guest_access_token: full.token, auth: { type: 'm.login.dummy' } })
    assertError(notGuest, 403, 'M_FORBIDDEN')
    assert.equal((await one.get('/account/whoami')).body.is_guest, true)
  })
})
