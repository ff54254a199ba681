// GET /profile/{userId}, GET/PUT/DELETE /profile/{userId}/{keyName} over real HTTP.
// Spec: client-server-api, "Profiles" (custom fields and m.tz since v1.16).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'

const t: TestServer = await startTestServer()

const profilePath = (userId: string) => `/_matrix/client/v3/profile/${encodeURIComponent(userId)}`
const fieldPath = (userId: string, key: string) => `${profilePath(userId)}/${encodeURIComponent(key)}`

describe('GET /profile/:userId', () => {
  it('gives a new user the localpart as displayname and no avatar_url', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.get(profilePath(user.user_id))
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, { displayname: user.username })
  })

  it('returns every field that was set, without needing an access token', async () => {
    const user = await registerUser(t.api)
    await t.api.put(fieldPath(user.user_id, 'displayname'), { displayname: 'Alice' }, user.access_token)
    await t.api.put(fieldPath(user.user_id, 'avatar_url'), { avatar_url: 'mxc://test.localhost/abc123' }, user.access_token)
    await t.api.put(fieldPath(user.user_id, 'm.tz'), { 'm.tz': 'Europe/Paris' }, user.access_token)
    await t.api.put(fieldPath(user.user_id, 'com.example.x'), { 'com.example.x': { nested: [1, 2] } }, user.access_token)
    const res = await t.api.get(profilePath(user.user_id))
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, {
      displayname: 'Alice',
      avatar_url: 'mxc://test.localhost/abc123',
      'm.tz': 'Europe/Paris',
      'com.example.x': { nested: [1, 2] },
    })
  })

  it('answers 404 M_NOT_FOUND for a user that does not exist', async () => {
    const res = await t.api.get(profilePath('@nobody-here:test.localhost'))
    assert.equal(res.status, 404)
    assert.equal(res.body.errcode, 'M_NOT_FOUND')
  })
})

