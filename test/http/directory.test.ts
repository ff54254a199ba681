// Room aliases and the published room directory over real HTTP: PUT/GET/DELETE /directory/room/{alias},
// GET /rooms/{roomId}/aliases, GET/PUT /directory/list/room/{roomId}, GET/POST /publicRooms.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { CS, RoomClient, assertError, enc } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const SERVER = t.config.server_name

let n = 0
/** A name no other test uses, for aliases and search terms. */
const unique = (prefix: string) => `${prefix}${process.pid}x${++n}`
const alias = (local: string) => `#${local}:${SERVER}`
const client = () => RoomClient.register(t.api)

async function admin(): Promise<RoomClient> {
  const account = await t.server.ctx.accounts.createAccount({ username: unique('admin'), password: 'a long enough password', admin: true, login: {} })
  return new RoomClient(t.api, { user_id: account.user_id as string, access_token: account.access_token as string, device_id: account.device_id as string })
}

const putAlias = (c: RoomClient, a: string, roomId: unknown) => c.put(`/directory/room/${enc(a)}`, { room_id: roomId })
const getAlias = (a: string, token?: string) => t.api.get(`${CS}/directory/room/${enc(a)}`, token)
const deleteAlias = (c: RoomClient, a: string) => t.api.delete(`${CS}/directory/room/${enc(a)}`, undefined, c.token)
const publicRooms = (c: RoomClient, body: Record<string, unknown>) => c.post('/publicRooms', body)

describe('PUT /directory/room/:roomAlias', () => {
  it('maps a new alias to the room, which GET resolves with this server in servers', async () => {
    const alice = await client()
    const roomId = await alice.createRoom()
    const a = alias(unique('room'))
    const res = await putAlias(alice, a, roomId)
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, {})
    const resolved = await getAlias(a)
    assert.equal(resolved.status, 200)
    assert.deepEqual(resolved.body, { room_id: roomId, servers: [SERVER] })
  })

  it('answers 409 M_ROOM_IN_USE for an alias already taken', async () => {
    const alice = await client()
    const [r1, r2] = [await alice.createRoom(), await alice.createRoom()]
    const a = alias(unique('taken'))
    assert.equal((await putAlias(alice, a, r1)).status, 200)
    assertError(await putAlias(alice, a, r2), 409, 'M_ROOM_IN_USE')
    assert.equal((await getAlias(a)).body.room_id, r1)
  })

  it('refuses aliases of other servers and invalid aliases with 400 M_INVALID_PARAM', async () => {
    const alice = await client()
    const roomId = await alice.createRoom()
    assertError(await putAlias(alice, `#${unique('x')}:elsewhere.example`, roomId), 400, 'M_INVALID_PARAM', 'remote')
    assertError(await putAlias(alice, `#nocolon`, roomId), 400, 'M_INVALID_PARAM', 'no server')
    assertError(await putAlias(alice, `#:${SERVER}`, roomId), 400, 'M_INVALID_PARAM', 'empty localpart')
    assertError(await putAlias(alice, `#${'a'.repeat(260)}:${SERVER}`, roomId), 400, 'M_INVALID_PARAM', 'too long')
    assertError(await putAlias(alice, alias(unique('bad')), 'not-a-room'), 400, 'M_INVALID_PARAM', 'room_id')
  })

  it('answers 400 M_BAD_JSON when room_id is not a string', async () => {
    const alice = await client()
    assertError(await putAlias(alice, alias(unique('x')), 42), 400, 'M_BAD_JSON')
  })

  it('refuses users who are not in the room with 403 M_FORBIDDEN, and unknown rooms with 404', async () => {
    const alice = await client()
    const eve = await client()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    assertError(await putAlias(eve, alias(unique('eve')), roomId), 403, 'M_FORBIDDEN')
    assertError(await putAlias(alice, alias(unique('nowhere')), `!unknown:${SERVER}`), 404, 'M_NOT_FOUND')
  })
})

