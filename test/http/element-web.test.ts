// What Element Web asks of a homeserver at login and first start, beyond the rooms and /sync suites: the
// unstable features it gates cross-signing on, invites it can name (the inviter's member event in the
// stripped state, the invitee's profile in the invite), room previews (GET /rooms/{roomId}/initialSync), and
// the reads of its settings tabs (pushers, 3PIDs, third-party protocols, TURN), answered rather than 404.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, assertError, bodies, enc, ids, sharedRoom, type ClientEventJson } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const user = () => RoomClient.register(t.api)

async function withProfile(displayname: string): Promise<RoomClient> {
  const c = await user()
  assert.equal((await c.put(`/profile/${enc(c.userId)}/displayname`, { displayname })).status, 200)
  assert.equal((await c.put(`/profile/${enc(c.userId)}/avatar_url`, { avatar_url: `mxc://localhost/${displayname}` })).status, 200)
  return c
}

describe('GET /versions', () => {
  it('advertises cross-signing, which Element sets up new accounts on', async () => {
    const res = await t.api.get('/_matrix/client/versions')
    assert.equal(res.status, 200)
    assert.equal(res.body.unstable_features['org.matrix.e2e_cross_signing'], true)
  })
})

describe('invites Element can name', () => {
  it('give the inviter\'s member event in invite_state, and the invite last', async () => {
    const alice = await withProfile('Alice')
    const bob = await user()
    const dm = await alice.createRoom({ preset: 'trusted_private_chat', is_direct: true, invite: [bob.userId] })
    const later = await alice.createRoom({ name: 'Later' })
    await alice.invite(later, bob.userId)
    const invites = (await bob.sync()).rooms.invite
    for (const roomId of [dm, later]) {
      const events = invites[roomId].invite_state.events as ClientEventJson[]
      const inviter = events.find((e) => e.type === 'm.room.member' && e.state_key === alice.userId)
      assert.ok(inviter, 'the inviter\'s member event')
      assert.deepEqual(Object.keys(inviter).sort(), ['content', 'sender', 'state_key', 'type'], 'stripped')
      assert.equal(inviter.content.membership, 'join')
      assert.equal(inviter.content.displayname, 'Alice')
      assert.equal(inviter.content.avatar_url, 'mxc://localhost/Alice')
      const last = events.at(-1) as ClientEventJson
      assert.equal(last.state_key, bob.userId)
      assert.equal(last.content.membership, 'invite')
    }
  })

  it('carry the invitee\'s displayname and avatar_url, from createRoom and from /invite; kicks and bans do not', async () => {
    const alice = await user()
    const bob = await withProfile('Bob')
    const carol = await withProfile('Carol')
    const dm = await alice.createRoom({ is_direct: true, invite: [bob.userId] })
    const bobInvite = await alice.getState(dm, 'm.room.member', bob.userId)
    assert.deepEqual(bobInvite, { membership: 'invite', is_direct: true, displayname: 'Bob', avatar_url: 'mxc://localhost/Bob' })
    await alice.invite(dm, carol.userId)
    assert.deepEqual(await alice.getState(dm, 'm.room.member', carol.userId), { membership: 'invite', displayname: 'Carol', avatar_url: 'mxc://localhost/Carol' })
    // What the inviter sets wins over the profile.
    const dave = await withProfile('Dave')
    assert.equal((await alice.put(`/rooms/${enc(dm)}/state/m.room.member/${enc(dave.userId)}`, { membership: 'invite', displayname: 'D.' })).status, 200)
    assert.equal((await alice.getState(dm, 'm.room.member', dave.userId)).displayname, 'D.')
    assert.equal((await alice.membershipRaw('kick', dm, carol.userId)).status, 200)
    assert.deepEqual(await alice.getState(dm, 'm.room.member', carol.userId), { membership: 'leave' })
    assert.equal((await alice.membershipRaw('ban', dm, bob.userId)).status, 200)
    assert.deepEqual(await alice.getState(dm, 'm.room.member', bob.userId), { membership: 'ban' })
  })
})