describe('PUT /profile/:userId/:keyName', () => {
  it('sets displayname and GET of the field returns it', async () => {
    const user = await registerUser(t.api)
    const put = await t.api.put(fieldPath(user.user_id, 'displayname'), { displayname: 'Bob the Builder' }, user.access_token)
    assert.equal(put.status, 200)
    assert.deepEqual(put.body, {})
    const get = await t.api.get(fieldPath(user.user_id, 'displayname'))
    assert.equal(get.status, 200)
    assert.deepEqual(get.body, { displayname: 'Bob the Builder' })
  })

  it('sets avatar_url to an mxc URI and GET of the field returns it', async () => {
    const user = await registerUser(t.api)
    const put = await t.api.put(fieldPath(user.user_id, 'avatar_url'), { avatar_url: 'mxc://example.org/SEsfnsuifSDFSSEF' }, user.access_token)
    assert.equal(put.status, 200)
    const get = await t.api.get(fieldPath(user.user_id, 'avatar_url'), user.access_token)
    assert.equal(get.status, 200)
    assert.deepEqual(get.body, { avatar_url: 'mxc://example.org/SEsfnsuifSDFSSEF' })
  })

  it('overwrites a field that was already set', async () => {
    const user = await registerUser(t.api)
    await t.api.put(fieldPath(user.user_id, 'displayname'), { displayname: 'first' }, user.access_token)
    await t.api.put(fieldPath(user.user_id, 'displayname'), { displayname: 'second' }, user.access_token)
    const get = await t.api.get(fieldPath(user.user_id, 'displayname'))
    assert.deepEqual(get.body, { displayname: 'second' })
  })

  it('sets m.tz and GET of the field returns it', async () => {
    const user = await registerUser(t.api)
    const put = await t.api.put(fieldPath(user.user_id, 'm.tz'), { 'm.tz': 'America/New_York' }, user.access_token)
    assert.equal(put.status, 200)
    const get = await t.api.get(fieldPath(user.user_id, 'm.tz'))
    assert.deepEqual(get.body, { 'm.tz': 'America/New_York' })
  })

  it('stores a custom namespaced field with any JSON value', async () => {
    const user = await registerUser(t.api)
    const value = { colour: 'blue', list: [1, 'two', null], flag: true }
    const put = await t.api.put(fieldPath(user.user_id, 'com.example.x'), { 'com.example.x': value }, user.access_token)
    assert.equal(put.status, 200)
    const get = await t.api.get(fieldPath(user.user_id, 'com.example.x'))
    assert.equal(get.status, 200)
    assert.deepEqual(get.body, { 'com.example.x': value })
  })

  it('stores a null custom value instead of deleting the field', async () => {
    const user = await registerUser(t.api)
    await t.api.put(fieldPath(user.user_id, 'com.example.x'), { 'com.example.x': 'before' }, user.access_token)
    const put = await t.api.put(fieldPath(user.user_id, 'com.example.x'), { 'com.example.x': null }, user.access_token)
    assert.equal(put.status, 200)
    const get = await t.api.get(fieldPath(user.user_id, 'com.example.x'))
    assert.equal(get.status, 200)
    assert.deepEqual(get.body, { 'com.example.x': null })
    const profile = await t.api.get(profilePath(user.user_id))
    assert.equal(profile.body['com.example.x'], null)
    assert.ok('com.example.x' in profile.body)
  })

  it('treats a null displayname as no displayname', async () => {
    const user = await registerUser(t.api)
    const put = await t.api.put(fieldPath(user.user_id, 'displayname'), { displayname: null }, user.access_token)
    assert.equal(put.status, 200)
    const get = await t.api.get(fieldPath(user.user_id, 'displayname'))
    assert.deepEqual([get.status, get.body], [200, {}])
    const profile = await t.api.get(profilePath(user.user_id))
    assert.equal('displayname' in profile.body, false)
  })

  it('refuses a key outside the namespaced grammar with 400 M_INVALID_PARAM', async () => {
    const user = await registerUser(t.api)
    for (const key of ['nodots', 'Com.Example.Upper', 'com..example', '1com.example']) {
      const res = await t.api.put(fieldPath(user.user_id, key), { [key]: 'x' }, user.access_token)
      assert.equal(res.status, 400, key)
      assert.equal(res.body.errcode, 'M_INVALID_PARAM', key)
    }
  })

  it('refuses a key longer than 255 bytes with 400 M_KEY_TOO_LARGE', async () => {
    const user = await registerUser(t.api)
    const key = `com.example.${'k'.repeat(250)}`
    const res = await t.api.put(fieldPath(user.user_id, key), { [key]: 'x' }, user.access_token)
    assert.equal(res.status, 400)
    assert.equal(res.body.errcode, 'M_KEY_TOO_LARGE')
  })

  it('takes any avatar_url string (as Synapse), refusing a non-string with 400 M_BAD_JSON and one over 1000 characters', async () => {
    const user = await registerUser(t.api)
    const put = await t.api.put(fieldPath(user.user_id, 'avatar_url'), { avatar_url: 'https://example.org/me.png' }, user.access_token)
    assert.equal(put.status, 200)
    assert.deepEqual((await t.api.get(fieldPath(user.user_id, 'avatar_url'))).body, { avatar_url: 'https://example.org/me.png' })
    const notString = await t.api.put(fieldPath(user.user_id, 'avatar_url'), { avatar_url: 42 }, user.access_token)
    assert.equal(notString.status, 400)
    assert.equal(notString.body.errcode, 'M_BAD_JSON')
    const long = await t.api.put(fieldPath(user.user_id, 'avatar_url'), { avatar_url: `mxc://test.localhost/${'a'.repeat(1000)}` }, user.access_token)
    assert.equal(long.status, 400)
    assert.equal(long.body.errcode, 'M_INVALID_PARAM')
  })

  it('refuses a displayname that is not a string with 400 M_BAD_JSON', async () => {
    const user = await registerUser(t.api)
    for (const name of [42, { text: 'x' }, ['a']]) {
      const res = await t.api.put(fieldPath(user.user_id, 'displayname'), { displayname: name }, user.access_token)
      assert.equal(res.status, 400, JSON.stringify(name))
      assert.equal(res.body.errcode, 'M_BAD_JSON', JSON.stringify(name))
    }
    const get = await t.api.get(fieldPath(user.user_id, 'displayname'))
    assert.deepEqual(get.body, { displayname: user.username })
  })

  it('refuses a body without the key named in the path with 400 M_MISSING_PARAM', async () => {
    const user = await registerUser(t.api)
    for (const body of [{}, { avatar_url: 'mxc://test.localhost/abc' }]) {
      const res = await t.api.put(fieldPath(user.user_id, 'displayname'), body, user.access_token)
      assert.equal(res.status, 400)
      assert.equal(res.body.errcode, 'M_MISSING_PARAM')
    }
  })

  it("refuses to change another user's profile with 403 M_FORBIDDEN", async () => {
    const alice = await registerUser(t.api)
    const mallory = await registerUser(t.api)
    for (const key of ['displayname', 'avatar_url', 'm.tz', 'com.example.x']) {
      const value = key === 'avatar_url' ? 'mxc://test.localhost/evil' : 'pwned'
      const res = await t.api.put(fieldPath(alice.user_id, key), { [key]: value }, mallory.access_token)
      assert.equal(res.status, 403, key)
      assert.equal(res.body.errcode, 'M_FORBIDDEN', key)
    }
    const profile = await t.api.get(profilePath(alice.user_id))
    assert.deepEqual(profile.body, { displayname: alice.username })
  })

  it('requires an access token (401 M_MISSING_TOKEN)', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.put(fieldPath(user.user_id, 'displayname'), { displayname: 'anon' })
    assert.equal(res.status, 401)
    assert.equal(res.body.errcode, 'M_MISSING_TOKEN')
  })

  it('refuses a change that would make the profile exceed 64 KiB with 400 M_PROFILE_TOO_LARGE and keeps the profile', async () => {
    const user = await registerUser(t.api)
    const first = await t.api.put(fieldPath(user.user_id, 'com.example.big'), { 'com.example.big': 'a'.repeat(40 * 1024) }, user.access_token)
    assert.equal(first.status, 200)
    const second = await t.api.put(fieldPath(user.user_id, 'com.example.more'), { 'com.example.more': 'b'.repeat(30 * 1024) }, user.access_token)
    assert.equal(second.status, 400)
    assert.equal(second.body.errcode, 'M_PROFILE_TOO_LARGE')
    const single = await t.api.put(fieldPath(user.user_id, 'com.example.huge'), { 'com.example.huge': 'c'.repeat(65 * 1024) }, user.access_token)
    assert.equal(single.status, 400)
    assert.equal(single.body.errcode, 'M_PROFILE_TOO_LARGE')
    // The refused writes left nothing behind.
    const profile = await t.api.get(profilePath(user.user_id))
    assert.deepEqual(Object.keys(profile.body).sort(), ['com.example.big', 'displayname'])
  })

  it('accepts a profile just under 64 KiB', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.put(fieldPath(user.user_id, 'com.example.big'), { 'com.example.big': 'a'.repeat(60 * 1024) }, user.access_token)
    assert.equal(res.status, 200)
  })
})

