// POST /createRoom (client-server API, "Creation"): presets, visibility, aliases, name and topic,
// invites, initial_state, power level overrides, creation_content, every room version 1–12 and the
// errors the spec names.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { CS, RoomClient, assertError, enc, ids, type ClientEventJson } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const server = t.config.server_name

const user = () => RoomClient.register(t.api)

/** Every event of a room, oldest first, as the creator reads them. */
async function history(c: RoomClient, roomId: string): Promise<ClientEventJson[]> {
  return (await c.messages(roomId, { dir: 'f', limit: 100 })).chunk
}

describe('POST /createRoom presets and visibility', () => {
  it('private_chat (the default) makes an invite-only room with shared history and guests allowed', async () => {
    const alice = await user()
    const roomId = await alice.createRoom()
    assert.equal((await alice.getState(roomId, 'm.room.join_rules')).join_rule, 'invite')
    assert.equal((await alice.getState(roomId, 'm.room.history_visibility')).history_visibility, 'shared')
    assert.equal((await alice.getState(roomId, 'm.room.guest_access')).guest_access, 'can_join')
  })

  it('public_chat makes a public room with guests forbidden by the absence of m.room.guest_access', async () => {
    const alice = await user()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    assert.equal((await alice.getState(roomId, 'm.room.join_rules')).join_rule, 'public')
    assert.equal((await alice.getState(roomId, 'm.room.history_visibility')).history_visibility, 'shared')
    assertError(await alice.get(`/rooms/${enc(roomId)}/state/m.room.guest_access`), 404, 'M_NOT_FOUND')
  })

  it('visibility public without a preset implies public_chat; an explicit preset wins over visibility', async () => {
    const alice = await user()
    const bob = await user()
    const pub = await alice.createRoom({ visibility: 'public' })
    assert.equal((await alice.getState(pub, 'm.room.join_rules')).join_rule, 'public')
    assert.equal(await bob.join(pub), pub, 'anyone may join a public_chat room')
    const priv = await alice.createRoom({ visibility: 'public', preset: 'private_chat' })
    assert.equal((await alice.getState(priv, 'm.room.join_rules')).join_rule, 'invite')
    assertError(await bob.post(`/join/${enc(priv)}`), 403, 'M_FORBIDDEN', 'joining an invite-only room uninvited')
  })

  it('publishes a visibility public room in the room directory, and only that one', async () => {
    const alice = await user()
    const pub = await alice.createRoom({ visibility: 'public' })
    const priv = await alice.createRoom({ preset: 'public_chat' })
    assert.deepEqual((await alice.get(`/directory/list/room/${enc(pub)}`)).body, { visibility: 'public' })
    assert.deepEqual((await alice.get(`/directory/list/room/${enc(priv)}`)).body, { visibility: 'private' }, 'visibility defaults to private')
  })

  it('sends the creation events in the order the spec lists', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({
      room_version: '11',
      room_alias_name: `order${process.pid}`,
      name: 'Ordered',
      topic: 'In sequence',
      initial_state: [{ type: 'm.room.encryption', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
      invite: [bob.userId],
    })
    const types = (await history(alice, roomId)).map((e) => `${e.type}${e.type === 'm.room.member' ? `:${e.content.membership}` : ''}`)
    assert.deepEqual(types, [
      'm.room.create',
      'm.room.member:join',
      'm.room.power_levels',
      'm.room.canonical_alias',
      'm.room.join_rules',
      'm.room.history_visibility',
      'm.room.guest_access',
      'm.room.encryption',
      'm.room.name',
      'm.room.topic',
      'm.room.member:invite',
    ])
  })
})

describe('POST /createRoom room_alias_name, name and topic', () => {
  it('creates the alias as the canonical alias, and the room can be joined by it', async () => {
    const alice = await user()
    const bob = await user()
    const alias = `#pub${process.pid}:${server}`
    const roomId = await alice.createRoom({ preset: 'public_chat', room_alias_name: `pub${process.pid}` })
    assert.deepEqual(await alice.getState(roomId, 'm.room.canonical_alias'), { alias })
    assert.equal(await bob.join(alias), roomId)
  })

  it('refuses an alias already in use with 400 M_ROOM_IN_USE and creates no room', async () => {
    const alice = await user()
    await alice.createRoom({ room_alias_name: `taken${process.pid}` })
    const before = (await alice.get('/joined_rooms')).body.joined_rooms
    assertError(await alice.post('/createRoom', { room_alias_name: `taken${process.pid}` }), 400, 'M_ROOM_IN_USE')
    assert.deepEqual((await alice.get('/joined_rooms')).body.joined_rooms, before, 'the refused room was rolled back')
  })

  it('refuses an alias local part with ":" or "#" with 400', async () => {
    const alice = await user()
    for (const bad of ['a:b', 'a#b', 'a b']) {
      const res = await alice.post('/createRoom', { room_alias_name: bad })
      assert.equal(res.status, 400, bad)
    }
  })

  it('sets m.room.name and m.room.topic with a text/plain m.topic', async () => {
    const alice = await user()
    const roomId = await alice.createRoom({ name: 'The Pub', topic: 'Happy hour' })
    assert.deepEqual(await alice.getState(roomId, 'm.room.name'), { name: 'The Pub' })
    const topic = await alice.getState(roomId, 'm.room.topic')
    assert.equal(topic.topic, 'Happy hour')
    assert.deepEqual(topic['m.topic'], [{ mimetype: 'text/plain', body: 'Happy hour' }])
  })
})

describe('POST /createRoom invite and is_direct', () => {
  it('invites every user listed, with is_direct on the invites when asked', async () => {
    const alice = await user()
    const bob = await user()
    const carol = await user()
    const roomId = await alice.createRoom({ invite: [bob.userId, carol.userId], is_direct: true })
    const bobMember = await alice.getState(roomId, 'm.room.member', bob.userId)
    // The invite carries the invitee's profile (a new account's displayname is its localpart).
    assert.deepEqual(bobMember, { membership: 'invite', is_direct: true, displayname: bob.userId.slice(1, bob.userId.indexOf(':')) })
    const sync = await bob.sync()
    const invite = sync.rooms.invite[roomId]
    assert.ok(invite, 'the invite reaches the invitee through /sync')
    const own = invite.invite_state.events.find((e: ClientEventJson) => e.type === 'm.room.member' && e.state_key === bob.userId)
    assert.equal(own.content.is_direct, true)
    assert.equal(own.sender, alice.userId)
    assert.equal(await carol.join(roomId), roomId)
  })

  it('leaves is_direct off when not asked', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({ invite: [bob.userId] })
    assert.deepEqual(await alice.getState(roomId, 'm.room.member', bob.userId), { membership: 'invite', displayname: bob.userId.slice(1, bob.userId.indexOf(':')) })
  })

  it('refuses an invite list with an invalid user ID (400) or an unknown local user (404), creating nothing', async () => {
    const alice = await user()
    assert.equal((await alice.post('/createRoom', { invite: ['not-a-user'] })).status, 400)
    assertError(await alice.post('/createRoom', { invite: [`@nobody${process.pid}:${server}`] }), 404, 'M_NOT_FOUND')
    assert.deepEqual((await alice.get('/joined_rooms')).body.joined_rooms, [])
  })
})

