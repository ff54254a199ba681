// The space hierarchy over real HTTP: GET /_matrix/client/v1/rooms/{roomId}/hierarchy (depth-first walk,
// child order, visibility of rooms, suggested_only, max_depth, pagination).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, assertError, enc, query } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const SERVER = t.config.server_name
const client = () => RoomClient.register(t.api)

function hierarchy(c: RoomClient, roomId: string, params: Record<string, unknown> = {}) {
  return t.api.get(`/_matrix/client/v1/rooms/${enc(roomId)}/hierarchy${query(params)}`, c.token)
}

async function walk(c: RoomClient, roomId: string, params: Record<string, unknown> = {}): Promise<any> {
  const res = await hierarchy(c, roomId, params)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

const roomIds = (body: { rooms: Array<{ room_id: string }> }) => body.rooms.map((r) => r.room_id)

async function space(c: RoomClient, body: Record<string, unknown> = {}): Promise<string> {
  return c.createRoom({ preset: 'public_chat', creation_content: { type: 'm.space' }, ...body })
}

async function link(c: RoomClient, parent: string, child: string, content: Record<string, unknown> = {}): Promise<void> {
  await c.putState(parent, 'm.space.child', child, { via: [SERVER], ...content })
}

describe('GET /rooms/:roomId/hierarchy', () => {
  it('walks a space depth-first, children in the spec order, with summaries and stripped children_state', async () => {
    const alice = await client()
    const root = await space(alice, { name: 'Root', topic: 'The root' })
    const sub = await space(alice, { name: 'Sub' })
    const a = await alice.createRoom({ preset: 'public_chat', name: 'A' })
    const b = await alice.createRoom({ preset: 'public_chat', name: 'B' })
    const c = await alice.createRoom({ preset: 'public_chat', name: 'C' })
    await link(alice, root, a)
    await link(alice, root, sub, { order: 'b' })
    await link(alice, root, b, { order: 'a' })
    await link(alice, sub, c)
    const body = await walk(alice, root)
    assert.deepEqual(roomIds(body), [root, b, sub, c, a], 'ordered children first, a space before the rooms after it')
    assert.equal(body.next_batch, undefined)
    const [first] = body.rooms
    assert.equal(first.name, 'Root')
    assert.equal(first.topic, 'The root')
    assert.equal(first.room_type, 'm.space')
    assert.equal(first.num_joined_members, 1)
    assert.equal(first.join_rule, 'public')
    assert.equal(first.world_readable, false)
    assert.equal(first.guest_can_join, false)
    assert.equal(first.room_version, '12')
    assert.deepEqual(first.children_state.map((e: { state_key: string }) => e.state_key), [b, sub, a])
    const child = first.children_state[0]
    assert.deepEqual(Object.keys(child).sort(), ['content', 'origin_server_ts', 'sender', 'state_key', 'type'])
    assert.equal(child.type, 'm.space.child')
    assert.equal(child.sender, alice.userId)
    assert.deepEqual(child.content, { via: [SERVER], order: 'a' })
    assert.deepEqual(body.rooms.find((r: { room_id: string }) => r.room_id === a).children_state, [], 'rooms that are not spaces list no children')
  })

  it('leaves out children without a via, and survives loops', async () => {
    const alice = await client()
    const root = await space(alice)
    const sub = await space(alice)
    const gone = await alice.createRoom({ preset: 'public_chat' })
    await link(alice, root, sub)
    await link(alice, sub, root)
    await alice.putState(root, 'm.space.child', gone, { via: [] })
    const body = await walk(alice, root)
    assert.deepEqual(roomIds(body), [root, sub])
  })

  it('stops at max_depth', async () => {
    const alice = await client()
    const root = await space(alice)
    const sub = await space(alice)
    const leaf = await alice.createRoom({ preset: 'public_chat' })
    await link(alice, root, sub)
    await link(alice, sub, leaf)
    assert.deepEqual(roomIds(await walk(alice, root, { max_depth: 0 })), [root])
    assert.deepEqual(roomIds(await walk(alice, root, { max_depth: 1 })), [root, sub])
    assert.deepEqual(roomIds(await walk(alice, root, { max_depth: 2 })), [root, sub, leaf])
  })

  it('keeps only suggested children with suggested_only', async () => {
    const alice = await client()
    const root = await space(alice)
    const suggested = await alice.createRoom({ preset: 'public_chat' })
    const other = await alice.createRoom({ preset: 'public_chat' })
    await link(alice, root, suggested, { suggested: true })
    await link(alice, root, other)
    const body = await walk(alice, root, { suggested_only: true })
    assert.deepEqual(roomIds(body), [root, suggested])
    assert.deepEqual(body.rooms[0].children_state.map((e: { state_key: string }) => e.state_key), [suggested])
  })

  it('shows rooms the requester may join, read or is in, and hides the rest', async () => {
    const alice = await client()
    const bob = await client()
    const root = await space(alice)
    const invited = await alice.createRoom({ preset: 'private_chat' })
    const secret = await alice.createRoom({ preset: 'private_chat' })
    const readable = await alice.createRoom({
      preset: 'private_chat',
      initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: 'world_readable' } }],
    })
    const knockable = await alice.createRoom({ preset: 'private_chat', initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }] })
    const restricted = await alice.createRoom({
      preset: 'private_chat',
      initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: root }] } }],
    })
    for (const r of [invited, secret, readable, knockable, restricted]) await link(alice, root, r)
    await alice.invite(invited, bob.userId)

    const stranger = roomIds(await walk(bob, root))
    assert.deepEqual(stranger.sort(), [root, invited, readable, knockable].sort())
    await bob.join(root)
    const member = await walk(bob, root)
    assert.deepEqual(roomIds(member).sort(), [root, invited, readable, knockable, restricted].sort())
    const entry = member.rooms.find((r: { room_id: string }) => r.room_id === restricted)
    assert.deepEqual(entry.allowed_room_ids, [root])
    assert.equal(entry.join_rule, 'restricted')
  })

  it('pages with limit and next_batch until the tree is done', async () => {
    const alice = await client()
    const root = await space(alice)
    const children: string[] = []
    for (let i = 0; i < 4; i++) {
      const child = await alice.createRoom({ preset: 'public_chat' })
      await link(alice, root, child, { order: String(i) })
      children.push(child)
    }
    const seen: string[] = []
    let from: string | undefined
    let pages = 0
    do {
      const body = await walk(alice, root, { limit: 2, from })
      assert.ok(body.rooms.length <= 2)
      seen.push(...roomIds(body))
      from = body.next_batch
      pages++
    } while (from !== undefined)
    assert.deepEqual(seen, [root, ...children])
    assert.equal(pages, 3)
  })

  it('refuses a from token with other parameters, or unknown, with 400 M_INVALID_PARAM', async () => {
    const alice = await client()
    const bob = await client()
    const root = await space(alice)
    for (let i = 0; i < 2; i++) await link(alice, root, await alice.createRoom({ preset: 'public_chat' }))
    const { next_batch } = await walk(alice, root, { limit: 1 })
    assert.ok(next_batch)
    assertError(await hierarchy(alice, root, { limit: 1, from: next_batch, max_depth: 1 }), 400, 'M_INVALID_PARAM', 'max_depth changed')
    assertError(await hierarchy(alice, root, { limit: 1, from: next_batch, suggested_only: true }), 400, 'M_INVALID_PARAM', 'suggested_only changed')
    assertError(await hierarchy(bob, root, { from: next_batch }), 400, 'M_INVALID_PARAM', 'another user')
    assertError(await hierarchy(alice, root, { from: 'unknown' }), 400, 'M_INVALID_PARAM', 'unknown')
    assert.equal((await hierarchy(alice, root, { limit: 1, from: next_batch })).status, 200)
  })

  it('refuses rooms the requester cannot see, and unknown rooms, with 403 M_FORBIDDEN', async () => {
    const alice = await client()
    const eve = await client()
    const hidden = await space(alice, { preset: 'private_chat' })
    assertError(await hierarchy(eve, hidden), 403, 'M_FORBIDDEN')
    assertError(await hierarchy(eve, `!unknown:${SERVER}`), 403, 'M_FORBIDDEN')
  })

  it('refuses a limit below 1 or a negative max_depth with 400 M_INVALID_PARAM', async () => {
    const alice = await client()
    const root = await space(alice)
    assertError(await hierarchy(alice, root, { limit: 0 }), 400, 'M_INVALID_PARAM')
    assertError(await hierarchy(alice, root, { max_depth: -1 }), 400, 'M_INVALID_PARAM')
    assertError(await hierarchy(alice, root, { suggested_only: 'maybe' }), 400, 'M_INVALID_PARAM')
  })
})

