// Pushers (client-server API, "Push Notifications": GET /pushers, POST /pushers/set): validation, one pusher
// per app_id + pushkey + user, `append`, deletion with kind null, and pushers going with the session (the
// device) that set them.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type Session, type TestServer } from '../support/server.ts'
import { CS, assertError } from '../support/rooms.ts'

const t: TestServer = await startTestServer({ 'push.max_pushers_per_user': 3 })

const URL = 'https://push.example.org/_matrix/push/v1/notify'

function pusher(more: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: 'http',
    app_id: 'org.example.app.android',
    pushkey: 'key-1',
    app_display_name: 'Example',
    device_display_name: 'Phone',
    profile_tag: 'tag',
    lang: 'en',
    data: { url: URL },
    ...more,
  }
}

const set = (user: Session, body: Record<string, unknown>, token = user.access_token) => t.api.post(`${CS}/pushers/set`, body, token)

async function listed(user: Session, token = user.access_token): Promise<Array<Record<string, any>>> {
  const res = await t.api.get(`${CS}/pushers`, token)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body.pushers
}

async function login(user: Session): Promise<string> {
  const res = await t.api.post(`${CS}/login`, { type: 'm.login.password', identifier: { type: 'm.id.user', user: user.username }, password: user.password })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body.access_token
}

describe('POST /pushers/set and GET /pushers', () => {
  it('stores an http pusher with everything the client gave and lists it', async () => {
    const alice = await registerUser(t.api)
    assert.deepEqual(await listed(alice), [])
    const body = pusher({ data: { url: URL, format: 'event_id_only', custom: 'x' } })
    assert.equal((await set(alice, body)).status, 200)
    assert.deepEqual(await listed(alice), [
      { pushkey: 'key-1', kind: 'http', app_id: 'org.example.app.android', app_display_name: 'Example', device_display_name: 'Phone', profile_tag: 'tag', lang: 'en', data: { url: URL, format: 'event_id_only', custom: 'x' } },
    ])
  })

  it('keeps one pusher per app_id and pushkey for a user: setting it again updates it', async () => {
    const alice = await registerUser(t.api)
    assert.equal((await set(alice, pusher())).status, 200)
    assert.equal((await set(alice, pusher({ device_display_name: 'New phone', lang: 'fr' }))).status, 200)
    const list = await listed(alice)
    assert.equal(list.length, 1)
    assert.equal(list[0]?.device_display_name, 'New phone')
    assert.equal(list[0]?.lang, 'fr')
  })

  it('deletes the pusher when kind is null, and answers 200 when there is none', async () => {
    const alice = await registerUser(t.api)
    assert.equal((await set(alice, pusher())).status, 200)
    assert.equal((await set(alice, pusher({ pushkey: 'key-2' }))).status, 200)
    assert.equal((await set(alice, { kind: null, app_id: 'org.example.app.android', pushkey: 'key-1' })).status, 200)
    assert.deepEqual((await listed(alice)).map((p) => p.pushkey), ['key-2'])
    assert.equal((await set(alice, { kind: null, app_id: 'org.example.app.android', pushkey: 'nothing' })).status, 200)
  })

  it('takes the app_id and pushkey from another user unless append is true', async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const shared = { pushkey: `shared-${alice.user_id}` }
    assert.equal((await set(alice, pusher(shared))).status, 200)
    assert.equal((await set(bob, pusher({ ...shared, append: true }))).status, 200)
    assert.equal((await listed(alice)).length, 1, 'append keeps the other user’s pusher')
    assert.equal((await set(carol, pusher(shared))).status, 200)
    assert.equal((await listed(alice)).length, 0, 'without append the others lose it')
    assert.equal((await listed(bob)).length, 0)
    assert.equal((await listed(carol)).length, 1)
  })

  it('refuses bad input with the spec errors', async () => {
    const alice = await registerUser(t.api)
    assertError(await set(alice, { app_id: 'a', pushkey: 'k' }), 400, 'M_MISSING_PARAM')
    assertError(await set(alice, { kind: 'http', app_id: 'a', pushkey: 'k', data: { url: URL } }), 400, 'M_MISSING_PARAM')
    assertError(await set(alice, pusher({ data: {} })), 400, 'M_INVALID_PARAM', 'an http pusher needs data.url')
    assertError(await set(alice, pusher({ data: { url: 'https://push.example.org/notify' } })), 400, 'M_INVALID_PARAM', 'the notify path')
    assertError(await set(alice, pusher({ data: { url: 'ftp://push.example.org/_matrix/push/v1/notify' } })), 400, 'M_INVALID_PARAM')
    assertError(await set(alice, pusher({ data: { url: 'not a url' } })), 400, 'M_INVALID_PARAM')
    assertError(await set(alice, pusher({ data: 'x' })), 400, 'M_INVALID_PARAM')
    assertError(await set(alice, pusher({ kind: 'carrier-pigeon' })), 400, 'M_INVALID_PARAM')
    assertError(await set(alice, pusher({ app_id: 'a'.repeat(65) })), 400, 'M_INVALID_PARAM', 'app_id of 65 characters')
    assertError(await set(alice, pusher({ pushkey: 'k'.repeat(513) })), 400, 'M_INVALID_PARAM', 'pushkey of 513 bytes')
    assertError(await set(alice, pusher({ pushkey: 7 })), 400, 'M_INVALID_PARAM')
    assertError(await set(alice, pusher({ append: 'yes' })), 400, 'M_INVALID_PARAM')
    assertError(await set(alice, pusher({ data: { url: URL, blob: 'x'.repeat(10_000) } })), 400, 'M_INVALID_PARAM', 'data too large')
    assert.deepEqual(await listed(alice), [])
  })

  it('bounds the pushers of one user', async () => {
    const alice = await registerUser(t.api)
    for (const key of ['a', 'b', 'c']) assert.equal((await set(alice, pusher({ pushkey: key }))).status, 200)
    assertError(await set(alice, pusher({ pushkey: 'd' })), 400, 'M_INVALID_PARAM')
    assert.equal((await set(alice, pusher({ pushkey: 'c', lang: 'de' }))).status, 200, 'an existing pusher can still be updated')
  })
})

