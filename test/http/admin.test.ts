// Synapse-compatible administration over real HTTP: shared-secret registration
// (/_synapse/admin/v1/register, as used by register_new_matrix_user) and the registration-token admin API
// (/_synapse/admin/v1/registration_tokens).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'
import { MAX_NONCES } from '../../src/users/accounts.ts'

const SECRET = 's3cret-'.repeat(6)
const t: TestServer = await startTestServer({ 'registration.shared_secret': SECRET })
const noSecret: TestServer = await startTestServer()
// Rate limits on, with a bucket of two nonces per address that does not refill during the test.
const limited: TestServer = await startTestServer({
  'registration.shared_secret': SECRET,
  'rate_limits.enabled': true,
  'http.trust_proxy': true,
  'rate_limits.shared_secret_nonce.burst': 2,
  'rate_limits.shared_secret_nonce.per_second': 0.001,
})
// A 10-character secret, as SyTest's: accepted once registration.shared_secret_min_length allows it.
const SHORT_SECRET = 'reg_secret'
const shortSecret: TestServer = await startTestServer({ 'registration.shared_secret': SHORT_SECRET, 'registration.shared_secret_min_length': 10 })

const REGISTER = '/_synapse/admin/v1/register'
const TOKENS = '/_synapse/admin/v1/registration_tokens'
const DAY = 24 * 60 * 60 * 1000

/** The MAC register_new_matrix_user computes: HMAC-SHA1 over nonce, user, password and admin flag, NUL-separated. */
function mac(secret: string, nonce: string, username: string, password: string, admin: boolean, userType?: string): string {
  const hmac = createHmac('sha1', secret)
  hmac.update(nonce).update('\x00').update(username).update('\x00').update(password).update('\x00').update(admin ? 'admin' : 'notadmin')
  if (userType) hmac.update('\x00').update(userType)
  return hmac.digest('hex')
}

async function nonce(server: TestServer = t): Promise<string> {
  const res = await server.api.get(REGISTER)
  assert.equal(res.status, 200)
  return res.body.nonce
}

let counter = 0
const freshName = (prefix: string) => `${prefix}${process.pid}x${++counter}`

async function sharedSecretRegister(options: { admin?: boolean; displayname?: string } = {}) {
  const username = freshName('admin')
  const password = 'a long enough password'
  const n = await nonce()
  const body: Record<string, unknown> = { nonce: n, username, password, admin: options.admin ?? false, mac: mac(SECRET, n, username, password, options.admin ?? false) }
  if (options.displayname !== undefined) body.displayname = options.displayname
  const res = await t.api.post(REGISTER, body)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return { ...res.body, username, password }
}

async function makeAdmin(): Promise<string> {
  const account = await t.server.ctx.accounts.createAccount({ username: freshName('boss'), password: 'a long enough password', admin: true, login: {} })
  return account.access_token as string
}

describe('a shared secret shorter than 16 characters', () => {
  it('registers with it where registration.shared_secret_min_length was lowered to allow it', async () => {
    const n = await nonce(shortSecret)
    const username = freshName('short')
    const password = 'a long enough password'
    const res = await shortSecret.api.post(REGISTER, { nonce: n, username, password, admin: false, mac: mac(SHORT_SECRET, n, username, password, false) })
    assert.equal(res.status, 200, JSON.stringify(res.body))
  })
})