describe('POST /createRoom initial_state, power_level_content_override and creation_content', () => {
  it('lets initial_state override the preset, and name override initial_state', async () => {
    const alice = await user()
    const roomId = await alice.createRoom({
      preset: 'private_chat',
      name: 'From name',
      initial_state: [
        { type: 'm.room.join_rules', state_key: '', content: { join_rule: 'public' } },
        { type: 'm.room.history_visibility', content: { history_visibility: 'joined' } },
        { type: 'm.room.name', content: { name: 'From initial_state' } },
        { type: 'org.example.custom', state_key: 'k', content: { v: 1 } },
      ],
    })
    assert.equal((await alice.getState(roomId, 'm.room.join_rules')).join_rule, 'public')
    assert.equal((await alice.getState(roomId, 'm.room.history_visibility')).history_visibility, 'joined')
    assert.equal((await alice.getState(roomId, 'm.room.name')).name, 'From name')
    assert.deepEqual(await alice.getState(roomId, 'org.example.custom', 'k'), { v: 1 })
    const types = (await history(alice, roomId)).map((e) => e.type)
    assert.equal(types.filter((x) => x === 'm.room.join_rules').length, 1, 'the preset event is replaced, not sent twice')
  })

  it('applies power_level_content_override on top of the default power levels', async () => {
    const alice = await user()
    const bob = await user()
    const roomId = await alice.createRoom({
      preset: 'public_chat',
      room_version: '11',
      power_level_content_override: { events_default: 50, events: { 'm.room.name': 100 } },
    })
    const levels = await alice.getState(roomId, 'm.room.power_levels')
    assert.equal(levels.events_default, 50)
    assert.deepEqual(levels.events, { 'm.room.name': 100 }, 'a top-level key of the override replaces the default one')
    assert.equal(levels.users[alice.userId], 100, 'keys the override leaves out keep their defaults')
    assert.equal(levels.state_default, 50)
    await bob.join(roomId)
    assertError(await bob.sendRaw(roomId, { msgtype: 'm.text', body: 'x' }), 403, 'M_FORBIDDEN', 'events_default 50 silences users at 0')
  })

  it('answers 400 M_INVALID_ROOM_STATE when the initial state is not allowed by the auth rules', async () => {
    const alice = await user()
    // The creator gives themselves level 0, so the preset's join rules (state_default 50) are refused.
    const res = await alice.post('/createRoom', { room_version: '11', power_level_content_override: { users: {} } })
    assertError(res, 400, 'M_INVALID_ROOM_STATE')
    // v12: creators may not be listed in the power levels users (auth rule 10.4).
    const v12 = await alice.post('/createRoom', { room_version: '12', power_level_content_override: { users: { [alice.userId]: 100 } } })
    assertError(v12, 400, 'M_INVALID_ROOM_STATE')
    assert.deepEqual((await alice.get('/joined_rooms')).body.joined_rooms, [])
  })

  it('puts creation_content keys into m.room.create, overwriting creator and room_version', async () => {
    const alice = await user()
    const roomId = await alice.createRoom({
      room_version: '10',
      creation_content: { 'm.federate': false, type: 'm.space', creator: '@mallory:elsewhere', room_version: '1' },
    })
    const create = await alice.getState(roomId, 'm.room.create')
    assert.equal(create['m.federate'], false)
    assert.equal(create.type, 'm.space')
    assert.equal(create.creator, alice.userId)
    assert.equal(create.room_version, '10')
  })

  it('refuses initial_state events that the creation itself sends (m.room.create, m.room.member) with 400', async () => {
    const alice = await user()
    for (const type of ['m.room.create', 'm.room.member']) {
      const res = await alice.post('/createRoom', { initial_state: [{ type, state_key: type === 'm.room.member' ? alice.userId : '', content: {} }] })
      assert.equal(res.status, 400, type)
    }
  })
})

