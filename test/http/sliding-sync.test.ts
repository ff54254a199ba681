// Simplified sliding sync (MSC4186) over raw HTTP, with requests shaped like Element X's: the room list in
// bump order with counts and ranges, rooms sent whole once and then as updates, required_state with $LAZY and
// $ME, timelines whose prev_batch pages on with /messages, long-polls woken by a message, room subscriptions
// (sticky until unsubscribed), filters, invites, kicks, pos tokens on another instance, and bad requests.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startInstanceOn, startTestServer, type Session, type TestServer } from '../support/server.ts'
import { CS, assertError, enc } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const SSS = '/_matrix/client/unstable/org.matrix.simplified_msc3575/sync'

/** Element X's room list request (its required_state and timeline_limit), with a range. */
function elementX(range: [number, number], extra: Record<string, unknown> = {}) {
  return {
    conn_id: 'room-list',
    lists: {
      all_rooms: {
        ranges: [range],
        timeline_limit: 1,
        required_state: [
          ['m.room.encryption', ''],
          ['m.room.member', '$LAZY'],
          ['m.room.member', '$ME'],
          ['m.room.name', ''],
          ['m.room.canonical_alias', ''],
          ['m.room.power_levels', ''],
          ['m.room.join_rules', ''],
        ],
        filters: { not_room_types: ['m.space'] },
      },
    },
    ...extra,
  }
}

