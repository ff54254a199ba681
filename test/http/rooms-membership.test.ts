// Room membership over HTTP (client-server API, "Room membership"): join by ID and alias, invite, leave,
// forget, kick, ban, unban and knock, with the refusals the auth rules require; /joined_rooms,
// /joined_members and /members.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, assertError, enc, type ClientEventJson } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const server = t.config.server_name
const user = () => RoomClient.register(t.api)

const membershipOf = async (c: RoomClient, roomId: string, userId: string) => (await c.getState(roomId, 'm.room.member', userId)).membership

describe('POST /join/{roomIdOrAlias} and /rooms/{roomId}/join', () => {
  it('joins a public room by ID through both endpoints and by alias, answering the room ID', async () => {
    const alice = await user()
    const [bob, carol, dan] = [await user(), await user(), await user()]
    const roomId = await alice.createRoom({ preset: 'public_chat', room_alias_name: `join${process.pid}` })
    assert.equal(await bob.join(roomId), roomId)
    const viaRooms = await carol.post(`/rooms/${enc(roomId)}/join`)
    assert.equal(viaRooms.status, 200)
    assert.equal(viaRooms.body.room_id, roomId)
    assert.equal(await dan.join(`#join${process.pid}:${server}`), roomId)
    for (const c of [bob, carol, dan]) assert.equal(await membershipOf(alice, roomId, c.userId), 'join')
  })

  it('carries the joining user\'s display name and the reason into the member event', async () => {
    const alice = await user()
    const bob = await user()
    assert.equal((await bob.put(`/profile/${enc(bob.userId)}/displayname`, { displayname: 'Bobby' })).status, 200)
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    assert.equal((await bob.post(`/join/${enc(roomId)}`, { reason: 'saying hi' })).status, 200)
    const member = await alice.getState(roomId, 'm.room.member', bob.userId)
    assert.deepEqual(member, { membership: 'join', displayname: 'Bobby', reason: 'saying hi' })
  })

  it('keeps custom keys of the join body in the member event, but not those the server decides', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    const res = await bob.post(`/rooms/${enc(roomId)}/join`, { foo: 'bar', displayname: 'Bob here', membership: 'leave', join_authorised_via_users_server: alice.userId })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(await alice.getState(roomId, 'm.room.member', bob.userId), { membership: 'join', displayname: 'Bob here', foo: 'bar' })
  })

  it('makes no new event for a second join with the same content, and a new one when it changes', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await bob.join(roomId)
    const first = (await alice.get(`/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId)}?format=event`)).body.event_id
    assert.match(first, /^\$/)
    const { next_batch: since } = await alice.sync()
    await bob.join(roomId)
    const again = await alice.sync({ since, timeout: 0 })
    assert.equal(again.rooms?.join?.[roomId]?.timeline?.events?.length ?? 0, 0, 'no new event')
    assert.equal((await alice.get(`/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId)}?format=event`)).body.event_id, first)
    assert.equal((await bob.post(`/rooms/${enc(roomId)}/join`, { reason: 'back' })).status, 200)
    assert.equal((await alice.getState(roomId, 'm.room.member', bob.userId)).reason, 'back')
  })

  it('answers 404 M_NOT_FOUND for an unknown alias or room, and 400 for something that is neither', async () => {
    const bob = await user()
    assertError(await bob.post(`/join/${enc(`#nowhere${process.pid}:${server}`)}`), 404, 'M_NOT_FOUND')
    assertError(await bob.post(`/join/${enc(`!nowhere:${server}`)}`), 404, 'M_NOT_FOUND')
    assert.equal((await bob.post('/join/nothing')).status, 400)
  })

  it('refuses to join an invite-only room without an invite (403), and admits after an invite', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom()
    assertError(await bob.post(`/join/${enc(roomId)}`), 403, 'M_FORBIDDEN')
    await alice.invite(roomId, bob.userId)
    assert.equal(await membershipOf(alice, roomId, bob.userId), 'invite')
    assert.equal(await bob.join(roomId), roomId)
  })
})