describe('GET /room_summary/:roomIdOrAlias', () => {
  const summary = (roomIdOrAlias: string, token: string | null) => t.api.get(`/_matrix/client/v1/room_summary/${enc(roomIdOrAlias)}`, token)

  it('summarises a room by ID or alias, with the requester\'s membership, and without signing in when it is public', async () => {
    const alice = await client()
    const bob = await client()
    const alias = `#summary${Date.now()}:${SERVER}`
    const roomId = await alice.createRoom({ preset: 'public_chat', name: 'Cheese', topic: 'Tasty', room_alias_name: alias.slice(1).split(':')[0] })
    await alice.putState(roomId, 'm.room.encryption', '', { algorithm: 'm.megolm.v1.aes-sha2' })
    const byId = await summary(roomId, alice.token)
    assert.equal(byId.status, 200, JSON.stringify(byId.body))
    assert.deepEqual(byId.body, {
      room_id: roomId,
      name: 'Cheese',
      topic: 'Tasty',
      canonical_alias: alias,
      num_joined_members: 1,
      world_readable: false,
      guest_can_join: false,
      join_rule: 'public',
      room_version: '12',
      encryption: 'm.megolm.v1.aes-sha2',
      membership: 'join',
    })
    const byAlias = await summary(alias, bob.token)
    assert.equal(byAlias.status, 200)
    assert.equal(byAlias.body.room_id, roomId)
    assert.equal(byAlias.body.membership, 'leave', 'signed in without a membership')
    const anonymous = await summary(roomId, null)
    assert.equal(anonymous.status, 200)
    assert.equal(anonymous.body.membership, undefined, 'no membership without signing in')
    assert.equal(anonymous.body.name, 'Cheese')
  })

  it('shows a private room to its members, invitees and knockers only, as not found to everyone else', async () => {
    const alice = await client()
    const [bob, carol, dave] = [await client(), await client(), await client()]
    const secret = await alice.createRoom({ preset: 'private_chat', name: 'Secret' })
    await alice.invite(secret, bob.userId)
    assert.equal((await summary(secret, bob.token)).body.membership, 'invite')
    assertError(await summary(secret, carol.token), 404, 'M_NOT_FOUND')
    assertError(await summary(secret, null), 404, 'M_NOT_FOUND')
    const knockable = await alice.createRoom({ preset: 'private_chat', initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }] })
    assert.equal((await summary(knockable, null)).status, 200, 'anyone may knock: shown without signing in')
    assert.equal((await t.api.post(`/_matrix/client/v3/knock/${enc(knockable)}`, {}, dave.token)).status, 200)
    assert.equal((await summary(knockable, dave.token)).body.membership, 'knock')
    const space = await alice.createRoom({ preset: 'private_chat' })
    const restricted = await alice.createRoom({
      preset: 'private_chat',
      initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: space }] } }],
    })
    assertError(await summary(restricted, carol.token), 404, 'M_NOT_FOUND')
    await alice.invite(space, carol.userId)
    await carol.join(space)
    const allowed = await summary(restricted, carol.token)
    assert.equal(allowed.status, 200, 'a member of an allowed room may see it')
    assert.deepEqual(allowed.body.allowed_room_ids, [space])
  })

  it('answers 404 M_NOT_FOUND for unknown rooms and aliases, 400 for what is neither', async () => {
    const alice = await client()
    assertError(await summary(`!unknown:${SERVER}`, alice.token), 404, 'M_NOT_FOUND')
    assertError(await summary(`#unknown:${SERVER}`, alice.token), 404, 'M_NOT_FOUND')
    const bad = await summary('nothing', alice.token)
    assert.equal(bad.status, 400)
  })
})