describe('GET /directory/room/:roomAlias', () => {
  it('answers 404 M_NOT_FOUND for unknown aliases of this server', async () => {
    assertError(await getAlias(alias(unique('none'))), 404, 'M_NOT_FOUND')
  })

  it("answers 502 for another server's alias when that server cannot be reached", async () => {
    assertError(await getAlias('#room:unreachable.invalid'), 502, 'M_UNKNOWN', 'unreachable.invalid')
  })

  it('answers 400 M_INVALID_PARAM for something that is not an alias', async () => {
    assertError(await getAlias('#no-server-part'), 400, 'M_INVALID_PARAM')
  })

  it('resolves the alias createRoom made from room_alias_name', async () => {
    const alice = await client()
    const local = unique('created')
    const roomId = await alice.createRoom({ room_alias_name: local })
    assert.equal((await getAlias(alias(local))).body.room_id, roomId)
  })
})

describe('DELETE /directory/room/:roomAlias', () => {
  it("lets the alias's creator delete it, after which it no longer resolves", async () => {
    const alice = await client()
    const bob = await client()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await bob.join(roomId)
    const a = alias(unique('bobs'))
    assert.equal((await putAlias(bob, a, roomId)).status, 200)
    const res = await deleteAlias(bob, a)
    assert.equal(res.status, 200)
    assertError(await getAlias(a), 404, 'M_NOT_FOUND')
  })

  it('refuses a member without the canonical alias power level with 403 M_FORBIDDEN', async () => {
    const alice = await client()
    const bob = await client()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await bob.join(roomId)
    const a = alias(unique('alices'))
    await putAlias(alice, a, roomId)
    assertError(await deleteAlias(bob, a), 403, 'M_FORBIDDEN')
    assert.equal((await getAlias(a)).body.room_id, roomId)
  })

  it("lets a room admin delete another user's alias and takes it out of m.room.canonical_alias", async () => {
    const alice = await client()
    const bob = await client()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await bob.join(roomId)
    const [main, alt] = [alias(unique('main')), alias(unique('alt'))]
    await putAlias(bob, main, roomId)
    await putAlias(bob, alt, roomId)
    await alice.putState(roomId, 'm.room.canonical_alias', '', { alias: main, alt_aliases: [alt] })
    assert.equal((await deleteAlias(alice, main)).status, 200)
    assert.deepEqual(await alice.getState(roomId, 'm.room.canonical_alias'), { alt_aliases: [alt] })
    assert.equal((await deleteAlias(alice, alt)).status, 200)
    assert.deepEqual(await alice.getState(roomId, 'm.room.canonical_alias'), { alt_aliases: [] })
  })

  it('lets a server admin delete any alias', async () => {
    const alice = await client()
    const roomId = await alice.createRoom()
    const a = alias(unique('adm'))
    await putAlias(alice, a, roomId)
    assert.equal((await deleteAlias(await admin(), a)).status, 200)
    assertError(await getAlias(a), 404, 'M_NOT_FOUND')
  })

  it('answers 404 M_NOT_FOUND for an unknown alias', async () => {
    assertError(await deleteAlias(await client(), alias(unique('gone'))), 404, 'M_NOT_FOUND')
  })
})

describe('PUT /rooms/:roomId/state/m.room.canonical_alias', () => {
  it("takes this server's aliases only when they point to the room (400 M_BAD_ALIAS), and refuses what is not an alias", async () => {
    const alice = await client()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    const other = await alice.createRoom()
    const [main, elsewhere, missing] = [alias(unique('main')), alias(unique('elsewhere')), alias(unique('missing'))]
    await putAlias(alice, main, roomId)
    await putAlias(alice, elsewhere, other)
    const put = (content: Record<string, unknown>) => alice.putStateRaw(roomId, 'm.room.canonical_alias', '', content)
    assert.equal((await put({ alias: main, alt_aliases: ['#far:other.example'] })).status, 200)
    for (const content of [{ alias: missing }, { alias: elsewhere }, { alias: main, alt_aliases: [missing] }]) {
      const res = await put(content)
      assert.deepEqual([res.status, res.body.errcode], [400, 'M_BAD_ALIAS'], JSON.stringify(content))
    }
    for (const content of [{ alias: main.replace('#', '%') }, { alias: 7 }, { alt_aliases: 'not a list' }, { alt_aliases: ['#nocolon'] }]) {
      const res = await put(content)
      assert.deepEqual([res.status, res.body.errcode], [400, 'M_INVALID_PARAM'], JSON.stringify(content))
    }
    // An alias the current event names already is not checked again: one gone since (here removed from the
    // table alone, as a crash between the two writes of a deletion could leave it) may stay.
    await t.server.ctx.storage.db.query('DELETE FROM room_aliases WHERE alias = $1', [main])
    assert.equal((await put({ alias: main, alt_aliases: ['#far:other.example', '#more:other.example'] })).status, 200)
    assert.equal((await put({ alias: main, alt_aliases: [missing] })).body.errcode, 'M_BAD_ALIAS')
  })
})