describe('POST /rooms/{roomId}/invite', () => {
  it('refuses an invite from a user who is not in the room with 403 M_FORBIDDEN', async () => {
    const alice = await user()
    const [eve, bob] = [await user(), await user()]
    const roomId = await alice.createRoom()
    assertError(await eve.membershipRaw('invite', roomId, bob.userId), 403, 'M_FORBIDDEN')
  })

  it('refuses inviting a user who is already joined, and a member below the invite level', async () => {
    const alice = await user()
    const [bob, carol] = [await user(), await user()]
    const roomId = await alice.createRoom({ preset: 'public_chat', room_version: '11' })
    await bob.join(roomId)
    assertError(await alice.membershipRaw('invite', roomId, bob.userId), 403, 'M_FORBIDDEN', 'already joined')
    // public_chat sets invite to 50; bob is at 0.
    assertError(await bob.membershipRaw('invite', roomId, carol.userId), 403, 'M_FORBIDDEN', 'below the invite level')
  })

  it('answers 404 for an unknown local user and 400 for an invalid user ID', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    assertError(await alice.membershipRaw('invite', roomId, `@ghost${process.pid}:${server}`), 404, 'M_NOT_FOUND')
    assert.equal((await alice.membershipRaw('invite', roomId, 'ghost')).status, 400)
  })

  it('lets the invitee reject the invite by leaving', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ invite: [bob.userId] })
    await bob.leave(roomId)
    assert.equal(await membershipOf(alice, roomId, bob.userId), 'leave')
    assertError(await bob.post(`/join/${enc(roomId)}`), 403, 'M_FORBIDDEN', 'the rejected invite no longer admits')
  })
})

describe('POST /rooms/{roomId}/leave and /forget', () => {
  it('leaves a room; leaving again, or a room one was never in, is refused with 403', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await bob.join(roomId)
    await bob.leave(roomId)
    assert.equal(await membershipOf(alice, roomId, bob.userId), 'leave')
    assertError(await bob.post(`/rooms/${enc(roomId)}/leave`), 403, 'M_FORBIDDEN', 'leaving twice')
    const carol = await user()
    assertError(await carol.post(`/rooms/${enc(roomId)}/leave`), 403, 'M_FORBIDDEN', 'never a member')
  })

  it('refuses to forget a joined room (400 M_UNKNOWN); after leaving, forgetting hides it from /sync', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await bob.join(roomId)
    assertError(await bob.post(`/rooms/${enc(roomId)}/forget`), 400, 'M_UNKNOWN')
    await bob.leave(roomId)
    const filter = JSON.stringify({ room: { include_leave: true } })
    assert.ok((await bob.sync({ filter })).rooms.leave[roomId], 'a left room is listed with include_leave')
    assert.equal((await bob.post(`/rooms/${enc(roomId)}/forget`)).status, 200)
    assert.equal((await bob.sync({ filter })).rooms.leave[roomId], undefined, 'a forgotten room is not')
    // Forgetting a room one was never in is harmless.
    assert.equal((await (await user()).post(`/rooms/${enc(roomId)}/forget`)).status, 200)
  })
})

describe('POST /rooms/{roomId}/kick', () => {
  it('kicks a member with a reason; the kicked user may rejoin a public room', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await bob.join(roomId)
    assert.equal((await alice.membershipRaw('kick', roomId, bob.userId, 'too loud')).status, 200)
    const member = await alice.getState(roomId, 'm.room.member', bob.userId)
    assert.deepEqual(member, { membership: 'leave', reason: 'too loud' })
    const event = await alice.getState(roomId, 'm.room.member', bob.userId)
    assert.equal(event.membership, 'leave')
    const full = (await alice.get(`/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId)}?format=event`)).body
    assert.equal(full.sender, alice.userId)
    assert.equal(await bob.join(roomId), roomId)
  })

  it('refuses a kick without the kick level, of a higher-level member, or of a non-member (403)', async () => {
    const alice = await user()
    const [bob, carol] = [await user(), await user()]
    const roomId = await alice.createRoom({ preset: 'public_chat', room_version: '11' })
    await bob.join(roomId)
    await carol.join(roomId)
    assertError(await bob.membershipRaw('kick', roomId, carol.userId), 403, 'M_FORBIDDEN', 'bob has no kick power')
    const levels = await alice.getState(roomId, 'm.room.power_levels')
    await alice.putState(roomId, 'm.room.power_levels', '', { ...levels, users: { ...levels.users, [bob.userId]: 50 } })
    assertError(await bob.membershipRaw('kick', roomId, alice.userId), 403, 'M_FORBIDDEN', 'alice outranks bob')
    assert.equal((await bob.membershipRaw('kick', roomId, carol.userId)).status, 200, 'now bob may kick carol')
    assertError(await alice.membershipRaw('kick', roomId, (await user()).userId), 403, 'M_FORBIDDEN', 'not in the room')
  })
})

