// Rate limits of login and registration (M_LIMIT_EXCEEDED, retry_after_ms, Retry-After) over real HTTP.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type ApiResponse, type TestServer } from '../support/server.ts'

// Refill is slow (one token every ~17 minutes) so no bucket refills during a test. The server trusts
// X-Forwarded-For, as behind a load balancer, so each test can speak from its own client address and
// spend its own per-address buckets.
const limited: TestServer = await startTestServer({
  'rate_limits.enabled': true,
  'http.trust_proxy': true,
  'rate_limits.login_address.burst': 2,
  'rate_limits.login_address.per_second': 0.001,
  'rate_limits.login_account.burst': 3,
  'rate_limits.login_account.per_second': 0.001,
  'rate_limits.login_failed_attempts.burst': 2,
  'rate_limits.login_failed_attempts.per_second': 0.001,
  'rate_limits.registration.burst': 2,
  'rate_limits.registration.per_second': 0.001,
  'rate_limits.message.burst': 3,
  'rate_limits.message.per_second': 0.001,
  'rate_limits.room_creation.burst': 2,
  'rate_limits.room_creation.per_second': 0.001,
})
// The same tiny bursts, but rate limiting switched off.
const unlimited: TestServer = await startTestServer({
  'rate_limits.enabled': false,
  'rate_limits.login_address.burst': 1,
  'rate_limits.login_account.burst': 1,
  'rate_limits.login_failed_attempts.burst': 1,
  'rate_limits.registration.burst': 1,
})

const PASSWORD = 'correct horse battery staple'
let counter = 0
const uniqueName = (prefix: string) => `${prefix}${process.pid}x${++counter}`
let addressCounter = 0
/** A client address of its own for each caller (documentation range 198.51.100.0/24 and beyond). */
const newAddress = () => `198.51.${100 + Math.floor(++addressCounter / 250)}.${addressCounter % 250}`

/** Makes an account directly through the accounts service, so the registration limit is not spent. */
async function createAccount(server: TestServer): Promise<string> {
  const username = uniqueName('rl')
  await server.server.ctx.accounts.createAccount({ username, password: PASSWORD, admin: false })
  return username
}

/** A session made directly through the accounts service: no login or registration limit is spent. */
async function session(server: TestServer): Promise<{ token: string; userId: string }> {
  const created = await server.server.ctx.accounts.createAccount({ username: uniqueName('user'), password: PASSWORD, admin: false, login: {} })
  return { token: created.access_token as string, userId: created.user_id as string }
}

