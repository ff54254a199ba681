// POST /login, /refresh, /logout, /logout/all and GET /account/whoami over real HTTP.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'

const t: TestServer = await startTestServer({ 'auth.refreshable_access_token_lifetime_ms': 1000 })

describe('POST /login', () => {
  it('logs in with an m.id.user identifier and the token works for whoami', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.post('/_matrix/client/v3/login', {
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user: user.username },
      password: user.password,
      initial_device_display_name: 'laptop',
    })
    assert.equal(res.status, 200)
    assert.equal(res.body.user_id, user.user_id)
    assert.match(res.body.access_token, /^hs_[A-Za-z0-9_-]{43}$/)
    assert.equal(res.body.well_known['m.homeserver'].base_url, t.config.public_baseurl.replace(/\/$/, ''))
    const who = await t.api.get('/_matrix/client/v3/account/whoami', res.body.access_token)
    assert.deepEqual(who.body, { user_id: user.user_id, device_id: res.body.device_id, is_guest: false })
  })

  it('accepts the legacy top-level user field with a full user ID', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.post('/_matrix/client/v3/login', { type: 'm.login.password', user: user.user_id, password: user.password })
    assert.equal(res.status, 200)
    assert.equal(res.body.user_id, user.user_id)
  })

  it('refuses a password longer than any registration allows (400) and a body past 64 KiB (413) without hashing it', async () => {
    const user = await registerUser(t.api)
    const long = await t.api.post('/_matrix/client/v3/login', { type: 'm.login.password', user: user.username, password: 'x'.repeat(513) })
    assert.equal(long.status, 400)
    assert.equal(long.body.errcode, 'M_BAD_JSON')
    const huge = await t.api.post('/_matrix/client/v3/login', { type: 'm.login.password', user: user.username, password: 'x'.repeat(70 * 1024) })
    assert.equal(huge.status, 413)
    assert.equal(huge.body.errcode, 'M_TOO_LARGE')
  })

  it('refuses a wrong password with 403 M_FORBIDDEN', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.post('/_matrix/client/v3/login', { type: 'm.login.password', user: user.username, password: 'wrong' })
    assert.equal(res.status, 403)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
  })
})

describe('POST /refresh', () => {
  it('issues expiring tokens that refresh, and an expired token is a soft logout', async () => {
    const user = await registerUser(t.api)
    const login = await t.api.post('/_matrix/client/v3/login', {
      type: 'm.login.password',
      user: user.username,
      password: user.password,
      refresh_token: true,
    })
    assert.equal(login.status, 200)
    assert.equal(login.body.expires_in_ms, 1000)
    assert.ok(login.body.refresh_token)
    await new Promise((r) => setTimeout(r, 1100))
    const expired = await t.api.get('/_matrix/client/v3/account/whoami', login.body.access_token)
    assert.equal(expired.status, 401)
    assert.equal(expired.body.errcode, 'M_UNKNOWN_TOKEN')
    assert.equal(expired.body.soft_logout, true)
    const refreshed = await t.api.post('/_matrix/client/v3/refresh', { refresh_token: login.body.refresh_token })
    assert.equal(refreshed.status, 200)
    const who = await t.api.get('/_matrix/client/v3/account/whoami', refreshed.body.access_token)
    assert.equal(who.status, 200)
    // The old refresh token is revoked once the new access token has been used.
    const again = await t.api.post('/_matrix/client/v3/refresh', { refresh_token: login.body.refresh_token })
    assert.equal(again.status, 401)
    assert.equal(again.body.errcode, 'M_UNKNOWN_TOKEN')
  })
})

describe('POST /logout', () => {
  it('invalidates the token and deletes its device', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.post('/_matrix/client/v3/logout', {}, user.access_token)
    assert.equal(res.status, 200)
    const who = await t.api.get('/_matrix/client/v3/account/whoami', user.access_token)
    assert.equal(who.status, 401)
    assert.equal(who.body.errcode, 'M_UNKNOWN_TOKEN')
    assert.equal(who.body.soft_logout, false)
  })

  it('without a token answers 401 M_MISSING_TOKEN', async () => {
    const res = await t.api.post('/_matrix/client/v3/logout', {})
    assert.equal(res.status, 401)
    assert.equal(res.body.errcode, 'M_MISSING_TOKEN')
  })
})
