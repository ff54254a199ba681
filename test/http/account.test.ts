// POST /account/password, POST /account/deactivate and GET /account/whoami over real HTTP.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'

const t: TestServer = await startTestServer()

const PASSWORD_URL = '/_matrix/client/v3/account/password'
const DEACTIVATE_URL = '/_matrix/client/v3/account/deactivate'
const WHOAMI_URL = '/_matrix/client/v3/account/whoami'
const NEW_PASSWORD = 'a brand new long password'

function passwordAuth(user: string, password: string, session: string) {
  return { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password, session }
}

function login(user: string, password: string) {
  return t.api.post('/_matrix/client/v3/login', { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password })
}

/** Starts a UIA session on `url` with `body` and returns its ID (asserting the 401 challenge). */
async function challenge(url: string, body: Record<string, unknown>, token: string): Promise<string> {
  const res = await t.api.post(url, body, token)
  assert.equal(res.status, 401, JSON.stringify(res.body))
  assert.deepEqual(res.body.flows, [{ stages: ['m.login.password'] }])
  assert.equal(typeof res.body.session, 'string')
  return res.body.session
}

describe('POST /account/password', () => {
  it('answers a request without auth with 401 and the m.login.password flow, leaving the password unchanged', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.post(PASSWORD_URL, { new_password: NEW_PASSWORD }, user.access_token)
    assert.equal(res.status, 401)
    assert.deepEqual(res.body.flows, [{ stages: ['m.login.password'] }])
    assert.equal(typeof res.body.session, 'string')
    assert.equal(res.body.errcode, undefined)
    assert.equal((await login(user.username, user.password)).status, 200)
  })

  it('answers a wrong password with 401, errcode M_FORBIDDEN and the same session', async () => {
    const user = await registerUser(t.api)
    const session = await challenge(PASSWORD_URL, { new_password: NEW_PASSWORD }, user.access_token)
    const res = await t.api.post(PASSWORD_URL, { new_password: NEW_PASSWORD, auth: passwordAuth(user.username, 'wrong password', session) }, user.access_token)
    assert.equal(res.status, 401)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
    assert.equal(res.body.session, session)
    assert.deepEqual(res.body.flows, [{ stages: ['m.login.password'] }])
    assert.equal((await login(user.username, NEW_PASSWORD)).status, 403)
  })

  it('changes the password with the right one: the new password logs in and the old one no longer does', async () => {
    const user = await registerUser(t.api)
    const session = await challenge(PASSWORD_URL, { new_password: NEW_PASSWORD }, user.access_token)
    const res = await t.api.post(PASSWORD_URL, { new_password: NEW_PASSWORD, auth: passwordAuth(user.username, user.password, session) }, user.access_token)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body, {})
    const withNew = await login(user.username, NEW_PASSWORD)
    assert.equal(withNew.status, 200)
    const withOld = await login(user.username, user.password)
    assert.equal(withOld.status, 403)
    assert.equal(withOld.body.errcode, 'M_FORBIDDEN')
  })

  it('accepts the full user ID as the UIA identifier', async () => {
    const user = await registerUser(t.api)
    const session = await challenge(PASSWORD_URL, { new_password: NEW_PASSWORD }, user.access_token)
    const res = await t.api.post(PASSWORD_URL, { new_password: NEW_PASSWORD, auth: passwordAuth(user.user_id, user.password, session) }, user.access_token)
    assert.equal(res.status, 200, JSON.stringify(res.body))
  })

  it('logs out every other device by default but keeps the one that asked', async () => {
    const user = await registerUser(t.api)
    const other = await login(user.username, user.password)
    assert.equal(other.status, 200)
    const session = await challenge(PASSWORD_URL, { new_password: NEW_PASSWORD }, user.access_token)
    const res = await t.api.post(PASSWORD_URL, { new_password: NEW_PASSWORD, auth: passwordAuth(user.username, user.password, session) }, user.access_token)
    assert.equal(res.status, 200)
    const otherWho = await t.api.get(WHOAMI_URL, other.body.access_token)
    assert.equal(otherWho.status, 401)
    assert.equal(otherWho.body.errcode, 'M_UNKNOWN_TOKEN')
    const selfWho = await t.api.get(WHOAMI_URL, user.access_token)
    assert.equal(selfWho.status, 200)
    const devices = await t.api.get('/_matrix/client/v3/devices', user.access_token)
    assert.deepEqual(devices.body.devices.map((d: { device_id: string }) => d.device_id), [user.device_id])
  })

  it('revokes the refresh tokens of the devices it logs out', async () => {
    const user = await registerUser(t.api)
    const other = await t.api.post('/_matrix/client/v3/login', {
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user: user.username },
      password: user.password,
      refresh_token: true,
    })
    assert.equal(typeof other.body.refresh_token, 'string')
    const session = await challenge(PASSWORD_URL, { new_password: NEW_PASSWORD }, user.access_token)
    const res = await t.api.post(PASSWORD_URL, { new_password: NEW_PASSWORD, auth: passwordAuth(user.username, user.password, session) }, user.access_token)
    assert.equal(res.status, 200)
    const refreshed = await t.api.post('/_matrix/client/v3/refresh', { refresh_token: other.body.refresh_token })
    assert.equal(refreshed.status, 401)
    assert.equal(refreshed.body.errcode, 'M_UNKNOWN_TOKEN')
  })

  it('keeps the other devices logged in when logout_devices is false', async () => {
    const user = await registerUser(t.api)
    const other = await login(user.username, user.password)
    const body = { new_password: NEW_PASSWORD, logout_devices: false }
    const session = await challenge(PASSWORD_URL, body, user.access_token)
    const res = await t.api.post(PASSWORD_URL, { ...body, auth: passwordAuth(user.username, user.password, session) }, user.access_token)
    assert.equal(res.status, 200)
    assert.equal((await t.api.get(WHOAMI_URL, other.body.access_token)).status, 200)
    assert.equal((await t.api.get(WHOAMI_URL, user.access_token)).status, 200)
  })

  it('returns M_WEAK_PASSWORD for a new password below the minimum length', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.post(PASSWORD_URL, { new_password: 'short' }, user.access_token)
    assert.equal(res.status, 400)
    assert.equal(res.body.errcode, 'M_WEAK_PASSWORD')
  })

  it('refuses to authenticate as another user with 403 M_FORBIDDEN (retrying the stage cannot help)', async () => {
    const user = await registerUser(t.api)
    const mallory = await registerUser(t.api)
    const session = await challenge(PASSWORD_URL, { new_password: NEW_PASSWORD }, mallory.access_token)
    const res = await t.api.post(PASSWORD_URL, { new_password: NEW_PASSWORD, auth: passwordAuth(user.username, user.password, session) }, mallory.access_token)
    assert.equal(res.status, 403)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
    assert.equal((await login(mallory.username, mallory.password)).status, 200)
  })

  it('refuses a UIA session that another user started', async () => {
    const user = await registerUser(t.api)
    const mallory = await registerUser(t.api)
    const session = await challenge(PASSWORD_URL, { new_password: NEW_PASSWORD }, user.access_token)
    const res = await t.api.post(PASSWORD_URL, { new_password: NEW_PASSWORD, auth: passwordAuth(mallory.username, mallory.password, session) }, mallory.access_token)
    assert.equal(res.status, 403)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
    assert.equal((await login(mallory.username, mallory.password)).status, 200)
  })

  it('refuses a UIA session started for deactivation, leaving the password unchanged', async () => {
    const user = await registerUser(t.api)
    const session = await challenge(DEACTIVATE_URL, {}, user.access_token)
    const res = await t.api.post(PASSWORD_URL, { new_password: NEW_PASSWORD, auth: passwordAuth(user.username, user.password, session) }, user.access_token)
    assert.equal(res.status, 403)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
    assert.equal((await login(user.username, user.password)).status, 200)
  })

  it('answers a body without new_password with 400 M_MISSING_PARAM', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.post(PASSWORD_URL, { logout_devices: true }, user.access_token)
    assert.equal(res.status, 400)
    assert.equal(res.body.errcode, 'M_MISSING_PARAM')
  })
})

