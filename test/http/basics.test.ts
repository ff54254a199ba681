// Cross-cutting HTTP behaviour over real HTTP: versions, .well-known, capabilities, error rendering,
// body limits, CORS, access-token transport, /health and the server's published signing key.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { verifyJsonSignature, verifyKeyFromBase64 } from '../../src/protocol/signing.ts'
import { registerUser, startInstanceOn, startTestServer, type TestServer } from '../support/server.ts'

const PUBLIC_BASEURL = 'https://matrix.example.org'
const MAX_BODY = 2048

const t: TestServer = await startTestServer({ public_baseurl: PUBLIC_BASEURL, 'http.max_body_bytes': MAX_BODY })
const delegated: TestServer = await startTestServer({
  'well_known.server': 'matrix.example.org:443',
  'well_known.support_contacts': [{ role: 'm.role.admin', matrix_id: '@admin:example.org', email_address: 'admin@example.org' }],
  'well_known.support_page': 'https://example.org/help',
})

const JSON_HEADERS = { 'Content-Type': 'application/json' }

describe('GET /_matrix/client/versions', () => {
  it('lists spec versions as strings and unstable_features as booleans, without auth', async () => {
    const res = await t.api.get('/_matrix/client/versions')
    assert.equal(res.status, 200)
    assert.ok(Array.isArray(res.body.versions) && res.body.versions.length > 0)
    for (const v of res.body.versions) assert.match(v, /^(r0\.\d+\.\d+|v1\.\d+)$/)
    assert.ok(res.body.versions.includes('v1.1'))
    assert.ok(res.body.versions.includes('v1.19'), 'the spec version this server implements')
    assert.equal(typeof res.body.unstable_features, 'object')
    for (const value of Object.values(res.body.unstable_features)) assert.equal(typeof value, 'boolean')
    assert.equal(res.headers.get('content-type'), 'application/json')
  })

  it('says application/json, without a charset, on errors too (as Synapse)', async () => {
    const res = await t.api.request('POST', '/_matrix/client/v3/register', { body: {} })
    assert.equal(res.status, 401)
    assert.equal(res.headers.get('content-type'), 'application/json')
  })
})

describe('GET /.well-known/matrix/client', () => {
  it('serves m.homeserver.base_url equal to the configured public_baseurl', async () => {
    const res = await t.api.get('/.well-known/matrix/client')
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, { 'm.homeserver': { base_url: PUBLIC_BASEURL } })
    assert.equal(res.headers.get('access-control-allow-origin'), '*')
  })
})

describe('GET /.well-known/matrix/server', () => {
  it('answers 404 when no delegation is configured', async () => {
    const res = await t.api.get('/.well-known/matrix/server')
    assert.equal(res.status, 404)
  })

  it('serves {"m.server": ...} when well_known.server is configured', async () => {
    const res = await delegated.api.get('/.well-known/matrix/server')
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, { 'm.server': 'matrix.example.org:443' })
  })

  it('serves the configured support contacts and page at /.well-known/matrix/support, 404 without them', async () => {
    const res = await delegated.api.get('/.well-known/matrix/support')
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, {
      contacts: [{ role: 'm.role.admin', matrix_id: '@admin:example.org', email_address: 'admin@example.org' }],
      support_page: 'https://example.org/help',
    })
    assert.equal((await t.api.get('/.well-known/matrix/support')).status, 404)
  })
})

describe('GET /capabilities', () => {
  it('reports password change, displayname and avatar_url changes as enabled', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.get('/_matrix/client/v3/capabilities', user.access_token)
    assert.equal(res.status, 200)
    const caps = res.body.capabilities
    assert.deepEqual(caps['m.change_password'], { enabled: true })
    assert.deepEqual(caps['m.set_displayname'], { enabled: true })
    assert.deepEqual(caps['m.set_avatar_url'], { enabled: true })
    for (const [name, cap] of Object.entries(caps) as Array<[string, { enabled?: unknown }]>) {
      if (name !== 'm.room_versions') assert.equal(typeof cap.enabled, 'boolean', name)
    }
  })

  it('requires an access token (401 M_MISSING_TOKEN)', async () => {
    const res = await t.api.get('/_matrix/client/v3/capabilities')
    assert.equal(res.status, 401)
    assert.equal(res.body.errcode, 'M_MISSING_TOKEN')
  })
})