describe('POST /createRoom room versions', () => {
  for (let v = 1; v <= 12; v++) {
    const version = String(v)
    it(`creates a usable version ${version} room: send, state, invite, join, leave, redact`, async () => {
      const alice = await user()
      const bob = await user()
      const roomId = await alice.createRoom({ room_version: version, invite: [bob.userId], name: `v${version}` })
      if (v < 12) assert.match(roomId, new RegExp(`^![A-Za-z0-9]+:${server.replace('.', '\\.')}$`))
      else assert.match(roomId, /^![A-Za-z0-9_-]{43}$/)

      const create = await alice.getState(roomId, 'm.room.create')
      assert.equal(create.room_version, version)
      if (v <= 10) assert.equal(create.creator, alice.userId)
      else assert.equal('creator' in create, false, 'v11+ has no content.creator')

      await bob.join(roomId)
      const message = await bob.send(roomId, `hello v${version}`)
      if (v <= 2) assert.match(message, new RegExp(`^\\$[^:]+:${server.replace('.', '\\.')}$`))
      else if (v === 3) assert.match(message, /^\$[A-Za-z0-9+/]{43}$/)
      else assert.match(message, /^\$[A-Za-z0-9_-]{43}$/)
      const topic = await alice.putState(roomId, 'm.room.topic', '', { topic: `topic v${version}` })
      assert.equal((await bob.getState(roomId, 'm.room.topic')).topic, `topic v${version}`)

      const got = await alice.event(roomId, message)
      assert.equal(got.content.body, `hello v${version}`)
      assert.equal((await bob.event(roomId, topic)).type, 'm.room.topic')

      const redaction = await alice.put(`/rooms/${enc(roomId)}/redact/${enc(message)}/r${version}`, { reason: 'test' })
      assert.equal(redaction.status, 200, JSON.stringify(redaction.body))
      assert.deepEqual((await alice.event(roomId, message)).content, {})

      await bob.leave(roomId)
      const members = (await alice.get(`/rooms/${enc(roomId)}/joined_members`)).body.joined
      assert.deepEqual(Object.keys(members), [alice.userId])
      const all = await history(alice, roomId)
      assert.ok(ids(all).includes(message) && ids(all).includes(topic))
    })
  }

  it('serves version 3 events whose IDs contain "/" and "+" by their percent-encoded IDs', async () => {
    const alice = await user()
    const roomId = await alice.createRoom({ room_version: '3' })
    const found = new Set<string>()
    for (let i = 0; i < 40 && found.size < 2; i++) {
      const id = await alice.send(roomId, `m${i}`)
      for (const c of ['/', '+']) {
        if (!id.includes(c) || found.has(c)) continue
        found.add(c)
        assert.equal((await alice.event(roomId, id)).event_id, id)
        const ctx = await alice.get(`/rooms/${enc(roomId)}/context/${enc(id)}?limit=2`)
        assert.equal(ctx.status, 200)
        assert.equal(ctx.body.event.event_id, id)
      }
    }
    assert.equal(found.size, 2, 'forty standard-Base64 IDs without both "/" and "+" are vanishingly unlikely')
  })

  it('derives a v12 room ID from the create event and leaves the creator out of the power levels users', async () => {
    const alice = await user()
    const roomId = await alice.createRoom({ room_version: '12' })
    const createEvent = (await history(alice, roomId))[0] as ClientEventJson
    assert.equal(createEvent.type, 'm.room.create')
    assert.equal(roomId, `!${createEvent.event_id.slice(1)}`)
    assert.equal(createEvent.room_id, roomId)
    const levels = await alice.getState(roomId, 'm.room.power_levels')
    assert.equal(alice.userId in levels.users, false)
    assert.ok(levels.events['m.room.tombstone'] > levels.state_default, 'tombstone level explicitly above state_default')
    // The creator's power is infinite: they may still do anything.
    await alice.putState(roomId, 'm.room.power_levels', '', { ...levels, state_default: 100 })
  })

  it('makes trusted_private_chat invitees additional creators in v12 and gives them level 100 before v12', async () => {
    const alice = await user()
    const bob = await user()
    const carol = await user()
    const v12 = await alice.createRoom({
      room_version: '12',
      preset: 'trusted_private_chat',
      invite: [bob.userId],
      creation_content: { additional_creators: [carol.userId, bob.userId] },
    })
    const create = await alice.getState(v12, 'm.room.create')
    assert.deepEqual([...create.additional_creators].sort(), [bob.userId, carol.userId].sort(), 'deduplicated union of both lists')
    const levels = await alice.getState(v12, 'm.room.power_levels')
    assert.deepEqual(levels.users, {})
    await bob.join(v12)
    // As a creator, bob may change anything, including the power levels.
    await bob.putState(v12, 'm.room.power_levels', '', { ...levels, state_default: 100 })
    assertError(await bob.putStateRaw(v12, 'm.room.power_levels', '', { ...levels, users: { [carol.userId]: 0 } }), 403, 'M_FORBIDDEN', 'creators may not be listed')

    const v11 = await alice.createRoom({ room_version: '11', preset: 'trusted_private_chat', invite: [bob.userId] })
    const levels11 = await alice.getState(v11, 'm.room.power_levels')
    assert.equal(levels11.users[bob.userId], 100)
    assert.equal(levels11.users[alice.userId], 100)
  })

  it('refuses an unknown room version with 400 M_UNSUPPORTED_ROOM_VERSION', async () => {
    const alice = await user()
    for (const version of ['13', '0', 'org.example.custom', '']) {
      assertError(await alice.post('/createRoom', { room_version: version }), 400, 'M_UNSUPPORTED_ROOM_VERSION', `version ${JSON.stringify(version)}`)
    }
  })
})

