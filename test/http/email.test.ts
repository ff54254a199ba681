// E-mail for accounts over real HTTP with a real SMTP server on loopback (STARTTLS and AUTH): adding an
// address (requestToken, the mailed link, /account/3pid/add), login with it, password reset by e-mail,
// sign-up with an address, submit_url, and the pages behind the links.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startInstanceOn } from '../support/server.ts'
import { linkOf, startMailingServer, startTestSmtp } from '../support/smtp.ts'

const smtp = await startTestSmtp()

const { t, port, settings: emailSettings } = await startMailingServer(smtp)

const CS = '/_matrix/client/v3'
let counter = 0
const secret = () => `secret${process.pid}x${++counter}`
const address = () => `Person${process.pid}x${++counter}@Example.ORG`

function passwordAuth(user: string, password: string, session?: string) {
  return { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password, ...(session ? { session } : {}) }
}

/** requestToken, then the mail's link followed: returns the validated session's sid and client_secret. */
async function validate(path: string, email: string): Promise<{ sid: string; client_secret: string; link: string }> {
  const client_secret = secret()
  const res = await t.api.post(`${CS}/${path}/email/requestToken`, { client_secret, email, send_attempt: 1 })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  const mail = await smtp.next(email.toLowerCase())
  const link = linkOf(mail)
  const page = await fetch(link)
  assert.equal(page.status, 200)
  return { sid: res.body.sid, client_secret, link }
}

async function addEmail(user: { access_token: string; username: string; password: string }, email: string): Promise<void> {
  const { sid, client_secret } = await validate('account/3pid', email)
  const first = await t.api.post(`${CS}/account/3pid/add`, { sid, client_secret }, user.access_token)
  assert.equal(first.status, 401)
  const res = await t.api.post(`${CS}/account/3pid/add`, { sid, client_secret, auth: passwordAuth(user.username, user.password, first.body.session) }, user.access_token)
  assert.equal(res.status, 200, JSON.stringify(res.body))
}