describe('POST /rooms/{roomId}/ban and /unban', () => {
  it('bans a member, who then cannot join or be invited, until unbanned', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await bob.join(roomId)
    assert.equal((await alice.membershipRaw('ban', roomId, bob.userId, 'spam')).status, 200)
    assert.deepEqual(await alice.getState(roomId, 'm.room.member', bob.userId), { membership: 'ban', reason: 'spam' })
    assertError(await bob.post(`/join/${enc(roomId)}`), 403, 'M_FORBIDDEN', 'banned user joining')
    assertError(await alice.membershipRaw('invite', roomId, bob.userId), 403, 'M_FORBIDDEN', 'inviting a banned user')
    assertError(await bob.sendRaw(roomId, { msgtype: 'm.text', body: 'x' }), 403, 'M_FORBIDDEN', 'banned user sending')
    assert.equal((await alice.membershipRaw('unban', roomId, bob.userId)).status, 200)
    assert.equal(await membershipOf(alice, roomId, bob.userId), 'leave')
    assert.equal(await bob.join(roomId), roomId)
  })

  it('bans a user who was never in the room', async () => {
    const alice = await user()
    const mallory = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    assert.equal((await alice.membershipRaw('ban', roomId, mallory.userId)).status, 200)
    assertError(await mallory.post(`/join/${enc(roomId)}`), 403, 'M_FORBIDDEN')
  })

  it('refuses ban and unban without the ban level, and unban of a user who is not banned (403)', async () => {
    const alice = await user()
    const [bob, carol] = [await user(), await user()]
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await bob.join(roomId)
    await carol.join(roomId)
    assertError(await bob.membershipRaw('ban', roomId, carol.userId), 403, 'M_FORBIDDEN', 'ban without power')
    assert.equal((await alice.membershipRaw('ban', roomId, carol.userId)).status, 200)
    assertError(await bob.membershipRaw('unban', roomId, carol.userId), 403, 'M_FORBIDDEN', 'unban without power')
    assertError(await alice.membershipRaw('unban', roomId, bob.userId), 403, 'M_FORBIDDEN', 'bob is not banned')
  })
})

describe('POST /knock/{roomIdOrAlias}', () => {
  it('knocks on a knock room (v7+); the knock shows in /sync and an invite admits the knocker', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ room_version: '7', name: 'Knock knock', initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }] })
    const res = await bob.post(`/knock/${enc(roomId)}`, { reason: 'let me in' })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.room_id, roomId)
    assert.deepEqual(await alice.getState(roomId, 'm.room.member', bob.userId), { membership: 'knock', reason: 'let me in', displayname: bob.userId.slice(1, bob.userId.indexOf(':')) })
    const knock = (await bob.sync()).rooms.knock[roomId]
    assert.ok(knock, 'the knock is listed under rooms.knock')
    const types = knock.knock_state.events.map((e: ClientEventJson) => e.type)
    assert.ok(types.includes('m.room.name') && types.includes('m.room.join_rules'), types.join())
    await alice.invite(roomId, bob.userId)
    assert.equal(await bob.join(roomId), roomId)
  })

  it('knocks by alias, and the knocker may withdraw by leaving', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ room_alias_name: `knock${process.pid}`, initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }] })
    assert.equal((await bob.post(`/knock/${enc(`#knock${process.pid}:${server}`)}`)).status, 200)
    await bob.leave(roomId)
    assert.equal(await membershipOf(alice, roomId, bob.userId), 'leave')
  })

  it('refuses a knock on a room whose join rule is not knock, on a pre-v7 room, and by a member (403)', async () => {
    const alice = await user()
    const bob = await user()
    const invite = await alice.createRoom({ room_version: '10' })
    assertError(await bob.post(`/knock/${enc(invite)}`), 403, 'M_FORBIDDEN', 'invite-only room')
    const v6 = await alice.createRoom({ room_version: '6', initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }] })
    assertError(await bob.post(`/knock/${enc(v6)}`), 403, 'M_FORBIDDEN', 'v6 has no knocking')
    const knockRoom = await alice.createRoom({ initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }] })
    assertError(await alice.post(`/knock/${enc(knockRoom)}`), 403, 'M_FORBIDDEN', 'already joined')
    assertError(await bob.post(`/knock/${enc(`!nowhere:${server}`)}`), 404, 'M_NOT_FOUND')
  })
})

