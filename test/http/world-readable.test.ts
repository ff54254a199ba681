// Reading a world_readable room without joining it (client-server API, "Room History Visibility": anyone may
// read a world_readable room's history): state, one state event, members, /messages, refused once the room
// stops being world_readable, and refused for any other visibility.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, assertError, enc, ids } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const user = () => RoomClient.register(t.api)

async function roomWith(visibility: string) {
  const alice = await user()
  const roomId = await alice.createRoom({ preset: 'public_chat' })
  await alice.putState(roomId, 'm.room.history_visibility', '', { history_visibility: visibility })
  const sent = await alice.send(roomId, 'hello')
  return { alice, roomId, sent }
}

describe('world_readable rooms, read by non-members', () => {
  it('serves state, one state event, members, joined_members, /messages and /context to a user who never joined', async () => {
    const { alice, roomId, sent } = await roomWith('world_readable')
    const eve = await user()
    const state = await eve.get(`/rooms/${enc(roomId)}/state`)
    assert.equal(state.status, 200, JSON.stringify(state.body))
    assert.ok((state.body as Array<{ type: string }>).some((e) => e.type === 'm.room.create'))
    const member = await eve.get(`/rooms/${enc(roomId)}/state/m.room.member/${enc(alice.userId)}`)
    assert.equal(member.status, 200)
    assert.equal(member.body.membership, 'join')
    const members = await eve.get(`/rooms/${enc(roomId)}/members`)
    assert.deepEqual(
      (members.body.chunk as Array<{ state_key: string }>).map((e) => e.state_key),
      [alice.userId],
    )
    const joined = await eve.get(`/rooms/${enc(roomId)}/joined_members`)
    assert.deepEqual(Object.keys(joined.body.joined), [alice.userId])
    const page = await eve.messages(roomId, { dir: 'b', limit: 5 })
    assert.ok(ids(page.chunk).includes(sent))
    const context = await eve.get(`/rooms/${enc(roomId)}/context/${enc(sent)}`)
    assert.equal(context.status, 200)
    assert.equal(context.body.event.event_id, sent)
    // Reading is not joining: sending is still refused.
    assertError(await eve.put(`/rooms/${enc(roomId)}/send/m.room.message/t1`, { msgtype: 'm.text', body: 'hi' }), 403, 'M_FORBIDDEN')
  })

  it('serves an invited (not joined) user the room as it is now', async () => {
    const { alice, roomId } = await roomWith('world_readable')
    const bob = await user()
    await alice.invite(roomId, bob.userId)
    const topic = await alice.putState(roomId, 'm.room.topic', '', { topic: 'now' })
    const res = await bob.get(`/rooms/${enc(roomId)}/state/m.room.topic`)
    assert.equal(res.status, 200)
    assert.equal(res.body.topic, 'now', topic)
  })

  for (const visibility of ['shared', 'invited', 'joined']) {
    it(`refuses a non-member with 403 when the history is ${visibility}`, async () => {
      const { alice, roomId, sent } = await roomWith(visibility)
      const eve = await user()
      assertError(await eve.get(`/rooms/${enc(roomId)}/state`), 403, 'M_FORBIDDEN')
      assertError(await eve.get(`/rooms/${enc(roomId)}/state/m.room.member/${enc(alice.userId)}`), 403, 'M_FORBIDDEN')
      assertError(await eve.get(`/rooms/${enc(roomId)}/members`), 403, 'M_FORBIDDEN')
      assertError(await eve.get(`/rooms/${enc(roomId)}/messages?dir=b`), 403, 'M_FORBIDDEN')
      assertError(await eve.get(`/rooms/${enc(roomId)}/initialSync`), 403, 'M_FORBIDDEN')
      assertError(await eve.get(`/rooms/${enc(roomId)}/context/${enc(sent)}`), 403, 'M_FORBIDDEN')
    })
  }

  it('refuses non-members again once the room stops being world_readable', async () => {
    const { alice, roomId } = await roomWith('world_readable')
    const eve = await user()
    assert.equal((await eve.get(`/rooms/${enc(roomId)}/state`)).status, 200)
    await alice.putState(roomId, 'm.room.history_visibility', '', { history_visibility: 'shared' })
    assertError(await eve.get(`/rooms/${enc(roomId)}/state`), 403, 'M_FORBIDDEN')
    assertError(await eve.get(`/rooms/${enc(roomId)}/messages?dir=b`), 403, 'M_FORBIDDEN')
  })

  it('answers 403 for a room that does not exist', async () => {
    const eve = await user()
    assertError(await eve.get(`/rooms/${enc('!nowhere:test.localhost')}/state`), 403, 'M_FORBIDDEN')
  })
})