describe('adding an e-mail address', () => {
  it('mails a link over STARTTLS with authentication; following it lets /account/3pid/add add the address', async () => {
    const user = await registerUser(t.api)
    const email = address()
    const client_secret = secret()
    const res = await t.api.post(`${CS}/account/3pid/email/requestToken`, { client_secret, email, send_attempt: 1 })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.match(res.body.sid, /^[0-9a-zA-Z.=_-]+$/)
    assert.equal(res.body.submit_url, `http://127.0.0.1:${port}/_matrix/client/unstable/add_threepid/email/submit_token`)
    const mail = await smtp.next(email.toLowerCase())
    assert.equal(mail.from, 'noreply@test.localhost')
    assert.match(mail.raw, /^From: Family Chat <noreply@test\.localhost>/m)
    assert.equal(mail.subject, '[Family Chat] Validate your e-mail address')
    const link = linkOf(mail)
    assert.ok(link.startsWith(res.body.submit_url + '?'), link)
    assert.ok(mail.html.includes('href="'), 'the HTML part links too')

    // The same send_attempt again: the same session, no second mail.
    const before = smtp.mails.length
    const again = await t.api.post(`${CS}/account/3pid/email/requestToken`, { client_secret, email, send_attempt: 1 })
    assert.equal(again.status, 200)
    assert.equal(again.body.sid, res.body.sid)
    assert.equal(smtp.mails.length, before)

    // Not validated yet.
    const early = await t.api.post(`${CS}/account/3pid/add`, { sid: res.body.sid, client_secret, auth: passwordAuth(user.username, user.password) }, user.access_token)
    assert.equal(early.status, 400)
    assert.equal(early.body.errcode, 'M_THREEPID_AUTH_FAILED')

    const page = await fetch(link)
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/)
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/)
    const html = await page.text()
    assert.match(html, /<html lang="en">/)
    assert.match(html, /E-mail address validated/)
    assert.doesNotMatch(html, /<script|<link|src=|https?:\/\//, 'the page loads nothing from elsewhere')

    const challenge = await t.api.post(`${CS}/account/3pid/add`, { sid: res.body.sid, client_secret }, user.access_token)
    assert.equal(challenge.status, 401)
    assert.deepEqual(challenge.body.flows, [{ stages: ['m.login.password'] }])
    const added = await t.api.post(
      `${CS}/account/3pid/add`,
      { sid: res.body.sid, client_secret, auth: passwordAuth(user.username, user.password, challenge.body.session) },
      user.access_token,
    )
    assert.equal(added.status, 200, JSON.stringify(added.body))

    const list = await t.api.get(`${CS}/account/3pid`, user.access_token)
    assert.equal(list.status, 200)
    assert.equal(list.body.threepids.length, 1)
    assert.equal(list.body.threepids[0].medium, 'email')
    assert.equal(list.body.threepids[0].address, email.toLowerCase())
    assert.equal(typeof list.body.threepids[0].validated_at, 'number')
    assert.equal(typeof list.body.threepids[0].added_at, 'number')

    // The session was used up.
    const reuse = await t.api.post(`${CS}/account/3pid/add`, { sid: res.body.sid, client_secret, auth: passwordAuth(user.username, user.password) }, user.access_token)
    assert.equal(reuse.body.errcode, 'M_THREEPID_AUTH_FAILED')

    const caps = await t.api.get(`${CS}/capabilities`, user.access_token)
    assert.deepEqual(caps.body.capabilities['m.3pid_changes'], { enabled: true })
  })

  it('refuses an address that belongs to an account with M_THREEPID_IN_USE, before mailing anything', async () => {
    const owner = await registerUser(t.api)
    const email = address()
    await addEmail(owner, email)
    const before = smtp.mails.length
    for (const path of ['account/3pid', 'register']) {
      const res = await t.api.post(`${CS}/${path}/email/requestToken`, { client_secret: secret(), email: email.toUpperCase(), send_attempt: 1 })
      assert.equal(res.status, 400)
      assert.equal(res.body.errcode, 'M_THREEPID_IN_USE')
    }
    assert.equal(smtp.mails.length, before)
  })

  it('validates its input: client_secret, address and next_link', async () => {
    const bad = [
      { client_secret: 'has space', email: address(), send_attempt: 1 },
      { client_secret: secret(), email: 'not-an-address', send_attempt: 1 },
      { client_secret: secret(), email: address(), send_attempt: 1, next_link: 'javascript:alert(1)' },
    ]
    for (const body of bad) {
      const res = await t.api.post(`${CS}/account/3pid/email/requestToken`, body)
      assert.equal(res.status, 400, JSON.stringify(body))
      assert.equal(res.body.errcode, 'M_INVALID_PARAM')
    }
    const missing = await t.api.post(`${CS}/account/3pid/email/requestToken`, { email: address(), send_attempt: 1 })
    assert.equal(missing.body.errcode, 'M_MISSING_PARAM')
    const sms = await t.api.post(`${CS}/account/3pid/msisdn/requestToken`, { client_secret: secret(), country: 'GB', phone_number: '07700900000', send_attempt: 1 })
    assert.equal(sms.body.errcode, 'M_THREEPID_MEDIUM_NOT_SUPPORTED')
  })

  it('answers a wrong or replaced token with an error page, and a newer send_attempt replaces the token', async () => {
    const email = address()
    const client_secret = secret()
    const first = await t.api.post(`${CS}/account/3pid/email/requestToken`, { client_secret, email, send_attempt: 1 })
    const oldLink = linkOf(await smtp.next(email.toLowerCase()))
    const second = await t.api.post(`${CS}/account/3pid/email/requestToken`, { client_secret, email, send_attempt: 2 })
    assert.equal(second.body.sid, first.body.sid)
    const newLink = linkOf(await smtp.next(email.toLowerCase()))
    assert.notEqual(newLink, oldLink)
    const stale = await fetch(oldLink)
    assert.equal(stale.status, 400)
    assert.match(await stale.text(), /This link cannot be used/)
    const wrong = await fetch(newLink.replace(/token=[^&]+/, 'token=wrong'))
    assert.equal(wrong.status, 400)
    const incomplete = await fetch(newLink.replace(/&?sid=[^&]+/, ''))
    assert.equal(incomplete.status, 400)
    assert.equal((await fetch(newLink)).status, 200)
  })

  it('refuses a link whose token has expired (email.validation_token_lifetime_ms), and whose session has', async () => {
    const email = address()
    const client_secret = secret()
    const req = await t.api.post(`${CS}/account/3pid/email/requestToken`, { client_secret, email, send_attempt: 1 })
    const link = linkOf(await smtp.next(email.toLowerCase()))
    const db = t.server.ctx.storage.db
    await db.query('UPDATE threepid_validation_sessions SET token_expires_ts = $2 WHERE session_id = $1', [req.body.sid, Date.now() - 1])
    const expired = await fetch(link)
    assert.equal(expired.status, 400)
    assert.match(await expired.text(), /expired/)
    await db.query('UPDATE threepid_validation_sessions SET token_expires_ts = $2, created_ts = $3 WHERE session_id = $1', [req.body.sid, Date.now() + 60_000, Date.now() - 2 * 86_400_000])
    assert.equal((await fetch(link)).status, 400)
    // A requestToken after the session's end opens a new one.
    const again = await t.api.post(`${CS}/account/3pid/email/requestToken`, { client_secret, email, send_attempt: 1 })
    assert.equal(again.status, 200)
    assert.notEqual(again.body.sid, req.body.sid)
    assert.equal((await fetch(linkOf(await smtp.next(email.toLowerCase())))).status, 200)
  })

  it('redirects to next_link once validated', async () => {
    const email = address()
    const client_secret = secret()
    await t.api.post(`${CS}/account/3pid/email/requestToken`, { client_secret, email, send_attempt: 1, next_link: 'https://app.example.org/done?x=1' })
    const link = linkOf(await smtp.next(email.toLowerCase()))
    const res = await fetch(link, { redirect: 'manual' })
    assert.equal(res.status, 302)
    assert.equal(res.headers.get('location'), 'https://app.example.org/done?x=1')
  })

  it('logs in with the address (identifier m.id.thirdparty and the deprecated top-level form), until it is deleted', async () => {
    const user = await registerUser(t.api)
    const email = address()
    await addEmail(user, email)
    const byIdentifier = await t.api.post(`${CS}/login`, { type: 'm.login.password', identifier: { type: 'm.id.thirdparty', medium: 'email', address: email.toUpperCase() }, password: user.password })
    assert.equal(byIdentifier.status, 200, JSON.stringify(byIdentifier.body))
    assert.equal(byIdentifier.body.user_id, user.user_id)
    const legacy = await t.api.post(`${CS}/login`, { type: 'm.login.password', medium: 'email', address: email, password: user.password })
    assert.equal(legacy.status, 200, JSON.stringify(legacy.body))
    const wrong = await t.api.post(`${CS}/login`, { type: 'm.login.password', identifier: { type: 'm.id.thirdparty', medium: 'email', address: email }, password: 'wrong password' })
    assert.equal(wrong.status, 403)
    const unknown = await t.api.post(`${CS}/login`, { type: 'm.login.password', identifier: { type: 'm.id.thirdparty', medium: 'email', address: address() }, password: user.password })
    assert.equal(unknown.status, 403)
    assert.equal(unknown.body.errcode, 'M_FORBIDDEN')

    const del = await t.api.post(`${CS}/account/3pid/delete`, { medium: 'email', address: email }, user.access_token)
    assert.equal(del.status, 200)
    assert.deepEqual(del.body, { id_server_unbind_result: 'no-support' })
    assert.deepEqual((await t.api.get(`${CS}/account/3pid`, user.access_token)).body, { threepids: [] })
    const after = await t.api.post(`${CS}/login`, { type: 'm.login.password', identifier: { type: 'm.id.thirdparty', medium: 'email', address: email }, password: user.password })
    assert.equal(after.status, 403)
  })

  it('frees the address when the account is deactivated', async () => {
    const user = await registerUser(t.api)
    const email = address()
    await addEmail(user, email)
    const first = await t.api.post(`${CS}/account/deactivate`, {}, user.access_token)
    const res = await t.api.post(`${CS}/account/deactivate`, { auth: passwordAuth(user.username, user.password, first.body.session) }, user.access_token)
    assert.equal(res.status, 200)
    const login = await t.api.post(`${CS}/login`, { type: 'm.login.password', identifier: { type: 'm.id.thirdparty', medium: 'email', address: email }, password: user.password })
    assert.equal(login.status, 403)
    const again = await t.api.post(`${CS}/account/3pid/email/requestToken`, { client_secret: secret(), email, send_attempt: 1 })
    assert.equal(again.status, 200)
  })
})