describe('unrecognised requests', () => {
  it('answers an unknown path with 404 M_UNRECOGNIZED', async () => {
    // /auth_metadata (v1.15) included: a server without OAuth 2.0 answers it so, and clients log in with passwords.
    for (const path of ['/_matrix/client/v3/no_such_endpoint', '/_matrix/client/v3/rooms/!a:b/nope/x', '/nothing/here', '/_matrix/client/v1/auth_metadata']) {
      const res = await t.api.get(path)
      assert.equal(res.status, 404, path)
      assert.equal(res.body.errcode, 'M_UNRECOGNIZED', path)
    }
  })

  it('answers a known path with the wrong method with 405 M_UNRECOGNIZED', async () => {
    const user = await registerUser(t.api)
    const cases: Array<[string, string]> = [
      ['DELETE', '/_matrix/client/versions'],
      ['DELETE', '/_matrix/client/versions/'],
      ['POST', '/_matrix/client/v3/capabilities'],
      ['GET', '/_matrix/client/v3/logout'],
      ['POST', `/_matrix/client/v3/profile/${encodeURIComponent(user.user_id)}/displayname`],
    ]
    for (const [method, path] of cases) {
      const res = await t.api.request(method, path, { token: user.access_token })
      assert.equal(res.status, 405, `${method} ${path}`)
      assert.equal(res.body.errcode, 'M_UNRECOGNIZED', `${method} ${path}`)
    }
  })
})

describe('request bodies', () => {
  it('refuses a body that is not JSON with 400 M_NOT_JSON', async () => {
    const res = await t.api.request('POST', '/_matrix/client/v3/login', { body: 'type=m.login.password', headers: JSON_HEADERS })
    assert.equal(res.status, 400)
    assert.equal(res.body.errcode, 'M_NOT_JSON')
  })

  it('refuses an empty PUT body with 400 M_NOT_JSON and reads an empty POST body as {}', async () => {
    const user = await registerUser(t.api)
    const path = `/_matrix/client/v3/user/${encodeURIComponent(user.user_id)}/account_data/org.example.empty`
    const put = await t.api.request('PUT', path, { token: user.access_token })
    assert.equal(put.status, 400)
    assert.equal(put.body.errcode, 'M_NOT_JSON')
    assert.equal((await t.api.get(path, user.access_token)).status, 404)
    const logout = await t.api.request('POST', '/_matrix/client/v3/logout', { token: user.access_token })
    assert.equal(logout.status, 200)
  })

  it('answers a malformed URL with 400 M_UNRECOGNIZED and the CORS headers', async () => {
    const res = await t.api.get('/_matrix/client/v3/profile/%ff')
    assert.equal(res.status, 400)
    assert.equal(res.body.errcode, 'M_UNRECOGNIZED')
    assert.equal(res.headers.get('access-control-allow-origin'), '*')
  })

  it('refuses a NUL character the database cannot store with 400, not 500', async () => {
    const user = await registerUser(t.api)
    const path = `/_matrix/client/v3/profile/${encodeURIComponent(user.user_id)}/displayname`
    const res = await t.api.put(path, { displayname: 'a\u0000b' }, user.access_token)
    assert.equal(res.status, 400)
    assert.equal(res.body.errcode, 'M_INVALID_PARAM')
    const device = await t.api.put(`/_matrix/client/v3/devices/${user.device_id}`, { display_name: '\u0000' }, user.access_token)
    assert.equal(device.status, 400)
  })

  it('refuses a JSON array where an object is expected with 400 M_BAD_JSON', async () => {
    const res = await t.api.request('POST', '/_matrix/client/v3/login', { body: '[{"type":"m.login.password"}]', headers: JSON_HEADERS })
    assert.equal(res.status, 400)
    assert.equal(res.body.errcode, 'M_BAD_JSON')
  })

  it('parses a JSON body even when the Content-Type is not application/json', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.request('POST', '/_matrix/client/v3/login', {
      body: JSON.stringify({ type: 'm.login.password', user: user.username, password: user.password }),
      headers: { 'Content-Type': 'text/plain' },
    })
    assert.equal(res.status, 200)
    assert.equal(res.body.user_id, user.user_id)
  })

  it('refuses a body larger than http.max_body_bytes with 413 M_TOO_LARGE', async () => {
    const user = await registerUser(t.api)
    const big = JSON.stringify({ padding: 'x'.repeat(MAX_BODY + 100) })
    const path = `/_matrix/client/v3/user/${encodeURIComponent(user.user_id)}/account_data/org.example.big`
    const res = await t.api.request('PUT', path, { body: big, token: user.access_token, headers: JSON_HEADERS })
    assert.equal(res.status, 413)
    assert.equal(res.body.errcode, 'M_TOO_LARGE')
    const unauthenticated = await t.api.request('POST', '/_matrix/client/v3/login', { body: big, headers: JSON_HEADERS })
    assert.equal(unauthenticated.status, 413)
    assert.equal(unauthenticated.body.errcode, 'M_TOO_LARGE')
    // A body just under the limit is accepted.
    const small = JSON.stringify({ padding: 'x'.repeat(MAX_BODY - 100) })
    const ok = await t.api.request('PUT', path, { body: small, token: user.access_token, headers: JSON_HEADERS })
    assert.equal(ok.status, 200)
  })
})