describe('GET /rooms/{roomId}/initialSync', () => {
  it('gives a member the state, the latest messages with tokens that continue /messages, receipts, presence and account data', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await sharedRoom(alice, [bob], { name: 'Snapshot', visibility: 'public' })
    const sent: string[] = []
    for (let i = 0; i < 5; i++) sent.push(await alice.send(roomId, `m${i}`))
    assert.equal((await bob.post(`/rooms/${enc(roomId)}/receipt/m.read/${enc(sent[4] as string)}`, {})).status, 200)
    assert.equal((await alice.put(`/user/${enc(alice.userId)}/rooms/${enc(roomId)}/tags/u.work`, { order: 0.5 })).status, 200)
    assert.equal((await alice.put(`/presence/${enc(bob.userId)}/status`, { presence: 'online' })).status, 403)
    assert.equal((await bob.put(`/presence/${enc(bob.userId)}/status`, { presence: 'online' })).status, 200)
    const res = await alice.get(`/rooms/${enc(roomId)}/initialSync?limit=3`)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const snapshot = res.body
    assert.equal(snapshot.room_id, roomId)
    assert.equal(snapshot.membership, 'join')
    assert.equal(snapshot.visibility, 'public')
    assert.deepEqual(ids(snapshot.messages.chunk), sent.slice(2), 'the latest, oldest first')
    assert.equal(snapshot.messages.chunk[0].room_id, roomId)
    const state = snapshot.state as ClientEventJson[]
    assert.equal(state.find((e) => e.type === 'm.room.name')?.content.name, 'Snapshot')
    assert.deepEqual(state.filter((e) => e.type === 'm.room.member').map((e) => e.state_key).sort(), [alice.userId, bob.userId].sort())
    const earlier = await alice.messages(roomId, { dir: 'b', from: snapshot.messages.start, limit: 2 })
    assert.deepEqual(ids(earlier.chunk), [sent[1], sent[0]])
    const next = await alice.send(roomId, 'after the snapshot')
    assert.deepEqual(ids((await alice.messages(roomId, { dir: 'f', from: snapshot.messages.end })).chunk), [next])
    assert.ok((snapshot.receipts as Array<{ type: string; content: Record<string, any> }>).some((r) => r.type === 'm.receipt' && r.content[sent[4] as string]?.['m.read']?.[bob.userId]))
    assert.ok((snapshot.presence as Array<{ sender: string; content: { presence: string; user_id: string } }>).some((p) => p.sender === bob.userId && p.content.presence === 'online' && p.content.user_id === bob.userId))
    // Every member's presence, a member never seen as offline (alice has not synced).
    assert.equal((snapshot.presence as Array<{ sender: string; content: { presence: string } }>).find((p) => p.sender === alice.userId)?.content.presence, 'offline')
    // The legacy shape its clients read: the sender as user_id too.
    assert.equal((state.find((e) => e.type === 'm.room.member' && e.state_key === alice.userId) as unknown as { user_id: string }).user_id, alice.userId)
    assert.deepEqual(snapshot.account_data, [{ type: 'm.tag', content: { tags: { 'u.work': { order: 0.5 } } } }])
    // With no messages asked for, the tokens still stand where the room's history ends.
    const empty = (await alice.get(`/rooms/${enc(roomId)}/initialSync?limit=0`)).body
    assert.deepEqual(empty.messages.chunk, [])
    const last = await alice.send(roomId, 'after the empty snapshot')
    assert.deepEqual(ids((await alice.messages(roomId, { dir: 'f', from: empty.messages.end })).chunk), [last])
    assert.deepEqual(ids((await alice.messages(roomId, { dir: 'b', from: empty.messages.start, limit: 1 })).chunk), [next])
  })

  it('lets anyone preview a world_readable room, without a membership, and refuses other rooms to non-members', async () => {
    const alice = await user()
    const eve = await user()
    const readable = await alice.createRoom({ initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: 'world_readable' } }] })
    await alice.send(readable, 'for all to read')
    const preview = await eve.get(`/rooms/${enc(readable)}/initialSync`)
    assert.equal(preview.status, 200, JSON.stringify(preview.body))
    assert.equal('membership' in preview.body, false)
    assert.equal(preview.body.visibility, 'private')
    assert.equal(bodies(preview.body.messages.chunk).at(-1), 'for all to read')
    assert.ok((preview.body.state as ClientEventJson[]).some((e) => e.type === 'm.room.create'))
    const shared = await alice.createRoom()
    assertError(await eve.get(`/rooms/${enc(shared)}/initialSync`), 403, 'M_FORBIDDEN')
    await alice.invite(shared, eve.userId)
    assertError(await eve.get(`/rooms/${enc(shared)}/initialSync`), 403, 'M_FORBIDDEN', 'an invitee cannot read a shared room yet')
    assertError(await eve.get(`/rooms/${enc('!nowhere:localhost')}/initialSync`), 403, 'M_FORBIDDEN')
  })

  it('shows a former member the room as it was when they left', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await sharedRoom(alice, [bob], { name: 'Before' })
    await alice.send(roomId, 'seen')
    await bob.leave(roomId)
    await alice.send(roomId, 'unseen')
    await alice.putState(roomId, 'm.room.name', '', { name: 'After' })
    const snapshot = (await bob.get(`/rooms/${enc(roomId)}/initialSync`)).body
    assert.equal(snapshot.membership, 'leave')
    const chunk = snapshot.messages.chunk as ClientEventJson[]
    assert.equal(chunk.at(-1)?.content.membership, 'leave', 'ends with the leave')
    assert.ok(!bodies(chunk).includes('unseen'))
    assert.equal((snapshot.state as ClientEventJson[]).find((e) => e.type === 'm.room.name')?.content.name, 'Before')
    assert.deepEqual(snapshot.presence, [])
  })
})