describe('password reset by e-mail', () => {
  it('answers an unknown address with M_THREEPID_NOT_FOUND and mails nothing', async () => {
    const before = smtp.mails.length
    const res = await t.api.post(`${CS}/account/password/email/requestToken`, { client_secret: secret(), email: address(), send_attempt: 1 })
    assert.equal(res.status, 400)
    assert.equal(res.body.errcode, 'M_THREEPID_NOT_FOUND')
    assert.equal(smtp.mails.length, before)
  })

  it('resets the password once the link is confirmed, logging out every device', async () => {
    const user = await registerUser(t.api)
    const email = address()
    await addEmail(user, email)
    const client_secret = secret()
    const req = await t.api.post(`${CS}/account/password/email/requestToken`, { client_secret, email, send_attempt: 1 })
    assert.equal(req.status, 200, JSON.stringify(req.body))
    const mail = await smtp.next(email.toLowerCase())
    assert.equal(mail.subject, '[Family Chat] Password reset')
    const link = linkOf(mail)
    assert.ok(link.startsWith(`http://127.0.0.1:${port}/_synapse/client/password_reset/email/submit_token?`), link)

    const NEW = 'a new password from the mail'
    const challenge = await t.api.post(`${CS}/account/password`, { new_password: NEW })
    assert.equal(challenge.status, 401)
    assert.deepEqual(challenge.body.flows, [{ stages: ['m.login.email.identity'] }])
    const auth = { type: 'm.login.email.identity', threepid_creds: { sid: req.body.sid, client_secret }, session: challenge.body.session }

    // Opening the link only asks for confirmation (a mail scanner fetching it confirms nothing).
    const page = await fetch(link)
    assert.equal(page.status, 200)
    const html = await page.text()
    assert.match(html, /<form method="post"/)
    const early = await t.api.post(`${CS}/account/password`, { new_password: NEW, auth })
    assert.equal(early.status, 401)
    assert.equal(early.body.errcode, 'M_THREEPID_AUTH_FAILED')

    const fields = Object.fromEntries([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1], m[2]]))
    const confirmed = await fetch(link.split('?')[0] as string, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields as Record<string, string>) })
    assert.equal(confirmed.status, 200)
    assert.match(await confirmed.text(), /Password reset confirmed/)

    const reset = await t.api.post(`${CS}/account/password`, { new_password: NEW, auth })
    assert.equal(reset.status, 200, JSON.stringify(reset.body))
    assert.equal((await t.api.get(`${CS}/account/whoami`, user.access_token)).status, 401, 'devices are logged out')
    assert.equal((await t.api.post(`${CS}/login`, { type: 'm.login.password', identifier: { type: 'm.id.user', user: user.username }, password: user.password })).status, 403)
    assert.equal((await t.api.post(`${CS}/login`, { type: 'm.login.password', identifier: { type: 'm.id.user', user: user.username }, password: NEW })).status, 200)
    // The validation is used up.
    const second = await t.api.post(`${CS}/account/password`, { new_password: 'yet another password', auth: { ...auth, session: undefined } })
    assert.equal(second.status, 401)
    assert.equal(second.body.errcode, 'M_THREEPID_AUTH_FAILED')
  })

  it('keeps the devices with logout_devices false', async () => {
    const user = await registerUser(t.api)
    const email = address()
    await addEmail(user, email)
    const { sid, client_secret, link } = await validate('account/password', email)
    await fetch(link.split('?')[0] as string, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URL(link).searchParams })
    // The stage completes on the first request: the session opens and ends with it.
    const done = await t.api.post(`${CS}/account/password`, {
      new_password: 'kept devices password',
      logout_devices: false,
      auth: { type: 'm.login.email.identity', threepid_creds: { sid, client_secret } },
    })
    assert.equal(done.status, 200, JSON.stringify(done.body))
    assert.equal((await t.api.get(`${CS}/account/whoami`, user.access_token)).status, 200)
  })
})

