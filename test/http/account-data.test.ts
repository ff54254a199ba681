// GET/PUT /user/{userId}/account_data/{type} and /user/{userId}/rooms/{roomId}/account_data/{type}
// over real HTTP. Spec: client-server-api, "Client Config".
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'

const t: TestServer = await startTestServer()

const ROOM = '!someroom:test.localhost'
const OTHER_ROOM = '!otherroom:test.localhost'
const globalPath = (userId: string, type: string) =>
  `/_matrix/client/v3/user/${encodeURIComponent(userId)}/account_data/${encodeURIComponent(type)}`
const roomPath = (userId: string, roomId: string, type: string) =>
  `/_matrix/client/v3/user/${encodeURIComponent(userId)}/rooms/${encodeURIComponent(roomId)}/account_data/${encodeURIComponent(type)}`

describe('PUT /user/:userId/account_data/:type', () => {
  it('stores the content and GET returns it unchanged', async () => {
    const user = await registerUser(t.api)
    const content = { theme: 'dark', nested: { list: [1, 'two', null], flag: false } }
    const put = await t.api.put(globalPath(user.user_id, 'org.example.config'), content, user.access_token)
    assert.equal(put.status, 200)
    assert.deepEqual(put.body, {})
    const get = await t.api.get(globalPath(user.user_id, 'org.example.config'), user.access_token)
    assert.equal(get.status, 200)
    assert.deepEqual(get.body, content)
  })

  it('replaces the whole content on a second PUT rather than merging', async () => {
    const user = await registerUser(t.api)
    await t.api.put(globalPath(user.user_id, 'org.example.config'), { a: 1, b: 2 }, user.access_token)
    const put = await t.api.put(globalPath(user.user_id, 'org.example.config'), { c: 3 }, user.access_token)
    assert.equal(put.status, 200)
    const get = await t.api.get(globalPath(user.user_id, 'org.example.config'), user.access_token)
    assert.deepEqual(get.body, { c: 3 })
  })

  it('accepts an empty object', async () => {
    const user = await registerUser(t.api)
    const put = await t.api.put(globalPath(user.user_id, 'm.ignored_user_list'), { ignored_users: {} }, user.access_token)
    assert.equal(put.status, 200)
    const empty = await t.api.put(globalPath(user.user_id, 'org.example.empty'), {}, user.access_token)
    assert.equal(empty.status, 200)
    const get = await t.api.get(globalPath(user.user_id, 'org.example.empty'), user.access_token)
    assert.equal(get.status, 200)
    assert.deepEqual(get.body, {})
  })

  it('keeps account data of different users apart', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    await t.api.put(globalPath(alice.user_id, 'org.example.config'), { owner: 'alice' }, alice.access_token)
    await t.api.put(globalPath(bob.user_id, 'org.example.config'), { owner: 'bob' }, bob.access_token)
    const a = await t.api.get(globalPath(alice.user_id, 'org.example.config'), alice.access_token)
    const b = await t.api.get(globalPath(bob.user_id, 'org.example.config'), bob.access_token)
    assert.deepEqual(a.body, { owner: 'alice' })
    assert.deepEqual(b.body, { owner: 'bob' })
  })

  it("refuses to set another user's account data with 403 M_FORBIDDEN", async () => {
    const alice = await registerUser(t.api)
    const mallory = await registerUser(t.api)
    const res = await t.api.put(globalPath(alice.user_id, 'org.example.config'), { evil: true }, mallory.access_token)
    assert.equal(res.status, 403)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
    const get = await t.api.get(globalPath(alice.user_id, 'org.example.config'), alice.access_token)
    assert.equal(get.status, 404)
  })

  it('refuses the server-managed types m.fully_read and m.push_rules with 405 M_BAD_JSON', async () => {
    const user = await registerUser(t.api)
    for (const type of ['m.fully_read', 'm.push_rules']) {
      const res = await t.api.put(globalPath(user.user_id, type), { event_id: '$x' }, user.access_token)
      assert.equal(res.status, 405, type)
      assert.equal(res.body.errcode, 'M_BAD_JSON', type)
    }
  })

  it('refuses a body that is JSON but not an object with 400 M_BAD_JSON', async () => {
    const user = await registerUser(t.api)
    for (const body of ['[1,2,3]', '"text"', '42', 'null', 'true']) {
      const res = await t.api.request('PUT', globalPath(user.user_id, 'org.example.config'), {
        body,
        token: user.access_token,
        headers: { 'Content-Type': 'application/json' },
      })
      assert.equal(res.status, 400, body)
      assert.equal(res.body.errcode, 'M_BAD_JSON', body)
    }
  })

  it('refuses a body that is not JSON with 400 M_NOT_JSON', async () => {
    const user = await registerUser(t.api)
    for (const body of ['{not json', '{"a": 1,}', 'hello']) {
      const res = await t.api.request('PUT', globalPath(user.user_id, 'org.example.config'), {
        body,
        token: user.access_token,
        headers: { 'Content-Type': 'application/json' },
      })
      assert.equal(res.status, 400, body)
      assert.equal(res.body.errcode, 'M_NOT_JSON', body)
    }
  })

  it('requires an access token (401 M_MISSING_TOKEN)', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.put(globalPath(user.user_id, 'org.example.config'), { a: 1 })
    assert.equal(res.status, 401)
    assert.equal(res.body.errcode, 'M_MISSING_TOKEN')
  })
})