describe('settings reads', () => {
  it('answer the pushers and 3PIDs lists, empty', async () => {
    const alice = await user()
    const pushers = await alice.get('/pushers')
    assert.equal(pushers.status, 200)
    assert.deepEqual(pushers.body, { pushers: [] })
    const threepids = await alice.get('/account/3pid')
    assert.equal(threepids.status, 200)
    assert.deepEqual(threepids.body, { threepids: [] })
    assert.equal((await t.api.get('/_matrix/client/v3/pushers')).status, 401)
  })

  it('refuse 3PID changes and token requests with Matrix errors', async () => {
    const alice = await user()
    for (const path of ['/account/3pid/add', '/account/3pid/delete', '/account/3pid']) {
      assertError(await alice.post(path, { client_secret: 'x', sid: 'y' }), 400, 'M_FORBIDDEN', path)
    }
    // Binding at an identity server needs no mail here: a request without one is refused as incomplete.
    assertError(await alice.post('/account/3pid/bind', { client_secret: 'x', sid: 'y' }), 400, 'M_MISSING_PARAM')
    for (const path of ['/account/3pid/email/requestToken', '/account/3pid/msisdn/requestToken', '/register/email/requestToken', '/account/password/email/requestToken']) {
      assertError(await alice.post(path, { client_secret: 'x', email: 'a@example.org', send_attempt: 1 }), 400, 'M_THREEPID_MEDIUM_NOT_SUPPORTED', path)
    }
    const unbind = await alice.post('/account/3pid/unbind', { medium: 'email', address: 'a@example.org' })
    assert.equal(unbind.status, 200)
    assert.deepEqual(unbind.body, { id_server_unbind_result: 'no-support' })
  })

  it('answer third-party protocols and TURN without bridges or a TURN server', async () => {
    const alice = await user()
    for (const [path, expected] of [
      ['/thirdparty/protocols', {}],
      ['/thirdparty/location?alias=%23a%3Ab', []],
      ['/thirdparty/user/irc?nick=x', []],
      ['/voip/turnServer', {}],
    ] as const) {
      const res = await alice.get(path)
      assert.equal(res.status, 200, path)
      assert.deepEqual(res.body, expected, path)
    }
    assertError(await alice.get('/thirdparty/protocol/irc'), 404, 'M_NOT_FOUND')
  })
})