describe('registration with an e-mail address', () => {
  it('offers m.login.email.identity beside m.login.dummy, and binds the validated address to the new account', async () => {
    const username = `mailuser${process.pid}x${++counter}`
    const first = await t.api.post(`${CS}/register`, { username, password: 'registration password' })
    assert.equal(first.status, 401)
    assert.deepEqual(first.body.flows, [{ stages: ['m.login.dummy'] }, { stages: ['m.login.email.identity'] }])
    const email = address()
    const client_secret = secret()
    const req = await t.api.post(`${CS}/register/email/requestToken`, { client_secret, email, send_attempt: 1 })
    assert.equal(req.status, 200, JSON.stringify(req.body))
    const mail = await smtp.next(email.toLowerCase())
    const token = /enter: (\S+)/.exec(mail.text)?.[1]
    assert.ok(token)
    // submit_url: the token typed into the app instead of the link.
    const submitted = await t.api.post(new URL(req.body.submit_url).pathname, { sid: req.body.sid, client_secret, token })
    assert.equal(submitted.status, 200, JSON.stringify(submitted.body))
    assert.deepEqual(submitted.body, { success: true })

    const res = await t.api.post(`${CS}/register`, {
      username,
      password: 'registration password',
      auth: { type: 'm.login.email.identity', threepid_creds: { sid: req.body.sid, client_secret }, session: first.body.session },
    })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const list = await t.api.get(`${CS}/account/3pid`, res.body.access_token)
    assert.deepEqual(list.body.threepids.map((p: { address: string }) => p.address), [email.toLowerCase()])
  })

  it('offers only flows with m.login.email.identity under registration.requires_email, after the token stage when one is required', async () => {
    const strict = await startInstanceOn(t.database, { ...emailSettings, 'registration.requires_email': true })
    const both = await startInstanceOn(t.database, { ...emailSettings, 'registration.requires_token': true })
    try {
      const a = await strict.api.post(`${CS}/register`, { username: `strict${process.pid}x${++counter}`, password: 'registration password' })
      assert.deepEqual(a.body.flows, [{ stages: ['m.login.email.identity'] }])
      const b = await both.api.post(`${CS}/register`, { username: `both${process.pid}x${++counter}`, password: 'registration password' })
      assert.deepEqual(b.body.flows, [{ stages: ['m.login.registration_token'] }, { stages: ['m.login.registration_token', 'm.login.email.identity'] }])
    } finally {
      await strict.close()
      await both.close()
    }
  })

  it('refuses an unvalidated session at the stage', async () => {
    const first = await t.api.post(`${CS}/register`, { username: `mailuser${process.pid}x${++counter}`, password: 'registration password' })
    const email = address()
    const client_secret = secret()
    const req = await t.api.post(`${CS}/register/email/requestToken`, { client_secret, email, send_attempt: 1 })
    await smtp.next(email.toLowerCase())
    const res = await t.api.post(`${CS}/register`, { auth: { type: 'm.login.email.identity', threepid_creds: { sid: req.body.sid, client_secret }, session: first.body.session } })
    assert.equal(res.status, 401)
    assert.equal(res.body.errcode, 'M_THREEPID_AUTH_FAILED')
  })
})