/** A public room made by someone else and joined by `token` (a join spends no message token); `admin` gets power 100. */
async function joinedRoom(server: TestServer, token: string, admin?: string): Promise<string> {
  const owner = await session(server)
  const override = admin ? { power_level_content_override: { users: { [admin]: 100 } } } : {}
  const roomId = (await server.api.post('/_matrix/client/v3/createRoom', { preset: 'public_chat', ...override }, owner.token)).body.room_id
  assert.equal((await server.api.post(`/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {}, token)).status, 200)
  return roomId
}

function login(server: TestServer, user: string, password: string, address: string) {
  return server.api.request('POST', '/_matrix/client/v3/login', {
    body: { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password },
    headers: { 'X-Forwarded-For': address },
  })
}

function register(server: TestServer, address: string, username = uniqueName('reg')) {
  return server.api.request('POST', '/_matrix/client/v3/register', {
    body: { username, password: PASSWORD, auth: { type: 'm.login.dummy' } },
    headers: { 'X-Forwarded-For': address },
  })
}

function assertLimited(res: ApiResponse): void {
  assert.equal(res.status, 429, JSON.stringify(res.body))
  assert.equal(res.body.errcode, 'M_LIMIT_EXCEEDED')
  assert.equal(typeof res.body.retry_after_ms, 'number')
  assert.ok(Number.isInteger(res.body.retry_after_ms) && res.body.retry_after_ms > 0, String(res.body.retry_after_ms))
  const header = res.headers.get('retry-after')
  assert.ok(header !== null, 'Retry-After header missing')
  assert.match(header, /^[0-9]+$/)
  assert.ok(Number(header) > 0)
  // The header is in seconds, the body in milliseconds: both say the same wait.
  assert.equal(Number(header), Math.ceil(res.body.retry_after_ms / 1000))
}

describe('POST /login with rate limits', () => {
  it('answers 429 M_LIMIT_EXCEEDED with retry_after_ms and Retry-After once an address spends its burst', async () => {
    const address = newAddress()
    for (let i = 0; i < 2; i++) {
      const res = await login(limited, await createAccount(limited), PASSWORD, address)
      assert.equal(res.status, 200, JSON.stringify(res.body))
    }
    assertLimited(await login(limited, await createAccount(limited), PASSWORD, address))
  })

  it('limits each address separately', async () => {
    const spent = newAddress()
    for (let i = 0; i < 2; i++) await login(limited, await createAccount(limited), PASSWORD, spent)
    assertLimited(await login(limited, await createAccount(limited), PASSWORD, spent))
    const res = await login(limited, await createAccount(limited), PASSWORD, newAddress())
    assert.equal(res.status, 200, JSON.stringify(res.body))
  })

  it('limits logins to one account whichever addresses they come from', async () => {
    const username = await createAccount(limited)
    for (let i = 0; i < 3; i++) {
      const res = await login(limited, username, PASSWORD, newAddress())
      assert.equal(res.status, 200, JSON.stringify(res.body))
    }
    assertLimited(await login(limited, username, PASSWORD, newAddress()))
    const other = await login(limited, await createAccount(limited), PASSWORD, newAddress())
    assert.equal(other.status, 200, JSON.stringify(other.body))
  })

  it('refuses even the right password with 429 once an account has spent its failed-attempt budget', async () => {
    const username = await createAccount(limited)
    for (let i = 0; i < 2; i++) {
      const res = await login(limited, username, 'wrong password', newAddress())
      assert.equal(res.status, 403, JSON.stringify(res.body))
      assert.equal(res.body.errcode, 'M_FORBIDDEN')
    }
    assertLimited(await login(limited, username, PASSWORD, newAddress()))
  })

  it('counts failed attempts per account: another account still logs in', async () => {
    const victim = await createAccount(limited)
    for (let i = 0; i < 2; i++) await login(limited, victim, 'wrong password', newAddress())
    assertLimited(await login(limited, victim, 'wrong password', newAddress()))
    const bystander = await createAccount(limited)
    const res = await login(limited, bystander, PASSWORD, newAddress())
    assert.equal(res.status, 200, JSON.stringify(res.body))
  })

  it('counts failed UIA password checks against the same per-account budget', async () => {
    const username = await createAccount(limited)
    const session = await login(limited, username, PASSWORD, newAddress())
    assert.equal(session.status, 200)
    const token = session.body.access_token
    const first = await limited.api.post('/_matrix/client/v3/account/password', { new_password: 'another long password' }, token)
    assert.equal(first.status, 401)
    const auth = { type: 'm.login.password', identifier: { type: 'm.id.user', user: username }, password: 'wrong password', session: first.body.session }
    for (let i = 0; i < 2; i++) {
      const res = await limited.api.post('/_matrix/client/v3/account/password', { new_password: 'another long password', auth }, token)
      assert.equal(res.status, 401, JSON.stringify(res.body))
      assert.equal(res.body.errcode, 'M_FORBIDDEN')
    }
    const right = { ...auth, password: PASSWORD }
    assertLimited(await limited.api.post('/_matrix/client/v3/account/password', { new_password: 'another long password', auth: right }, token))
  })
})

describe('POST /register with rate limits', () => {
  it('answers 429 M_LIMIT_EXCEEDED with retry_after_ms and Retry-After once an address spends its burst', async () => {
    const address = newAddress()
    for (let i = 0; i < 2; i++) {
      const res = await register(limited, address)
      assert.equal(res.status, 200, JSON.stringify(res.body))
    }
    const username = uniqueName('refused')
    assertLimited(await register(limited, address, username))
    assert.equal(await limited.server.ctx.storage.repos.users.exists(`@${username}:test.localhost`), false)
  })

  it('limits each address separately', async () => {
    const spent = newAddress()
    for (let i = 0; i < 2; i++) await register(limited, spent)
    assertLimited(await register(limited, spent))
    const res = await register(limited, newAddress())
    assert.equal(res.status, 200, JSON.stringify(res.body))
  })

  it('counts availability checks against the registration limit', async () => {
    const address = newAddress()
    const check = () =>
      limited.api.request('GET', `/_matrix/client/v3/register/available?username=${uniqueName('avail')}`, {
        headers: { 'X-Forwarded-For': address },
      })
    for (let i = 0; i < 2; i++) assert.equal((await check()).status, 200)
    assertLimited(await check())
  })
})

describe('PUT /send and /redact with rate limits', () => {
  it('answers 429 M_LIMIT_EXCEEDED once a user spends the burst, stores nothing of the refused send, and still answers a repeated txnId', async () => {
    const { token } = await session(limited)
    const roomId = await joinedRoom(limited, token)
    const send = (txnId: string, body: string) =>
      limited.api.put(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txnId}`, { msgtype: 'm.text', body }, token)
    const sent: string[] = []
    for (let i = 0; i < 3; i++) {
      const ok = await send(`t${i}`, `message ${i}`)
      assert.equal(ok.status, 200, JSON.stringify(ok.body))
      sent.push(ok.body.event_id)
    }
    assertLimited(await send('t3', 'one too many'))
    const redaction = await limited.api.put(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/redact/${encodeURIComponent(sent[0] as string)}/r1`, {}, token)
    assertLimited(redaction)
    // A client retrying a send that went through gets its event, limit or not.
    const again = await send('t1', 'message 1')
    assert.equal(again.status, 200, JSON.stringify(again.body))
    assert.equal(again.body.event_id, sent[1])
    const messages = await limited.api.get(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=5`, token)
    assert.deepEqual(
      messages.body.chunk.filter((e: { type: string }) => e.type === 'm.room.message' || e.type === 'm.room.redaction').map((e: { content: { body?: string } }) => e.content.body),
      ['message 2', 'message 1', 'message 0'],
    )
  })
})