async function sss(user: Session, body: unknown, query = '', api = t.api) {
  const res = await api.post(`${SSS}${query}`, body, user.access_token)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

async function createRoom(user: Session, body: Record<string, unknown> = {}): Promise<string> {
  const res = await t.api.post(`${CS}/createRoom`, body, user.access_token)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body.room_id
}

let txn = 0
async function send(user: Session, roomId: string, body: string): Promise<string> {
  const res = await t.api.put(`${CS}/rooms/${enc(roomId)}/send/m.room.message/s${++txn}`, { msgtype: 'm.text', body }, user.access_token)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body.event_id
}

async function join(user: Session, roomId: string) {
  const res = await t.api.post(`${CS}/join/${enc(roomId)}`, {}, user.access_token)
  assert.equal(res.status, 200, JSON.stringify(res.body))
}

describe('simplified sliding sync', () => {
  it('is advertised in /versions', async () => {
    const res = await t.api.get('/_matrix/client/versions')
    assert.equal(res.body.unstable_features['org.matrix.simplified_msc3575'], true)
  })

  it("lists rooms by latest activity and sends each in range whole, with Element X's required_state", async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const named = await createRoom(alice, { name: 'Kitchen' })
    const dm = await createRoom(alice, { is_direct: true, invite: [bob.user_id] })
    await join(bob, dm)
    const quiet = await createRoom(alice, { name: 'Quiet' })
    // A space is left out by the filter.
    await createRoom(alice, { name: 'Space', creation_content: { type: 'm.space' } })
    await send(alice, named, 'one')
    const last = await send(bob, dm, 'two')
    assert.equal((await t.api.put(`${CS}/user/${enc(alice.user_id)}/account_data/m.direct`, { [bob.user_id]: [dm] }, alice.access_token)).status, 200)

    const first = await sss(alice, elementX([0, 1]))
    assert.equal(typeof first.pos, 'string')
    assert.deepEqual(first.lists, { all_rooms: { count: 3 } })
    assert.deepEqual(Object.keys(first.rooms).sort(), [dm, named].sort(), 'the two latest active rooms')
    const d = first.rooms[dm]
    assert.equal(d.initial, true)
    assert.equal(d.membership, 'join')
    assert.equal(d.is_dm, true)
    assert.deepEqual(d.lists, ['all_rooms'])
    assert.deepEqual(d.timeline.map((e: any) => e.event_id), [last], 'timeline_limit 1')
    assert.equal(d.limited, true)
    assert.equal(d.num_live, 0)
    assert.equal(d.joined_count, 2)
    assert.equal(d.invited_count, 0)
    assert.equal(d.name, undefined, 'an unnamed room has no name…')
    assert.deepEqual(d.heroes.map((h: any) => h.user_id), [bob.user_id], '…but heroes')
    assert.equal(typeof d.heroes[0].displayname, 'string')
    const members = d.required_state.filter((e: any) => e.type === 'm.room.member').map((e: any) => e.state_key).sort()
    assert.deepEqual(members, [alice.user_id, bob.user_id].sort(), '$ME and the timeline sender ($LAZY)')
    assert.ok(d.required_state.some((e: any) => e.type === 'm.room.power_levels'))
    assert.ok(!d.required_state.some((e: any) => e.type === 'm.room.create'), 'only the state asked for')
    assert.ok(first.rooms[dm].bump_stamp > first.rooms[named].bump_stamp)
    assert.equal(first.rooms[named].name, 'Kitchen')
    assert.equal(first.rooms[named].is_dm, undefined)

    // prev_batch pages on with /messages.
    const page = await t.api.get(`${CS}/rooms/${enc(dm)}/messages?dir=b&limit=5&from=${enc(d.prev_batch)}`, alice.access_token)
    assert.equal(page.status, 200)
    assert.ok(page.body.chunk.length > 0)
    assert.ok(!page.body.chunk.some((e: any) => e.event_id === last), 'from before the timeline')

    // Nothing new: an empty update. Then a message in the quiet room brings it into the range, whole.
    const none = await sss(alice, elementX([0, 1]), `?pos=${first.pos}&timeout=0`)
    assert.deepEqual(none.rooms, {})
    const news = await send(bob, dm, 'three')
    const update = await sss(alice, elementX([0, 1]), `?pos=${none.pos}&timeout=0`)
    assert.deepEqual(Object.keys(update.rooms), [dm])
    assert.equal(update.rooms[dm].initial, undefined, 'an update')
    assert.deepEqual(update.rooms[dm].timeline.map((e: any) => e.event_id), [news])
    assert.equal(update.rooms[dm].num_live, 1)
    assert.equal(update.rooms[dm].notification_count, 2, "bob's two unread messages in a DM notify")
    assert.deepEqual(update.rooms[dm].required_state, [], "bob's member event was sent already")
    const q = await send(alice, quiet, 'wake up')
    const moved = await sss(alice, elementX([0, 1]), `?pos=${update.pos}&timeout=0`)
    assert.deepEqual(Object.keys(moved.rooms), [quiet], 'the room that moved into the range')
    assert.equal(moved.rooms[quiet].initial, true)
    assert.equal(moved.rooms[quiet].num_live, 1, 'its message came after the last response')
    assert.deepEqual(moved.rooms[quiet].timeline.map((e: any) => e.event_id), [q])
  })

  it('wakes a long-poll with a message, and resends what a lost response carried when its pos is repeated', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await createRoom(alice, { preset: 'public_chat' })
    await join(bob, room)
    const first = await sss(alice, elementX([0, 19]))
    const started = Date.now()
    const polling = sss(alice, elementX([0, 19]), `?pos=${first.pos}&timeout=20000`)
    await new Promise((r) => setTimeout(r, 200))
    const eventId = await send(bob, room, 'ping')
    const woken = await polling
    assert.ok(Date.now() - started < 15000, 'answered before the timeout')
    assert.deepEqual(woken.rooms[room].timeline.map((e: any) => e.event_id), [eventId])
    // The response is lost: the client repeats the pos it had, and gets the message again.
    const retry = await sss(alice, elementX([0, 19]), `?pos=${first.pos}&timeout=0`)
    assert.deepEqual(retry.rooms[room].timeline.map((e: any) => e.event_id), [eventId])
    // After which the pos of the retry is the one in use, and the lost one is gone.
    const next = await sss(alice, elementX([0, 19]), `?pos=${retry.pos}&timeout=0`)
    assert.deepEqual(next.rooms, {})
    const stale = await t.api.post(`${SSS}?pos=${woken.pos}`, elementX([0, 19]), alice.access_token)
    assertError(stale, 400, 'M_UNKNOWN_POS')
  })

  it('answers M_UNKNOWN_POS for a pos it does not know, or of another user, device or conn_id', async () => {
    const alice = await registerUser(t.api)
    const eve = await registerUser(t.api)
    const first = await sss(alice, elementX([0, 9]))
    assertError(await t.api.post(`${SSS}?pos=99999999`, elementX([0, 9]), alice.access_token), 400, 'M_UNKNOWN_POS')
    assertError(await t.api.post(`${SSS}?pos=not-a-pos`, elementX([0, 9]), alice.access_token), 400, 'M_UNKNOWN_POS')
    assertError(await t.api.post(`${SSS}?pos=${first.pos}`, elementX([0, 9]), eve.access_token), 400, 'M_UNKNOWN_POS')
    assertError(await t.api.post(`${SSS}?pos=${first.pos}`, { ...elementX([0, 9]), conn_id: 'other' }, alice.access_token), 400, 'M_UNKNOWN_POS')
    // A connection unused for a week expires.
    const aged = await sss(alice, { ...elementX([0, 9]), conn_id: 'aged' })
    await t.server.ctx.storage.db.query(`UPDATE sliding_sync_connections SET last_used_ts = 0 WHERE user_id = $1 AND conn_id = 'aged'`, [alice.user_id])
    assertError(await t.api.post(`${SSS}?pos=${aged.pos}`, { ...elementX([0, 9]), conn_id: 'aged' }, alice.access_token), 400, 'M_UNKNOWN_POS')
    // Starting again without pos replaces the connection: its old positions are gone.
    await sss(alice, elementX([0, 9]))
    assertError(await t.api.post(`${SSS}?pos=${first.pos}`, elementX([0, 9]), alice.access_token), 400, 'M_UNKNOWN_POS')
  })

  it('keeps room subscriptions until unsubscribed, with their own config', async () => {
    const alice = await registerUser(t.api)
    const old = await createRoom(alice, { name: 'Old' })
    await send(alice, old, 'old news')
    const fresh: string[] = []
    for (let i = 0; i < 3; i++) fresh.push(await createRoom(alice, { name: `New ${i}` }))
    for (const room of fresh) await send(alice, room, 'fresh')
    const body = { ...elementX([0, 0]), room_subscriptions: { [old]: { timeline_limit: 5, required_state: [['*', '*']] } } }
    const first = await sss(alice, body)
    const sub = first.rooms[old]
    assert.ok(sub, 'the subscribed room is sent though outside the range')
    assert.equal(sub.lists, undefined, 'in no list')
    assert.ok(sub.timeline.length > 1 && sub.timeline.length <= 5)
    assert.ok(sub.required_state.some((e: any) => e.type === 'm.room.create'), 'all state')
    // Later requests need not repeat it (as matrix-js-sdk sends subscriptions once).
    const e1 = await send(alice, old, 'more')
    const second = await sss(alice, elementX([0, 0]), `?pos=${first.pos}&timeout=0`)
    assert.deepEqual(second.rooms[old]?.timeline.map((e: any) => e.event_id), [e1])
    const third = await sss(alice, { ...elementX([0, 0]), unsubscribe_rooms: [old] }, `?pos=${second.pos}&timeout=0`)
    await send(alice, old, 'unheard')
    await send(alice, fresh[0] as string, 'newer')
    const fourth = await sss(alice, elementX([0, 0]), `?pos=${third.pos}&timeout=0`)
    assert.equal(fourth.rooms[old], undefined, 'no longer subscribed (and outside the range)')
    assert.ok(fourth.rooms[fresh[0] as string], 'the room in the range')
    // A subscription to a room the user is not in is ignored.
    const other = await registerUser(t.api)
    const theirs = await createRoom(other, { name: 'Private' })
    const ignored = await sss(alice, { ...elementX([0, 0]), room_subscriptions: { [theirs]: { timeline_limit: 1, required_state: [] } } })
    assert.equal(ignored.rooms[theirs], undefined)
  })

  it('filters lists: invites, DMs, encryption, room types, tags and spaces', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const invited = await createRoom(bob, { name: 'Party', invite: [alice.user_id] })
    const encrypted = await createRoom(alice, { initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }] })
    const space = await createRoom(alice, { name: 'Family', creation_content: { type: 'm.space' } })
    const child = await createRoom(alice, { name: 'Child' })
    assert.equal((await t.api.put(`${CS}/rooms/${enc(space)}/state/m.space.child/${enc(child)}`, { via: ['test.localhost'] }, alice.access_token)).status, 200)
    assert.equal((await t.api.put(`${CS}/user/${enc(alice.user_id)}/rooms/${enc(child)}/tags/m.favourite`, {}, alice.access_token)).status, 200)
    const list = (filters: Record<string, unknown>) => ({ ranges: [[0, 99]], timeline_limit: 0, required_state: [], filters })
    const res = await sss(alice, {
      lists: {
        invites: list({ is_invite: true }),
        encrypted: list({ is_encrypted: true }),
        spaces: list({ room_types: ['m.space'] }),
        rooms: list({ not_room_types: ['m.space'], is_invite: false }),
        favourites: list({ tags: ['m.favourite'] }),
        unfavoured: list({ not_tags: ['m.favourite'], not_room_types: ['m.space'], is_invite: false }),
        in_space: list({ spaces: [space] }),
      },
    })
    const inList = (name: string) => Object.entries(res.rooms).filter(([, r]: [string, any]) => (r.lists ?? []).includes(name)).map(([id]) => id).sort()
    assert.deepEqual(inList('invites'), [invited])
    assert.equal(res.rooms[invited].membership, 'invite')
    assert.ok(res.rooms[invited].invite_state.some((e: any) => e.type === 'm.room.name' && e.content.name === 'Party'), 'stripped state')
    assert.equal(res.rooms[invited].timeline, undefined, 'an invite has no timeline')
    assert.deepEqual(inList('encrypted'), [encrypted])
    assert.deepEqual(inList('spaces'), [space])
    assert.deepEqual(inList('rooms'), [encrypted, child].sort())
    assert.deepEqual(inList('favourites'), [child])
    assert.deepEqual(inList('unfavoured'), [encrypted])
    assert.deepEqual(inList('in_space'), [child])
    assert.equal(res.lists.rooms.count, 2)
  })

  it("clears a room's unread counts when the user reads it elsewhere, without resending its timeline", async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await createRoom(alice, { is_direct: true, preset: 'trusted_private_chat', invite: [bob.user_id] })
    await join(bob, room)
    await send(bob, room, 'are you there?')
    const last = await send(bob, room, 'hello?')
    const first = await sss(alice, elementX([0, 9]))
    assert.equal(first.rooms[room].notification_count, 2)
    const polling = sss(alice, elementX([0, 9]), `?pos=${first.pos}&timeout=20000`)
    await new Promise((r) => setTimeout(r, 100))
    // Read on her phone.
    assert.equal((await t.api.post(`${CS}/rooms/${enc(room)}/receipt/m.read/${enc(last)}`, {}, alice.access_token)).status, 200)
    const update = await polling
    assert.deepEqual(update.rooms[room], { membership: 'join', lists: ['all_rooms'], notification_count: 0, highlight_count: 0 })
    // Said once.
    const after = await sss(alice, elementX([0, 9]), `?pos=${update.pos}&timeout=0`)
    assert.deepEqual(after.rooms, {})
  })

  it('sees rooms joined, and direct chats marked, since its last request', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const first = await createRoom(alice, { name: 'First' })
    const body = { lists: { dms: { ranges: [[0, 9]], timeline_limit: 1, required_state: [], filters: { is_dm: true } }, all: { ranges: [[0, 9]], timeline_limit: 1, required_state: [] } } }
    const one = await sss(alice, body)
    assert.deepEqual([one.lists.dms.count, one.lists.all.count], [0, 1])
    const dm = await createRoom(bob, { is_direct: true, preset: 'trusted_private_chat', invite: [alice.user_id] })
    await join(alice, dm)
    const two = await sss(alice, body, `?pos=${one.pos}&timeout=0`)
    assert.deepEqual([two.lists.dms.count, two.lists.all.count], [0, 2], 'the joined room is listed')
    assert.equal(two.rooms[dm].initial, true)
    assert.equal((await t.api.put(`${CS}/user/${enc(alice.user_id)}/account_data/m.direct`, { [bob.user_id]: [dm] }, alice.access_token)).status, 200)
    const three = await sss(alice, body, `?pos=${two.pos}&timeout=0`)
    assert.deepEqual([three.lists.dms.count, three.lists.all.count], [1, 2], 'm.direct read again')
    assert.ok(first)
  })

  it('tells a kicked user, and leaves rooms they left themselves out of a new connection', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const room = await createRoom(alice, { preset: 'public_chat', name: 'Club' })
    await join(bob, room)
    const gone = await createRoom(alice, { preset: 'public_chat', name: 'Gone' })
    await join(bob, gone)
    const first = await sss(bob, elementX([0, 9]))
    assert.ok(first.rooms[room] && first.rooms[gone])
    assert.equal((await t.api.post(`${CS}/rooms/${enc(room)}/kick`, { user_id: bob.user_id, reason: 'bye' }, alice.access_token)).status, 200)
    assert.equal((await t.api.post(`${CS}/rooms/${enc(gone)}/leave`, {}, bob.access_token)).status, 200)
    const update = await sss(bob, elementX([0, 9]), `?pos=${first.pos}&timeout=0`)
    assert.equal(update.rooms[room].membership, 'leave')
    const kick = update.rooms[room].timeline.at(-1)
    assert.equal(kick.type, 'm.room.member')
    assert.equal(kick.content.membership, 'leave')
    assert.equal(kick.sender, alice.user_id)
    assert.equal(update.rooms[gone].membership, 'leave', 'sent before on this connection: told too')
    const fresh = await sss(bob, { ...elementX([0, 9]), conn_id: 'fresh' })
    assert.ok(fresh.rooms[room], 'a kick stays in the list')
    assert.equal(fresh.rooms[gone], undefined, 'a room left by the user is not in a new connection')
    assert.equal(fresh.lists.all_rooms.count, 1)
  })

  it('serves a connection whose requests land on different instances', async () => {
    const second = await startInstanceOn(t.database)
    after(() => second.close())
    const alice = await registerUser(t.api)
    const room = await createRoom(alice, { name: 'Both' })
    const first = await sss(alice, elementX([0, 9]))
    assert.ok(first.rooms[room])
    const eventId = await send(alice, room, 'via one')
    const there = await sss(alice, elementX([0, 9]), `?pos=${first.pos}&timeout=0`, second.api)
    assert.deepEqual(there.rooms[room].timeline.map((e: any) => e.event_id), [eventId])
    const back = await sss(alice, elementX([0, 9]), `?pos=${there.pos}&timeout=0`)
    assert.deepEqual(back.rooms, {}, 'what the other instance sent is known here')
  })

  it('refuses malformed requests with M_INVALID_PARAM or M_BAD_JSON', async () => {
    const alice = await registerUser(t.api)
    const bad = async (body: unknown, errcode = 'M_INVALID_PARAM') => assertError(await t.api.post(SSS, body, alice.access_token), 400, errcode, JSON.stringify(body))
    await bad({ lists: { a: { ranges: [[5, 1]], timeline_limit: 1, required_state: [] } } })
    await bad({ lists: { a: { ranges: [[0, -1]], timeline_limit: 1, required_state: [] } } })
    await bad({ lists: { a: { ranges: [[0, 1]], timeline_limit: 'ten', required_state: [] } } })
    await bad({ lists: { a: { ranges: [[0, 1]], timeline_limit: 1, required_state: [['m.room.name']] } } })
    await bad({ lists: { a: { ranges: [[0, 1]], timeline_limit: 1, required_state: [], filters: { is_dm: 'yes' } } } })
    await bad({ lists: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`l${i}`, { ranges: [[0, 1]], timeline_limit: 1, required_state: [] }])) })
    await bad({ room_subscriptions: { '!a:b': { timeline_limit: -1, required_state: [] } } })
    await bad({ unsubscribe_rooms: 'all' })
    await bad([1, 2], 'M_BAD_JSON')
    // Sticky settings are stored with every position: their size is bounded.
    const big = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`!r${i}:test.localhost`, { timeline_limit: 1, required_state: Array.from({ length: 10 }, (_, j) => [`x.${'t'.repeat(100)}.${j}`, '']) }]))
    await bad({ room_subscriptions: big })
    // Overlapping ranges send each room once.
    for (let i = 0; i < 3; i++) await createRoom(alice, { name: `R${i}` })
    const overlapping = await sss(alice, { lists: { a: { ranges: [[0, 5], [0, 5], [1, 2]], timeline_limit: 0, required_state: [] } } })
    assert.equal(Object.keys(overlapping.rooms).length, 3)
    // A list without ranges is every room it matches.
    const whole = await sss(alice, { lists: { a: { timeline_limit: 0, required_state: [] } } })
    assert.equal(Object.keys(whole.rooms).length, 3)
    assert.equal(whole.lists.a.count, 3)
    assertError(await t.api.post(`${SSS}?timeout=-5`, {}, alice.access_token), 400, 'M_INVALID_PARAM')
    assertError(await t.api.post(SSS, {}, null), 401, 'M_MISSING_TOKEN')
  })
})