describe('POST /account/deactivate', () => {
  it('answers a request without auth with 401 and the m.login.password flow, leaving the account active', async () => {
    const user = await registerUser(t.api)
    await challenge(DEACTIVATE_URL, {}, user.access_token)
    assert.equal((await t.api.get(WHOAMI_URL, user.access_token)).status, 200)
  })

  it('keeps the account active when the password is wrong', async () => {
    const user = await registerUser(t.api)
    const session = await challenge(DEACTIVATE_URL, {}, user.access_token)
    const res = await t.api.post(DEACTIVATE_URL, { auth: passwordAuth(user.username, 'wrong password', session) }, user.access_token)
    assert.equal(res.status, 401)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
    assert.equal((await t.api.get(WHOAMI_URL, user.access_token)).status, 200)
  })

  it('revokes every token, refuses login with M_USER_DEACTIVATED and keeps the username taken', async () => {
    const user = await registerUser(t.api)
    const other = await t.api.post('/_matrix/client/v3/login', {
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user: user.username },
      password: user.password,
      refresh_token: true,
    })
    const session = await challenge(DEACTIVATE_URL, {}, user.access_token)
    const res = await t.api.post(DEACTIVATE_URL, { auth: passwordAuth(user.username, user.password, session) }, user.access_token)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.id_server_unbind_result, 'no-support')

    for (const token of [user.access_token, other.body.access_token]) {
      const who = await t.api.get(WHOAMI_URL, token)
      assert.equal(who.status, 401)
      assert.equal(who.body.errcode, 'M_UNKNOWN_TOKEN')
    }
    const refreshed = await t.api.post('/_matrix/client/v3/refresh', { refresh_token: other.body.refresh_token })
    assert.equal(refreshed.status, 401)
    assert.equal(refreshed.body.errcode, 'M_UNKNOWN_TOKEN')
    const again = await login(user.username, user.password)
    assert.equal(again.status, 403)
    assert.equal(again.body.errcode, 'M_USER_DEACTIVATED')

    const register = await t.api.post('/_matrix/client/v3/register', { username: user.username, password: user.password, auth: { type: 'm.login.dummy' } })
    assert.equal(register.status, 400)
    assert.equal(register.body.errcode, 'M_USER_IN_USE')
    const available = await t.api.get(`/_matrix/client/v3/register/available?username=${user.username}`)
    assert.equal(available.status, 400)
    assert.equal(available.body.errcode, 'M_USER_IN_USE')
  })
})

