// GET /sync (client-server API, "Syncing"): initial and incremental responses, limited timelines and gap
// filling, state deltas, full_state, filters, use_state_after, account data, summaries, transaction IDs,
// prev_content and long-polling.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, assertError, bodies, enc, ids, sharedRoom, type ClientEventJson } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const user = () => RoomClient.register(t.api)
const filterOf = (f: object) => JSON.stringify(f)
const types = (events: ClientEventJson[]) => events.map((e) => e.type)

describe('GET /sync initial', () => {
  it('lists joined rooms with timeline, state, summary, counts and account data, and a next_batch', async () => {
    const alice = await user()
    const roomId = await alice.createRoom({ name: 'Initial', topic: 'sections' })
    const message = await alice.send(roomId, 'hello')
    const body = await alice.sync()
    assert.equal(typeof body.next_batch, 'string')
    for (const section of ['account_data', 'presence', 'to_device']) assert.ok(Array.isArray(body[section].events), section)
    const room = body.rooms.join[roomId]
    assert.ok(room)
    assert.equal(room.timeline.events.at(-1).event_id, message)
    assert.equal(typeof room.timeline.limited, 'boolean')
    assert.equal(typeof room.timeline.prev_batch, 'string')
    const all = [...room.state.events, ...room.timeline.events] as ClientEventJson[]
    for (const type of ['m.room.create', 'm.room.power_levels', 'm.room.join_rules', 'm.room.name', 'm.room.topic', 'm.room.member']) {
      assert.ok(types(all).includes(type), type)
    }
    const stateKeys = (room.state.events as ClientEventJson[]).map((e) => `${e.type}|${e.state_key}`)
    assert.equal(new Set(stateKeys).size, stateKeys.length, 'state has one event per key')
    for (const e of room.timeline.events as ClientEventJson[]) {
      if (e.state_key !== undefined) assert.ok(!stateKeys.includes(`${e.type}|${e.state_key}`), 'state holds the state before the timeline')
    }
    assert.deepEqual(room.unread_notifications, { notification_count: room.unread_notifications.notification_count, highlight_count: room.unread_notifications.highlight_count })
    assert.ok(Array.isArray(room.ephemeral.events) && Array.isArray(room.account_data.events))
    assert.equal(room.summary['m.joined_member_count'], 1)
    // Events in /sync are ClientEventWithoutRoomID (the room is their key); elsewhere they carry room_id.
    for (const e of all) assert.ok(!('room_id' in e), `${e.type} in /sync has no room_id`)
    assert.equal((await alice.event(roomId, message)).room_id, roomId)
  })

  it('lists invites with stripped state, and left rooms only with include_leave', async () => {
    const alice = await user()
    const bob = await user()
    const invited = await alice.createRoom({ name: 'Invitation', invite: [bob.userId] })
    const left = await sharedRoom(alice, [bob])
    await bob.leave(left)
    const body = await bob.sync()
    const invite = body.rooms.invite[invited]
    assert.ok(invite)
    const events = invite.invite_state.events as ClientEventJson[]
    for (const e of events) {
      assert.deepEqual(Object.keys(e).sort(), ['content', 'sender', 'state_key', 'type'], 'stripped state: type, state_key, sender and content only')
    }
    assert.ok(events.some((e) => e.type === 'm.room.name' && e.content.name === 'Invitation'))
    assert.ok(events.some((e) => e.type === 'm.room.create'))
    assert.ok(events.some((e) => e.type === 'm.room.join_rules'))
    assert.ok(events.some((e) => e.type === 'm.room.member' && e.state_key === bob.userId && e.content.membership === 'invite'))
    assert.equal(body.rooms.join[invited], undefined)
    assert.equal(body.rooms.leave[left], undefined, 'left rooms need include_leave on an initial sync')
    const withLeave = await bob.sync({ filter: filterOf({ room: { include_leave: true } }) })
    const leave = withLeave.rooms.leave[left]
    assert.ok(leave)
    assert.equal(leave.timeline.events.at(-1).content.membership, 'leave')
  })
})

