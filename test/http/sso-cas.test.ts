// Single sign-on through CAS over real HTTP: GET /login, /login/sso/redirect, /login/cas/ticket,
// POST /login with m.login.token, and the m.login.sso UIA stage with its fallback page, against a small
// fake CAS server on loopback.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { registerUser, startInstanceOn, startTestServer, type TestServer } from '../support/server.ts'

/** A CAS server: /cas/login answers 200, /cas/proxyValidate answers what `tickets` holds for the ticket. */
const tickets = new Map<string, { user: string; attributes?: Record<string, string> }>()
const validations: URL[] = []
const cas = createServer((req: IncomingMessage, res) => {
  const url = new URL(req.url ?? '/', 'http://cas')
  if (url.pathname === '/cas/proxyValidate') {
    validations.push(url)
    const found = tickets.get(url.searchParams.get('ticket') ?? '')
    const attributes = Object.entries(found?.attributes ?? {}).map(([k, v]) => `<cas:${k}>${v}</cas:${k}>`).join('')
    res.setHeader('content-type', 'text/xml')
    res.end(
      found
        ? `<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'><cas:authenticationSuccess><cas:user>${found.user}</cas:user><cas:attributes>${attributes}</cas:attributes></cas:authenticationSuccess></cas:serviceResponse>`
        : `<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'><cas:authenticationFailure code="INVALID_TICKET">unknown</cas:authenticationFailure></cas:serviceResponse>`,
    )
    return
  }
  res.end('sign in here')
})
await new Promise<void>((resolve) => cas.listen(0, '127.0.0.1', resolve))
after(() => new Promise<void>((resolve) => cas.close(() => resolve())))
const casUrl = `http://127.0.0.1:${(cas.address() as AddressInfo).port}/cas`

const t: TestServer = await startTestServer({
  'sso.cas.enabled': true,
  'sso.cas.server_url': casUrl,
  'sso.cas.displayname_attribute': 'displayName',
  'sso.cas.required_attributes': {},
  'sso.client_whitelist': ['https://trusted.example/'],
  'outbound.ip_range_allowlist': ['127.0.0.0/8'],
})
const off: TestServer = await startTestServer()

const CLIENT = 'https://client.example/?p=http%3A%2F%2Fserver'
let ticketCounter = 0

/** GET without following redirects. */
function get(path: string): Promise<Response> {
  return fetch(t.url + path, { redirect: 'manual' })
}

/** The service URL the server sent the browser to CAS with, from a /login/sso/redirect answer. */
async function serviceFor(path: string): Promise<string> {
  const res = await get(path)
  assert.equal(res.status, 302)
  const location = new URL(res.headers.get('location') as string)
  assert.equal(`${location.origin}${location.pathname}`, `${casUrl}/login`)
  return location.searchParams.get('service') as string
}

/** Comes back from CAS to `service` with a new ticket for `user`; returns the server's answer. */
async function returnFromCas(service: string, user: string, attributes?: Record<string, string>): Promise<Response> {
  const ticket = `ST-${++ticketCounter}`
  tickets.set(ticket, { user, ...(attributes ? { attributes } : {}) })
  const back = new URL(service)
  back.searchParams.set('ticket', ticket)
  const res = await get(`${back.pathname}${back.search}`)
  const checked = validations.at(-1)
  assert.equal(checked?.searchParams.get('ticket'), ticket)
  assert.equal(checked?.searchParams.get('service'), service)
  return res
}