describe('across instances and limits', () => {
  it('validates on another instance a link that one instance mailed', async () => {
    const other = await startInstanceOn(t.database, emailSettings)
    try {
      const user = await registerUser(t.api)
      const email = address()
      const client_secret = secret()
      const req = await t.api.post(`${CS}/account/3pid/email/requestToken`, { client_secret, email, send_attempt: 1 })
      const link = new URL(linkOf(await smtp.next(email.toLowerCase())))
      const page = await fetch(other.url.replace(/\/$/, '') + link.pathname + link.search)
      assert.equal(page.status, 200)
      const added = await other.api.post(`${CS}/account/3pid`, { three_pid_creds: { sid: req.body.sid, client_secret } }, user.access_token)
      assert.equal(added.status, 200, JSON.stringify(added.body))
      assert.equal((await t.api.get(`${CS}/account/3pid`, user.access_token)).body.threepids.length, 1)
    } finally {
      await other.close()
    }
  })

  it('answers 500 M_UNKNOWN, without hanging, when the SMTP server cannot be reached', async () => {
    const closed = await startTestSmtp()
    await closed.close()
    const broken = await startInstanceOn(t.database, { ...emailSettings, 'email.smtp_port': closed.port, 'email.timeout_ms': 2000 })
    try {
      const res = await broken.api.post(`${CS}/account/3pid/email/requestToken`, { client_secret: secret(), email: address(), send_attempt: 1 })
      assert.equal(res.status, 500)
      assert.equal(res.body.errcode, 'M_UNKNOWN')
    } finally {
      await broken.close()
    }
  })

  it('limits validation mails per address (rate_limits.threepid_validation), repeats of a send_attempt aside', async () => {
    const limited = await startInstanceOn(t.database, {
      ...emailSettings,
      'rate_limits.enabled': true,
      'rate_limits.threepid_validation': { per_second: 0.001, burst: 2 },
    })
    try {
      const email = address()
      const request = (client_secret: string) => limited.api.post(`${CS}/account/3pid/email/requestToken`, { client_secret, email, send_attempt: 1 })
      const kept = secret()
      assert.equal((await request(kept)).status, 200)
      assert.equal((await request(kept)).status, 200, 'a repeat sends nothing and takes nothing')
      assert.equal((await request(secret())).status, 200)
      const refused = await request(secret())
      assert.equal(refused.status, 429)
      assert.equal(refused.body.errcode, 'M_LIMIT_EXCEEDED')
      assert.equal(typeof refused.body.retry_after_ms, 'number')
    } finally {
      await limited.close()
    }
  })
})