describe('GET /sync incremental', () => {
  it('marks a timeline limited when more arrived than the limit, and prev_batch fills the gap exactly', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await sharedRoom(alice, [bob])
    const filter = filterOf({ room: { timeline: { limit: 5 } } })
    const since = (await bob.sync({ filter })).next_batch
    const sent: string[] = []
    for (let i = 0; i < 12; i++) sent.push(await alice.send(roomId, `m${i}`))
    const room = (await bob.sync({ since, filter })).rooms.join[roomId]
    assert.equal(room.timeline.limited, true)
    assert.deepEqual(ids(room.timeline.events), sent.slice(7))
    let from = room.timeline.prev_batch
    const gap: string[] = []
    for (;;) {
      const page = await bob.messages(roomId, { dir: 'b', from, to: since, limit: 3 })
      gap.push(...ids(page.chunk))
      if (!page.end) break
      from = page.end
    }
    assert.deepEqual(gap, sent.slice(0, 7).reverse(), 'exactly the events between since and the timeline')
  })

  it('is not limited when everything fits, and carries only what is new', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    const since = (await alice.sync()).next_batch
    const sent = [await alice.send(roomId, 'a'), await alice.send(roomId, 'b')]
    const body = await alice.sync({ since })
    const room = body.rooms.join[roomId]
    assert.equal(room.timeline.limited, false)
    assert.deepEqual(ids(room.timeline.events), sent)
    assert.deepEqual(room.state.events, [])
    const quiet = await alice.sync({ since: body.next_batch })
    assert.equal(quiet.rooms.join[roomId], undefined, 'a room with nothing new is left out')
  })

  it('sends the state changes that fell into the gap of a limited timeline', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await sharedRoom(alice, [bob], { name: 'Old name' })
    const filter = filterOf({ room: { timeline: { limit: 3 } } })
    const since = (await bob.sync({ filter })).next_batch
    const nameEvent = await alice.putState(roomId, 'm.room.name', '', { name: 'New name' })
    await alice.putState(roomId, 'm.room.topic', '', { topic: 'first topic' })
    const topicEvent = await alice.putState(roomId, 'm.room.topic', '', { topic: 'second topic' })
    for (let i = 0; i < 5; i++) await alice.send(roomId, `m${i}`)
    const room = (await bob.sync({ since, filter })).rooms.join[roomId]
    assert.equal(room.timeline.limited, true)
    const state = room.state.events as ClientEventJson[]
    assert.deepEqual(ids(state).sort(), [nameEvent, topicEvent].sort(), 'the latest of each changed key, nothing unchanged')
    assert.equal(state.find((e) => e.type === 'm.room.topic')?.content.topic, 'second topic')
  })

  it('returns the whole state with full_state, still as the state before the timeline', async () => {
    const alice = await user()
    const roomId = await alice.createRoom({ name: 'Full' })
    const since = (await alice.sync()).next_batch
    const rename = await alice.putState(roomId, 'm.room.name', '', { name: 'Fuller' })
    const room = (await alice.sync({ since, full_state: true })).rooms.join[roomId]
    assert.deepEqual(ids(room.timeline.events), [rename])
    const state = room.state.events as ClientEventJson[]
    for (const type of ['m.room.create', 'm.room.power_levels', 'm.room.join_rules', 'm.room.member']) assert.ok(types(state).includes(type), type)
    assert.equal(state.find((e) => e.type === 'm.room.name')?.content.name, 'Full', 'the name before the timeline renamed it')
    const quiet = await alice.sync({ since: (await alice.sync()).next_batch, full_state: true })
    assert.ok(quiet.rooms.join[roomId], 'full_state lists every joined room even without news')
  })

  it('gives a newly joined room its full state, and a room just left its leave', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat', name: 'Joinable' })
    await alice.send(roomId, 'before bob')
    const since = (await bob.sync()).next_batch
    await bob.join(roomId)
    const joined = await bob.sync({ since })
    const room = joined.rooms.join[roomId]
    assert.ok(room)
    const all = [...room.state.events, ...room.timeline.events] as ClientEventJson[]
    for (const type of ['m.room.create', 'm.room.name', 'm.room.join_rules']) assert.ok(types(all).includes(type), type)
    assert.ok(room.timeline.events.some((e: ClientEventJson) => e.type === 'm.room.member' && e.state_key === bob.userId))
    await alice.send(roomId, 'while bob is here')
    await bob.leave(roomId)
    await alice.send(roomId, 'after bob left')
    const left = (await bob.sync({ since: joined.next_batch })).rooms.leave[roomId]
    assert.ok(left, 'the room is under rooms.leave')
    assert.deepEqual(bodies(left.timeline.events.filter((e: ClientEventJson) => e.type === 'm.room.message')), ['while bob is here'])
    assert.equal(left.timeline.events.at(-1).content.membership, 'leave')
  })

  it('marks a left room\'s timeline limited when more happened before the leave than the limit', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await sharedRoom(alice, [bob])
    const filter = filterOf({ room: { timeline: { limit: 3 } } })
    const since = (await bob.sync({ filter })).next_batch
    for (let i = 0; i < 6; i++) await alice.send(roomId, `m${i}`)
    await bob.leave(roomId)
    const left = (await bob.sync({ since, filter })).rooms.leave[roomId]
    assert.equal(left.timeline.events.length, 3)
    assert.equal(left.timeline.limited, true)
    const gap = await bob.messages(roomId, { dir: 'b', from: left.timeline.prev_batch, to: since, limit: 10 })
    assert.deepEqual(bodies(gap.chunk), ['m3', 'm2', 'm1', 'm0'])
  })

  it('delivers an invite to the invitee incrementally', async () => {
    const alice = await user()
    const bob = await user()
    const since = (await bob.sync()).next_batch
    const roomId = await alice.createRoom({ name: 'Later' })
    await alice.invite(roomId, bob.userId)
    const body = await bob.sync({ since })
    assert.ok(body.rooms.invite[roomId])
    const again = await bob.sync({ since: body.next_batch })
    assert.equal(again.rooms.invite[roomId], undefined, 'an invite is delivered once')
  })

  it('refuses a malformed since token with 400 M_INVALID_PARAM', async () => {
    const alice = await user()
    assertError(await alice.get('/sync?since=banana'), 400, 'M_INVALID_PARAM')
  })
})

