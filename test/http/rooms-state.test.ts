// Room state over HTTP (client-server API, "PUT/GET /rooms/{roomId}/state"): with and without a state
// key, power-level checks, format=event, idempotent identical content, and the state a former member sees.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { CS, RoomClient, assertError, enc, type ClientEventJson } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const user = () => RoomClient.register(t.api)

describe('PUT /rooms/{roomId}/state/{eventType}/{stateKey}', () => {
  it('sets state with an empty state key, with or without the trailing slash, and reads it back both ways', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    const base = `/rooms/${enc(roomId)}/state/m.room.topic`
    const noSlash = await alice.put(base, { topic: 'one' })
    assert.equal(noSlash.status, 200)
    assert.match(noSlash.body.event_id, /^\$/)
    assert.deepEqual((await alice.get(base)).body, { topic: 'one' })
    const slash = await alice.put(`${base}/`, { topic: 'two' })
    assert.equal(slash.status, 200)
    assert.deepEqual((await alice.get(`${base}/`)).body, { topic: 'two' })
    assert.deepEqual((await alice.get(base)).body, { topic: 'two' })
  })

  it('refuses an event over 65536 bytes with 413 M_TOO_LARGE, state or message', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    assertError(await alice.putStateRaw(roomId, 'org.example.big', '', { key: 'O'.repeat(70000) }), 413, 'M_TOO_LARGE', 'state')
    assertError(await alice.sendRaw(roomId, { msgtype: 'm.text', body: 'A'.repeat(70000) }), 413, 'M_TOO_LARGE', 'message')
    assert.equal((await alice.sendRaw(roomId, { msgtype: 'm.text', body: 'A'.repeat(60000) })).status, 200, 'under the limit')
  })

  it('keeps state keys apart: one type, several keys', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    await alice.putState(roomId, 'org.example.pin', 'a', { n: 1 })
    await alice.putState(roomId, 'org.example.pin', 'b/c d', { n: 2 })
    assert.deepEqual(await alice.getState(roomId, 'org.example.pin', 'a'), { n: 1 })
    assert.deepEqual(await alice.getState(roomId, 'org.example.pin', 'b/c d'), { n: 2 })
    assertError(await alice.get(`/rooms/${enc(roomId)}/state/org.example.pin`), 404, 'M_NOT_FOUND', 'no empty-key entry')
    const all = await alice.fullState(roomId)
    assert.deepEqual(all.filter((e) => e.type === 'org.example.pin').map((e) => e.state_key).sort(), ['a', 'b/c d'])
  })

  it('returns the current event_id again when the same sender sets identical content', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    const first = await alice.putState(roomId, 'm.room.name', '', { name: 'Same', extra: { b: 1, a: 2 } })
    const again = await alice.putState(roomId, 'm.room.name', '', { extra: { a: 2, b: 1 }, name: 'Same' })
    assert.equal(again, first, 'key order does not make content different')
    const changed = await alice.putState(roomId, 'm.room.name', '', { name: 'Other', extra: { a: 2, b: 1 } })
    assert.notEqual(changed, first)
    const names = (await alice.messages(roomId, { dir: 'f', limit: 50 })).chunk.filter((e) => e.type === 'm.room.name')
    assert.equal(names.length, 2, 'the repeat sent no event')
  })

  it('refuses state below the sender\'s power level with 403, and allows it once raised', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat', room_version: '11' })
    await bob.join(roomId)
    assertError(await bob.putStateRaw(roomId, 'm.room.name', '', { name: 'bob' }), 403, 'M_FORBIDDEN', 'm.room.name needs 50')
    assertError(await bob.putStateRaw(roomId, 'org.example.custom', '', { x: 1 }), 403, 'M_FORBIDDEN', 'state_default 50')
    const levels = await alice.getState(roomId, 'm.room.power_levels')
    assertError(
      await bob.putStateRaw(roomId, 'm.room.power_levels', '', { ...levels, users: { ...levels.users, [bob.userId]: 100 } }),
      403,
      'M_FORBIDDEN',
      'promoting oneself',
    )
    await alice.putState(roomId, 'm.room.power_levels', '', { ...levels, users: { ...levels.users, [bob.userId]: 50 } })
    await bob.putState(roomId, 'm.room.name', '', { name: 'bob' })
    await bob.putState(roomId, 'org.example.custom', '', { x: 1 })
    assertError(await bob.putStateRaw(roomId, 'm.room.history_visibility', '', { history_visibility: 'joined' }), 403, 'M_FORBIDDEN', 'needs 100')
    assertError(
      await bob.putStateRaw(roomId, 'm.room.power_levels', '', { ...levels, users: { ...levels.users, [bob.userId]: 50, [alice.userId]: 0 } }),
      403,
      'M_FORBIDDEN',
      'demoting a higher user',
    )
  })

  it('refuses a state key that is another user\'s ID (403), and non-members (403)', async () => {
    const alice = await user()
    const [bob, eve] = [await user(), await user()]
    const roomId = await alice.createRoom({ preset: 'public_chat', power_level_content_override: { state_default: 0 } })
    await bob.join(roomId)
    assertError(await bob.putStateRaw(roomId, 'org.example.owned', alice.userId, { x: 1 }), 403, 'M_FORBIDDEN', "another user's key")
    assert.equal((await bob.putStateRaw(roomId, 'org.example.owned', bob.userId, { x: 1 })).status, 200, 'own key')
    assertError(await eve.putStateRaw(roomId, 'org.example.owned', '', { x: 1 }), 403, 'M_FORBIDDEN', 'not a member')
  })

  it('refuses m.room.create (403), member events with a non-user state key (400) and bodies that are not objects (400)', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    assertError(await alice.putStateRaw(roomId, 'm.room.create', '', { room_version: '12', 'm.federate': false }), 403, 'M_FORBIDDEN')
    assert.equal((await alice.putStateRaw(roomId, 'm.room.member', 'not-a-user', { membership: 'join' })).status, 400)
    assertError(await alice.put(`/rooms/${enc(roomId)}/state/m.room.name`, ['x']), 400, 'M_BAD_JSON')
    const notJson = await t.api.request('PUT', `${CS}/rooms/${enc(roomId)}/state/m.room.name`, { body: 'nope', token: alice.token, headers: { 'Content-Type': 'application/json' } })
    assertError(notJson, 400, 'M_NOT_JSON')
  })

  it('answers 404 M_NOT_FOUND for a room that does not exist', async () => {
    const alice = await user()
    assertError(await alice.putStateRaw(`!nowhere:${t.config.server_name}`, 'm.room.name', '', { name: 'x' }), 404, 'M_NOT_FOUND')
  })
})