describe('GET /_synapse/admin/v1/register', () => {
  it('hands out a fresh nonce each time', async () => {
    const a = await nonce()
    const b = await nonce()
    assert.equal(typeof a, 'string')
    assert.ok(a.length >= 16)
    assert.notEqual(a, b)
  })

  it('limits nonces per client address (M_LIMIT_EXCEEDED), other addresses unaffected', async () => {
    const from = (address: string) => limited.api.request('GET', REGISTER, { headers: { 'X-Forwarded-For': address } })
    assert.equal((await from('198.51.100.7')).status, 200)
    assert.equal((await from('198.51.100.7')).status, 200)
    const refused = await from('198.51.100.7')
    assert.equal(refused.status, 429)
    assert.equal(refused.body.errcode, 'M_LIMIT_EXCEEDED')
    assert.ok(refused.body.retry_after_ms > 0)
    assert.equal((await from('198.51.100.8')).status, 200)
  })

  it('keeps at most MAX_NONCES unexpired nonces, dropping expired and then the oldest ones', async () => {
    const db = t.server.ctx.storage.db
    const now = Date.now()
    await db.query('DELETE FROM shared_secret_nonces')
    await db.query(
      `INSERT INTO shared_secret_nonces (nonce, created_ts)
       SELECT 'stale' || i, 1000 + i FROM generate_series(1, 50) i
       UNION ALL SELECT 'fresh' || i, $1::bigint - 10000 + i FROM generate_series(1, $2::int) i`,
      [now, MAX_NONCES + 100],
    )
    const latest = await nonce()
    const { rows } = await db.query<{ n: number; stale: number; oldest: string }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE nonce LIKE 'stale%')::int AS stale,
              (SELECT nonce FROM shared_secret_nonces WHERE nonce <> $1 ORDER BY created_ts LIMIT 1) AS oldest
         FROM shared_secret_nonces`,
      [latest],
    )
    assert.equal(rows[0]?.n, MAX_NONCES)
    assert.equal(rows[0]?.stale, 0)
    assert.equal(rows[0]?.oldest, 'fresh102', 'the oldest unexpired nonces were not the ones dropped')
    // The newest nonce still works.
    const username = freshName('bounded')
    const password = 'a long enough password'
    const res = await t.api.post(REGISTER, { nonce: latest, username, password, admin: false, mac: mac(SECRET, latest, username, password, false) })
    assert.equal(res.status, 200, JSON.stringify(res.body))
  })

  it('answers 400 when no shared secret is configured', async () => {
    const res = await noSecret.api.get(REGISTER)
    assert.equal(res.status, 400)
    assert.ok(res.body.errcode)
  })
})

describe('POST /_synapse/admin/v1/register', () => {
  it('registers a user whose HMAC-SHA1 mac is right and returns a working session', async () => {
    const user = await sharedSecretRegister()
    assert.equal(user.user_id, `@${user.username}:test.localhost`)
    assert.equal(typeof user.access_token, 'string')
    assert.equal(typeof user.device_id, 'string')
    const who = await t.api.get('/_matrix/client/v3/account/whoami', user.access_token)
    assert.equal(who.status, 200)
    assert.deepEqual(who.body, { user_id: user.user_id, device_id: user.device_id, is_guest: false })
    // The password given works for a normal login.
    const login = await t.api.post('/_matrix/client/v3/login', { type: 'm.login.password', user: user.username, password: user.password })
    assert.equal(login.status, 200)
  })

  it('sets the displayname given', async () => {
    const user = await sharedSecretRegister({ displayname: 'The Operator' })
    const profile = await t.api.get(`/_matrix/client/v3/profile/${encodeURIComponent(user.user_id)}`)
    assert.equal(profile.body.displayname, 'The Operator')
  })

  it('makes a server admin with admin: true, who may use the admin API', async () => {
    const admin = await sharedSecretRegister({ admin: true })
    const res = await t.api.get(TOKENS, admin.access_token)
    assert.equal(res.status, 200)
    assert.ok(Array.isArray(res.body.registration_tokens))
  })

  it('makes a normal user with admin: false, who may not use the admin API', async () => {
    const user = await sharedSecretRegister({ admin: false })
    const res = await t.api.get(TOKENS, user.access_token)
    assert.equal(res.status, 403)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
  })

  it('includes user_type in the mac when it is given', async () => {
    const username = freshName('bot')
    const password = 'a long enough password'
    const n = await nonce()
    const res = await t.api.post(REGISTER, { nonce: n, username, password, admin: false, user_type: 'bot', mac: mac(SECRET, n, username, password, false, 'bot') })
    assert.equal(res.status, 200, JSON.stringify(res.body))
  })

  it('refuses a wrong mac with 403 and creates no user', async () => {
    const username = freshName('wrong')
    const password = 'a long enough password'
    for (const badMac of [mac('not-the-secret-at-all', await nonce(), username, password, false), 'zz', '']) {
      const n = await nonce()
      const res = await t.api.post(REGISTER, { nonce: n, username, password, admin: false, mac: badMac })
      assert.equal(res.status, 403, badMac)
      assert.equal(res.body.errcode, 'M_FORBIDDEN', badMac)
    }
    // A mac over admin:false does not register an admin (the flag is covered by the mac).
    const n = await nonce()
    const escalate = await t.api.post(REGISTER, { nonce: n, username, password, admin: true, mac: mac(SECRET, n, username, password, false) })
    assert.equal(escalate.status, 403)
    const profile = await t.api.get(`/_matrix/client/v3/profile/${encodeURIComponent(`@${username}:test.localhost`)}`)
    assert.equal(profile.status, 404)
  })

  it('refuses a nonce that was already used with 400', async () => {
    const username = freshName('once')
    const password = 'a long enough password'
    const n = await nonce()
    const first = await t.api.post(REGISTER, { nonce: n, username, password, admin: false, mac: mac(SECRET, n, username, password, false) })
    assert.equal(first.status, 200)
    const other = freshName('twice')
    const again = await t.api.post(REGISTER, { nonce: n, username: other, password, admin: false, mac: mac(SECRET, n, other, password, false) })
    assert.equal(again.status, 400)
  })

  it('refuses a nonce it never issued with 400', async () => {
    const username = freshName('made-up')
    const password = 'a long enough password'
    const res = await t.api.post(REGISTER, { nonce: 'madeup', username, password, admin: false, mac: mac(SECRET, 'madeup', username, password, false) })
    assert.equal(res.status, 400)
  })

  it('answers 400 when no shared secret is configured', async () => {
    const res = await noSecret.api.post(REGISTER, { nonce: 'x', username: 'someone', password: 'a long enough password', admin: false, mac: '00'.repeat(20) })
    assert.equal(res.status, 400)
  })
})

describe('POST /_synapse/admin/v1/registration_tokens/new', () => {
  it('creates a 16-character unlimited, non-expiring token from an empty body', async () => {
    const admin = await makeAdmin()
    const res = await t.api.post(`${TOKENS}/new`, {}, admin)
    assert.equal(res.status, 200)
    assert.match(res.body.token, /^[A-Za-z0-9._~-]{16}$/)
    assert.deepEqual({ ...res.body, token: undefined }, { token: undefined, uses_allowed: null, pending: 0, completed: 0, expiry_time: null })
  })

  it('creates a token with the token, uses_allowed and expiry_time given', async () => {
    const admin = await makeAdmin()
    const expiry = Date.now() + DAY
    const token = `given-${process.pid}_x.y~z`
    const res = await t.api.post(`${TOKENS}/new`, { token, uses_allowed: 3, expiry_time: expiry }, admin)
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, { token, uses_allowed: 3, pending: 0, completed: 0, expiry_time: expiry })
  })

  it('generates a token of the length asked for', async () => {
    const admin = await makeAdmin()
    for (const length of [1, 8, 64]) {
      const res = await t.api.post(`${TOKENS}/new`, { length }, admin)
      assert.equal(res.status, 200, String(length))
      assert.equal(res.body.token.length, length)
    }
  })

  it('refuses invalid values with 400 M_INVALID_PARAM', async () => {
    const admin = await makeAdmin()
    const bodies: Array<Record<string, unknown>> = [
      { token: 'has space' },
      { token: 'slash/inside' },
      { token: 'é' },
      { token: '' },
      { token: 'x'.repeat(65) },
      { uses_allowed: -1 },
      { expiry_time: Date.now() - DAY },
      { length: 0 },
      { length: 65 },
      { token: 'both', length: 4 },
    ]
    for (const body of bodies) {
      const res = await t.api.post(`${TOKENS}/new`, body, admin)
      assert.equal(res.status, 400, JSON.stringify(body))
      assert.equal(res.body.errcode, 'M_INVALID_PARAM', JSON.stringify(body))
    }
  })

  it('refuses a token that already exists with 400', async () => {
    const admin = await makeAdmin()
    const token = freshName('dup')
    assert.equal((await t.api.post(`${TOKENS}/new`, { token }, admin)).status, 200)
    const again = await t.api.post(`${TOKENS}/new`, { token, uses_allowed: 5 }, admin)
    assert.equal(again.status, 400)
    assert.equal(again.body.errcode, 'M_INVALID_PARAM')
    // The original is untouched.
    assert.equal((await t.api.get(`${TOKENS}/${token}`, admin)).body.uses_allowed, null)
  })
})

describe('GET /_synapse/admin/v1/registration_tokens', () => {
  it('lists all tokens, or only the valid or only the invalid ones with ?valid=', async () => {
    const admin = await makeAdmin()
    const valid = freshName('valid')
    const exhausted = freshName('exhausted')
    await t.api.post(`${TOKENS}/new`, { token: valid, uses_allowed: 2 }, admin)
    await t.api.post(`${TOKENS}/new`, { token: exhausted, uses_allowed: 0 }, admin)
    const names = async (query: string) => {
      const res = await t.api.get(`${TOKENS}${query}`, admin)
      assert.equal(res.status, 200, query)
      return (res.body.registration_tokens as Array<{ token: string }>).map((r) => r.token)
    }
    const all = await names('')
    assert.ok(all.includes(valid) && all.includes(exhausted))
    const onlyValid = await names('?valid=true')
    assert.ok(onlyValid.includes(valid) && !onlyValid.includes(exhausted))
    const onlyInvalid = await names('?valid=false')
    assert.ok(onlyInvalid.includes(exhausted) && !onlyInvalid.includes(valid))
    const full = (await t.api.get(TOKENS, admin)).body.registration_tokens.find((r: { token: string }) => r.token === valid)
    assert.deepEqual(full, { token: valid, uses_allowed: 2, pending: 0, completed: 0, expiry_time: null })
  })
})

describe('GET /_synapse/admin/v1/registration_tokens/:token', () => {
  it('returns one token', async () => {
    const admin = await makeAdmin()
    const token = freshName('one')
    await t.api.post(`${TOKENS}/new`, { token, uses_allowed: 7 }, admin)
    const res = await t.api.get(`${TOKENS}/${token}`, admin)
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, { token, uses_allowed: 7, pending: 0, completed: 0, expiry_time: null })
  })

  it('answers 404 M_NOT_FOUND for an unknown token', async () => {
    const admin = await makeAdmin()
    const res = await t.api.get(`${TOKENS}/no-such-token`, admin)
    assert.equal(res.status, 404)
    assert.equal(res.body.errcode, 'M_NOT_FOUND')
  })
})

describe('PUT /_synapse/admin/v1/registration_tokens/:token', () => {
  it('updates only the fields given and returns the token', async () => {
    const admin = await makeAdmin()
    const token = freshName('upd')
    await t.api.post(`${TOKENS}/new`, { token, uses_allowed: 1 }, admin)
    const expiry = Date.now() + 2 * DAY
    const first = await t.api.put(`${TOKENS}/${token}`, { expiry_time: expiry }, admin)
    assert.equal(first.status, 200)
    assert.deepEqual(first.body, { token, uses_allowed: 1, pending: 0, completed: 0, expiry_time: expiry })
    const second = await t.api.put(`${TOKENS}/${token}`, { uses_allowed: null }, admin)
    assert.deepEqual(second.body, { token, uses_allowed: null, pending: 0, completed: 0, expiry_time: expiry })
    const third = await t.api.put(`${TOKENS}/${token}`, { expiry_time: null, uses_allowed: 0 }, admin)
    assert.deepEqual(third.body, { token, uses_allowed: 0, pending: 0, completed: 0, expiry_time: null })
    const unchanged = await t.api.put(`${TOKENS}/${token}`, {}, admin)
    assert.deepEqual(unchanged.body, third.body)
    assert.deepEqual((await t.api.get(`${TOKENS}/${token}`, admin)).body, third.body)
  })

  it('refuses negative uses or a past expiry with 400 M_INVALID_PARAM', async () => {
    const admin = await makeAdmin()
    const token = freshName('updbad')
    await t.api.post(`${TOKENS}/new`, { token }, admin)
    for (const body of [{ uses_allowed: -5 }, { expiry_time: Date.now() - DAY }]) {
      const res = await t.api.put(`${TOKENS}/${token}`, body, admin)
      assert.equal(res.status, 400, JSON.stringify(body))
      assert.equal(res.body.errcode, 'M_INVALID_PARAM', JSON.stringify(body))
    }
  })

  it('answers 404 M_NOT_FOUND for an unknown token', async () => {
    const admin = await makeAdmin()
    const res = await t.api.put(`${TOKENS}/no-such-token`, { uses_allowed: 1 }, admin)
    assert.equal(res.status, 404)
    assert.equal(res.body.errcode, 'M_NOT_FOUND')
  })
})

describe('DELETE /_synapse/admin/v1/registration_tokens/:token', () => {
  it('deletes the token, which then answers 404', async () => {
    const admin = await makeAdmin()
    const token = freshName('del')
    await t.api.post(`${TOKENS}/new`, { token }, admin)
    const res = await t.api.delete(`${TOKENS}/${token}`, undefined, admin)
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, {})
    const get = await t.api.get(`${TOKENS}/${token}`, admin)
    assert.equal(get.status, 404)
    assert.equal(get.body.errcode, 'M_NOT_FOUND')
    const again = await t.api.delete(`${TOKENS}/${token}`, undefined, admin)
    assert.equal(again.status, 404)
    assert.equal(again.body.errcode, 'M_NOT_FOUND')
  })
})

describe('registration-token admin API access', () => {
  it('refuses a user who is not a server admin with 403 M_FORBIDDEN on every endpoint', async () => {
    const user = await registerUser(t.api)
    const admin = await makeAdmin()
    const token = freshName('guarded')
    await t.api.post(`${TOKENS}/new`, { token }, admin)
    const requests: Array<[string, string, unknown]> = [
      ['GET', TOKENS, undefined],
      ['GET', `${TOKENS}/${token}`, undefined],
      ['POST', `${TOKENS}/new`, {}],
      ['PUT', `${TOKENS}/${token}`, { uses_allowed: 0 }],
      ['DELETE', `${TOKENS}/${token}`, undefined],
    ]
    for (const [method, path, body] of requests) {
      const res = await t.api.request(method, path, { body, token: user.access_token })
      assert.equal(res.status, 403, `${method} ${path}`)
      assert.equal(res.body.errcode, 'M_FORBIDDEN', `${method} ${path}`)
    }
    // Nothing was changed by the refused requests.
    assert.deepEqual((await t.api.get(`${TOKENS}/${token}`, admin)).body.uses_allowed, null)
  })

  it('refuses a request without an access token with 401 M_MISSING_TOKEN', async () => {
    for (const [method, path] of [['GET', TOKENS], ['POST', `${TOKENS}/new`], ['DELETE', `${TOKENS}/x`]] as const) {
      const res = await t.api.request(method, path, { body: method === 'POST' ? {} : undefined })
      assert.equal(res.status, 401, `${method} ${path}`)
      assert.equal(res.body.errcode, 'M_MISSING_TOKEN', `${method} ${path}`)
    }
  })
})