describe('CORS', () => {
  const expectCors = (headers: Headers, what: string) => {
    assert.equal(headers.get('access-control-allow-origin'), '*', what)
    const methods = (headers.get('access-control-allow-methods') ?? '').split(/,\s*/)
    for (const m of ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS']) assert.ok(methods.includes(m), `${what}: ${m}`)
    const allowed = (headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/,\s*/)
    for (const h of ['x-requested-with', 'content-type', 'authorization']) assert.ok(allowed.includes(h), `${what}: ${h}`)
  }

  it('adds the CORS headers to successful and error responses', async () => {
    expectCors((await t.api.get('/_matrix/client/versions')).headers, 'versions')
    expectCors((await t.api.get('/_matrix/client/v3/no_such_endpoint')).headers, '404')
    expectCors((await t.api.get('/_matrix/client/v3/capabilities')).headers, '401')
  })

  it('answers an OPTIONS preflight with 204 and the CORS headers, without running the endpoint', async () => {
    const preflight = { 'Origin': 'https://app.example.org', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type' }
    for (const path of ['/_matrix/client/v3/login', '/_matrix/client/v3/capabilities', '/_matrix/client/v3/no_such_endpoint']) {
      const res = await t.api.request('OPTIONS', path, { headers: preflight })
      assert.equal(res.status, 204, path)
      expectCors(res.headers, path)
    }
    // An OPTIONS request to logout must not log anyone out.
    const user = await registerUser(t.api)
    const options = await t.api.request('OPTIONS', '/_matrix/client/v3/logout', { token: user.access_token, headers: preflight })
    assert.equal(options.status, 204)
    const who = await t.api.get('/_matrix/client/v3/account/whoami', user.access_token)
    assert.equal(who.status, 200)
  })
})

describe('access tokens', () => {
  it('accepts the access_token query parameter', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.get(`/_matrix/client/v3/account/whoami?access_token=${encodeURIComponent(user.access_token)}`)
    assert.equal(res.status, 200)
    assert.equal(res.body.user_id, user.user_id)
  })

  it('refuses a malformed Authorization header with 401', async () => {
    const user = await registerUser(t.api)
    for (const header of [`Basic ${user.access_token}`, 'Bearer', `Bearer ${user.access_token} extra`, user.access_token]) {
      const res = await t.api.request('GET', '/_matrix/client/v3/account/whoami', { headers: { Authorization: header } })
      assert.equal(res.status, 401, header)
      assert.equal(res.body.errcode, 'M_MISSING_TOKEN', header)
    }
  })

  it('refuses a request that sends a token both in the header and in the query', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.get(`/_matrix/client/v3/account/whoami?access_token=${encodeURIComponent(user.access_token)}`, user.access_token)
    assert.equal(res.status, 401)
    assert.equal(res.body.errcode, 'M_MISSING_TOKEN')
  })

  it('refuses an unknown token with 401 M_UNKNOWN_TOKEN', async () => {
    const header = await t.api.get('/_matrix/client/v3/account/whoami', 'hs_not_a_real_token')
    assert.equal(header.status, 401)
    assert.equal(header.body.errcode, 'M_UNKNOWN_TOKEN')
    const query = await t.api.get('/_matrix/client/v3/account/whoami?access_token=hs_not_a_real_token')
    assert.equal(query.status, 401)
    assert.equal(query.body.errcode, 'M_UNKNOWN_TOKEN')
  })
})

