// POST /register (open, token-gated, disabled), GET /register/available and the registration token
// validity endpoint, over real HTTP.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type Api, type TestServer } from '../support/server.ts'

// Three configurations that cannot share a server: open sign-up, token-gated sign-up, no sign-up.
const t: TestServer = await startTestServer()
const gated: TestServer = await startTestServer({ 'registration.requires_token': true })
const closed: TestServer = await startTestServer({ 'registration.enabled': false })

const REGISTER = '/_matrix/client/v3/register'
const PASSWORD = 'correct horse battery staple'
let counter = 0
const uniqueName = (prefix: string) => `${prefix}${process.pid}x${++counter}`

/** The first request of a registration: no auth, so the server answers 401 with a session. */
async function startSession(api: Api, body: Record<string, unknown> = {}): Promise<string> {
  const res = await api.post(REGISTER, body)
  assert.equal(res.status, 401, JSON.stringify(res.body))
  assert.equal(typeof res.body.session, 'string')
  return res.body.session
}

async function login(api: Api, user: string, password: string) {
  return api.post('/_matrix/client/v3/login', { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password })
}

describe('POST /register', () => {
  it('answers a request without auth with 401, the m.login.dummy flow, params and a session', async () => {
    const res = await t.api.post(REGISTER, { username: uniqueName('flows'), password: PASSWORD })
    assert.equal(res.status, 401)
    assert.deepEqual(res.body.flows, [{ stages: ['m.login.dummy'] }])
    assert.deepEqual(res.body.params, {})
    assert.equal(typeof res.body.session, 'string')
    assert.ok(res.body.session.length > 0)
    assert.equal(res.body.errcode, undefined)
  })

  it('registers once m.login.dummy completes the session, returning a working access token', async () => {
    const username = uniqueName('dummy')
    const session = await startSession(t.api, { username, password: PASSWORD })
    const res = await t.api.post(REGISTER, { username, password: PASSWORD, auth: { type: 'm.login.dummy', session } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.user_id, `@${username}:test.localhost`)
    assert.equal(typeof res.body.access_token, 'string')
    assert.equal(typeof res.body.device_id, 'string')
    const who = await t.api.get('/_matrix/client/v3/account/whoami', res.body.access_token)
    assert.equal(who.status, 200)
    assert.deepEqual(who.body, { user_id: res.body.user_id, device_id: res.body.device_id, is_guest: false })
  })

  it('remembers the username and password sent only on the first request of the session', async () => {
    const username = uniqueName('remembered')
    const session = await startSession(t.api, { username, password: PASSWORD })
    const res = await t.api.post(REGISTER, { auth: { type: 'm.login.dummy', session } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.user_id, `@${username}:test.localhost`)
    const again = await login(t.api, username, PASSWORD)
    assert.equal(again.status, 200, JSON.stringify(again.body))
  })

  it('returns M_USER_IN_USE after authentication when the remembered username was taken meanwhile', async () => {
    const username = uniqueName('raced')
    const session = await startSession(t.api, { username, password: PASSWORD })
    await registerUser(t.api, { username })
    const res = await t.api.post(REGISTER, { auth: { type: 'm.login.dummy', session } })
    assert.equal(res.status, 400)
    assert.equal(res.body.errcode, 'M_USER_IN_USE')
  })

  it('creates the account without logging in when inhibit_login is true', async () => {
    const username = uniqueName('inhibited')
    const res = await t.api.post(REGISTER, { username, password: PASSWORD, inhibit_login: true, auth: { type: 'm.login.dummy' } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.user_id, `@${username}:test.localhost`)
    assert.equal(res.body.access_token, undefined)
    assert.equal(res.body.device_id, undefined)
    assert.equal(res.body.refresh_token, undefined)
    assert.equal((await login(t.api, username, PASSWORD)).status, 200)
  })

  it('uses the device_id and initial_device_display_name the client gives', async () => {
    const username = uniqueName('device')
    const res = await t.api.post(REGISTER, {
      username,
      password: PASSWORD,
      device_id: 'MYPHONE',
      initial_device_display_name: 'Jungle Phone',
      auth: { type: 'm.login.dummy' },
    })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.device_id, 'MYPHONE')
    const device = await t.api.get('/_matrix/client/v3/devices/MYPHONE', res.body.access_token)
    assert.equal(device.status, 200)
    assert.equal(device.body.device_id, 'MYPHONE')
    assert.equal(device.body.display_name, 'Jungle Phone')
  })

  it('issues a refresh token and expires_in_ms when refresh_token is true, and neither otherwise', async () => {
    const res = await t.api.post(REGISTER, { username: uniqueName('refresh'), password: PASSWORD, refresh_token: true, auth: { type: 'm.login.dummy' } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(typeof res.body.refresh_token, 'string')
    assert.equal(typeof res.body.expires_in_ms, 'number')
    assert.ok(res.body.expires_in_ms > 0)
    const refreshed = await t.api.post('/_matrix/client/v3/refresh', { refresh_token: res.body.refresh_token })
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body))
    assert.equal(typeof refreshed.body.access_token, 'string')

    const plain = await t.api.post(REGISTER, { username: uniqueName('norefresh'), password: PASSWORD, auth: { type: 'm.login.dummy' } })
    assert.equal(plain.status, 200)
    assert.equal(plain.body.refresh_token, undefined)
    assert.equal(plain.body.expires_in_ms, undefined)
  })

  it('generates distinct numeric localparts when no username is given', async () => {
    const first = await t.api.post(REGISTER, { password: PASSWORD, auth: { type: 'm.login.dummy' } })
    const second = await t.api.post(REGISTER, { password: PASSWORD, auth: { type: 'm.login.dummy' } })
    assert.equal(first.status, 200, JSON.stringify(first.body))
    assert.equal(second.status, 200, JSON.stringify(second.body))
    assert.match(first.body.user_id, /^@[0-9]+:test\.localhost$/)
    assert.match(second.body.user_id, /^@[0-9]+:test\.localhost$/)
    assert.notEqual(first.body.user_id, second.body.user_id)
  })

  it('returns M_USER_IN_USE before user-interactive auth when the username is taken', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.post(REGISTER, { username: user.username, password: PASSWORD })
    assert.equal(res.status, 400)
    assert.equal(res.body.errcode, 'M_USER_IN_USE')
    const completed = await t.api.post(REGISTER, { username: user.username, password: PASSWORD, auth: { type: 'm.login.dummy' } })
    assert.equal(completed.status, 400)
    assert.equal(completed.body.errcode, 'M_USER_IN_USE')
  })

  it('folds capitals in the username to lower case, as Synapse does', async () => {
    const username = uniqueName('Capital-UPPER')
    const res = await t.api.post(REGISTER, { username, password: PASSWORD, auth: { type: 'm.login.dummy' } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.user_id, `@${username.toLowerCase()}:test.localhost`)
    assert.equal((await login(t.api, username.toLowerCase(), PASSWORD)).status, 200)
    const again = await t.api.post(REGISTER, { username: username.toLowerCase(), password: PASSWORD, auth: { type: 'm.login.dummy' } })
    assert.equal(again.body.errcode, 'M_USER_IN_USE')
  })

  it('returns M_INVALID_USERNAME for characters outside the grammar and over-long IDs', async () => {
    for (const username of ['al ice', 'al:ice', '@alice', 'ålice', '', 'a'.repeat(250)]) {
      const res = await t.api.post(REGISTER, { username, password: PASSWORD, auth: { type: 'm.login.dummy' } })
      assert.equal(res.status, 400, `${JSON.stringify(username)}: ${JSON.stringify(res.body)}`)
      assert.equal(res.body.errcode, 'M_INVALID_USERNAME', JSON.stringify(username))
    }
  })

  it('returns M_WEAK_PASSWORD for a password shorter than the configured minimum', async () => {
    const username = uniqueName('weak')
    const res = await t.api.post(REGISTER, { username, password: 'short', auth: { type: 'm.login.dummy' } })
    assert.equal(res.status, 400)
    assert.equal(res.body.errcode, 'M_WEAK_PASSWORD')
    const available = await t.api.get(`/_matrix/client/v3/register/available?username=${username}`)
    assert.deepEqual(available.body, { available: true })
  })

  it('refuses kind=guest with 403 M_GUEST_ACCESS_FORBIDDEN', async () => {
    const res = await t.api.post(`${REGISTER}?kind=guest`, {})
    assert.equal(res.status, 403)
    assert.equal(res.body.errcode, 'M_GUEST_ACCESS_FORBIDDEN')
  })

  it('answers bodies of the wrong shape with 400 M_BAD_JSON', async () => {
    const bodies: unknown[] = [
      [],
      { username: 42 },
      { password: true },
      { inhibit_login: 'yes' },
      { refresh_token: 1 },
      { device_id: ['A'] },
      { username: uniqueName('badauth'), auth: 'm.login.dummy' },
      { username: uniqueName('badsession'), auth: { type: 'm.login.dummy', session: 7 } },
    ]
    for (const body of bodies) {
      const res = await t.api.post(REGISTER, body)
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`)
      assert.equal(res.body.errcode, 'M_BAD_JSON', JSON.stringify(body))
    }
  })

  it('answers a body that is not JSON with 400 M_NOT_JSON', async () => {
    const res = await t.api.request('POST', REGISTER, { body: '{"username":', headers: { 'Content-Type': 'application/json' } })
    assert.equal(res.status, 400)
    assert.equal(res.body.errcode, 'M_NOT_JSON')
  })

  it('refuses a UIA session that was started for another request and registers nobody', async () => {
    const user = await registerUser(t.api)
    const pw = await t.api.post('/_matrix/client/v3/account/password', { new_password: 'another long password' }, user.access_token)
    assert.equal(pw.status, 401)
    const username = uniqueName('hijack')
    const res = await t.api.post(REGISTER, { username, password: PASSWORD, auth: { type: 'm.login.dummy', session: pw.body.session } })
    assert.equal(res.status, 403)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
    const available = await t.api.get(`/_matrix/client/v3/register/available?username=${username}`)
    assert.deepEqual(available.body, { available: true })
  })

  it('does not let a completed registration session register a second account (403)', async () => {
    const session = await startSession(t.api, { username: uniqueName('once'), password: PASSWORD })
    const first = await t.api.post(REGISTER, { auth: { type: 'm.login.dummy', session } })
    assert.equal(first.status, 200)
    const username = uniqueName('twice')
    const second = await t.api.post(REGISTER, { username, password: PASSWORD, auth: { type: 'm.login.dummy', session } })
    assert.equal(second.status, 403, JSON.stringify(second.body))
    assert.equal(second.body.errcode, 'M_FORBIDDEN')
    const available = await t.api.get(`/_matrix/client/v3/register/available?username=${username}`)
    assert.deepEqual(available.body, { available: true })
  })
})

describe('POST /register retried with a completed session', () => {
  it('answers a retry without username with the same account and a new login', async () => {
    const session = await startSession(t.api, { password: PASSWORD })
    const first = await t.api.post(REGISTER, { password: PASSWORD, auth: { type: 'm.login.dummy', session } })
    assert.equal(first.status, 200, JSON.stringify(first.body))
    const second = await t.api.post(REGISTER, { password: PASSWORD, auth: { type: 'm.login.dummy', session } })
    assert.equal(second.status, 200, JSON.stringify(second.body))
    assert.equal(second.body.user_id, first.body.user_id)
    assert.equal(typeof second.body.access_token, 'string')
    const who = await t.api.get('/_matrix/client/v3/account/whoami', second.body.access_token)
    assert.equal(who.body.user_id, first.body.user_id)
    // Only the session's type-less continuation is needed, and still no second account.
    const third = await t.api.post(REGISTER, { auth: { session } })
    assert.equal(third.status, 200, JSON.stringify(third.body))
    assert.equal(third.body.user_id, first.body.user_id)
  })

  it('answers a retry with the same username with that account instead of M_USER_IN_USE', async () => {
    const username = uniqueName('retried')
    const session = await startSession(t.api, { username, password: PASSWORD })
    const first = await t.api.post(REGISTER, { username, password: PASSWORD, auth: { type: 'm.login.dummy', session } })
    assert.equal(first.status, 200, JSON.stringify(first.body))
    const second = await t.api.post(REGISTER, { username, password: PASSWORD, auth: { type: 'm.login.dummy', session } })
    assert.equal(second.status, 200, JSON.stringify(second.body))
    assert.equal(second.body.user_id, `@${username}:test.localhost`)
  })
})

describe('POST /register remembers the first request\'s parameters across the UIA round trip', () => {
  it('uses the device_id and display name of the first request', async () => {
    const username = uniqueName('device')
    const session = await startSession(t.api, { username, password: PASSWORD, device_id: 'XYZZY', initial_device_display_name: 'first request' })
    const res = await t.api.post(REGISTER, { auth: { type: 'm.login.dummy', session } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.device_id, 'XYZZY')
    const device = await t.api.get('/_matrix/client/v3/devices/XYZZY', res.body.access_token)
    assert.equal(device.status, 200, JSON.stringify(device.body))
    assert.equal(device.body.display_name, 'first request')
  })

  it('honours inhibit_login of the first request: no device, no access token', async () => {
    const username = uniqueName('inhibit')
    const session = await startSession(t.api, { username, password: PASSWORD, inhibit_login: true })
    const res = await t.api.post(REGISTER, { auth: { type: 'm.login.dummy', session } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.user_id, `@${username}:test.localhost`)
    assert.equal(res.body.device_id, undefined)
    assert.equal(res.body.access_token, undefined)
  })
})

describe('GET /register/available', () => {
  it('answers available: true for a free, valid username', async () => {
    const res = await t.api.get(`/_matrix/client/v3/register/available?username=${uniqueName('free')}`)
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, { available: true })
  })

  it('returns M_USER_IN_USE for a registered username', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.get(`/_matrix/client/v3/register/available?username=${user.username}`)
    assert.equal(res.status, 400)
    assert.equal(res.body.errcode, 'M_USER_IN_USE')
  })

  it('returns M_INVALID_USERNAME for an invalid username', async () => {
    for (const username of ['Bob', 'b%20o', 'b:o']) {
      const res = await t.api.get(`/_matrix/client/v3/register/available?username=${username}`)
      assert.equal(res.status, 400, username)
      assert.equal(res.body.errcode, 'M_INVALID_USERNAME', username)
    }
  })
})

describe('POST /register with registration disabled', () => {
  it('refuses every registration with 403 M_FORBIDDEN', async () => {
    const res = await closed.api.post(REGISTER, { username: uniqueName('closed'), password: PASSWORD })
    assert.equal(res.status, 403)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
    const withAuth = await closed.api.post(REGISTER, { username: uniqueName('closed'), password: PASSWORD, auth: { type: 'm.login.dummy' } })
    assert.equal(withAuth.status, 403)
    assert.equal(withAuth.body.errcode, 'M_FORBIDDEN')
  })

  it('answers the token validity check with 403 M_FORBIDDEN', async () => {
    const res = await closed.api.get('/_matrix/client/v1/register/m.login.registration_token/validity?token=abc')
    assert.equal(res.status, 403)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
  })
})

// Registration tokens are created through the admin API, by an admin made directly through the accounts service.
const admin = await gated.server.ctx.accounts.createAccount({ username: uniqueName('admin'), password: PASSWORD, admin: true, login: {} })
const adminToken = admin.access_token as string

describe('POST /register with registration.requires_token', () => {
  async function newToken(body: Record<string, unknown> = {}): Promise<string> {
    const res = await gated.api.post('/_synapse/admin/v1/registration_tokens/new', body, adminToken)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return res.body.token
  }

  async function registerWithToken(token: string, username = uniqueName('gated')) {
    const session = await startSession(gated.api, { username, password: PASSWORD })
    return gated.api.post(REGISTER, { auth: { type: 'm.login.registration_token', token, session } })
  }

  it('keeps a token-gated session\'s token use counted once across retries', async () => {
    const token = (await gated.api.post('/_synapse/admin/v1/registration_tokens/new', { uses_allowed: 2 }, adminToken)).body.token as string
    const session = await startSession(gated.api, { password: PASSWORD })
    const auth = { type: 'm.login.registration_token', token, session }
    const first = await gated.api.post(REGISTER, { auth })
    assert.equal(first.status, 200, JSON.stringify(first.body))
    const second = await gated.api.post(REGISTER, { auth })
    assert.equal(second.body.user_id, first.body.user_id)
    const info = await gated.api.get(`/_synapse/admin/v1/registration_tokens/${token}`, adminToken)
    assert.equal(info.body.completed, 1)
    assert.equal(info.body.pending, 0)
  })

  it('offers only the m.login.registration_token flow', async () => {
    const res = await gated.api.post(REGISTER, { username: uniqueName('gated'), password: PASSWORD })
    assert.equal(res.status, 401)
    assert.deepEqual(res.body.flows, [{ stages: ['m.login.registration_token'] }])
    assert.equal(typeof res.body.session, 'string')
  })

  it('refuses m.login.dummy when a token is required', async () => {
    const username = uniqueName('dodger')
    const res = await gated.api.post(REGISTER, { username, password: PASSWORD, auth: { type: 'm.login.dummy' } })
    assert.equal(res.status, 401)
    assert.equal(typeof res.body.errcode, 'string')
    const available = await gated.api.get(`/_matrix/client/v3/register/available?username=${username}`)
    assert.deepEqual(available.body, { available: true })
  })

  it('answers an unknown token with 401, an errcode and the flows to try again', async () => {
    const res = await registerWithToken('no-such-token')
    assert.equal(res.status, 401)
    assert.equal(res.body.errcode, 'M_UNAUTHORIZED')
    assert.deepEqual(res.body.flows, [{ stages: ['m.login.registration_token'] }])
    assert.equal(typeof res.body.session, 'string')
  })

  it('registers with a valid token and counts the use as completed', async () => {
    const token = await newToken()
    const username = uniqueName('tokened')
    const res = await registerWithToken(token, username)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.user_id, `@${username}:test.localhost`)
    assert.equal(typeof res.body.access_token, 'string')
    const info = await gated.api.get(`/_synapse/admin/v1/registration_tokens/${token}`, adminToken)
    assert.equal(info.body.completed, 1)
    assert.equal(info.body.pending, 0)
  })

  it('enforces uses_allowed: a single-use token registers one account only', async () => {
    const token = await newToken({ uses_allowed: 1 })
    assert.equal((await registerWithToken(token)).status, 200)
    const second = await registerWithToken(token)
    assert.equal(second.status, 401)
    assert.equal(second.body.errcode, 'M_UNAUTHORIZED')
    assert.equal(second.body.user_id, undefined)
  })

  it('reserves a use while a session holds the token, so a concurrent session cannot take it', async () => {
    const token = await newToken({ uses_allowed: 1 })
    // The first client proves the token but its username is taken meanwhile, so its session stays open.
    const username = uniqueName('slow')
    const session = await startSession(gated.api, { username, password: PASSWORD })
    await gated.server.ctx.accounts.createAccount({ username, password: PASSWORD, admin: false })
    const blocked = await gated.api.post(REGISTER, { auth: { type: 'm.login.registration_token', token, session } })
    assert.equal(blocked.body.errcode, 'M_USER_IN_USE')
    const other = await registerWithToken(token)
    assert.equal(other.status, 401)
    assert.equal(other.body.errcode, 'M_UNAUTHORIZED')
    // The first session keeps its reservation and completes with another username.
    const done = await gated.api.post(REGISTER, { username: uniqueName('slow'), auth: { type: 'm.login.registration_token', token, session } })
    assert.equal(done.status, 200, JSON.stringify(done.body))
  })

  it('answers the validity check with true for a usable token and false otherwise', async () => {
    const url = '/_matrix/client/v1/register/m.login.registration_token/validity?token='
    const token = await newToken({ uses_allowed: 1 })
    assert.deepEqual((await gated.api.get(url + token)).body, { valid: true })
    assert.deepEqual((await gated.api.get(url + 'unknown-token')).body, { valid: false })
    assert.deepEqual((await gated.api.get(url + (await newToken({ uses_allowed: 0 })))).body, { valid: false })
    assert.equal((await registerWithToken(token)).status, 200)
    const used = await gated.api.get(url + token)
    assert.equal(used.status, 200)
    assert.deepEqual(used.body, { valid: false })
  })
})
