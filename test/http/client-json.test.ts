// Client JSON that Homestead cannot store or encode is refused when the request is read, so that nothing
// one member sends can break another member's reads: lone UTF-16 surrogates (values and keys), bytes that
// are not UTF-8, nesting deeper than MAX_JSON_DEPTH; and, in event content of rooms v6+, what canonical
// JSON forbids (floats, integers beyond ±(2^53 - 1)).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type ApiResponse } from '../support/server.ts'
import { assertError, CS, enc, RoomClient, sharedRoom } from '../support/rooms.ts'
import { MAX_JSON_DEPTH } from '../../src/shared/client-json.ts'

const { api } = await startTestServer()

/** Sends `body` exactly as given (a JSON text with escapes JSON.stringify would not write, or raw bytes). */
function raw(client: RoomClient, method: string, path: string, body: string | Buffer): Promise<ApiResponse> {
  return api.request(method, CS + path, { body, token: client.token, headers: { 'Content-Type': 'application/json' } })
}

let txn = 0
const sendPath = (roomId: string, type = 'm.room.message') => `/rooms/${enc(roomId)}/send/${enc(type)}/cj${++txn}`

/** The other member's reads of the room: /sync (initial and incremental), /messages, /event, /context. */
async function readsWork(reader: RoomClient, roomId: string, eventId: string, since: string): Promise<void> {
  const initial = await reader.sync()
  assert.ok(initial.rooms.join[roomId], 'the room is in the initial /sync')
  const incremental = await reader.sync({ since, timeout: 0 })
  assert.ok(incremental.next_batch)
  const messages = await reader.messages(roomId, { dir: 'b', limit: 20 })
  assert.ok(messages.chunk.some((e) => e.event_id === eventId), '/messages has the event')
  const event = await reader.event(roomId, eventId)
  assert.equal(event.event_id, eventId)
  const context = await reader.get(`/rooms/${enc(roomId)}/context/${enc(eventId)}?limit=4`)
  assert.equal(context.status, 200, JSON.stringify(context.body))
  assert.equal(context.body.event.event_id, eventId)
}

describe('lone UTF-16 surrogates in a request', () => {
  it('refuses an edit whose m.new_content holds one, and the room reads on for everyone', async () => {
    const alice = await RoomClient.register(api)
    const bob = await RoomClient.register(api)
    const roomId = await sharedRoom(alice, [bob])
    const original = await alice.send(roomId, 'hello')
    const since = (await bob.sync()).next_batch
    const edit = `{"msgtype":"m.text","body":"* x","m.new_content":{"msgtype":"m.text","body":"\\ud800"},` +
      `"m.relates_to":{"rel_type":"m.replace","event_id":${JSON.stringify(original)}}}`
    assertError(await raw(alice, 'PUT', sendPath(roomId), edit), 400, 'M_BAD_JSON', 'the edit')
    await readsWork(bob, roomId, original, since)
  })

  it("refuses a member event whose displayname holds one; the member can still be kicked and banned", async () => {
    const alice = await RoomClient.register(api)
    const mallory = await RoomClient.register(api)
    const roomId = await sharedRoom(alice, [mallory])
    const marker = await alice.send(roomId, 'before')
    const since = (await alice.sync()).next_batch
    const member = `/rooms/${enc(roomId)}/state/m.room.member/${enc(mallory.userId)}`
    assertError(await raw(mallory, 'PUT', member, '{"membership":"join","displayname":"a\\udc00b"}'), 400, 'M_BAD_JSON', 'the member event')
    await readsWork(alice, roomId, marker, since)
    assert.equal((await alice.membershipRaw('kick', roomId, mallory.userId)).status, 200)
    assert.equal((await alice.membershipRaw('ban', roomId, mallory.userId)).status, 200)
  })

  it('refuses one in an object key, a profile field and account data', async () => {
    const alice = await RoomClient.register(api)
    const roomId = await alice.createRoom()
    assertError(await raw(alice, 'PUT', sendPath(roomId), '{"msgtype":"m.text","body":"x","\\ud83d":1}'), 400, 'M_BAD_JSON', 'a key')
    assertError(await raw(alice, 'PUT', `/profile/${enc(alice.userId)}/displayname`, '{"displayname":"\\ud83d"}'), 400, 'M_BAD_JSON', 'profile')
    assertError(await raw(alice, 'PUT', `/user/${enc(alice.userId)}/account_data/org.example`, '{"x":["\\udfff"]}'), 400, 'M_BAD_JSON', 'account data')
    // A surrogate pair, escaped or not, is a well-formed character; an escaped backslash before "ud800" is text.
    const fine = await raw(alice, 'PUT', sendPath(roomId), '{"msgtype":"m.text","body":"\\ud83d\\ude00 😀 \\\\ud800"}')
    assert.equal(fine.status, 200, JSON.stringify(fine.body))
    const sent = await alice.event(roomId, fine.body.event_id)
    assert.equal(sent.content.body, '😀 😀 \\ud800')
  })

  it('refuses one in an inline filter of /sync, /messages and /context', async () => {
    const alice = await RoomClient.register(api)
    const roomId = await alice.createRoom()
    const eventId = await alice.send(roomId, 'x')
    const filter = encodeURIComponent('{"types":["\\ud800"]}')
    assertError(await alice.get(`/sync?filter=${encodeURIComponent('{"room":{"timeline":{"types":["\\udbff"]}}}')}`), 400, 'M_BAD_JSON', '/sync')
    assertError(await alice.get(`/rooms/${enc(roomId)}/messages?dir=b&filter=${filter}`), 400, 'M_BAD_JSON', '/messages')
    assertError(await alice.get(`/rooms/${enc(roomId)}/context/${enc(eventId)}?filter=${filter}`), 400, 'M_BAD_JSON', '/context')
  })
})