describe('pushers end with the session that set them', () => {
  it('goes at logout of its device, not of another device', async () => {
    const alice = await registerUser(t.api)
    const phone = await login(alice)
    assert.equal((await set(alice, pusher(), phone)).status, 200)
    assert.equal((await t.api.post(`${CS}/logout`, {}, alice.access_token)).status, 200)
    assert.equal((await listed(alice, phone)).length, 1)
    const laptop = await login(alice)
    assert.equal((await t.api.post(`${CS}/logout`, {}, phone)).status, 200)
    assert.deepEqual(await listed(alice, laptop), [])
  })

  it('goes at logout/all and when its device is deleted', async () => {
    const alice = await registerUser(t.api)
    const phone = await login(alice)
    assert.equal((await set(alice, pusher(), phone)).status, 200)
    assert.equal((await t.api.post(`${CS}/logout/all`, {}, alice.access_token)).status, 200)
    const again = await login(alice)
    assert.deepEqual(await listed(alice, again), [])

    const phone2 = await login(alice)
    assert.equal((await set(alice, pusher(), phone2)).status, 200)
    const devices = (await t.api.get(`${CS}/devices`, phone2)).body.devices as Array<{ device_id: string }>
    const whoami = (await t.api.get(`${CS}/account/whoami`, phone2)).body.device_id as string
    assert.ok(devices.some((d) => d.device_id === whoami))
    const auth = { type: 'm.login.password', identifier: { type: 'm.id.user', user: alice.username }, password: alice.password }
    const deleted = await t.api.request('DELETE', `${CS}/devices/${encodeURIComponent(whoami)}`, { body: { auth }, token: again })
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body))
    assert.deepEqual(await listed(alice, again), [])
  })

  it('goes with the other devices when the password changes with logout_devices, and stays without it', async () => {
    const alice = await registerUser(t.api)
    const phone = await login(alice)
    assert.equal((await set(alice, pusher(), phone)).status, 200)
    const change = (logout: boolean, password: string, newPassword: string) =>
      t.api.post(`${CS}/account/password`, { new_password: newPassword, logout_devices: logout, auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: alice.username }, password } }, alice.access_token)
    assert.equal((await change(false, alice.password, 'second password')).status, 200)
    assert.equal((await listed(alice)).length, 1)
    assert.equal((await change(true, 'second password', 'third password')).status, 200)
    assert.deepEqual(await listed(alice), [])
  })

  it('goes when the account is deactivated', async () => {
    const alice = await registerUser(t.api)
    assert.equal((await set(alice, pusher())).status, 200)
    const res = await t.api.post(`${CS}/account/deactivate`, { auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: alice.username }, password: alice.password } }, alice.access_token)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(await t.server.ctx.storage.repos.pushers.list(alice.user_id), [])
  })
})