describe('POST /login to a deactivated account', () => {
  it('answers a wrong password as for any account (M_FORBIDDEN), and M_USER_DEACTIVATED only to the right one', async () => {
    const user = await registerUser(t.api)
    const session = await challenge(DEACTIVATE_URL, {}, user.access_token)
    const res = await t.api.post(DEACTIVATE_URL, { auth: passwordAuth(user.username, user.password, session) }, user.access_token)
    assert.equal(res.status, 200, JSON.stringify(res.body))

    const wrong = await login(user.username, 'not the password')
    const nobody = await login(`nobody${Date.now()}`, 'not the password')
    assert.equal(wrong.status, 403)
    assert.equal(wrong.body.errcode, 'M_FORBIDDEN')
    assert.deepEqual(wrong.body, nobody.body, 'a wrong password tells a deactivated account from an unknown one')
    const right = await login(user.username, user.password)
    assert.equal(right.status, 403)
    assert.equal(right.body.errcode, 'M_USER_DEACTIVATED')
  })

  it('answers M_FORBIDDEN to any password once the account was deactivated with erase: its password is gone', async () => {
    const user = await registerUser(t.api)
    const session = await challenge(DEACTIVATE_URL, {}, user.access_token)
    const res = await t.api.post(DEACTIVATE_URL, { auth: passwordAuth(user.username, user.password, session), erase: true }, user.access_token)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const right = await login(user.username, user.password)
    assert.equal(right.status, 403)
    assert.equal(right.body.errcode, 'M_FORBIDDEN')
  })
})

describe('GET /account/whoami', () => {
  it('returns the user ID and device ID of the token', async () => {
    const user = await registerUser(t.api, { deviceId: 'WHOAMIDEV' })
    const res = await t.api.get(WHOAMI_URL, user.access_token)
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, { user_id: user.user_id, device_id: 'WHOAMIDEV', is_guest: false })
  })

  it('accepts the token in the access_token query parameter', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.get(`${WHOAMI_URL}?access_token=${encodeURIComponent(user.access_token)}`)
    assert.equal(res.status, 200)
    assert.equal(res.body.user_id, user.user_id)
  })

  it('answers 401 M_MISSING_TOKEN without a token and 401 M_UNKNOWN_TOKEN for an unknown one', async () => {
    const missing = await t.api.get(WHOAMI_URL)
    assert.equal(missing.status, 401)
    assert.equal(missing.body.errcode, 'M_MISSING_TOKEN')
    const unknown = await t.api.get(WHOAMI_URL, 'hs_not_a_real_token')
    assert.equal(unknown.status, 401)
    assert.equal(unknown.body.errcode, 'M_UNKNOWN_TOKEN')
  })
})
