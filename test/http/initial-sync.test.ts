// GET /initialSync (client-server API r0, deprecated; still used by older clients, bots and SyTest's
// fixtures): a snapshot of every room of the user, whose tokens continue with /messages, /events and /sync.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, assertError, bodies, enc, ids, query, sharedRoom, type ClientEventJson } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const user = () => RoomClient.register(t.api)

interface RoomInfo {
  room_id: string
  membership: string
  invite?: ClientEventJson & { user_id: string; unsigned: { invite_room_state: Array<{ type: string; content: Record<string, any> }> } }
  messages?: { chunk: ClientEventJson[]; start: string; end: string }
  state?: ClientEventJson[]
  visibility: string
  account_data: Array<{ type: string; content: Record<string, any> }>
}

interface Snapshot {
  end: string
  rooms: RoomInfo[]
  presence: Array<{ type: string; sender: string; content: Record<string, any> }>
  account_data: Array<{ type: string; content: Record<string, any> }>
  receipts: Array<{ type: string; room_id: string; content: Record<string, any> }>
}

async function initialSync(client: RoomClient, params: Record<string, string | number | boolean | undefined> = {}): Promise<Snapshot> {
  const res = await client.get(`/initialSync${query(params)}`)
  assert.equal(res.status, 200, `${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

function roomOf(snapshot: Snapshot, roomId: string): RoomInfo {
  const room = snapshot.rooms.find((r) => r.room_id === roomId)
  assert.ok(room, `room ${roomId} in ${JSON.stringify(snapshot.rooms.map((r) => r.room_id))}`)
  return room
}

describe('GET /initialSync', () => {
  it('gives joined rooms with state and latest messages, invites with their stripped state, and left rooms only when archived', async () => {
    const alice = await user()
    const bob = await user()
    const joined = await alice.createRoom({ preset: 'public_chat', visibility: 'public', topic: 'Gardening' })
    const sent = [await alice.send(joined, 'one'), await alice.send(joined, 'two')]
    const invited = await bob.createRoom({ name: 'Invitation' })
    await bob.invite(invited, alice.userId)
    const left = await sharedRoom(bob, [alice], { topic: 'Before' })
    await bob.send(left, 'seen')
    await alice.leave(left)
    await bob.send(left, 'unseen')
    await bob.putState(left, 'm.room.topic', '', { topic: 'After' })
    const banned = await sharedRoom(bob, [alice])
    assert.equal((await bob.membershipRaw('ban', banned, alice.userId)).status, 200)

    const snapshot = await initialSync(alice)
    assert.deepEqual(snapshot.rooms.map((r) => r.room_id).sort(), [joined, invited].sort(), 'no left room without archived')
    const room = roomOf(snapshot, joined)
    assert.equal(room.membership, 'join')
    assert.equal(room.visibility, 'public')
    assert.equal(room.state?.find((e) => e.type === 'm.room.topic')?.content.topic, 'Gardening')
    assert.ok(room.state?.some((e) => e.type === 'm.room.power_levels'))
    assert.equal(room.state?.find((e) => e.type === 'm.room.member' && e.state_key === alice.userId)?.content.membership, 'join')
    assert.deepEqual(ids(room.messages?.chunk ?? []).slice(-2), sent, 'the latest messages, oldest first')
    // The legacy shape: every event names its sender as user_id too.
    for (const e of [...(room.messages?.chunk ?? []), ...(room.state ?? [])]) assert.equal((e as unknown as { user_id: string }).user_id, e.sender)
    assert.equal(room.messages?.chunk[0]?.room_id, joined)

    const invite = roomOf(snapshot, invited)
    assert.equal(invite.membership, 'invite')
    assert.equal(invite.visibility, 'private')
    assert.equal(invite.invite?.sender, bob.userId)
    assert.equal(invite.invite?.user_id, bob.userId)
    assert.equal(invite.invite?.state_key, alice.userId)
    assert.equal(invite.invite?.content.membership, 'invite')
    const stripped = invite.invite?.unsigned.invite_room_state ?? []
    assert.equal(stripped.find((e) => e.type === 'm.room.name')?.content.name, 'Invitation')
    assert.ok(stripped.some((e) => e.type === 'm.room.create'))

    const archived = await initialSync(alice, { archived: true })
    assert.deepEqual(archived.rooms.map((r) => r.room_id).sort(), [joined, invited, left, banned].sort())
    assert.equal(roomOf(archived, banned).membership, 'ban')
    assert.equal(roomOf(archived, banned).messages?.chunk.at(-1)?.content.membership, 'ban')
    const parted = roomOf(archived, left)
    assert.equal(parted.membership, 'leave')
    const chunk = parted.messages?.chunk ?? []
    assert.equal(chunk.at(-1)?.content.membership, 'leave', 'ends with the leave')
    assert.equal(chunk.at(-1)?.state_key, alice.userId)
    assert.ok(bodies(chunk).includes('seen'))
    assert.ok(!bodies(chunk).includes('unseen'), 'nothing after the leave')
    assert.equal(parted.state?.find((e) => e.type === 'm.room.topic')?.content.topic, 'Before', 'the state as it was at the leave')
    assert.equal(parted.state?.find((e) => e.type === 'm.room.member' && e.state_key === alice.userId)?.content.membership, 'leave')
  })

  it('gives at most `limit` messages a room, with tokens that continue /messages backwards and forwards', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    const sent: string[] = []
    for (let i = 0; i < 5; i++) sent.push(await alice.send(roomId, `m${i}`))
    const room = roomOf(await initialSync(alice, { limit: 2 }), roomId)
    assert.deepEqual(ids(room.messages?.chunk ?? []), sent.slice(3))
    const earlier = await alice.messages(roomId, { dir: 'b', from: room.messages?.start, limit: 3 })
    assert.deepEqual(ids(earlier.chunk), [sent[2], sent[1], sent[0]])
    const next = await alice.send(roomId, 'after the snapshot')
    assert.deepEqual(ids((await alice.messages(roomId, { dir: 'f', from: room.messages?.end })).chunk), [next])

    const empty = roomOf(await initialSync(alice, { limit: 0 }), roomId)
    assert.deepEqual(empty.messages?.chunk, [])
    assert.ok(empty.state?.some((e) => e.type === 'm.room.create'), 'the state comes with no messages too')
    assert.deepEqual(ids((await alice.messages(roomId, { dir: 'b', from: empty.messages?.start, limit: 1 })).chunk), [next])
    const last = await alice.send(roomId, 'after the empty snapshot')
    assert.deepEqual(ids((await alice.messages(roomId, { dir: 'f', from: empty.messages?.end })).chunk), [last])
  })

  it('ends where GET /events and /sync continue', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    await alice.send(roomId, 'before')
    const { end } = await initialSync(alice)
    const after = await alice.send(roomId, 'after')
    const events = await alice.get(`/events${query({ from: end, timeout: 0 })}`)
    assert.equal(events.status, 200)
    assert.deepEqual(ids((events.body.chunk as ClientEventJson[]).filter((e) => e.room_id === roomId)), [after])
    assert.deepEqual(ids((await alice.sync({ since: end })).rooms.join[roomId].timeline.events), [after])
  })

  it('carries global account data, each room’s tags and account data, and read receipts', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    const other = await alice.createRoom()
    const eventId = await alice.send(roomId, 'read me')
    assert.equal((await alice.put(`/user/${enc(alice.userId)}/account_data/org.example.config`, { cats: true })).status, 200)
    assert.equal((await alice.put(`/user/${enc(alice.userId)}/rooms/${enc(roomId)}/tags/u.work`, { order: 0.5 })).status, 200)
    assert.equal((await alice.put(`/user/${enc(alice.userId)}/rooms/${enc(roomId)}/account_data/org.example.room`, { rats: 1 })).status, 200)
    assert.equal((await alice.post(`/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, {})).status, 200)
    const snapshot = await initialSync(alice)
    assert.deepEqual(snapshot.account_data.find((e) => e.type === 'org.example.config')?.content, { cats: true })
    const room = roomOf(snapshot, roomId)
    assert.deepEqual(room.account_data.find((e) => e.type === 'm.tag')?.content, { tags: { 'u.work': { order: 0.5 } } })
    assert.deepEqual(room.account_data.find((e) => e.type === 'org.example.room')?.content, { rats: 1 })
    assert.deepEqual(roomOf(snapshot, other).account_data, [])
    const receipt = snapshot.receipts.find((r) => r.room_id === roomId && r.type === 'm.receipt')
    assert.ok(receipt?.content[eventId]?.['m.read']?.[alice.userId], JSON.stringify(snapshot.receipts))
  })

  it('gives the presence of the users sharing a room, in the legacy shape, and of no one else', async () => {
    const alice = await user()
    const bob = await user()
    const eve = await user()
    await sharedRoom(alice, [bob])
    assert.equal((await bob.put(`/presence/${enc(bob.userId)}/status`, { presence: 'online', status_msg: 'here' })).status, 200)
    assert.equal((await eve.put(`/presence/${enc(eve.userId)}/status`, { presence: 'online' })).status, 200)
    const { presence } = await initialSync(alice)
    const bobs = presence.find((p) => p.sender === bob.userId)
    assert.equal(bobs?.type, 'm.presence')
    assert.equal(bobs?.content.presence, 'online')
    assert.equal(bobs?.content.status_msg, 'here')
    assert.equal(bobs?.content.user_id, bob.userId)
    assert.ok(!presence.some((p) => p.sender === eve.userId), 'no shared room with eve')
    // Coming online through /initialSync, as through a /sync: a new user finds their own presence.
    const newcomer = await user()
    const own = (await initialSync(newcomer)).presence.find((p) => p.sender === newcomer.userId)
    assert.equal(own?.content.presence, 'online')
    assert.equal(own?.content.user_id, newcomer.userId)
    assert.equal(typeof own?.content.last_active_ago, 'number')
  })

  it('applies history visibility and ignored users to the messages', async () => {
    const alice = await user()
    const bob = await user()
    const carol = await user()
    const roomId = await alice.createRoom({
      preset: 'public_chat',
      initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: 'joined' } }],
    })
    await carol.join(roomId)
    await alice.send(roomId, 'before bob joined')
    await bob.join(roomId)
    await alice.send(roomId, 'after bob joined')
    await carol.send(roomId, 'from carol')
    assert.equal((await bob.put(`/user/${enc(bob.userId)}/account_data/m.ignored_user_list`, { ignored_users: { [carol.userId]: {} } })).status, 200)
    const chunk = roomOf(await initialSync(bob, { limit: 20 }), roomId).messages?.chunk ?? []
    assert.ok(bodies(chunk).includes('after bob joined'))
    assert.ok(!bodies(chunk).includes('before bob joined'), 'history from before the join is hidden')
    assert.ok(!bodies(chunk).includes('from carol'), 'an ignored user’s messages are left out')
    assert.ok(chunk.some((e) => e.type === 'm.room.member' && e.state_key === bob.userId), 'bob’s own join shows')
    // Alice, who was there, sees it all.
    assert.ok(bodies(roomOf(await initialSync(alice, { limit: 20 }), roomId).messages?.chunk ?? []).includes('before bob joined'))
  })

  it('costs as many queries for a user in many rooms as for a user in one', async () => {
    const db = t.server.ctx.storage.db
    /** The fewest queries one /initialSync made, over three (the server's background work adds some at times). */
    async function queriesOf(client: RoomClient): Promise<number> {
      const counts: number[] = []
      for (let i = 0; i < 3; i++) {
        let n = 0
        const query = db.query.bind(db)
        db.query = ((text: string, values?: unknown[]) => {
          n++
          return query(text, values)
        }) as typeof db.query
        try {
          await initialSync(client, { archived: true, limit: 5 })
        } finally {
          delete (db as { query?: unknown }).query
        }
        counts.push(n)
      }
      return Math.min(...counts)
    }
    /** A user joined to `n` rooms with messages, invited to `n` and gone from `n`. */
    async function member(n: number): Promise<RoomClient> {
      const client = await user()
      const host = await user()
      for (let i = 0; i < n; i++) {
        const joined = await sharedRoom(host, [client], { topic: `t${i}` })
        await host.send(joined, `hello ${i}`)
        await host.invite(await host.createRoom(), client.userId)
        const left = await sharedRoom(host, [client])
        await client.leave(left)
      }
      await initialSync(client) // comes online: later calls write nothing
      return client
    }
    const one = await queriesOf(await member(1))
    const many = await queriesOf(await member(8))
    assert.ok(many <= one, `${many} queries for 8 rooms of each kind, ${one} for one`)
  })

  it('refuses bad parameters with 400 M_INVALID_PARAM', async () => {
    const alice = await user()
    assertError(await alice.get('/initialSync?limit=hello'), 400, 'M_INVALID_PARAM')
    assertError(await alice.get('/initialSync?limit=-2'), 400, 'M_INVALID_PARAM')
    assertError(await alice.get('/initialSync?archived=perhaps'), 400, 'M_INVALID_PARAM')
    assertError(await alice.get('/initialSync?timeout=soon'), 400, 'M_INVALID_PARAM')
    assertError(await t.api.get('/_matrix/client/v3/initialSync'), 401, 'M_MISSING_TOKEN')
    // A huge limit is capped, not an error; r0 serves the same.
    assert.equal((await alice.get('/initialSync?limit=999999999&timeout=5000')).status, 200)
    assert.equal((await t.api.get('/_matrix/client/r0/initialSync', alice.token)).status, 200)
  })
})