describe('GET /profile/:userId/:keyName', () => {
  it('answers 404 M_NOT_FOUND for a field the user has not set, and {} for an unset avatar_url or displayname (as Synapse)', async () => {
    const user = await registerUser(t.api)
    for (const key of ['m.tz', 'com.example.unset']) {
      const res = await t.api.get(fieldPath(user.user_id, key))
      assert.equal(res.status, 404, key)
      assert.equal(res.body.errcode, 'M_NOT_FOUND', key)
    }
    const avatar = await t.api.get(fieldPath(user.user_id, 'avatar_url'))
    assert.deepEqual([avatar.status, avatar.body], [200, {}])
  })

  it('answers 404 M_NOT_FOUND for a user that does not exist', async () => {
    const res = await t.api.get(fieldPath('@ghost:test.localhost', 'displayname'))
    assert.equal(res.status, 404)
    assert.equal(res.body.errcode, 'M_NOT_FOUND')
  })
})

describe('DELETE /profile/:userId/:keyName', () => {
  it('removes a custom field, which then answers 404', async () => {
    const user = await registerUser(t.api)
    await t.api.put(fieldPath(user.user_id, 'com.example.x'), { 'com.example.x': 1 }, user.access_token)
    const del = await t.api.delete(fieldPath(user.user_id, 'com.example.x'), undefined, user.access_token)
    assert.equal(del.status, 200)
    assert.deepEqual(del.body, {})
    const get = await t.api.get(fieldPath(user.user_id, 'com.example.x'))
    assert.equal(get.status, 404)
    assert.equal(get.body.errcode, 'M_NOT_FOUND')
    const profile = await t.api.get(profilePath(user.user_id))
    assert.equal('com.example.x' in profile.body, false)
  })

  it('removes m.tz', async () => {
    const user = await registerUser(t.api)
    await t.api.put(fieldPath(user.user_id, 'm.tz'), { 'm.tz': 'Asia/Tokyo' }, user.access_token)
    const del = await t.api.delete(fieldPath(user.user_id, 'm.tz'), undefined, user.access_token)
    assert.equal(del.status, 200)
    const get = await t.api.get(fieldPath(user.user_id, 'm.tz'))
    assert.equal(get.status, 404)
  })

  it('succeeds for a field that does not exist', async () => {
    const user = await registerUser(t.api)
    const del = await t.api.delete(fieldPath(user.user_id, 'com.example.never'), undefined, user.access_token)
    assert.equal(del.status, 200)
  })

  it('refuses an invalid key with 400 M_INVALID_PARAM', async () => {
    const user = await registerUser(t.api)
    const del = await t.api.delete(fieldPath(user.user_id, 'nodots'), undefined, user.access_token)
    assert.equal(del.status, 400)
    assert.equal(del.body.errcode, 'M_INVALID_PARAM')
  })

  it("refuses to delete another user's field with 403 M_FORBIDDEN", async () => {
    const alice = await registerUser(t.api)
    const mallory = await registerUser(t.api)
    await t.api.put(fieldPath(alice.user_id, 'com.example.x'), { 'com.example.x': 'mine' }, alice.access_token)
    const del = await t.api.delete(fieldPath(alice.user_id, 'com.example.x'), undefined, mallory.access_token)
    assert.equal(del.status, 403)
    assert.equal(del.body.errcode, 'M_FORBIDDEN')
    const get = await t.api.get(fieldPath(alice.user_id, 'com.example.x'))
    assert.deepEqual(get.body, { 'com.example.x': 'mine' })
  })
})