describe('GET /sync filters', () => {
  it('stores a filter with POST /user/{userId}/filter, reads it back, and syncs with its ID', async () => {
    const alice = await user()
    const bob = await user()
    const filter = { room: { timeline: { limit: 2, types: ['m.room.message'] } }, account_data: { not_types: ['*'] } }
    const created = await alice.post(`/user/${enc(alice.userId)}/filter`, filter)
    assert.equal(created.status, 200)
    const filterId = created.body.filter_id
    assert.equal(typeof filterId, 'string')
    assert.deepEqual((await alice.get(`/user/${enc(alice.userId)}/filter/${enc(filterId)}`)).body, filter)
    assertError(await bob.get(`/user/${enc(alice.userId)}/filter/${enc(filterId)}`), 403, 'M_FORBIDDEN', "another user's filter")
    assertError(await bob.post(`/user/${enc(alice.userId)}/filter`, filter), 403, 'M_FORBIDDEN', 'a filter for another user')
    assertError(await alice.get(`/user/${enc(alice.userId)}/filter/999999`), 404, 'M_NOT_FOUND')
    assertError(await alice.post(`/user/${enc(alice.userId)}/filter`, { room: { timeline: { limit: 'ten' } } }), 400, 'M_BAD_JSON')

    const roomId = await alice.createRoom()
    const sent = [await alice.send(roomId, 'one'), await alice.send(roomId, 'two'), await alice.send(roomId, 'three')]
    const room = (await alice.sync({ filter: filterId })).rooms.join[roomId]
    assert.deepEqual(ids(room.timeline.events), sent.slice(1))
    assert.equal(room.timeline.limited, true)
    assert.equal((await alice.get('/sync?filter=424242')).status, 400, 'an unknown filter ID')
    assert.equal((await alice.get(`/sync?filter=${enc('{"room":')}`)).status, 400, 'inline JSON that does not parse')
  })

  it('refuses filters whose parts are not objects, lists that are not lists of strings, senders that are not user IDs and rooms that are not room IDs', async () => {
    const alice = await user()
    const invalid: unknown[] = [
      { presence: 'not_an_object' },
      { room: { timeline: 'not_an_object' } },
      { room: { state: 'not_an_object' } },
      { room: { ephemeral: 'not_an_object' } },
      { room: { account_data: 'not_an_object' } },
      { room: { timeline: { rooms: 'not_a_list' } } },
      { room: { timeline: { not_senders: 'not_a_list' } } },
      { room: { timeline: { types: [0] } } },
      { room: { timeline: { rooms: ['not_a_room_id'] } } },
      { room: { not_rooms: ['#alias:example.org'] } },
      { room: { timeline: { senders: ['not_a_sender_id'] } } },
      { presence: { not_senders: ['@'] } },
    ]
    for (const filter of invalid) {
      assertError(await alice.post(`/user/${enc(alice.userId)}/filter`, filter), 400, 'M_BAD_JSON', JSON.stringify(filter))
      assertError(await alice.get(`/sync?filter=${enc(JSON.stringify(filter))}`), 400, 'M_BAD_JSON', `inline ${JSON.stringify(filter)}`)
    }
    const roomId = await alice.createRoom()
    const valid = { room: { rooms: [roomId, '!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'], timeline: { senders: [alice.userId, '@old=style:example.org'] } } }
    assert.equal((await alice.post(`/user/${enc(alice.userId)}/filter`, valid)).status, 200)
  })

  it('applies inline timeline types / not_types and rooms / not_rooms', async () => {
    const alice = await user()
    const a = await alice.createRoom()
    const b = await alice.createRoom()
    const message = await alice.send(a, 'text')
    const custom = await alice.send(a, { x: 1 }, 'org.example.custom')
    const onlyA = await alice.sync({ filter: filterOf({ room: { rooms: [a] } }) })
    assert.deepEqual(Object.keys(onlyA.rooms.join), [a])
    const notA = await alice.sync({ filter: filterOf({ room: { not_rooms: [a] } }) })
    assert.deepEqual(Object.keys(notA.rooms.join), [b])
    const typed = await alice.sync({ filter: filterOf({ room: { timeline: { types: ['org.example.*'] } } }) })
    assert.deepEqual(ids(typed.rooms.join[a].timeline.events), [custom])
    const notTyped = await alice.sync({ filter: filterOf({ room: { timeline: { not_types: ['org.example.custom', 'm.room.member', 'm.room.create', 'm.room.power_levels', 'm.room.join_rules', 'm.room.history_visibility', 'm.room.guest_access'] } } }) })
    assert.deepEqual(ids(notTyped.rooms.join[a].timeline.events), [message])
  })

  it('sends the timeline senders\' member events (and the heroes\') with lazy_load_members, not every member', async () => {
    const alice = await user()
    // Seven others join in order; the first five are the room's heroes, the last one speaks.
    const others = []
    for (let i = 0; i < 7; i++) others.push(await user())
    const roomId = await sharedRoom(alice, others)
    const speaker = others[6] as RoomClient
    await speaker.send(roomId, 'the last to join speaks')
    await alice.send(roomId, 'alice speaks')
    const filter = filterOf({ room: { timeline: { limit: 2 }, state: { lazy_load_members: true } } })
    const room = (await alice.sync({ filter })).rooms.join[roomId]
    const members = (room.state.events as ClientEventJson[]).filter((e) => e.type === 'm.room.member').map((e) => e.state_key as string)
    assert.ok(members.includes(speaker.userId), 'a timeline sender')
    assert.ok(members.includes(alice.userId))
    const heroes: string[] = room.summary['m.heroes']
    const silent = others[5] as RoomClient
    assert.ok(!heroes.includes(silent.userId))
    assert.ok(!members.includes(silent.userId), 'neither a sender nor a hero')
    for (const m of members) assert.ok(m === alice.userId || m === speaker.userId || heroes.includes(m), m)
    assert.ok(types(room.state.events).includes('m.room.create'), 'other state is still sent')
    const full = (await alice.sync({ filter: filterOf({ room: { timeline: { limit: 2 } } }) })).rooms.join[roomId]
    assert.equal((full.state.events as ClientEventJson[]).filter((e) => e.type === 'm.room.member').length, 8, 'without lazy loading: every member')
  })
})

