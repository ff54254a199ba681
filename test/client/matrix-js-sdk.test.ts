// The reference client library (matrix-js-sdk) against a real Homestead: registration through its
// interactive-auth driver, password login, whoami, profile and logout, all over real HTTP.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createClient, InteractiveAuth, MatrixError, type MatrixClient, type RegisterResponse } from 'matrix-js-sdk'
import { logger as sdkLogger } from 'matrix-js-sdk/lib/logger.js'
import { startTestServer, type TestServer } from '../support/server.ts'

const t: TestServer = await startTestServer()

// The SDK logs every HTTP request and UIA step; keep the test output to the test runner's. Its global
// logger is a loglevel logger at runtime, though typed only as the SDK's Logger interface.
;(sdkLogger as unknown as { disableAll(): void }).disableAll()

let counter = 0
function freshName(): string {
  return `sdk${process.pid}x${++counter}`
}

/** Registers through the SDK's UIA driver, which answers the m.login.dummy stage by itself. */
async function sdkRegister(username: string, password: string): Promise<RegisterResponse> {
  const anonymous = createClient({ baseUrl: t.url })
  const stages: string[] = []
  const auth = new InteractiveAuth<RegisterResponse>({
    matrixClient: anonymous,
    doRequest: (authDict) =>
      anonymous.registerRequest({ username, password, initial_device_display_name: 'sdk test', ...(authDict ? { auth: authDict } : {}) }),
    stateUpdated: (stage) => stages.push(stage),
    requestEmailToken: () => Promise.reject(new Error('no e-mail stage expected')),
  })
  const result = await auth.attemptAuth()
  // Only stages that need the user's input reach stateUpdated; the dummy stage must not.
  assert.deepEqual(stages, [])
  return result
}

function clientFor(session: { user_id: string; access_token?: string; device_id?: string }): MatrixClient {
  return createClient({ baseUrl: t.url, userId: session.user_id, accessToken: session.access_token, deviceId: session.device_id })
}

describe('matrix-js-sdk against Homestead', () => {
  it('registers through InteractiveAuth (m.login.dummy) and gets a working session', async () => {
    const username = freshName()
    const result = await sdkRegister(username, 'correct horse battery staple')
    assert.equal(result.user_id, `@${username}:${t.config.server_name}`)
    assert.ok(result.access_token)
    assert.ok(result.device_id)
    const who = await clientFor(result).whoami()
    assert.equal(who.user_id, result.user_id)
    assert.equal(who.device_id, result.device_id)
  })

  it('first registration request without auth is a UIA 401 offering m.login.dummy', async () => {
    const anonymous = createClient({ baseUrl: t.url })
    const err = await anonymous.registerRequest({ username: freshName(), password: 'correct horse battery staple' }).then(
      () => assert.fail('registration without auth succeeded'),
      (e: unknown) => e,
    )
    assert.ok(err instanceof MatrixError, String(err))
    assert.equal(err.httpStatus, 401)
    assert.ok(typeof err.data.session === 'string' && err.data.session.length > 0)
    const flows = err.data.flows as Array<{ stages: string[] }>
    assert.ok(flows.some((f) => f.stages.length === 1 && f.stages[0] === 'm.login.dummy'), JSON.stringify(flows))
  })

  it('logs in with loginRequest (m.login.password) and the new token answers whoami', async () => {
    const username = freshName()
    const registered = await sdkRegister(username, 'correct horse battery staple')
    const anonymous = createClient({ baseUrl: t.url })
    const flows = await anonymous.loginFlows()
    assert.ok(flows.flows.some((f) => f.type === 'm.login.password'))
    const login = await anonymous.loginRequest({
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user: username },
      password: 'correct horse battery staple',
      initial_device_display_name: 'second device',
    })
    assert.equal(login.user_id, registered.user_id)
    assert.notEqual(login.device_id, registered.device_id)
    const who = await clientFor(login).whoami()
    assert.deepEqual({ user_id: who.user_id, device_id: who.device_id }, { user_id: login.user_id, device_id: login.device_id })
  })

  it('refuses a wrong password with an M_FORBIDDEN MatrixError', async () => {
    const username = freshName()
    await sdkRegister(username, 'correct horse battery staple')
    const err = await createClient({ baseUrl: t.url })
      .loginRequest({ type: 'm.login.password', identifier: { type: 'm.id.user', user: username }, password: 'wrong password' })
      .then(
        () => assert.fail('login with a wrong password succeeded'),
        (e: unknown) => e,
      )
    assert.ok(err instanceof MatrixError, String(err))
    assert.equal(err.errcode, 'M_FORBIDDEN')
    assert.equal(err.httpStatus, 403)
  })

  it('sets the display name and avatar URL and reads them back with getProfileInfo', async () => {
    const session = await sdkRegister(freshName(), 'correct horse battery staple')
    const client = clientFor(session)
    await client.setDisplayName('Alice Liddell')
    await client.setAvatarUrl('mxc://example.org/rabbit-hole')
    const profile = await client.getProfileInfo(session.user_id)
    assert.equal(profile.displayname, 'Alice Liddell')
    assert.equal(profile.avatar_url, 'mxc://example.org/rabbit-hole')
    const displayname = await client.getProfileInfo(session.user_id, 'displayname')
    assert.deepEqual(displayname, { displayname: 'Alice Liddell' })
    // Another user (and an anonymous client) sees the same public profile.
    const anonymousView = await createClient({ baseUrl: t.url }).getProfileInfo(session.user_id)
    assert.equal(anonymousView.displayname, 'Alice Liddell')
    assert.equal(anonymousView.avatar_url, 'mxc://example.org/rabbit-hole')
  })

  it('logs out, after which the token is rejected with M_UNKNOWN_TOKEN', async () => {
    const session = await sdkRegister(freshName(), 'correct horse battery staple')
    const client = clientFor(session)
    assert.deepEqual(await client.logout(), {})
    const err = await client.whoami().then(
      () => assert.fail('whoami succeeded after logout'),
      (e: unknown) => e,
    )
    assert.ok(err instanceof MatrixError, String(err))
    assert.equal(err.httpStatus, 401)
    assert.equal(err.errcode, 'M_UNKNOWN_TOKEN')
  })
})