describe('GET /rooms/:roomId/aliases', () => {
  it("lists the room's local aliases to its members", async () => {
    const alice = await client()
    const roomId = await alice.createRoom()
    const [a, b] = [alias(unique('a')), alias(unique('b'))]
    await putAlias(alice, b, roomId)
    await putAlias(alice, a, roomId)
    const res = await alice.get(`/rooms/${enc(roomId)}/aliases`)
    assert.equal(res.status, 200)
    assert.deepEqual(res.body.aliases.sort(), [a, b].sort())
  })

  it('refuses non-members with 403 M_FORBIDDEN unless the room is world_readable', async () => {
    const alice = await client()
    const eve = await client()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    assertError(await eve.get(`/rooms/${enc(roomId)}/aliases`), 403, 'M_FORBIDDEN')
    await alice.putState(roomId, 'm.room.history_visibility', '', { history_visibility: 'world_readable' })
    const res = await eve.get(`/rooms/${enc(roomId)}/aliases`)
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, { aliases: [] })
  })
})

describe('GET/PUT /directory/list/room/:roomId', () => {
  it('reads private for new rooms and public once the creator publishes them', async () => {
    const alice = await client()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    assert.deepEqual((await t.api.get(`${CS}/directory/list/room/${enc(roomId)}`)).body, { visibility: 'private' })
    assert.equal((await alice.put(`/directory/list/room/${enc(roomId)}`, { visibility: 'public' })).status, 200)
    assert.deepEqual((await t.api.get(`${CS}/directory/list/room/${enc(roomId)}`)).body, { visibility: 'public' })
    assert.equal((await alice.put(`/directory/list/room/${enc(roomId)}`, { visibility: 'private' })).status, 200)
    assert.deepEqual((await t.api.get(`${CS}/directory/list/room/${enc(roomId)}`)).body, { visibility: 'private' })
  })

  it('publishes when the visibility is omitted (it defaults to public)', async () => {
    const alice = await client()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    assert.equal((await alice.put(`/directory/list/room/${enc(roomId)}`, {})).status, 200)
    assert.deepEqual((await t.api.get(`${CS}/directory/list/room/${enc(roomId)}`)).body, { visibility: 'public' })
  })

  it('refuses members without the power to change the canonical alias, and non-members, with 403 M_FORBIDDEN', async () => {
    const alice = await client()
    const bob = await client()
    const eve = await client()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await bob.join(roomId)
    assertError(await bob.put(`/directory/list/room/${enc(roomId)}`, { visibility: 'public' }), 403, 'M_FORBIDDEN', 'member')
    assertError(await eve.put(`/directory/list/room/${enc(roomId)}`, { visibility: 'public' }), 403, 'M_FORBIDDEN', 'stranger')
    assert.equal((await (await admin()).put(`/directory/list/room/${enc(roomId)}`, { visibility: 'public' })).status, 200, 'server admin')
  })

  it('answers 404 M_NOT_FOUND for unknown rooms and 400 M_BAD_JSON for an unknown visibility', async () => {
    const alice = await client()
    assertError(await t.api.get(`${CS}/directory/list/room/${enc(`!nope:${SERVER}`)}`), 404, 'M_NOT_FOUND')
    assertError(await alice.put(`/directory/list/room/${enc(`!nope:${SERVER}`)}`, { visibility: 'public' }), 404, 'M_NOT_FOUND')
    const roomId = await alice.createRoom()
    assertError(await alice.put(`/directory/list/room/${enc(roomId)}`, { visibility: 'hidden' }), 400, 'M_BAD_JSON')
  })
})

