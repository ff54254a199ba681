// GET /events and GET /events/{eventId} (client-server API r0, deprecated; still used by older clients, bots
// and SyTest's fixtures): the legacy event stream on /sync's positions and long-poll.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, assertError, enc, ids, query, sharedRoom, type ClientEventJson } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const user = () => RoomClient.register(t.api)

interface EventsBody {
  chunk: ClientEventJson[]
  start: string
  end: string
}

async function events(client: RoomClient, params: Record<string, string | number | undefined> = {}): Promise<EventsBody> {
  const res = await client.get(`/events${query(params)}`)
  assert.equal(res.status, 200, `${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

/** The token the stream is at now. */
const now = async (client: RoomClient) => (await events(client, { timeout: 0 })).end

describe('GET /events', () => {
  it('wakes a waiting long-poll with an event sent after its token', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await sharedRoom(alice, [bob])
    const from = await now(bob)
    // A 50 s timeout: if the event did not wake the request, the test would time out.
    const poll = events(bob, { from, timeout: 50000 })
    const sent = await alice.send(roomId, 'wake up')
    const body = await poll
    assert.equal(body.start, from)
    assert.deepEqual(ids(body.chunk), [sent])
    assert.equal(body.chunk[0]?.room_id, roomId)
    assert.equal(body.chunk[0]?.content.body, 'wake up')
  })

  it('gives each event once, in stream order, across pages continued with `end`', async () => {
    const alice = await user()
    const bob = await user()
    const first = await sharedRoom(alice, [bob])
    const second = await sharedRoom(alice, [bob])
    let from = await now(bob)
    const sent: string[] = []
    for (let i = 0; i < 7; i++) sent.push(await alice.send(i % 2 === 0 ? first : second, `m${i}`))
    const seen: string[] = []
    for (let page = 0; page < 10 && seen.length < sent.length; page++) {
      const body = await events(bob, { from, limit: 3, timeout: 0 })
      assert.ok(body.chunk.length <= 3)
      seen.push(...ids(body.chunk))
      from = body.end
    }
    assert.deepEqual(seen, sent)
    // Nothing more, and the end stays where it is.
    const after = await events(bob, { from, timeout: 0 })
    assert.deepEqual(after.chunk, [])
    assert.equal(after.end, from)
  })

  it('answers at once with timeout 0, the same end when nothing happened, and starts now without `from` (or an empty one)', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    await alice.send(roomId, 'before')
    const first = await events(alice, { timeout: 0 })
    assert.deepEqual(first.chunk, [], 'without from, the stream starts now')
    assert.deepEqual((await events(alice, { from: '', timeout: 0 })).chunk, [], 'an empty from is none: the stream starts now')
    const again = await events(alice, { from: first.end, timeout: 0 })
    assert.deepEqual(again.chunk, [])
    assert.equal(again.end, first.end)
    // An end is a /sync token too: the sync from it holds what came after.
    const later = await alice.send(roomId, 'after')
    assert.deepEqual(ids((await alice.sync({ since: again.end })).rooms.join[roomId].timeline.events), [later])
    // And a /sync token continues the event stream.
    const since = (await alice.sync()).next_batch
    const last = await alice.send(roomId, 'last')
    assert.deepEqual(ids((await events(alice, { from: since, timeout: 0 })).chunk), [last])
  })

  it('marks the polling user online, as /sync does, and a room-mate hears of it', async () => {
    const alice = await user()
    const bob = await user()
    await sharedRoom(alice, [bob])
    const from = await now(bob)
    assert.equal((await bob.get(`/presence/${enc(alice.userId)}/status`)).body.presence, 'offline')
    await events(alice, { timeout: 0 })
    const status = await bob.get(`/presence/${enc(alice.userId)}/status`)
    assert.equal(status.status, 200, JSON.stringify(status.body))
    assert.equal(status.body.presence, 'online')
    const heard = (await events(bob, { from, timeout: 0 })).chunk.filter((e) => e.type === 'm.presence')
    assert.deepEqual(heard.map((e) => [e.sender ?? e.content.user_id, e.content.presence]), [[alice.userId, 'online']])
  })

  it('shows an invite to a room the user is not in, and wakes for it', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ name: 'Invitation' })
    await alice.send(roomId, 'before the invite')
    const from = await now(bob)
    const poll = events(bob, { from, timeout: 50000 })
    await alice.invite(roomId, bob.userId)
    const { chunk } = await poll
    assert.equal(chunk.length, 1)
    assert.equal(chunk[0]?.type, 'm.room.member')
    assert.equal(chunk[0]?.state_key, bob.userId)
    assert.equal(chunk[0]?.content.membership, 'invite')
    assert.equal(chunk[0]?.room_id, roomId)
  })

  it("shows neither another user's rooms nor history the user may not see", async () => {
    const alice = await user()
    const bob = await user()
    const carol = await user()
    const from = await now(bob)
    const alone = await alice.createRoom()
    await alice.send(alone, 'not for bob')
    // History visible to joined members only: what came before bob's join stays hidden.
    const joinedOnly = await alice.createRoom({ preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'joined' } }] })
    const hidden = await alice.send(joinedOnly, 'before bob')
    await bob.join(joinedOnly)
    const shown = await alice.send(joinedOnly, 'after bob')
    // An ignored user's messages are left out.
    const shared = await sharedRoom(alice, [bob, carol])
    assert.equal((await bob.put(`/user/${enc(bob.userId)}/account_data/m.ignored_user_list`, { ignored_users: { [carol.userId]: {} } })).status, 200)
    const ignoredMessage = await carol.send(shared, 'ignored')
    const visible = await alice.send(shared, 'visible')
    const chunk = (await events(bob, { from, timeout: 0 })).chunk
    const seen = ids(chunk)
    assert.ok(!chunk.some((e) => e.room_id === alone), "nothing of alice's own room")
    assert.ok(!seen.includes(hidden), 'history before the join is hidden')
    assert.ok(!seen.includes(ignoredMessage), 'messages of ignored users are left out')
    assert.ok(seen.includes(shown) && seen.includes(visible))
    // The ignore list itself comes as an account data event.
    assert.ok(chunk.some((e) => e.type === 'm.ignored_user_list' && e.room_id === undefined))
    // The room-scoped stream of a room one is not in, whose history is not world_readable: refused.
    assertError(await carol.get(`/events${query({ room_id: alone, timeout: 0 })}`), 403, 'M_FORBIDDEN')
  })

  it('carries typing and receipts as events of their room', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await sharedRoom(alice, [bob])
    const message = await alice.send(roomId, 'read me')
    const from = await now(bob)
    assert.equal((await alice.put(`/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, { typing: true, timeout: 30000 })).status, 200)
    assert.equal((await alice.post(`/rooms/${enc(roomId)}/receipt/m.read/${enc(message)}`, {})).status, 200)
    const chunk = (await events(bob, { from, timeout: 0 })).chunk as unknown as Array<Record<string, any>>
    const typing = chunk.find((e) => e.type === 'm.typing')
    assert.deepEqual(typing, { type: 'm.typing', room_id: roomId, content: { user_ids: [alice.userId] } })
    const receipt = chunk.find((e) => e.type === 'm.receipt')
    assert.equal(receipt?.room_id, roomId)
    assert.ok(receipt?.content[message]['m.read'][alice.userId])
  })

  it("peeks into a world_readable room with room_id: its events and its members' presence", async () => {
    const alice = await user()
    const peeker = await user()
    const roomId = await alice.createRoom({ initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'world_readable' } }] })
    const from = (await events(peeker, { room_id: roomId, timeout: 0 })).end
    const poll = events(peeker, { room_id: roomId, from, timeout: 50000 })
    const sent = await alice.send(roomId, 'for everyone')
    assert.deepEqual(ids((await poll).chunk), [sent])
    const next = (await events(peeker, { room_id: roomId, from, timeout: 0 })).end
    assert.equal((await alice.put(`/presence/${enc(alice.userId)}/status`, { presence: 'online', status_msg: 'here' })).status, 200)
    const chunk = (await events(peeker, { room_id: roomId, from: next, timeout: 0 })).chunk as unknown as Array<Record<string, any>>
    const presence = chunk.find((e) => e.type === 'm.presence')
    assert.equal(presence?.sender, alice.userId)
    assert.equal(presence?.content.user_id, alice.userId)
    assert.equal(presence?.content.status_msg, 'here')
  })

  it('refuses bad parameters with 400', async () => {
    const alice = await user()
    for (const from of ['nonsense', 's', 's12x', 't1_2', 's99999999999999999999']) {
      assertError(await alice.get(`/events${query({ from, timeout: 0 })}`), 400, 'M_INVALID_PARAM', `from=${from}`)
    }
    assertError(await alice.get(`/events${query({ timeout: 'soon' })}`), 400, 'M_INVALID_PARAM', 'timeout')
    assertError(await alice.get(`/events${query({ limit: -2 })}`), 400, 'M_INVALID_PARAM', 'limit')
    assertError(await alice.get(`/events${query({ limit: 'many' })}`), 400, 'M_INVALID_PARAM', 'limit')
    assertError(await alice.get(`/events${query({ room_id: 'not-a-room', timeout: 0 })}`), 400, 'M_INVALID_PARAM', 'room_id')
    // The r0 path is served too.
    assert.equal((await t.api.get(`/_matrix/client/r0/events?timeout=0`, alice.token)).status, 200)
  })
})

describe('GET /events/{eventId}', () => {
  it('gives an event the user may see, and 404 for one they may not or that does not exist', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom()
    const sent = await alice.send(roomId, 'secret')
    const got = (await alice.get(`/events/${enc(sent)}`)).body as ClientEventJson
    assert.equal(got.event_id, sent)
    assert.equal(got.room_id, roomId)
    assert.equal(got.content.body, 'secret')
    assertError(await bob.get(`/events/${enc(sent)}`), 404, 'M_NOT_FOUND', 'not in the room')
    assertError(await alice.get(`/events/${enc('$nothing-here')}`), 404, 'M_NOT_FOUND', 'unknown event')
  })
})
