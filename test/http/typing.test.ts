// Typing notifications end to end: PUT /rooms/{roomId}/typing/{userId} and the m.typing event in /sync.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'
import { initialSync, room, syncUntil, twoMemberRoom, typingIn } from '../support/ephemeral.ts'

const t: TestServer = await startTestServer()

describe('PUT /rooms/:roomId/typing/:userId', () => {
  it('shows a member typing to another member through a long-poll /sync, then its explicit stop', async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    const start = await initialSync(t.api, bob)
    assert.equal(typingIn(start, roomId), null, 'nobody types yet')

    const typing = await t.api.put(`${room(roomId)}/typing/${encodeURIComponent(alice.user_id)}`, { typing: true, timeout: 30000 }, alice.access_token)
    assert.equal(typing.status, 200)
    assert.deepEqual(typing.body, {})
    const seen = await syncUntil(t.api, bob, start.next_batch, (b) => typingIn(b, roomId) !== null)
    assert.deepEqual(typingIn(seen.responses.at(-1), roomId), [alice.user_id])

    const stop = await t.api.put(`${room(roomId)}/typing/${encodeURIComponent(alice.user_id)}`, { typing: false }, alice.access_token)
    assert.equal(stop.status, 200)
    const stopped = await syncUntil(t.api, bob, seen.next, (b) => typingIn(b, roomId) !== null)
    assert.deepEqual(typingIn(stopped.responses.at(-1), roomId), [], 'an empty list replaces what the client knew')
  })

  it('announces the stop through /sync when the typing times out', async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    const start = await initialSync(t.api, bob)
    const res = await t.api.put(`${room(roomId)}/typing/${encodeURIComponent(alice.user_id)}`, { typing: true, timeout: 1000 }, alice.access_token)
    assert.equal(res.status, 200)
    const seen = await syncUntil(t.api, bob, start.next_batch, (b) => typingIn(b, roomId) !== null)
    assert.deepEqual(typingIn(seen.responses.at(-1), roomId), [alice.user_id])
    const expired = await syncUntil(t.api, bob, seen.next, (b) => typingIn(b, roomId) !== null)
    assert.deepEqual(typingIn(expired.responses.at(-1), roomId), [])
  })

  it('announces expired typing left behind by another instance (the sweeper claims it)', async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    const start = await initialSync(t.api, bob)
    // What an instance that set the typing and then died leaves behind: the row, and no timer anywhere.
    await t.server.ctx.storage.streamTransaction(async (repos) => {
      const position = await repos.stream.next('typing', roomId, null)
      await repos.typing.start(roomId, alice.user_id, Date.now() + 500, position)
      await repos.typing.markRooms([roomId], [position])
    })
    const seen = await syncUntil(t.api, bob, start.next_batch, (b) => typingIn(b, roomId) !== null)
    const list = typingIn(seen.responses.at(-1), roomId)
    // Already expired by the time /sync read it (a slow machine) is also an answer: the list is then empty.
    if (list?.length !== 0) {
      assert.deepEqual(list, [alice.user_id])
      const expired = await syncUntil(t.api, bob, seen.next, (b) => typingIn(b, roomId) !== null)
      assert.deepEqual(typingIn(expired.responses.at(-1), roomId), [])
    }
    assert.equal(await t.server.ctx.ephemeral.sweepExpiredTyping(), 0, 'the expired entry was claimed exactly once')
  })

  it('lists everyone typing in the room on an initial /sync, and keeps typing on a refresh', async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    for (const user of [alice, bob]) {
      const res = await t.api.put(`${room(roomId)}/typing/${encodeURIComponent(user.user_id)}`, { typing: true, timeout: 30000 }, user.access_token)
      assert.equal(res.status, 200)
    }
    const refresh = await t.api.put(`${room(roomId)}/typing/${encodeURIComponent(alice.user_id)}`, { typing: true }, alice.access_token)
    assert.equal(refresh.status, 200)
    const carol = await registerUser(t.api)
    await t.api.post(`${room(roomId)}/invite`, { user_id: carol.user_id }, alice.access_token)
    assert.equal((await t.api.post(`${room(roomId)}/join`, {}, carol.access_token)).status, 200)
    const body = await initialSync(t.api, carol)
    assert.deepEqual([...(typingIn(body, roomId) ?? [])].sort(), [alice.user_id, bob.user_id].sort())
  })

  it('stops the typing of a member who leaves the room', async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    await t.api.put(`${room(roomId)}/typing/${encodeURIComponent(bob.user_id)}`, { typing: true, timeout: 30000 }, bob.access_token)
    const start = await initialSync(t.api, alice)
    assert.deepEqual(typingIn(start, roomId), [bob.user_id])
    assert.equal((await t.api.post(`${room(roomId)}/leave`, {}, bob.access_token)).status, 200)
    const left = await syncUntil(t.api, alice, start.next_batch, (b) => typingIn(b, roomId) !== null)
    assert.deepEqual(typingIn(left.responses.at(-1), roomId), [])
  })

  it("refuses to set another user's typing state with 403 M_FORBIDDEN", async () => {
    const { alice, bob, roomId } = await twoMemberRoom(t.api)
    const res = await t.api.put(`${room(roomId)}/typing/${encodeURIComponent(alice.user_id)}`, { typing: true, timeout: 1000 }, bob.access_token)
    assert.equal(res.status, 403)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
  })

  it('refuses typing from a user who is not in the room (or in a room that does not exist) with 403 M_FORBIDDEN', async () => {
    const { roomId } = await twoMemberRoom(t.api)
    const eve = await registerUser(t.api)
    const path = (r: string) => `${room(r)}/typing/${encodeURIComponent(eve.user_id)}`
    for (const target of [roomId, '!unknown:test.localhost']) {
      const res = await t.api.put(path(target), { typing: true, timeout: 1000 }, eve.access_token)
      assert.equal(res.status, 403, target)
      assert.equal(res.body.errcode, 'M_FORBIDDEN')
    }
  })

  it('answers 400 for a body without typing or with a negative timeout, and 401 without a token', async () => {
    const { alice, roomId } = await twoMemberRoom(t.api)
    const path = `${room(roomId)}/typing/${encodeURIComponent(alice.user_id)}`
    const missing = await t.api.put(path, { timeout: 1000 }, alice.access_token)
    assert.equal(missing.status, 400)
    assert.equal(missing.body.errcode, 'M_MISSING_PARAM')
    const negative = await t.api.put(path, { typing: true, timeout: -5 }, alice.access_token)
    assert.equal(negative.status, 400)
    assert.equal(negative.body.errcode, 'M_BAD_JSON')
    const notJson = await t.api.request('PUT', path, { body: 'nope', token: alice.access_token })
    assert.equal(notJson.status, 400)
    assert.equal(notJson.body.errcode, 'M_NOT_JSON')
    const anonymous = await t.api.put(path, { typing: true })
    assert.equal(anonymous.status, 401)
    assert.equal(anonymous.body.errcode, 'M_MISSING_TOKEN')
  })
})