describe('GET /joined_rooms, /rooms/{roomId}/joined_members and /members', () => {
  it('lists exactly the rooms the user is joined to', async () => {
    const alice = await user()
    const bob = await user()
    const a = await alice.createRoom({ preset: 'public_chat' })
    const b = await alice.createRoom({ preset: 'public_chat' })
    const invitedOnly = await alice.createRoom({ invite: [bob.userId] })
    await bob.join(a)
    await bob.join(b)
    assert.deepEqual((await bob.get('/joined_rooms')).body.joined_rooms.sort(), [a, b].sort())
    await bob.leave(a)
    assert.deepEqual((await bob.get('/joined_rooms')).body.joined_rooms, [b])
    assert.ok(!(await bob.get('/joined_rooms')).body.joined_rooms.includes(invitedOnly))
  })

  it('maps joined members to display names and avatars (null when unset), for members only', async () => {
    const alice = await user()
    const [bob, carol, eve] = [await user(), await user(), await user()]
    await bob.put(`/profile/${enc(bob.userId)}/displayname`, { displayname: 'Bob' })
    await bob.put(`/profile/${enc(bob.userId)}/avatar_url`, { avatar_url: 'mxc://example.org/bob' })
    const roomId = await alice.createRoom({ preset: 'public_chat', invite: [carol.userId] })
    await bob.join(roomId)
    const res = await bob.get(`/rooms/${enc(roomId)}/joined_members`)
    assert.equal(res.status, 200)
    const aliceName = (await alice.get(`/profile/${enc(alice.userId)}`)).body.displayname
    assert.deepEqual(res.body.joined, {
      [alice.userId]: { display_name: aliceName ?? null, avatar_url: null },
      [bob.userId]: { display_name: 'Bob', avatar_url: 'mxc://example.org/bob' },
    })
    assertError(await eve.get(`/rooms/${enc(roomId)}/joined_members`), 403, 'M_FORBIDDEN')
  })

  it('filters /members by membership and not_membership, and reads them at a sync token', async () => {
    const alice = await user()
    const [bob, carol, dan, eve] = [await user(), await user(), await user(), await user()]
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await bob.join(roomId)
    await alice.invite(roomId, carol.userId)
    await eve.join(roomId)
    await eve.leave(roomId)
    const token = (await alice.sync()).next_batch
    await dan.join(roomId)
    await alice.membershipRaw('ban', roomId, bob.userId)

    const members = async (params: string) => {
      const res = await alice.get(`/rooms/${enc(roomId)}/members${params}`)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      return Object.fromEntries(res.body.chunk.map((e: ClientEventJson) => [e.state_key, e.content.membership]))
    }
    assert.deepEqual(await members(''), { [alice.userId]: 'join', [bob.userId]: 'ban', [carol.userId]: 'invite', [dan.userId]: 'join', [eve.userId]: 'leave' })
    assert.deepEqual(await members('?membership=join'), { [alice.userId]: 'join', [dan.userId]: 'join' })
    assert.deepEqual(await members('?not_membership=join'), { [bob.userId]: 'ban', [carol.userId]: 'invite', [eve.userId]: 'leave' })
    // Together the two parameters are an 'or': membership is `membership` or is not `not_membership`.
    assert.deepEqual(await members('?membership=leave&not_membership=join'), { [bob.userId]: 'ban', [carol.userId]: 'invite', [eve.userId]: 'leave' })
    assert.deepEqual(await members('?membership=invite&not_membership=invite'), await members(''))
    assert.deepEqual(await members(`?at=${token}`), { [alice.userId]: 'join', [bob.userId]: 'join', [carol.userId]: 'invite', [eve.userId]: 'leave' })
    assert.deepEqual(await members(`?at=${token}&membership=join`), { [alice.userId]: 'join', [bob.userId]: 'join' })
    assert.equal((await alice.get(`/rooms/${enc(roomId)}/members?membership=joined`)).status, 400)
  })

  it('gives a former member the members as of their leave, even when asked at a later token', async () => {
    const alice = await user()
    const [bob, carol] = [await user(), await user()]
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await bob.join(roomId)
    await bob.leave(roomId)
    await carol.join(roomId)
    const later = (await alice.sync()).next_batch
    for (const params of ['', `?at=${later}`]) {
      const res = await bob.get(`/rooms/${enc(roomId)}/members${params}`)
      assert.equal(res.status, 200)
      const seen = res.body.chunk.map((e: ClientEventJson) => e.state_key)
      assert.ok(!seen.includes(carol.userId), `carol joined after bob left (${params || 'no at'})`)
      assert.ok(seen.includes(bob.userId))
    }
    assertError(await carol.get(`/rooms/${enc(await alice.createRoom())}/members`), 403, 'M_FORBIDDEN', 'never a member')
  })
})