describe('GET /rooms/{roomId}/state[/{eventType}/{stateKey}]', () => {
  it('returns the whole event with format=event, and the content otherwise', async () => {
    const alice = await user()
    const roomId = await alice.createRoom({ name: 'First' })
    const eventId = await alice.putState(roomId, 'm.room.name', '', { name: 'Second' })
    const content = await alice.get(`/rooms/${enc(roomId)}/state/m.room.name/?format=content`)
    assert.deepEqual(content.body, { name: 'Second' })
    const res = await alice.get(`/rooms/${enc(roomId)}/state/m.room.name/?format=event`)
    assert.equal(res.status, 200)
    const event = res.body as ClientEventJson
    assert.equal(event.event_id, eventId)
    assert.equal(event.type, 'm.room.name')
    assert.equal(event.state_key, '')
    assert.equal(event.sender, alice.userId)
    assert.equal(event.room_id, roomId)
    assert.equal(typeof event.origin_server_ts, 'number')
    assert.deepEqual(event.content, { name: 'Second' })
    assert.deepEqual(event.unsigned?.prev_content, { name: 'First' }, 'the replaced content is prev_content')
    assert.equal((await alice.get(`/rooms/${enc(roomId)}/state/m.room.name?format=xml`)).status, 400)
  })

  it('lists the full current state as client events, one per (type, state_key)', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat', name: 'N', topic: 'T' })
    await bob.join(roomId)
    await alice.putState(roomId, 'm.room.name', '', { name: 'N2' })
    const state = await bob.fullState(roomId)
    const keys = state.map((e) => `${e.type}|${e.state_key}`)
    assert.equal(new Set(keys).size, keys.length, 'no duplicates')
    for (const k of ['m.room.create|', 'm.room.power_levels|', 'm.room.join_rules|', 'm.room.topic|', `m.room.member|${alice.userId}`, `m.room.member|${bob.userId}`]) {
      assert.ok(keys.includes(k), k)
    }
    assert.equal(state.find((e) => e.type === 'm.room.name')?.content.name, 'N2')
  })

  it('answers 404 for state that is not set, and 403 for users who never were members', async () => {
    const alice = await user()
    const eve = await user()
    const roomId = await alice.createRoom()
    assertError(await alice.get(`/rooms/${enc(roomId)}/state/m.room.avatar`), 404, 'M_NOT_FOUND')
    assertError(await eve.get(`/rooms/${enc(roomId)}/state`), 403, 'M_FORBIDDEN')
    assertError(await eve.get(`/rooms/${enc(roomId)}/state/m.room.create`), 403, 'M_FORBIDDEN')
  })

  it('gives a user who left the state as it was when they left', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat', name: 'Before' })
    await bob.join(roomId)
    await bob.leave(roomId)
    await alice.putState(roomId, 'm.room.name', '', { name: 'After' })
    await alice.putState(roomId, 'm.room.topic', '', { topic: 'new' })
    assert.equal((await bob.getState(roomId, 'm.room.name')).name, 'Before')
    assertError(await bob.get(`/rooms/${enc(roomId)}/state/m.room.topic`), 404, 'M_NOT_FOUND', 'the topic was set after the leave')
    const state = await bob.fullState(roomId)
    assert.equal(state.find((e) => e.type === 'm.room.name')?.content.name, 'Before')
    assert.equal(state.find((e) => e.type === 'm.room.member' && e.state_key === bob.userId)?.content.membership, 'leave')
    assert.equal(state.some((e) => e.type === 'm.room.topic'), false)
    // Once rejoined, the current state again.
    await bob.join(roomId)
    assert.equal((await bob.getState(roomId, 'm.room.name')).name, 'After')
  })

  it('refuses a banned user the state and members (403), and gives a kicked one the state as of the kick', async () => {
    const alice = await user()
    const bob = await user()
    const carol = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat', name: 'Before' })
    await bob.join(roomId)
    await carol.join(roomId)
    assert.equal((await alice.membershipRaw('ban', roomId, bob.userId)).status, 200)
    assert.equal((await alice.membershipRaw('kick', roomId, carol.userId)).status, 200)
    await alice.putState(roomId, 'm.room.name', '', { name: 'After' })
    assertError(await bob.get(`/rooms/${enc(roomId)}/state/m.room.name`), 403, 'M_FORBIDDEN')
    assertError(await bob.get(`/rooms/${enc(roomId)}/state`), 403, 'M_FORBIDDEN')
    assertError(await bob.get(`/rooms/${enc(roomId)}/members`), 403, 'M_FORBIDDEN')
    assert.equal((await carol.getState(roomId, 'm.room.name')).name, 'Before')
  })
})
