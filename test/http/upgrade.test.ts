// Room upgrades over real HTTP: POST /rooms/{roomId}/upgrade (the replacement room, its copied state, the
// tombstone, the restricted old room, moved aliases and listing), the m.room_versions capability and the
// configured default version of new rooms (rooms.default_room_version).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { CS, RoomClient, assertError, enc, type ClientEventJson } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const onEleven: TestServer = await startTestServer({ 'rooms.default_room_version': '11' })
const SERVER = t.config.server_name

let n = 0
const unique = (prefix: string) => `${prefix}${process.pid}x${++n}`
const client = () => RoomClient.register(t.api)

const upgrade = (c: RoomClient, roomId: string, body: Record<string, unknown>) => c.post(`/rooms/${enc(roomId)}/upgrade`, body)

async function upgraded(c: RoomClient, roomId: string, body: Record<string, unknown>): Promise<string> {
  const res = await upgrade(c, roomId, body)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  assert.equal(typeof res.body.replacement_room, 'string')
  return res.body.replacement_room
}

const stateOf = (events: ClientEventJson[], type: string, key = '') => events.find((e) => e.type === type && e.state_key === key)

describe('POST /rooms/:roomId/upgrade', () => {
  it('creates the replacement room with the old state, then tombstones and restricts the old room', async () => {
    const alice = await client()
    const bob = await client()
    const oldRoom = await alice.createRoom({
      preset: 'public_chat',
      name: 'Old name',
      topic: 'Old topic',
      power_level_content_override: { users_default: 0, events: { 'm.room.topic': 20 } },
      initial_state: [
        { type: 'm.room.avatar', content: { url: 'mxc://example.org/a' } },
        { type: 'm.room.guest_access', content: { guest_access: 'can_join' } },
        { type: 'm.room.history_visibility', content: { history_visibility: 'joined' } },
        { type: 'm.room.server_acl', content: { allow: ['*'], deny: ['bad.example'], allow_ip_literals: false } },
        { type: 'm.room.encryption', content: { algorithm: 'm.megolm.v1.aes-sha2' } },
        { type: 'org.example.custom', content: { kept: false } },
      ],
    })
    await bob.join(oldRoom)
    await alice.putState(oldRoom, 'm.room.power_levels', '', { ...(await alice.getState(oldRoom, 'm.room.power_levels')), users: { [bob.userId]: 42 } })
    const newRoom = await upgraded(alice, oldRoom, { new_version: '12' })
    assert.notEqual(newRoom, oldRoom)

    const tombstone = await alice.getState(oldRoom, 'm.room.tombstone')
    assert.equal(tombstone.replacement_room, newRoom)
    assert.equal(typeof tombstone.body, 'string')
    const oldLevels = await alice.getState(oldRoom, 'm.room.power_levels')
    assert.equal(oldLevels.events_default, 50)
    assert.equal(oldLevels.invite, 50)

    const state = await alice.fullState(newRoom)
    const create = stateOf(state, 'm.room.create') as ClientEventJson
    assert.equal(create.content.room_version, '12')
    assert.deepEqual(create.content.predecessor, { room_id: oldRoom })
    assert.equal(create.sender, alice.userId)
    assert.equal(stateOf(state, 'm.room.name')?.content.name, 'Old name')
    assert.equal(stateOf(state, 'm.room.topic')?.content.topic, 'Old topic')
    assert.equal(stateOf(state, 'm.room.avatar')?.content.url, 'mxc://example.org/a')
    assert.equal(stateOf(state, 'm.room.join_rules')?.content.join_rule, 'public')
    assert.equal(stateOf(state, 'm.room.guest_access')?.content.guest_access, 'can_join')
    assert.equal(stateOf(state, 'm.room.history_visibility')?.content.history_visibility, 'joined')
    assert.deepEqual(stateOf(state, 'm.room.server_acl')?.content, { allow: ['*'], deny: ['bad.example'], allow_ip_literals: false })
    assert.equal(stateOf(state, 'm.room.encryption')?.content.algorithm, 'm.megolm.v1.aes-sha2')
    assert.equal(stateOf(state, 'org.example.custom'), undefined, 'state outside the list is not copied')
    const levels = stateOf(state, 'm.room.power_levels')?.content as Record<string, any>
    assert.deepEqual(levels.users, { [bob.userId]: 42 }, 'users carried over, the creator left out (v12)')
    assert.equal(levels.events['m.room.topic'], 20)
    assert.equal(levels.events_default, 0, 'the new room is not restricted')
    const members = state.filter((e) => e.type === 'm.room.member').map((e) => e.state_key)
    assert.deepEqual(members, [alice.userId], 'members are not copied')
  })

  it('gives the replacement of a room without m.room.guest_access an explicit forbidden one', async () => {
    const alice = await client()
    const oldRoom = await alice.createRoom({ preset: 'public_chat' })
    assert.equal((await alice.get(`/rooms/${enc(oldRoom)}/state/m.room.guest_access`)).status, 404)
    const newRoom = await upgraded(alice, oldRoom, { new_version: '12' })
    assert.deepEqual(await alice.getState(newRoom, 'm.room.guest_access'), { guest_access: 'forbidden' })
  })

  it('moves local aliases, the canonical alias and the directory listing to the new room', async () => {
    const alice = await client()
    const local = unique('moving')
    const alt = `#${unique('alt')}:${SERVER}`
    const oldRoom = await alice.createRoom({ preset: 'public_chat', visibility: 'public', room_alias_name: local })
    assert.equal((await alice.put(`/directory/room/${enc(alt)}`, { room_id: oldRoom })).status, 200)
    await alice.putState(oldRoom, 'm.room.canonical_alias', '', { alias: `#${local}:${SERVER}`, alt_aliases: [alt, '#remote:other.example'] })
    const newRoom = await upgraded(alice, oldRoom, { new_version: '12' })

    assert.equal((await t.api.get(`${CS}/directory/room/${enc(`#${local}:${SERVER}`)}`)).body.room_id, newRoom)
    assert.equal((await t.api.get(`${CS}/directory/room/${enc(alt)}`)).body.room_id, newRoom)
    assert.deepEqual(await alice.getState(newRoom, 'm.room.canonical_alias'), { alias: `#${local}:${SERVER}`, alt_aliases: [alt] })
    assert.deepEqual(await alice.getState(oldRoom, 'm.room.canonical_alias'), { alt_aliases: ['#remote:other.example'] })
    assert.deepEqual((await t.api.get(`${CS}/directory/list/room/${enc(oldRoom)}`)).body, { visibility: 'private' })
    assert.deepEqual((await t.api.get(`${CS}/directory/list/room/${enc(newRoom)}`)).body, { visibility: 'public' })
  })

  for (const version of ['11', '12']) {
    it(`copies each local member's tags, m.direct entry and push rules for the old room to the new one (to v${version})`, async () => {
      const alice = await client()
      const bob = await client()
      const carol = await client()
      const oldRoom = await alice.createRoom({ preset: 'public_chat', room_version: '10' })
      await bob.join(oldRoom)
      await carol.join(oldRoom)
      await carol.leave(oldRoom)
      for (const c of [bob, carol]) {
        assert.equal((await c.put(`/user/${enc(c.userId)}/rooms/${enc(oldRoom)}/tags/work`, { order: 0.5 })).status, 200)
      }
      assert.equal((await bob.put(`/user/${enc(bob.userId)}/account_data/m.direct`, { [alice.userId]: ['!other:elsewhere', oldRoom] })).status, 200)
      assert.equal((await bob.put(`/pushrules/global/room/${enc(oldRoom)}`, { actions: ['dont_notify'] })).status, 200)
      const condition = { kind: 'event_match', key: 'room_id', pattern: oldRoom }
      assert.equal((await bob.put('/pushrules/global/override/loud', { actions: ['notify'], conditions: [condition] })).status, 200)
      const since = (await bob.sync()).next_batch

      const newRoom = await upgraded(alice, oldRoom, { new_version: version })

      assert.deepEqual((await bob.get(`/user/${enc(bob.userId)}/rooms/${enc(newRoom)}/tags`)).body, { tags: { work: { order: 0.5 } } })
      assert.deepEqual((await carol.get(`/user/${enc(carol.userId)}/rooms/${enc(newRoom)}/tags`)).body, { tags: {} }, 'a member who left is not one')
      assert.deepEqual((await bob.get(`/user/${enc(bob.userId)}/account_data/m.direct`)).body, { [alice.userId]: ['!other:elsewhere', oldRoom, newRoom] })
      const rules = (await bob.get('/pushrules/global/')).body
      assert.deepEqual(
        rules.room.map((r: { rule_id: string; actions: unknown[] }) => [r.rule_id, r.actions]),
        [[newRoom, ['dont_notify']], [oldRoom, ['dont_notify']]],
      )
      const override = rules.override.find((r: { rule_id: string }) => r.rule_id === newRoom)
      assert.deepEqual(override?.conditions, [{ ...condition, pattern: newRoom }])
      assert.ok(rules.override.some((r: { rule_id: string }) => r.rule_id === 'loud'), 'the old rule stays')
      // Bob's clients hear of it: m.direct and m.push_rules come down /sync.
      const synced = await bob.sync({ since })
      assert.deepEqual(synced.account_data.events.map((e: { type: string }) => e.type).sort(), ['m.direct', 'm.push_rules'])
    })
  }

  it('leaves aliases, listing and tags alone when a room only names another as its predecessor', async () => {
    const alice = await client()
    const mallory = await client()
    const local = unique('kept')
    const oldRoom = await alice.createRoom({ preset: 'public_chat', visibility: 'public', room_alias_name: local })
    assert.equal((await alice.put(`/user/${enc(alice.userId)}/rooms/${enc(oldRoom)}/tags/fav`, {})).status, 200)
    const impostor = await mallory.createRoom({ preset: 'public_chat', creation_content: { predecessor: { room_id: oldRoom } } })
    await alice.join(impostor)

    assert.equal((await t.api.get(`${CS}/directory/room/${enc(`#${local}:${SERVER}`)}`)).body.room_id, oldRoom)
    assert.deepEqual((await t.api.get(`${CS}/directory/list/room/${enc(oldRoom)}`)).body, { visibility: 'public' })
    assert.deepEqual((await alice.get(`/user/${enc(alice.userId)}/rooms/${enc(impostor)}/tags`)).body, { tags: {} })
  })

  it('links a pre-v12 replacement to the tombstone event through predecessor.event_id', async () => {
    const alice = await client()
    const oldRoom = await alice.createRoom({ room_version: '10' })
    const newRoom = await upgraded(alice, oldRoom, { new_version: '11' })
    assert.match(newRoom, new RegExp(`^![A-Za-z0-9]+:${SERVER.replace('.', '\\.')}$`))
    const tombstone = (await alice.fullState(oldRoom)).find((e) => e.type === 'm.room.tombstone') as ClientEventJson
    assert.equal(tombstone.content.replacement_room, newRoom)
    const create = await alice.getState(newRoom, 'm.room.create')
    assert.deepEqual(create.predecessor, { room_id: oldRoom, event_id: tombstone.event_id })
    assert.equal(create.room_version, '11')
    const levels = await alice.getState(newRoom, 'm.room.power_levels')
    assert.equal(levels.users[alice.userId], 100, 'pre-v12 the upgrader keeps their level in users')
  })

  it('puts the creator in content.creator when the new version predates v11', async () => {
    const alice = await client()
    const oldRoom = await alice.createRoom({ room_version: '9' })
    const newRoom = await upgraded(alice, oldRoom, { new_version: '10' })
    const create = await alice.getState(newRoom, 'm.room.create')
    assert.equal(create.creator, alice.userId)
  })

  it('converts string power levels of old versions for versions that need integers', async () => {
    const alice = await client()
    const oldRoom = await alice.createRoom({ room_version: '9' })
    const levels = await alice.getState(oldRoom, 'm.room.power_levels')
    await alice.putState(oldRoom, 'm.room.power_levels', '', { ...levels, kick: '60', events: { ...levels.events, 'm.room.topic': '30' } })
    const newRoom = await upgraded(alice, oldRoom, { new_version: '12' })
    const copied = await alice.getState(newRoom, 'm.room.power_levels')
    assert.equal(copied.kick, 60)
    assert.equal(copied.events['m.room.topic'], 30)
  })

  it('raises the upgrader only while copying state, then restores their old level', async () => {
    const alice = await client()
    const bob = await client()
    const oldRoom = await alice.createRoom({ room_version: '11', preset: 'public_chat' })
    await bob.join(oldRoom)
    const levels = await alice.getState(oldRoom, 'm.room.power_levels')
    await alice.putState(oldRoom, 'm.room.power_levels', '', {
      ...levels,
      users: { ...levels.users, [bob.userId]: 60 },
      events: { ...levels.events, 'm.room.tombstone': 60 },
    })
    const newRoom = await upgraded(bob, oldRoom, { new_version: '11' })
    const events = (await bob.messages(newRoom, { dir: 'f', limit: 50 })).chunk.filter((e) => e.type === 'm.room.power_levels')
    assert.equal(events.length, 2, 'a raised level first, the restored one last')
    assert.equal(events[0]?.content.users[bob.userId], 100)
    assert.equal(events[1]?.content.users[bob.userId], 60)
    assert.equal((await bob.getState(newRoom, 'm.room.power_levels')).users[bob.userId], 60)
  })

  it('makes additional_creators creators of a v12 replacement, out of the users map', async () => {
    const alice = await client()
    const bob = await client()
    const oldRoom = await alice.createRoom({ room_version: '11', preset: 'public_chat' })
    await bob.join(oldRoom)
    const levels = await alice.getState(oldRoom, 'm.room.power_levels')
    await alice.putState(oldRoom, 'm.room.power_levels', '', { ...levels, users: { ...levels.users, [bob.userId]: 50 } })
    const newRoom = await upgraded(alice, oldRoom, { new_version: '12', additional_creators: [bob.userId] })
    const create = await alice.getState(newRoom, 'm.room.create')
    assert.deepEqual(create.additional_creators, [bob.userId])
    const copied = await alice.getState(newRoom, 'm.room.power_levels')
    assert.deepEqual(copied.users, {})
  })

  it('copies the type and the children of a space, and carries bans over', async () => {
    const alice = await client()
    const eve = await client()
    const child = await alice.createRoom()
    const space = await alice.createRoom({ preset: 'public_chat', creation_content: { type: 'm.space' } })
    await alice.putState(space, 'm.space.child', child, { via: [SERVER] })
    await alice.putState(space, 'm.space.child', `!removed:${SERVER}`, {})
    await eve.join(space)
    assert.equal((await alice.membershipRaw('ban', space, eve.userId, 'spam')).status, 200)
    const newSpace = await upgraded(alice, space, { new_version: '12' })
    const state = await alice.fullState(newSpace)
    assert.equal(stateOf(state, 'm.room.create')?.content.type, 'm.space')
    assert.deepEqual(stateOf(state, 'm.space.child', child)?.content, { via: [SERVER] })
    assert.equal(stateOf(state, 'm.space.child', `!removed:${SERVER}`), undefined)
    assert.deepEqual(stateOf(state, 'm.room.member', eve.userId)?.content, { membership: 'ban', reason: 'spam' })
  })

  it('answers 400 M_UNSUPPORTED_ROOM_VERSION for an unknown version, changing nothing', async () => {
    const alice = await client()
    const roomId = await alice.createRoom()
    assertError(await upgrade(alice, roomId, { new_version: '999' }), 400, 'M_UNSUPPORTED_ROOM_VERSION')
    assertError(await alice.get(`/rooms/${enc(roomId)}/state/m.room.tombstone/`), 404, 'M_NOT_FOUND')
  })

  it('refuses members without the power to send m.room.tombstone with 403 M_FORBIDDEN, changing nothing', async () => {
    const alice = await client()
    const bob = await client()
    const roomId = await alice.createRoom({ preset: 'public_chat', room_alias_name: unique('kept') })
    await bob.join(roomId)
    assertError(await upgrade(bob, roomId, { new_version: '12' }), 403, 'M_FORBIDDEN')
    assertError(await alice.get(`/rooms/${enc(roomId)}/state/m.room.tombstone/`), 404, 'M_NOT_FOUND')
    assert.deepEqual((await bob.get('/joined_rooms')).body.joined_rooms, [roomId])
  })

  it('refuses non-members with 403 M_FORBIDDEN and unknown rooms with 404 M_NOT_FOUND', async () => {
    const alice = await client()
    const eve = await client()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    assertError(await upgrade(eve, roomId, { new_version: '12' }), 403, 'M_FORBIDDEN')
    assertError(await upgrade(alice, `!unknown:${SERVER}`, { new_version: '12' }), 404, 'M_NOT_FOUND')
  })

  it('refuses malformed bodies with M_MISSING_PARAM, M_BAD_JSON and M_INVALID_PARAM', async () => {
    const alice = await client()
    const roomId = await alice.createRoom()
    assertError(await upgrade(alice, roomId, {}), 400, 'M_MISSING_PARAM')
    assertError(await upgrade(alice, roomId, { new_version: 12 }), 400, 'M_BAD_JSON')
    assertError(await upgrade(alice, roomId, { new_version: '12', additional_creators: 'bob' }), 400, 'M_BAD_JSON')
    assertError(await upgrade(alice, roomId, { new_version: '12', additional_creators: ['bob'] }), 400, 'M_INVALID_PARAM')
  })
})

describe('GET /capabilities m.room_versions', () => {
  it('offers every supported room version as stable, with 12 the default', async () => {
    const alice = await client()
    const res = await alice.get('/capabilities')
    assert.equal(res.status, 200)
    const versions = res.body.capabilities['m.room_versions']
    assert.equal(versions.default, '12')
    assert.deepEqual(versions.available, Object.fromEntries(Array.from({ length: 12 }, (_, i) => [String(i + 1), 'stable'])))
  })
})

describe('rooms.default_room_version', () => {
  it('makes createRoom without a room_version create a room of the configured version', async () => {
    const alice = await RoomClient.register(onEleven.api)
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    assert.match(roomId, new RegExp(`^![A-Za-z0-9]+:${onEleven.config.server_name.replaceAll('.', '\\.')}$`), 'a v11 room ID names its server')
    const create = await alice.getState(roomId, 'm.room.create')
    assert.equal(create.room_version, '11')
    assert.equal('creator' in create, false)
    // Power levels as v11 sets them: the creator at 100 (v12 gives creators infinite power instead).
    assert.equal((await alice.getState(roomId, 'm.room.power_levels')).users[alice.userId], 100)
  })

  it('still creates the version a request names', async () => {
    const alice = await RoomClient.register(onEleven.api)
    const roomId = await alice.createRoom({ room_version: '12' })
    assert.equal((await alice.getState(roomId, 'm.room.create')).room_version, '12')
  })

  it('is the default /capabilities advertises', async () => {
    const alice = await RoomClient.register(onEleven.api)
    const res = await alice.get('/capabilities')
    assert.equal(res.status, 200)
    assert.equal(res.body.capabilities['m.room_versions'].default, '11')
  })

  it('leaves version 12 the default of a server that does not set it', async () => {
    const alice = await client()
    const roomId = await alice.createRoom()
    assert.equal((await alice.getState(roomId, 'm.room.create')).room_version, '12')
  })
})