describe('invite blocking (m.invite_permission_config)', () => {
  const block = (c: RoomClient, content: Record<string, unknown>) => c.put(`/user/${enc(c.userId)}/account_data/m.invite_permission_config`, content)

  it('refuses invites to a user who blocks them with 403 M_INVITE_BLOCKED, on every way of inviting', async () => {
    const [alice, bob, carol, eve] = [await user(), await user(), await user(), await user()]
    const roomId = await alice.createRoom({ preset: 'private_chat' })
    assert.equal((await block(bob, { default_action: 'block' })).status, 200)
    assertError(await alice.post(`/rooms/${enc(roomId)}/invite`, { user_id: bob.userId }), 403, 'M_INVITE_BLOCKED')
    assertError(await alice.putStateRaw(roomId, 'm.room.member', bob.userId, { membership: 'invite' }), 403, 'M_INVITE_BLOCKED')
    assertError(await eve.post(`/rooms/${enc(roomId)}/invite`, { user_id: bob.userId }), 403, 'M_FORBIDDEN', 'the auth rules are checked first')
    const noMember = (r: string) => alice.get(`/rooms/${enc(r)}/state/m.room.member/${enc(bob.userId)}`)
    assertError(await noMember(roomId), 404, 'M_NOT_FOUND', 'nothing was written')
    // createRoom succeeds for the others.
    const created = await alice.createRoom({ preset: 'private_chat', invite: [bob.userId, carol.userId] })
    assert.equal(await membershipOf(alice, created, carol.userId), 'invite')
    assertError(await noMember(created), 404, 'M_NOT_FOUND')
    // Anything but "block" lets invites through again.
    assert.equal((await block(bob, { default_action: 'allow-everything' })).status, 200)
    assert.equal((await alice.post(`/rooms/${enc(roomId)}/invite`, { user_id: bob.userId })).status, 200)
  })

  it('hides invites from /sync while invites are blocked', async () => {
    const [alice, bob] = [await user(), await user()]
    const roomId = await alice.createRoom({ preset: 'private_chat', invite: [bob.userId] })
    const before = await bob.sync()
    assert.ok(before.rooms.invite[roomId], 'invited before blocking')
    await block(bob, { default_action: 'block' })
    const initial = await bob.sync()
    assert.equal(initial.rooms.invite?.[roomId], undefined, 'an initial sync leaves the invite out')
    const other = await alice.createRoom({ preset: 'private_chat' })
    const poll = bob.sync({ since: initial.next_batch, timeout: 0 })
    assertError(await alice.post(`/rooms/${enc(other)}/invite`, { user_id: bob.userId }), 403, 'M_INVITE_BLOCKED')
    assert.equal((await poll).rooms.invite?.[other], undefined)
    await block(bob, {})
    assert.ok((await bob.sync()).rooms.invite[roomId], 'shown again once blocking is off')
  })
})