describe('PUT /state, profile changes and createRoom with rate limits', () => {
  it('counts state events against the message limit, and stores nothing of a refused one', async () => {
    const { token, userId } = await session(limited)
    const roomId = await joinedRoom(limited, token, userId)
    const topic = (n: number) => limited.api.put(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.topic`, { topic: `topic ${n}` }, token)
    for (let i = 0; i < 2; i++) assert.equal((await topic(i)).status, 200)
    assert.equal((await limited.api.put(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t0`, { msgtype: 'm.text', body: 'hi' }, token)).status, 200)
    assertLimited(await topic(3))
    const current = await limited.api.get(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.topic`, token)
    assert.equal(current.body.topic, 'topic 1')
    // A member event through PUT /state is an event sent like any other.
    assertLimited(await limited.api.put(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(userId)}`, { membership: 'join', displayname: 'spam' }, token))
  })

  it('counts displayname and avatar_url changes (which reach every joined room) against the message limit, not other fields', async () => {
    const { token, userId } = await session(limited)
    await joinedRoom(limited, token)
    const path = (key: string) => `/_matrix/client/v3/profile/${encodeURIComponent(userId)}/${key}`
    for (let i = 0; i < 2; i++) assert.equal((await limited.api.put(path('displayname'), { displayname: `name ${i}` }, token)).status, 200)
    assert.equal((await limited.api.put(path('avatar_url'), { avatar_url: 'mxc://test.localhost/abc' }, token)).status, 200)
    assertLimited(await limited.api.put(path('displayname'), { displayname: 'one too many' }, token))
    assertLimited(await limited.api.request('DELETE', path('avatar_url'), { token }))
    assert.equal((await limited.api.get(path('displayname'), token)).body.displayname, 'name 1')
    assert.equal((await limited.api.put(path('m.tz'), { 'm.tz': 'Europe/Paris' }, token)).status, 200, 'fields no member event carries are not limited')
  })

  it('limits room creation by its own bucket and the message bucket, spending neither on a refusal', async () => {
    const { token } = await session(limited)
    const create = () => limited.api.post('/_matrix/client/v3/createRoom', {}, token)
    const first = await create()
    assert.equal(first.status, 200, JSON.stringify(first.body))
    assert.equal((await create()).status, 200)
    assertLimited(await create())
    // Two rooms spent two of the three message tokens; the refused creation spent none.
    const send = (txnId: string) => limited.api.put(`/_matrix/client/v3/rooms/${encodeURIComponent(first.body.room_id)}/send/m.room.message/${txnId}`, { msgtype: 'm.text', body: 'x' }, token)
    assert.equal((await send('a')).status, 200)
    assertLimited(await send('b'))
    assertLimited(await limited.api.post(`/_matrix/client/v3/rooms/${encodeURIComponent(first.body.room_id)}/upgrade`, { new_version: '11' }, token))
  })
})

describe('rate limits disabled', () => {
  it('never answers 429 to logins, failed logins or registrations', async () => {
    const username = uniqueName('free')
    await unlimited.server.ctx.accounts.createAccount({ username, password: PASSWORD, admin: false })
    for (let i = 0; i < 5; i++) {
      const wrong = await login(unlimited, username, 'wrong password', '127.0.0.1')
      assert.equal(wrong.status, 403, JSON.stringify(wrong.body))
    }
    for (let i = 0; i < 5; i++) {
      const right = await login(unlimited, username, PASSWORD, '127.0.0.1')
      assert.equal(right.status, 200, JSON.stringify(right.body))
    }
    for (let i = 0; i < 5; i++) {
      const res = await register(unlimited, '127.0.0.1')
      assert.equal(res.status, 200, JSON.stringify(res.body))
    }
  })
})