describe('GET /sync use_state_after', () => {
  it('sends state_after (the state at the end of the timeline) instead of state', async () => {
    const alice = await user()
    const roomId = await alice.createRoom({ name: 'A' })
    const initial = (await alice.sync({ use_state_after: true })).rooms.join[roomId]
    assert.equal('state' in initial, false)
    assert.equal((initial.state_after.events as ClientEventJson[]).find((e) => e.type === 'm.room.name')?.content.name, 'A')
    const since = (await alice.sync()).next_batch
    const rename = await alice.putState(roomId, 'm.room.name', '', { name: 'B' })
    await alice.send(roomId, 'after rename')
    const room = (await alice.sync({ since, use_state_after: true })).rooms.join[roomId]
    assert.equal('state' in room, false)
    assert.deepEqual(ids(room.state_after.events), [rename], 'the change inside the timeline is in state_after')
    const quiet = await alice.sync({ since: (await alice.sync()).next_batch, use_state_after: true, full_state: true })
    assert.ok(Array.isArray(quiet.rooms.join[roomId].state_after.events))
  })

  it('gives left rooms state_after and no state too', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await sharedRoom(alice, [bob])
    const since = (await bob.sync()).next_batch
    await bob.leave(roomId)
    const left = (await bob.sync({ since, use_state_after: true })).rooms.leave[roomId]
    assert.ok(left)
    assert.equal('state' in left, false, 'state MUST be omitted with use_state_after')
    assert.ok(Array.isArray(left.state_after?.events), 'state_after is required, even if empty')
    const own = (left.state_after.events as ClientEventJson[]).find((e) => e.type === 'm.room.member' && e.state_key === bob.userId)
    assert.equal(own?.content.membership, 'leave', 'clients take state from state_after only, so the leave must be in it')
  })
})