/** A whole sign-on as `user`: the loginToken the confirmation page links to. */
async function signOn(user: string, attributes?: Record<string, string>): Promise<string> {
  const service = await serviceFor(`/_matrix/client/v3/login/sso/redirect?redirectUrl=${encodeURIComponent(CLIENT)}`)
  const res = await returnFromCas(service, user, attributes)
  assert.equal(res.status, 200)
  const html = await res.text()
  const token = /loginToken=([^"&]+)/.exec(html)?.[1]
  assert.ok(token, html)
  return token
}

async function tokenLogin(token: string, extra: Record<string, unknown> = {}) {
  return t.api.post('/_matrix/client/v3/login', { type: 'm.login.token', token, ...extra })
}

describe('GET /login with CAS', () => {
  it('lists m.login.sso with its identity provider, m.login.cas and m.login.token, and nothing of it when CAS is off', async () => {
    const res = await t.api.get('/_matrix/client/v3/login')
    assert.deepEqual(res.body.flows, [
      { type: 'm.login.password' },
      { type: 'm.login.cas' },
      { type: 'm.login.sso', identity_providers: [{ id: 'cas', name: 'CAS' }] },
      { type: 'm.login.token' },
    ])
    assert.deepEqual((await off.api.get('/_matrix/client/v3/login')).body.flows, [{ type: 'm.login.password' }])
    const redirect = await fetch(`${off.url}/_matrix/client/v3/login/sso/redirect?redirectUrl=${encodeURIComponent(CLIENT)}`, { redirect: 'manual' })
    assert.equal(redirect.status, 404)
    assert.equal((await redirect.json()).errcode, 'M_UNRECOGNIZED')
  })
})

describe('GET /login/sso/redirect', () => {
  it('sends the browser to CAS with a service URL that carries the redirectUrl, on every path', async () => {
    const expected = `${t.config.public_baseurl}_matrix/client/r0/login/cas/ticket?redirectUrl=${encodeURIComponent(CLIENT)}`
    for (const path of ['/_matrix/client/v3/login/sso/redirect', '/_matrix/client/r0/login/cas/redirect', '/_matrix/client/v3/login/sso/redirect/cas']) {
      assert.equal(await serviceFor(`${path}?redirectUrl=${encodeURIComponent(CLIENT)}`), expected)
    }
  })

  it('answers an unknown identity provider with a 404 page, and refuses a missing or scripted redirectUrl', async () => {
    const unknown = await get(`/_matrix/client/v3/login/sso/redirect/saml?redirectUrl=${encodeURIComponent(CLIENT)}`)
    assert.equal(unknown.status, 404)
    assert.match(unknown.headers.get('content-type') ?? '', /text\/html/)
    const missing = await get('/_matrix/client/v3/login/sso/redirect')
    assert.equal(missing.status, 400)
    assert.equal((await missing.json()).errcode, 'M_MISSING_PARAM')
    const scripted = await get(`/_matrix/client/v3/login/sso/redirect?redirectUrl=${encodeURIComponent('javascript:alert(1)')}`)
    assert.equal(scripted.status, 400)
    assert.equal((await scripted.json()).errcode, 'M_INVALID_PARAM')
  })
})

describe('GET /login/cas/ticket and m.login.token', () => {
  it('creates the user on first sign-on, confirms the client on a self-contained page, and the token logs in once', async () => {
    const service = await serviceFor(`/_matrix/client/v3/login/sso/redirect?redirectUrl=${encodeURIComponent(CLIENT)}`)
    const res = await returnFromCas(service, 'Carol.Jones!', { displayName: 'Carol J' })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/)
    assert.equal(res.headers.get('x-frame-options'), 'DENY')
    const html = await res.text()
    assert.match(html, /<html lang="en">/)
    assert.doesNotMatch(html, /<(script|img|link)\b|src=/)
    assert.match(html, /client\.example/)
    const token = /href="https:\/\/client\.example\/\?p=http%3A%2F%2Fserver&amp;loginToken=([^"&]+)"/.exec(html)?.[1]
    assert.ok(token, html)

    const login = await tokenLogin(token, { device_id: 'SSODEVICE', initial_device_display_name: 'browser' })
    assert.equal(login.status, 200)
    assert.equal(login.body.user_id, '@carol.jones=21:test.localhost')
    assert.equal(login.body.device_id, 'SSODEVICE')
    const profile = await t.api.get(`/_matrix/client/v3/profile/${encodeURIComponent(login.body.user_id)}/displayname`)
    assert.equal(profile.body.displayname, 'Carol J')
    const again = await tokenLogin(token)
    assert.equal(again.status, 403)
    assert.equal(again.body.errcode, 'M_FORBIDDEN')

    // The same CAS user signs on again: the same account.
    const second = await tokenLogin(await signOn('Carol.Jones!'))
    assert.equal(second.body.user_id, '@carol.jones=21:test.localhost')
  })

  it('exchanges the token on another instance of the same database', async () => {
    const token = await signOn('dora')
    const other = await startInstanceOn(t.database, {
      'sso.cas.enabled': true,
      'sso.cas.server_url': casUrl,
      'outbound.ip_range_allowlist': ['127.0.0.0/8'],
    })
    try {
      const res = await other.api.post('/_matrix/client/v3/login', { type: 'm.login.token', token })
      assert.equal(res.status, 200)
      assert.equal(res.body.user_id, '@dora:test.localhost')
    } finally {
      await other.close()
    }
  })

  it('redirects a whitelisted client straight to it with the token', async () => {
    const redirectUrl = 'https://trusted.example/app#/home'
    const service = await serviceFor(`/_matrix/client/v3/login/sso/redirect?redirectUrl=${encodeURIComponent(redirectUrl)}`)
    const res = await returnFromCas(service, 'erin')
    assert.equal(res.status, 302)
    const location = res.headers.get('location') as string
    assert.match(location, /^https:\/\/trusted\.example\/app\?loginToken=[^&#]+#\/home$/)
    const token = new URL(location).searchParams.get('loginToken') as string
    assert.equal((await tokenLogin(token)).body.user_id, '@erin:test.localhost')
  })

  it('refuses a ticket CAS does not accept, and an unknown or empty token', async () => {
    const service = await serviceFor(`/_matrix/client/v3/login/sso/redirect?redirectUrl=${encodeURIComponent(CLIENT)}`)
    const back = new URL(service)
    back.searchParams.set('ticket', 'ST-forged')
    const res = await get(`${back.pathname}${back.search}`)
    assert.equal(res.status, 401)
    assert.match(await res.text(), /did not accept this ticket/)
    assert.equal((await tokenLogin('hsl_nonsense')).status, 403)
    assert.equal((await tokenLogin('')).body.errcode, 'M_MISSING_PARAM')
  })
})

describe('CAS required_attributes', async () => {
  const strict: TestServer = await startTestServer({
    'sso.cas.enabled': true,
    'sso.cas.server_url': casUrl,
    'sso.cas.required_attributes': { memberOf: 'staff' },
    'sso.login_token_lifetime_ms': 1000,
    'outbound.ip_range_allowlist': ['127.0.0.0/8'],
  })

  it('signs on only the users who have the attribute with the required value; the token lapses after its lifetime', async () => {
    const service = (await fetch(`${strict.url}/_matrix/client/v3/login/sso/redirect?redirectUrl=${encodeURIComponent(CLIENT)}`, { redirect: 'manual' })).headers.get('location') as string
    const back = new URL(new URL(service).searchParams.get('service') as string)
    for (const [user, attributes, status] of [['frank', { memberOf: 'guests' }, 403], ['grace', { memberOf: 'staff' }, 200]] as const) {
      tickets.set(`ST-${user}`, { user, attributes })
      back.searchParams.set('ticket', `ST-${user}`)
      const res = await fetch(`${strict.url}${back.pathname}${back.search}`, { redirect: 'manual' })
      assert.equal(res.status, status)
      if (status !== 200) continue
      const token = /loginToken=([^"&]+)/.exec(await res.text())?.[1]
      await new Promise((resolve) => setTimeout(resolve, 1100))
      const late = await strict.api.post('/_matrix/client/v3/login', { type: 'm.login.token', token })
      assert.equal(late.status, 403)
    }
  })
})

describe('UIA with m.login.sso', () => {
  it('offers m.login.sso to a user who has signed on, and the fallback page completes the stage for that user', async () => {
    // An account made with a password before CAS: its first sign-on takes it over.
    const user = await registerUser(t.api, { username: 'henry' })
    const loggedIn = await tokenLogin(await signOn('henry'), { device_id: 'TODELETE' })
    assert.equal(loggedIn.body.user_id, user.user_id)

    const first = await t.api.post('/_matrix/client/v3/delete_devices', { devices: ['TODELETE'] }, user.access_token)
    assert.equal(first.status, 401)
    assert.deepEqual(first.body.flows, [{ stages: ['m.login.password'] }, { stages: ['m.login.sso'] }])
    const session = first.body.session as string

    const fallback = await get(`/_matrix/client/v3/auth/m.login.sso/fallback/web?session=${session}`)
    assert.equal(fallback.status, 200)
    const link = /href="([^"]+)"/.exec(await fallback.text())?.[1]?.replaceAll('&amp;', '&') as string
    const service = new URL(link).searchParams.get('service') as string
    assert.equal(service, `${t.config.public_baseurl}_matrix/client/r0/login/cas/ticket?session=${session}`)
    const done = await returnFromCas(service, 'henry')
    assert.equal(done.status, 200)
    assert.match(done.headers.get('content-security-policy') ?? '', /script-src 'sha256-/)
    assert.match(await done.text(), /authDone/)

    const second = await t.api.post('/_matrix/client/v3/delete_devices', { devices: ['TODELETE'], auth: { session } }, user.access_token)
    assert.equal(second.status, 200)
    const device = await t.api.get('/_matrix/client/v3/devices/TODELETE', user.access_token)
    assert.equal(device.status, 404)
  })

  it('refuses the session (403) once another user completed the sign-on, and leaves the device', async () => {
    const user = await registerUser(t.api, { username: 'ivan' })
    await tokenLogin(await signOn('ivan'), { device_id: 'KEEPME' })
    await tokenLogin(await signOn('mallory'))
    const first = await t.api.post('/_matrix/client/v3/delete_devices', { devices: ['KEEPME'] }, user.access_token)
    const session = first.body.session as string
    const wrong = await returnFromCas(`${t.config.public_baseurl}_matrix/client/r0/login/cas/ticket?session=${session}`, 'mallory')
    assert.equal(wrong.status, 200)
    assert.match(await wrong.text(), /Wrong account/)
    const second = await t.api.post('/_matrix/client/v3/delete_devices', { devices: ['KEEPME'], auth: { session } }, user.access_token)
    assert.equal(second.status, 403)
    assert.equal(second.body.errcode, 'M_FORBIDDEN')
    assert.equal((await t.api.get('/_matrix/client/v3/devices/KEEPME', user.access_token)).status, 200)
  })

  it('offers only the password to a user who never signed on', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.post('/_matrix/client/v3/delete_devices', { devices: [user.device_id] }, user.access_token)
    assert.deepEqual(res.body.flows, [{ stages: ['m.login.password'] }])
  })
})