describe('request bodies that are not UTF-8 or nest too deep', () => {
  it('refuses bytes that are not UTF-8 with M_NOT_JSON instead of repairing them', async () => {
    const alice = await RoomClient.register(api)
    const roomId = await alice.createRoom()
    const body = Buffer.concat([Buffer.from('{"msgtype":"m.text","body":"'), Buffer.from([0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from('"}')])
    assertError(await raw(alice, 'PUT', sendPath(roomId), body), 400, 'M_NOT_JSON', 'invalid UTF-8')
  })

  it(`accepts ${MAX_JSON_DEPTH} levels of nesting and refuses one more with M_BAD_JSON`, async () => {
    const alice = await RoomClient.register(api)
    const roomId = await alice.createRoom()
    // The body is one level, its "x" the second: MAX_JSON_DEPTH - 1 arrays inside reach the limit.
    const nested = (n: number) => `{"msgtype":"m.text","body":"deep","x":${'['.repeat(n)}${']'.repeat(n)}}`
    const atLimit = await raw(alice, 'PUT', sendPath(roomId), nested(MAX_JSON_DEPTH - 1))
    assert.equal(atLimit.status, 200, JSON.stringify(atLimit.body))
    // And it reads back like any other event (PostgreSQL's jsonb and every walk take that depth).
    assert.ok(Array.isArray((await alice.event(roomId, atLimit.body.event_id)).content.x))
    assert.ok((await alice.messages(roomId, { dir: 'b', limit: 5, filter: JSON.stringify({ contains_url: false }) })).chunk.length > 0)
    assert.ok((await alice.sync()).rooms.join[roomId])
    assertError(await raw(alice, 'PUT', sendPath(roomId), nested(MAX_JSON_DEPTH)), 400, 'M_BAD_JSON', 'one level more')
    assertError(await raw(alice, 'PUT', sendPath(roomId), nested(10_000)), 400, 'M_BAD_JSON', '10,000 levels')
  })
})

describe('event content that canonical JSON forbids', () => {
  it('refuses floats and integers beyond 2^53 - 1 in rooms v6+ with M_BAD_JSON', async () => {
    const alice = await RoomClient.register(api)
    for (const version of ['6', '11', '12']) {
      const roomId = await alice.createRoom({ room_version: version })
      for (const value of ['1.5', '9007199254740992', '-9007199254740992', '1e400']) {
        const res = await raw(alice, 'PUT', sendPath(roomId), `{"msgtype":"m.text","body":"n","n":${value}}`)
        assertError(res, 400, 'M_BAD_JSON', `v${version} ${value}`)
      }
      assertError(await raw(alice, 'PUT', `/rooms/${enc(roomId)}/state/org.example.state/k`, '{"f":0.5}'), 400, 'M_BAD_JSON', `v${version} state`)
      const max = await raw(alice, 'PUT', sendPath(roomId), '{"msgtype":"m.text","body":"n","n":9007199254740991}')
      assert.equal(max.status, 200, JSON.stringify(max.body))
    }
  })

  it('refuses floats in the state that createRoom would write', async () => {
    const alice = await RoomClient.register(api)
    const res = await alice.post('/createRoom', { room_version: '11', initial_state: [{ type: 'org.example', state_key: '', content: { f: 0.25 } }] })
    assertError(res, 400, 'M_BAD_JSON', 'createRoom')
  })

  it('keeps accepting floats in rooms v1–v5, as Synapse does', async () => {
    const alice = await RoomClient.register(api)
    const roomId = await alice.createRoom({ room_version: '5' })
    const res = await raw(alice, 'PUT', sendPath(roomId), '{"msgtype":"m.text","body":"n","n":1.5}')
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal((await alice.event(roomId, res.body.event_id)).content.n, 1.5)
  })
})

describe('PUT /rooms/{roomId}/send/m.room.create', () => {
  it('answers 403 in every room version, as the auth rules refuse a second create event', async () => {
    const alice = await RoomClient.register(api)
    for (const version of ['10', '11', '12']) {
      const roomId = await alice.createRoom({ room_version: version })
      assertError(await alice.put(`/rooms/${enc(roomId)}/send/m.room.create/c${++txn}`, {}), 403, 'M_FORBIDDEN', `v${version} send`)
      assertError(await alice.put(`/rooms/${enc(roomId)}/state/m.room.create`, { room_version: version, other: 1 }), 403, 'M_FORBIDDEN', `v${version} state`)
      assertError(await alice.put(`/rooms/${enc(roomId)}/state/m.room.create/x`, {}), 403, 'M_FORBIDDEN', `v${version} keyed state`)
    }
  })
})