describe('GET /sync account data, summaries, unsigned data', () => {
  it('delivers global and per-room account data, initially and incrementally', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    assert.equal((await alice.put(`/user/${enc(alice.userId)}/account_data/org.example.global`, { g: 1 })).status, 200)
    assert.equal((await alice.put(`/user/${enc(alice.userId)}/rooms/${enc(roomId)}/account_data/org.example.room`, { r: 1 })).status, 200)
    const initial = await alice.sync()
    assert.ok(initial.account_data.events.some((e: ClientEventJson) => e.type === 'org.example.global' && e.content.g === 1))
    assert.deepEqual(initial.rooms.join[roomId].account_data.events, [{ type: 'org.example.room', content: { r: 1 } }])
    const poll = alice.sync({ since: initial.next_batch, timeout: 30000 })
    await alice.put(`/user/${enc(alice.userId)}/rooms/${enc(roomId)}/account_data/org.example.room`, { r: 2 })
    const woken = await poll
    assert.deepEqual(woken.rooms.join[roomId].account_data.events, [{ type: 'org.example.room', content: { r: 2 } }])
    assert.deepEqual(woken.account_data.events, [], 'unchanged global account data is not repeated')
  })

  it('summarises heroes and joined and invited member counts', async () => {
    const alice = await user()
    const [bob, carol] = [await user(), await user()]
    const roomId = await alice.createRoom({ preset: 'public_chat', invite: [carol.userId] })
    await bob.join(roomId)
    const summary = (await alice.sync()).rooms.join[roomId].summary
    assert.equal(summary['m.joined_member_count'], 2)
    assert.equal(summary['m.invited_member_count'], 1)
    assert.deepEqual([...summary['m.heroes']].sort(), [bob.userId, carol.userId].sort(), 'heroes leave out the syncing user')
  })

  it('keeps the member counts exact through invites, joins, rejections, bans, kicks and leaves', async () => {
    const alice = await user()
    const [bob, dave, erin, frank] = [await user(), await user(), await user(), await user()]
    const roomId = await alice.createRoom({ preset: 'public_chat', invite: [dave.userId, erin.userId, frank.userId] })
    const counts = async () => {
      const { summary } = (await alice.sync({ full_state: true })).rooms.join[roomId]
      // The same numbers counted from the room's members.
      const members = (await alice.get(`/rooms/${enc(roomId)}/members`)).body.chunk as ClientEventJson[]
      const count = (m: string) => members.filter((e) => e.content.membership === m).length
      assert.deepEqual([summary['m.joined_member_count'], summary['m.invited_member_count']], [count('join'), count('invite')])
      return [summary['m.joined_member_count'], summary['m.invited_member_count']]
    }
    assert.deepEqual(await counts(), [1, 3])
    await dave.join(roomId)
    await bob.join(roomId)
    assert.deepEqual(await counts(), [3, 2], 'an invitee who joins moves from invited to joined')
    await erin.leave(roomId)
    assert.deepEqual(await counts(), [3, 1], 'a rejected invite is no longer counted')
    assert.equal((await alice.membershipRaw('ban', roomId, frank.userId)).status, 200)
    assert.deepEqual(await counts(), [3, 0], 'a banned invitee is no longer counted')
    assert.equal((await alice.membershipRaw('kick', roomId, dave.userId)).status, 200)
    await bob.leave(roomId)
    assert.deepEqual(await counts(), [1, 0])
    await alice.invite(roomId, bob.userId)
    await alice.invite(roomId, erin.userId)
    assert.deepEqual(await counts(), [1, 2], 'members who left can be invited again')
    assert.equal((await alice.membershipRaw('kick', roomId, erin.userId)).status, 200)
    await bob.join(roomId)
    assert.deepEqual(await counts(), [2, 0], 'a revoked invite (kick) is no longer counted')
  })

  it('gives transaction_id in unsigned only to the device that sent the event', async () => {
    const session = await user()
    const roomId = await session.createRoom({ preset: 'public_chat' })
    const login = await t.api.post('/_matrix/client/v3/login', { type: 'm.login.password', identifier: { type: 'm.id.user', user: session.userId }, password: 'correct horse battery staple' })
    assert.equal(login.status, 200)
    const otherDevice = new RoomClient(t.api, login.body)
    const bob = await user()
    await bob.join(roomId)
    const eventId = await session.send(roomId, 'mine', 'm.room.message', 'my-txn-1')
    const find = async (c: RoomClient) => ((await c.sync()).rooms.join[roomId].timeline.events as ClientEventJson[]).find((e) => e.event_id === eventId)
    assert.equal((await find(session))?.unsigned?.transaction_id, 'my-txn-1')
    assert.equal('transaction_id' in ((await find(otherDevice))?.unsigned ?? {}), false, 'another device of the same user')
    assert.equal('transaction_id' in ((await find(bob))?.unsigned ?? {}), false, 'another user')
  })

  it('puts prev_content in unsigned on state changes', async () => {
    const alice = await user()
    const roomId = await alice.createRoom({ name: 'Before' })
    const since = (await alice.sync()).next_batch
    const rename = await alice.putState(roomId, 'm.room.name', '', { name: 'After' })
    const event = ((await alice.sync({ since })).rooms.join[roomId].timeline.events as ClientEventJson[]).find((e) => e.event_id === rename)
    assert.deepEqual(event?.unsigned?.prev_content, { name: 'Before' })
  })
})