describe('GET /user/:userId/account_data/:type', () => {
  it('answers 404 M_NOT_FOUND for a type that was never set', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.get(globalPath(user.user_id, 'org.example.unset'), user.access_token)
    assert.equal(res.status, 404)
    assert.equal(res.body.errcode, 'M_NOT_FOUND')
  })

  it("refuses to read another user's account data with 403 M_FORBIDDEN", async () => {
    const alice = await registerUser(t.api)
    const mallory = await registerUser(t.api)
    await t.api.put(globalPath(alice.user_id, 'org.example.secret'), { pin: 1234 }, alice.access_token)
    const res = await t.api.get(globalPath(alice.user_id, 'org.example.secret'), mallory.access_token)
    assert.equal(res.status, 403)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
    assert.equal(JSON.stringify(res.body).includes('1234'), false)
  })

  it('lets clients read server-managed types like any other (404 while unset)', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.get(globalPath(user.user_id, 'm.push_rules'), user.access_token)
    assert.equal(res.status, 404)
    assert.equal(res.body.errcode, 'M_NOT_FOUND')
  })
})

describe('PUT /user/:userId/rooms/:roomId/account_data/:type', () => {
  it('stores the content and GET returns it unchanged', async () => {
    const user = await registerUser(t.api)
    const content = { tags: { 'm.favourite': { order: 0.5 } } }
    const put = await t.api.put(roomPath(user.user_id, ROOM, 'org.example.room_config'), content, user.access_token)
    assert.equal(put.status, 200)
    assert.deepEqual(put.body, {})
    const get = await t.api.get(roomPath(user.user_id, ROOM, 'org.example.room_config'), user.access_token)
    assert.equal(get.status, 200)
    assert.deepEqual(get.body, content)
  })

  it('replaces the content on a second PUT', async () => {
    const user = await registerUser(t.api)
    await t.api.put(roomPath(user.user_id, ROOM, 'org.example.room_config'), { v: 1, old: true }, user.access_token)
    await t.api.put(roomPath(user.user_id, ROOM, 'org.example.room_config'), { v: 2 }, user.access_token)
    const get = await t.api.get(roomPath(user.user_id, ROOM, 'org.example.room_config'), user.access_token)
    assert.deepEqual(get.body, { v: 2 })
  })

  it('keeps each room, and the global namespace, separate', async () => {
    const user = await registerUser(t.api)
    const type = 'org.example.shared_type'
    await t.api.put(globalPath(user.user_id, type), { scope: 'global' }, user.access_token)
    await t.api.put(roomPath(user.user_id, ROOM, type), { scope: 'room' }, user.access_token)
    assert.deepEqual((await t.api.get(globalPath(user.user_id, type), user.access_token)).body, { scope: 'global' })
    assert.deepEqual((await t.api.get(roomPath(user.user_id, ROOM, type), user.access_token)).body, { scope: 'room' })
    const otherRoom = await t.api.get(roomPath(user.user_id, OTHER_ROOM, type), user.access_token)
    assert.equal(otherRoom.status, 404)
    assert.equal(otherRoom.body.errcode, 'M_NOT_FOUND')

    const roomOnly = 'org.example.room_only'
    await t.api.put(roomPath(user.user_id, ROOM, roomOnly), { x: 1 }, user.access_token)
    const global = await t.api.get(globalPath(user.user_id, roomOnly), user.access_token)
    assert.equal(global.status, 404)
    assert.equal(global.body.errcode, 'M_NOT_FOUND')
  })

  it("refuses to set another user's room account data with 403 M_FORBIDDEN", async () => {
    const alice = await registerUser(t.api)
    const mallory = await registerUser(t.api)
    const res = await t.api.put(roomPath(alice.user_id, ROOM, 'org.example.x'), { evil: true }, mallory.access_token)
    assert.equal(res.status, 403)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
  })

  it('refuses m.fully_read and m.push_rules with 405 M_BAD_JSON', async () => {
    const user = await registerUser(t.api)
    for (const type of ['m.fully_read', 'm.push_rules']) {
      const res = await t.api.put(roomPath(user.user_id, ROOM, type), { event_id: '$x' }, user.access_token)
      assert.equal(res.status, 405, type)
      assert.equal(res.body.errcode, 'M_BAD_JSON', type)
    }
  })

  it('refuses a non-object body with 400 M_BAD_JSON and a non-JSON body with 400 M_NOT_JSON', async () => {
    const user = await registerUser(t.api)
    const path = roomPath(user.user_id, ROOM, 'org.example.x')
    const headers = { 'Content-Type': 'application/json' }
    const array = await t.api.request('PUT', path, { body: '["a"]', token: user.access_token, headers })
    assert.equal(array.status, 400)
    assert.equal(array.body.errcode, 'M_BAD_JSON')
    const garbage = await t.api.request('PUT', path, { body: '{{{', token: user.access_token, headers })
    assert.equal(garbage.status, 400)
    assert.equal(garbage.body.errcode, 'M_NOT_JSON')
  })

  it('refuses a room ID that is not a room ID with 400 M_INVALID_PARAM', async () => {
    const user = await registerUser(t.api)
    const put = await t.api.put(roomPath(user.user_id, '@notaroom:test.localhost', 'org.example.x'), { a: 1 }, user.access_token)
    assert.equal(put.status, 400)
    assert.equal(put.body.errcode, 'M_INVALID_PARAM')
    const get = await t.api.get(roomPath(user.user_id, '@notaroom:test.localhost', 'org.example.x'), user.access_token)
    assert.equal(get.status, 400)
    assert.equal(get.body.errcode, 'M_INVALID_PARAM')
  })
})

describe('GET /user/:userId/rooms/:roomId/account_data/:type', () => {
  it('answers 404 M_NOT_FOUND for a type that was never set in that room', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.get(roomPath(user.user_id, ROOM, 'org.example.unset'), user.access_token)
    assert.equal(res.status, 404)
    assert.equal(res.body.errcode, 'M_NOT_FOUND')
  })

  it("refuses to read another user's room account data with 403 M_FORBIDDEN", async () => {
    const alice = await registerUser(t.api)
    const mallory = await registerUser(t.api)
    await t.api.put(roomPath(alice.user_id, ROOM, 'org.example.x'), { private: true }, alice.access_token)
    const res = await t.api.get(roomPath(alice.user_id, ROOM, 'org.example.x'), mallory.access_token)
    assert.equal(res.status, 403)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
  })
})

describe('r0 alias', () => {
  it('serves the same account data under /_matrix/client/r0', async () => {
    const user = await registerUser(t.api)
    await t.api.put(globalPath(user.user_id, 'org.example.alias'), { via: 'v3' }, user.access_token)
    const res = await t.api.get(globalPath(user.user_id, 'org.example.alias').replace('/v3/', '/r0/'), user.access_token)
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, { via: 'v3' })
  })
})