describe('GET /health', () => {
  it('answers 200 OK while the database is reachable', async () => {
    const res = await t.api.get('/health')
    assert.equal(res.status, 200)
    assert.equal(res.body, 'OK')
  })

  it('has /health/live (the process serves) and /health/ready (the database answers) beside it', async () => {
    for (const path of ['/health/live', '/health/ready']) {
      const res = await t.api.get(path)
      assert.equal(res.status, 200, path)
      assert.equal(res.body, 'OK')
    }
  })
})

describe('GET /_matrix/key/v2/server', () => {
  const fetchKeys = async (server: TestServer, path = '/_matrix/key/v2/server') => {
    const res = await server.api.get(path)
    assert.equal(res.status, 200)
    return res.body
  }

  it('publishes server_name, an ed25519 verify key, old_verify_keys and a future valid_until_ts', async () => {
    const before = Date.now()
    const body = await fetchKeys(t)
    assert.equal(body.server_name, t.config.server_name)
    const keyIds = Object.keys(body.verify_keys)
    assert.equal(keyIds.length, 1)
    assert.match(keyIds[0] as string, /^ed25519:[A-Za-z0-9_]+$/)
    assert.match(body.verify_keys[keyIds[0] as string].key, /^[A-Za-z0-9+/]{43}$/)
    assert.deepEqual(body.old_verify_keys, {})
    assert.equal(typeof body.valid_until_ts, 'number')
    assert.ok(body.valid_until_ts > before)
  })

  it('is signed by the server with the key it publishes', async () => {
    const body = await fetchKeys(t)
    const [keyId, { key }] = Object.entries(body.verify_keys as Record<string, { key: string }>)[0] as [string, { key: string }]
    const verifyKey = verifyKeyFromBase64(key)
    assert.ok(verifyKey)
    assert.ok(body.signatures[t.config.server_name][keyId])
    assert.equal(verifyJsonSignature(body, t.config.server_name, keyId, verifyKey), true)
    // A tampered document no longer verifies.
    assert.equal(verifyJsonSignature({ ...body, valid_until_ts: body.valid_until_ts + 1 }, t.config.server_name, keyId, verifyKey), false)
  })

  it('answers the same document under /_matrix/key/v2/server/{keyId}', async () => {
    const body = await fetchKeys(t)
    const keyId = Object.keys(body.verify_keys)[0] as string
    const byId = await fetchKeys(t, `/_matrix/key/v2/server/${encodeURIComponent(keyId)}`)
    assert.deepEqual(byId.verify_keys, body.verify_keys)
  })

  it('gives each server (database) its own key', async () => {
    const a = await fetchKeys(t)
    const b = await fetchKeys(delegated)
    assert.notDeepEqual(a.verify_keys, b.verify_keys)
  })

  it('keeps the same key when another server starts on the same database', async () => {
    const original = await fetchKeys(t)
    // A second process on the same database (as after a restart, or another instance behind a load
    // balancer) must load the stored key rather than make its own.
    const second = await startInstanceOn(t.database)
    try {
      const res = await second.api.get('/_matrix/key/v2/server')
      assert.equal(res.status, 200)
      assert.deepEqual(res.body.verify_keys, original.verify_keys)
      const keyId = Object.keys(res.body.verify_keys)[0] as string
      const verifyKey = verifyKeyFromBase64(original.verify_keys[keyId].key)
      assert.ok(verifyKey)
      assert.equal(verifyJsonSignature(res.body, t.config.server_name, keyId, verifyKey), true)
    } finally {
      await second.close()
    }
    // The first server still serves the same key after the second one stopped.
    assert.deepEqual((await fetchKeys(t)).verify_keys, original.verify_keys)
  })
})