describe('POST /createRoom bad requests', () => {
  it('answers 400 M_NOT_JSON for a body that is not JSON', async () => {
    const alice = await user()
    const res = await t.api.request('POST', `${CS}/createRoom`, { body: '{not json', token: alice.token, headers: { 'Content-Type': 'application/json' } })
    assertError(res, 400, 'M_NOT_JSON')
  })

  it('answers 400 M_BAD_JSON for fields of the wrong type', async () => {
    const alice = await user()
    const bodies: unknown[] = [
      { name: 42 },
      { topic: ['x'] },
      { preset: 'secret_chat' },
      { visibility: 'hidden' },
      { invite: 'bob' },
      { invite: [42] },
      { room_version: 12 },
      { is_direct: 'yes' },
      { creation_content: [] },
      { initial_state: {} },
      { initial_state: [{ type: 42, content: {} }] },
      { initial_state: [{ type: 'm.room.name', content: 'x' }] },
      { power_level_content_override: 'x' },
      [],
    ]
    for (const body of bodies) assertError(await alice.post('/createRoom', body), 400, 'M_BAD_JSON', JSON.stringify(body))
  })

  it('requires an access token', async () => {
    assertError(await t.api.post(`${CS}/createRoom`, {}), 401, 'M_MISSING_TOKEN')
  })
})