describe('GET/POST /publicRooms', () => {
  it('describes each published room: name, topic, alias, avatar, counts, join rule, history and guest access, type', async () => {
    const alice = await client()
    const bob = await client()
    const tag = unique('described')
    const local = unique('described')
    const roomId = await alice.createRoom({
      preset: 'public_chat',
      visibility: 'public',
      name: `Room ${tag}`,
      topic: 'All about things',
      room_alias_name: local,
      creation_content: { type: 'm.space' },
      initial_state: [
        { type: 'm.room.avatar', content: { url: 'mxc://example.org/avatar' } },
        { type: 'm.room.history_visibility', content: { history_visibility: 'world_readable' } },
        { type: 'm.room.guest_access', content: { guest_access: 'can_join' } },
      ],
    })
    await bob.join(roomId)
    const res = await publicRooms(alice, { filter: { generic_search_term: tag } })
    assert.equal(res.status, 200)
    assert.deepEqual(res.body.chunk, [
      {
        room_id: roomId,
        name: `Room ${tag}`,
        topic: 'All about things',
        canonical_alias: alias(local),
        avatar_url: 'mxc://example.org/avatar',
        num_joined_members: 2,
        world_readable: true,
        guest_can_join: true,
        join_rule: 'public',
        room_type: 'm.space',
      },
    ])
    assert.equal(res.body.total_room_count_estimate, 1)
    assert.equal(res.body.next_batch, undefined)
    assert.equal(res.body.prev_batch, undefined)
  })

  it('follows state changes: renamed rooms and new members show at once', async () => {
    const alice = await client()
    const bob = await client()
    const tag = unique('renamed')
    const roomId = await alice.createRoom({ preset: 'public_chat', visibility: 'public', name: 'Before' })
    await alice.putState(roomId, 'm.room.topic', '', { topic: `After ${tag}` })
    await alice.putState(roomId, 'm.room.name', '', { name: 'After' })
    await bob.join(roomId)
    const [entry] = (await publicRooms(alice, { filter: { generic_search_term: tag } })).body.chunk
    assert.equal(entry.name, 'After')
    assert.equal(entry.num_joined_members, 2)
    await bob.leave(roomId)
    const [again] = (await publicRooms(alice, { filter: { generic_search_term: tag } })).body.chunk
    assert.equal(again.num_joined_members, 1)
  })

  it('drops a redacted name or topic from the entry', async () => {
    const alice = await client()
    const tag = unique('redacted')
    const roomId = await alice.createRoom({ preset: 'public_chat', visibility: 'public', name: `Name ${tag}`, topic: `Topic ${tag}` })
    const nameEvent = (await alice.get(`/rooms/${enc(roomId)}/state/m.room.name/?format=event`)).body.event_id
    assert.equal((await alice.put(`/rooms/${enc(roomId)}/redact/${enc(nameEvent)}/r1`, {})).status, 200)
    const [entry] = (await publicRooms(alice, { filter: { generic_search_term: `Topic ${tag}` } })).body.chunk
    assert.equal(entry.room_id, roomId)
    assert.equal(entry.name, undefined)
    assert.equal(entry.topic, `Topic ${tag}`)
  })

  it('lists only published rooms, and leaves out invite-only rooms nobody can read or join', async () => {
    const alice = await client()
    const tag = unique('listed')
    const listed = await alice.createRoom({ preset: 'public_chat', visibility: 'public', name: tag })
    await alice.createRoom({ preset: 'public_chat', name: tag })
    await alice.createRoom({ preset: 'private_chat', visibility: 'public', name: tag })
    const res = await publicRooms(alice, { filter: { generic_search_term: tag } })
    assert.deepEqual(res.body.chunk.map((r: { room_id: string }) => r.room_id), [listed])
  })

  it('orders rooms largest first and pages through them with next_batch and prev_batch', async () => {
    const tag = unique('paged')
    const owners = await Promise.all([1, 2, 3, 4, 5].map(() => client()))
    const joiners = await Promise.all([1, 2, 3, 4].map(() => client()))
    // Room i has i + 1 members, so the directory order is the reverse of creation.
    const rooms: string[] = []
    for (const [i, owner] of owners.entries()) {
      const roomId = await owner.createRoom({ preset: 'public_chat', visibility: 'public', name: `${tag} ${i}` })
      for (const j of joiners.slice(0, i)) await j.join(roomId)
      rooms.push(roomId)
    }
    const expected = [...rooms].reverse()
    const search = (extra: Record<string, unknown>) => publicRooms(owners[0] as RoomClient, { filter: { generic_search_term: tag }, limit: 2, ...extra })
    const page1 = (await search({})).body
    assert.deepEqual(page1.chunk.map((r: { room_id: string }) => r.room_id), expected.slice(0, 2))
    assert.deepEqual(page1.chunk.map((r: { num_joined_members: number }) => r.num_joined_members), [5, 4])
    assert.equal(page1.total_room_count_estimate, 5)
    assert.equal(page1.prev_batch, undefined)
    const page2 = (await search({ since: page1.next_batch })).body
    assert.deepEqual(page2.chunk.map((r: { room_id: string }) => r.room_id), expected.slice(2, 4))
    assert.ok(page2.prev_batch)
    const page3 = (await search({ since: page2.next_batch })).body
    assert.deepEqual(page3.chunk.map((r: { room_id: string }) => r.room_id), expected.slice(4))
    assert.equal(page3.next_batch, undefined)
    const back = (await search({ since: page3.prev_batch })).body
    assert.deepEqual(back.chunk.map((r: { room_id: string }) => r.room_id), expected.slice(2, 4))
    const first = (await search({ since: back.prev_batch })).body
    assert.deepEqual(first.chunk.map((r: { room_id: string }) => r.room_id), expected.slice(0, 2))
    assert.equal(first.prev_batch, undefined)
    assert.ok(first.next_batch)
  })

  it('searches name, topic and canonical alias case-insensitively, taking wildcards literally', async () => {
    const alice = await client()
    const tag = unique('Search')
    const byName = await alice.createRoom({ preset: 'public_chat', visibility: 'public', name: `The ${tag} room` })
    const byTopic = await alice.createRoom({ preset: 'public_chat', visibility: 'public', topic: `about ${tag.toLowerCase()}` })
    const byAlias = await alice.createRoom({ preset: 'public_chat', visibility: 'public', room_alias_name: `${tag.toUpperCase()}-alias` })
    const found = (await publicRooms(alice, { filter: { generic_search_term: tag } })).body.chunk.map((r: { room_id: string }) => r.room_id)
    assert.deepEqual(found.sort(), [byName, byTopic, byAlias].sort())
    const wildcard = await publicRooms(alice, { filter: { generic_search_term: `${tag}%` } })
    assert.deepEqual(wildcard.body.chunk, [])
  })

  it('filters by room_types, null standing for rooms without a type', async () => {
    const alice = await client()
    const tag = unique('typed')
    const space = await alice.createRoom({ preset: 'public_chat', visibility: 'public', name: tag, creation_content: { type: 'm.space' } })
    const plain = await alice.createRoom({ preset: 'public_chat', visibility: 'public', name: tag })
    const ids = async (room_types: unknown) =>
      (await publicRooms(alice, { filter: { generic_search_term: tag, room_types } })).body.chunk.map((r: { room_id: string }) => r.room_id).sort()
    assert.deepEqual(await ids(['m.space']), [space])
    assert.deepEqual(await ids([null]), [plain])
    assert.deepEqual(await ids([null, 'm.space']), [space, plain].sort())
  })

  it('answers GET without an access token, honouring limit', async () => {
    const alice = await client()
    await alice.createRoom({ preset: 'public_chat', visibility: 'public' })
    await alice.createRoom({ preset: 'public_chat', visibility: 'public' })
    const res = await t.api.get(`${CS}/publicRooms?limit=1&server=${SERVER}`)
    assert.equal(res.status, 200)
    assert.equal(res.body.chunk.length, 1)
    assert.ok(res.body.next_batch)
    assert.ok(res.body.total_room_count_estimate >= 2)
    const next = await t.api.get(`${CS}/publicRooms?limit=1&since=${encodeURIComponent(res.body.next_batch)}`)
    assert.equal(next.status, 200)
    assert.notEqual(next.body.chunk[0].room_id, res.body.chunk[0].room_id)
  })

  it('reads a null since and limit in a POST body as absent, and lists every room up to the largest page without a limit', async () => {
    const alice = await client()
    const tag = unique('unlimited')
    const rooms = []
    for (let i = 0; i < 3; i++) rooms.push(await alice.createRoom({ preset: 'public_chat', visibility: 'public', name: `Room ${tag} ${i}` }))
    const res = await publicRooms(alice, { since: null, limit: null, filter: { generic_search_term: tag } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body.chunk.map((r: { room_id: string }) => r.room_id).sort(), rooms.sort())
    // Without a limit, the whole directory (this one is well under the largest page), as Synapse lists it.
    const all = await t.api.get(`${CS}/publicRooms`)
    assert.equal(all.body.chunk.length, all.body.total_room_count_estimate)
    assert.equal(all.body.next_batch, undefined)
  })

  it('lists nothing for a third-party network', async () => {
    const res = await publicRooms(await client(), { third_party_instance_id: 'irc' })
    assert.deepEqual(res.body, { chunk: [], total_room_count_estimate: 0 })
  })

  it('refuses bad tokens and limits with 400 M_INVALID_PARAM / M_BAD_JSON, and answers 502 for a server it cannot reach', async () => {
    const alice = await client()
    assertError(await t.api.get(`${CS}/publicRooms?since=garbage`), 400, 'M_INVALID_PARAM', 'since')
    assertError(await t.api.get(`${CS}/publicRooms?limit=0`), 400, 'M_INVALID_PARAM', 'limit')
    assertError(await publicRooms(alice, { limit: 'ten' }), 400, 'M_BAD_JSON', 'body limit')
    assertError(await publicRooms(alice, { filter: { room_types: [1] } }), 400, 'M_BAD_JSON', 'room_types')
    // A server that cannot be reached (no such name here): 502.
    assert.equal((await t.api.get(`${CS}/publicRooms?server=other.example`)).status, 502)
    assertError(await t.api.get(`${CS}/publicRooms?server=${encodeURIComponent('not a name')}`), 400, 'M_INVALID_PARAM', 'server')
  })

  it('requires an access token for POST', async () => {
    assertError(await t.api.post(`${CS}/publicRooms`, {}), 401, 'M_MISSING_TOKEN')
  })
})

describe('GET /mutual_rooms', () => {
  const mutual = (c: RoomClient, params: Record<string, string>) => t.api.get(`/_matrix/client/v1/mutual_rooms?${new URLSearchParams(params)}`, c.token)

  it('lists the rooms both users are joined to, in pages with the total count', async () => {
    const [alice, bob, carol] = [await client(), await client(), await client()]
    const shared: string[] = []
    // 102 shared rooms: more than one page of 100.
    for (let batch = 0; batch < 102; batch += 17) {
      shared.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(17, 102 - batch) }, async () => {
            const roomId = await alice.createRoom({ preset: 'public_chat' })
            await bob.join(roomId)
            return roomId
          }),
        )),
      )
    }
    const onlyAlice = await alice.createRoom({ preset: 'public_chat' })
    const left = await alice.createRoom({ preset: 'public_chat' })
    await bob.join(left)
    await bob.leave(left)
    const invited = await alice.createRoom({ preset: 'private_chat', invite: [bob.userId] })

    const first = await mutual(alice, { user_id: bob.userId })
    assert.equal(first.status, 200, JSON.stringify(first.body))
    assert.equal(first.body.count, 102)
    assert.equal(first.body.joined.length, 100)
    assert.equal(typeof first.body.next_batch, 'string')
    const second = await mutual(alice, { user_id: bob.userId, from: first.body.next_batch })
    assert.equal(second.status, 200)
    assert.equal(second.body.count, 102)
    assert.equal(second.body.next_batch, undefined, 'the last page has no next_batch')
    const all = [...first.body.joined, ...second.body.joined]
    assert.deepEqual([...all].sort(), [...shared].sort(), 'every shared room once; not rooms one of them left, is invited to or is not in')
    for (const roomId of [onlyAlice, left, invited]) assert.ok(!all.includes(roomId))
    assert.deepEqual((await mutual(bob, { user_id: carol.userId })).body, { joined: [], count: 0 })
    assert.deepEqual((await mutual(bob, { user_id: `@nobody:${SERVER}` })).body, { joined: [], count: 0 }, 'an unknown user shares nothing')
  })

  it('refuses a missing, invalid or own user ID and unknown tokens with 400', async () => {
    const alice = await client()
    assert.equal((await t.api.get('/_matrix/client/v1/mutual_rooms', alice.token)).status, 400)
    assertError(await mutual(alice, { user_id: 'not-a-user' }), 400, 'M_INVALID_PARAM')
    assertError(await mutual(alice, { user_id: alice.userId }), 400, 'M_INVALID_PARAM')
    assertError(await mutual(alice, { user_id: `@bob:${SERVER}`, from: 'garbage' }), 400, 'M_INVALID_PARAM')
    assertError(await t.api.get(`/_matrix/client/v1/mutual_rooms?user_id=${enc(`@bob:${SERVER}`)}`, null), 401, 'M_MISSING_TOKEN')
  })
})