describe('GET /sync long-polling', () => {
  it('returns as soon as an event arrives for the user', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await sharedRoom(alice, [bob])
    const since = (await bob.sync()).next_batch
    // A 50 s timeout: if the event did not wake the request, the test would time out or find nothing.
    const poll = bob.sync({ since, timeout: 50000 })
    const sent = await alice.send(roomId, 'wake up')
    const body = await poll
    assert.deepEqual(ids(body.rooms.join[roomId].timeline.events), [sent])
  })

  it('wakes for an invite to a room the user is not in yet', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom()
    const since = (await bob.sync()).next_batch
    const poll = bob.sync({ since, timeout: 50000 })
    await alice.invite(roomId, bob.userId)
    assert.ok((await poll).rooms.invite[roomId])
  })

  it('shows a client its own write in a /sync made right after the write returned (timeout 0)', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    let since = (await alice.sync()).next_batch
    for (let i = 0; i < 30; i++) {
      const sent = await alice.send(roomId, `m${i}`)
      const body = await alice.sync({ since })
      assert.deepEqual(ids(body.rooms.join[roomId]?.timeline.events ?? []), [sent], `round ${i}`)
      since = body.next_batch
    }
  })

  it('follows the user through long-polls as rooms are joined and left and users ignored', async () => {
    // Consecutive long-polls of one user reuse what the previous one read of its memberships and ignored
    // users, as long as the stream shows no change to them: each change here must show at once.
    const alice = await user()
    const bob = await user()
    const carol = await user()
    const first = await sharedRoom(alice, [bob, carol])
    let since = (await bob.sync()).next_batch
    const poll = async (act: () => Promise<unknown>) => {
      const pending = bob.sync({ since, timeout: 50000 })
      await new Promise((r) => setTimeout(r, 50))
      await act()
      const body = await pending
      since = body.next_batch
      return body
    }
    const m1 = await alice.send(first, 'one')
    assert.deepEqual(ids((await bob.sync({ since, timeout: 50000 })).rooms.join[first].timeline.events), [m1])
    since = (await bob.sync({ since })).next_batch
    let body = await poll(() => alice.send(first, 'two'))
    assert.equal(body.rooms.join[first].timeline.events.length, 1)
    // A room joined between two long-polls: its events wake the next one.
    const second = await alice.createRoom({ preset: 'public_chat' })
    await poll(() => bob.join(second))
    body = await poll(() => alice.send(second, 'in the second room'))
    assert.deepEqual(bodies(body.rooms.join[second].timeline.events), ['in the second room'])
    // Ignoring carol: her next message is not delivered, alice's is.
    await poll(() => t.api.put(`/_matrix/client/v3/user/${enc(bob.userId)}/account_data/m.ignored_user_list`, { ignored_users: { [carol.userId]: {} } }, bob.token))
    body = await poll(() => carol.send(first, 'from carol'))
    assert.deepEqual(bodies(body.rooms.join[first]?.timeline.events ?? []), [])
    body = await poll(() => alice.send(first, 'from alice'))
    assert.deepEqual(bodies(body.rooms.join[first]?.timeline.events ?? []), ['from alice'])
    // Leaving: the leave arrives, and later events of that room do not.
    body = await poll(() => bob.leave(second))
    assert.ok(body.rooms.leave[second])
    await alice.send(second, 'after bob left')
    body = await poll(() => alice.send(first, 'still here'))
    assert.deepEqual(bodies(body.rooms.join[first].timeline.events), ['still here'])
    assert.equal(body.rooms.join[second], undefined)
    assert.equal(body.rooms.leave[second], undefined)
  })

  it('returns an empty response at the timeout when nothing happened', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    const since = (await alice.sync()).next_batch
    const other = await user()
    await other.send(await other.createRoom(), 'unrelated')
    const body = await alice.sync({ since, timeout: 300 })
    assert.deepEqual(body.rooms.join, {})
    assert.deepEqual(body.rooms.invite, {})
    assert.deepEqual(body.rooms.leave, {})
    assert.deepEqual(body.account_data.events, [])
    assert.equal(typeof body.next_batch, 'string')
    // The token still works and nothing was skipped.
    const sent = await alice.send(roomId, 'later')
    assert.deepEqual(ids((await alice.sync({ since: body.next_batch })).rooms.join[roomId].timeline.events), [sent])
  })
})
