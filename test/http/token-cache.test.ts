// Access tokens are cached by every instance (src/users/token-cache.ts). Two servers on one database, as
// behind a load balancer: whatever revokes a token or changes an account on one instance is refused on
// that instance at once and on the other as soon as the database's notification arrives.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { waitFor } from '../support/cli.ts'
import { Api, registerUser, startInstanceOn, startTestServer, type TestServer } from '../support/server.ts'

const t: TestServer = await startTestServer()
const second = await startInstanceOn(t.database)
const other = second.api
after(() => second.close())

const whoami = (api: Api, token: string) => api.get('/_matrix/client/v3/account/whoami', token)

/** Both instances accept the token (and so have it cached). */
async function usedOnBoth(token: string): Promise<void> {
  for (let i = 0; i < 2; i++) {
    assert.equal((await whoami(t.api, token)).status, 200)
    assert.equal((await whoami(other, token)).status, 200)
  }
}

async function refusedEverywhere(token: string): Promise<void> {
  // On the instance that revoked it: at once, with no waiting.
  const local = await whoami(t.api, token)
  assert.equal(local.status, 401)
  assert.equal(local.body.errcode, 'M_UNKNOWN_TOKEN')
  // On the other: once the notification arrives.
  await waitFor(async () => (await whoami(other, token)).status === 401, 5000, () => 'the other instance still accepts a revoked token')
}

async function login(username: string, password: string): Promise<string> {
  const res = await t.api.post('/_matrix/client/v3/login', { type: 'm.login.password', user: username, password })
  assert.equal(res.status, 200)
  return res.body.access_token
}

describe('cached access tokens on two instances', () => {
  it('stop working everywhere after /logout', async () => {
    const user = await registerUser(t.api)
    await usedOnBoth(user.access_token)
    assert.equal((await t.api.post('/_matrix/client/v3/logout', {}, user.access_token)).status, 200)
    await refusedEverywhere(user.access_token)
  })

  it('stop working everywhere after /logout/all, including devices never used on the revoking instance', async () => {
    const user = await registerUser(t.api)
    const phone = await login(user.username, user.password)
    assert.equal((await whoami(other, phone)).status, 200)
    await usedOnBoth(user.access_token)
    assert.equal((await t.api.post('/_matrix/client/v3/logout/all', {}, user.access_token)).status, 200)
    await refusedEverywhere(user.access_token)
    await waitFor(async () => (await whoami(other, phone)).status === 401, 5000, () => 'the phone token still works on the other instance')
  })

  it('stop working everywhere after a password change that logs out the other devices', async () => {
    const user = await registerUser(t.api)
    const phone = await login(user.username, user.password)
    await usedOnBoth(phone)
    const res = await t.api.post(
      '/_matrix/client/v3/account/password',
      { new_password: 'another horse battery staple', auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: user.username }, password: user.password } },
      user.access_token,
    )
    assert.equal(res.status, 200)
    await refusedEverywhere(phone)
    // The device that changed the password stays logged in.
    assert.equal((await whoami(other, user.access_token)).status, 200)
  })

  it('stop working everywhere when the account is deactivated', async () => {
    const user = await registerUser(t.api)
    await usedOnBoth(user.access_token)
    const res = await t.api.post(
      '/_matrix/client/v3/account/deactivate',
      { auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: user.username }, password: user.password } },
      user.access_token,
    )
    assert.equal(res.status, 200)
    await refusedEverywhere(user.access_token)
  })

  it('follow a change of the admin flag made outside either instance', async () => {
    const user = await registerUser(t.api)
    const adminOnly = '/_synapse/admin/v1/registration_tokens'
    assert.equal((await other.get(adminOnly, user.access_token)).status, 403)
    assert.equal((await t.api.get(adminOnly, user.access_token)).status, 403)
    // As `homestead` on the command line would: a write to the database, through no instance's services.
    await t.server.ctx.storage.repos.users.setAdmin(user.user_id, true)
    for (const api of [t.api, other]) {
      await waitFor(async () => (await api.get(adminOnly, user.access_token)).status === 200, 5000, () => 'the promotion was not seen')
    }
    await t.server.ctx.storage.repos.users.setAdmin(user.user_id, false)
    for (const api of [t.api, other]) {
      await waitFor(async () => (await api.get(adminOnly, user.access_token)).status === 403, 5000, () => 'the demotion was not seen')
    }
  })

  it('refuse a made-up token on both instances', async () => {
    for (const api of [t.api, other]) {
      const res = await whoami(api, `hs_${'A'.repeat(43)}`)
      assert.equal(res.status, 401)
      assert.equal(res.body.errcode, 'M_UNKNOWN_TOKEN')
    }
  })
})
