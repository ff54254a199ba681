// The room engine end to end over HTTP: create, invite, join, send, /sync (initial and long-poll) and /messages.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'

const t: TestServer = await startTestServer()

describe('rooms and /sync', () => {
  it('delivers a message from one member to another through initial and long-poll /sync', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const created = await t.api.post('/_matrix/client/v3/createRoom', { name: 'Smoke', invite: [bob.user_id] }, alice.access_token)
    assert.equal(created.status, 200)
    const roomId: string = created.body.room_id
    assert.match(roomId, /^![A-Za-z0-9_-]{43}$/, 'a v12 room ID is the create event hash')

    const joined = await t.api.post(`/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {}, bob.access_token)
    assert.equal(joined.status, 200)
    const initial = await t.api.get('/_matrix/client/v3/sync', bob.access_token)
    assert.equal(initial.status, 200)
    const room = initial.body.rooms.join[roomId]
    assert.ok(room, 'the joined room is in the initial sync')
    const types = [...room.state.events, ...room.timeline.events].map((e: { type: string }) => e.type)
    for (const type of ['m.room.create', 'm.room.power_levels', 'm.room.join_rules', 'm.room.name']) assert.ok(types.includes(type), type)
    assert.equal(room.summary['m.joined_member_count'], 2)

    const poll = t.api.get(`/_matrix/client/v3/sync?since=${initial.body.next_batch}&timeout=20000`, bob.access_token)
    const sent = await t.api.put(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/txn1`, { msgtype: 'm.text', body: 'hello' }, alice.access_token)
    assert.equal(sent.status, 200)
    const woken = await poll
    const timeline = woken.body.rooms.join[roomId].timeline.events
    assert.deepEqual(timeline.map((e: { event_id: string }) => e.event_id), [sent.body.event_id])
    assert.equal(timeline[0].content.body, 'hello')

    const messages = await t.api.get(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=2`, bob.access_token)
    assert.equal(messages.status, 200)
    assert.equal(messages.body.chunk[0].event_id, sent.body.event_id)
    assert.equal(messages.body.chunk.length, 2)
    assert.ok(messages.body.end)
  })

  it('returns the first event_id when a txnId is reused', async () => {
    const alice = await registerUser(t.api)
    const { body } = await t.api.post('/_matrix/client/v3/createRoom', {}, alice.access_token)
    const path = `/_matrix/client/v3/rooms/${encodeURIComponent(body.room_id)}/send/m.room.message/same`
    const first = await t.api.put(path, { msgtype: 'm.text', body: 'once' }, alice.access_token)
    const again = await t.api.put(path, { msgtype: 'm.text', body: 'once' }, alice.access_token)
    assert.equal(again.body.event_id, first.body.event_id)
  })

  it('returns the first event_id to a txnId retry even after the sender has left the room', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const { body } = await t.api.post('/_matrix/client/v3/createRoom', { preset: 'public_chat' }, alice.access_token)
    const room = encodeURIComponent(body.room_id)
    assert.equal((await t.api.post(`/_matrix/client/v3/rooms/${room}/join`, {}, bob.access_token)).status, 200)
    const path = `/_matrix/client/v3/rooms/${room}/send/m.room.message/before-leaving`
    const first = await t.api.put(path, { msgtype: 'm.text', body: 'bye' }, bob.access_token)
    assert.equal(first.status, 200)
    assert.equal((await t.api.post(`/_matrix/client/v3/rooms/${room}/leave`, {}, bob.access_token)).status, 200)
    const again = await t.api.put(path, { msgtype: 'm.text', body: 'bye' }, bob.access_token)
    assert.equal(again.status, 200, JSON.stringify(again.body))
    assert.equal(again.body.event_id, first.body.event_id)
    const fresh = await t.api.put(`${path}-2`, { msgtype: 'm.text', body: 'bye' }, bob.access_token)
    assert.equal(fresh.status, 403, 'a new txnId is refused')
  })

  it('refuses a message from a user who is not in the room with 403 M_FORBIDDEN', async () => {
    const alice = await registerUser(t.api)
    const eve = await registerUser(t.api)
    const { body } = await t.api.post('/_matrix/client/v3/createRoom', {}, alice.access_token)
    const res = await t.api.put(`/_matrix/client/v3/rooms/${encodeURIComponent(body.room_id)}/send/m.room.message/x`, { msgtype: 'm.text', body: 'hi' }, eve.access_token)
    assert.equal(res.status, 403)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
  })
})

describe('event content the database cannot process', () => {
  it('refuses a NUL character in content with 400 M_BAD_JSON and stores nothing', async () => {
    const alice = await registerUser(t.api)
    const { body } = await t.api.post('/_matrix/client/v3/createRoom', {}, alice.access_token)
    const room = encodeURIComponent(body.room_id)
    const res = await t.api.put(`/_matrix/client/v3/rooms/${room}/send/m.room.message/nul`, { msgtype: 'm.text', body: 'a\u0000b', url: 'mxc://x/y' }, alice.access_token)
    assert.equal(res.status, 400)
    assert.equal(res.body.errcode, 'M_BAD_JSON')
    const filtered = await t.api.get(`/_matrix/client/v3/rooms/${room}/messages?dir=b&filter=${encodeURIComponent('{"contains_url":true}')}`, alice.access_token)
    assert.equal(filtered.status, 200)
    assert.equal(filtered.body.chunk.length, 0)
  })

  it('keeps the text \\u0000 (a backslash, not a NUL)', async () => {
    const alice = await registerUser(t.api)
    const { body } = await t.api.post('/_matrix/client/v3/createRoom', {}, alice.access_token)
    const room = encodeURIComponent(body.room_id)
    const text = 'escape it as \\u0000, or \\\\u0000'
    const sent = await t.api.put(`/_matrix/client/v3/rooms/${room}/send/m.room.message/bs`, { msgtype: 'm.text', body: text }, alice.access_token)
    assert.equal(sent.status, 200)
    const got = await t.api.get(`/_matrix/client/v3/rooms/${room}/event/${encodeURIComponent(sent.body.event_id)}`, alice.access_token)
    assert.equal(got.body.content.body, text)
  })
})

describe('GET /rooms/:roomId/timestamp_to_event', () => {
  it('finds the nearest event forwards and backwards, 404 past either end, 403 for non-members', async () => {
    const alice = await registerUser(t.api)
    const eve = await registerUser(t.api)
    const { body } = await t.api.post('/_matrix/client/v3/createRoom', {}, alice.access_token)
    const room = encodeURIComponent(body.room_id)
    const first = await t.api.put(`/_matrix/client/v3/rooms/${room}/send/m.room.message/a`, { msgtype: 'm.text', body: 'one' }, alice.access_token)
    const firstEvent = await t.api.get(`/_matrix/client/v3/rooms/${room}/event/${encodeURIComponent(first.body.event_id)}`, alice.access_token)
    const ts: number = firstEvent.body.origin_server_ts
    const path = (q: string) => `/_matrix/client/v1/rooms/${room}/timestamp_to_event?${q}`
    const forward = await t.api.get(path(`ts=${ts}&dir=f`), alice.access_token)
    assert.equal(forward.status, 200)
    assert.equal(forward.body.event_id, first.body.event_id)
    assert.equal(forward.body.origin_server_ts, ts)
    const backward = await t.api.get(path(`ts=${ts + 10_000_000}&dir=b`), alice.access_token)
    assert.equal(backward.body.event_id, first.body.event_id)
    const none = await t.api.get(path(`ts=${ts + 10_000_000}&dir=f`), alice.access_token)
    assert.equal(none.status, 404)
    assert.equal(none.body.errcode, 'M_NOT_FOUND')
    assert.equal((await t.api.get(path(`ts=${ts}&dir=x`), alice.access_token)).status, 400)
    assert.equal((await t.api.get(path(`ts=${ts}&dir=f`), eve.access_token)).status, 403)
  })
})

describe('PUT /profile/:userId/displayname in rooms', () => {
  it('sends a new member event with the new name to every joined room, and nothing for other fields', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const rooms: string[] = []
    for (let i = 0; i < 3; i++) {
      const { body } = await t.api.post('/_matrix/client/v3/createRoom', { invite: [bob.user_id] }, alice.access_token)
      await t.api.post(`/_matrix/client/v3/join/${encodeURIComponent(body.room_id)}`, {}, bob.access_token)
      rooms.push(body.room_id)
    }
    const start = await t.api.get('/_matrix/client/v3/sync', bob.access_token)
    const res = await t.api.put(`/_matrix/client/v3/profile/${encodeURIComponent(alice.user_id)}/displayname`, { displayname: 'Alice A.' }, alice.access_token)
    assert.equal(res.status, 200)
    await t.api.put(`/_matrix/client/v3/profile/${encodeURIComponent(alice.user_id)}/m.tz`, { 'm.tz': 'Europe/Paris' }, alice.access_token)
    const next = await t.api.get(`/_matrix/client/v3/sync?since=${start.body.next_batch}`, bob.access_token)
    for (const roomId of rooms) {
      const members = next.body.rooms.join[roomId].timeline.events.filter((e: { type: string; state_key?: string }) => e.type === 'm.room.member' && e.state_key === alice.user_id)
      assert.equal(members.length, 1, `one member event in ${roomId}`)
      assert.equal(members[0].content.membership, 'join')
      assert.equal(members[0].content.displayname, 'Alice A.')
      assert.equal(members[0].unsigned.prev_content.displayname, alice.username)
    }
  })
})

describe('POST /createRoom concurrency', () => {
  it('gives 20 identical requests sent at once 20 distinct rooms (v12 IDs are create-event hashes)', async () => {
    const alice = await registerUser(t.api)
    const results = await Promise.all(
      Array.from({ length: 20 }, () => t.api.post('/_matrix/client/v3/createRoom', { preset: 'public_chat' }, alice.access_token)),
    )
    assert.deepEqual(results.map((r) => r.status), Array(20).fill(200))
    assert.equal(new Set(results.map((r) => r.body.room_id)).size, 20)
    const joined = await t.api.get('/_matrix/client/v3/joined_rooms', alice.access_token)
    for (const r of results) assert.ok(joined.body.joined_rooms.includes(r.body.room_id))
  })
})

describe('GET /sync room summary', () => {
  it('is sent for a new room and when membership changes, and omitted when only messages arrived', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const { body } = await t.api.post('/_matrix/client/v3/createRoom', { invite: [bob.user_id] }, alice.access_token)
    const room = body.room_id
    const first = await t.api.get('/_matrix/client/v3/sync', alice.access_token)
    assert.equal(first.body.rooms.join[room].summary['m.invited_member_count'], 1)
    await t.api.put(`/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/s1`, { msgtype: 'm.text', body: 'hi' }, alice.access_token)
    const messageOnly = await t.api.get(`/_matrix/client/v3/sync?since=${first.body.next_batch}`, alice.access_token)
    assert.deepEqual(messageOnly.body.rooms.join[room].summary, {})
    await t.api.post(`/_matrix/client/v3/join/${encodeURIComponent(room)}`, {}, bob.access_token)
    const joined = await t.api.get(`/_matrix/client/v3/sync?since=${messageOnly.body.next_batch}`, alice.access_token)
    assert.equal(joined.body.rooms.join[room].summary['m.joined_member_count'], 2)
    assert.equal(joined.body.rooms.join[room].summary['m.invited_member_count'], 0)
  })
})
