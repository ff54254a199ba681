// Registration's m.login.recaptcha stage over real HTTP: the answer a client sends is checked with a
// siteverify service written here on loopback (a form POST of the secret key and the answer, as Google's).
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startTestServer, type TestServer } from '../support/server.ts'

const GOOD_ANSWER = 'solved-it'
const checks: Array<Record<string, string>> = []
const siteverify = createServer(async (req: IncomingMessage, res) => {
  let body = ''
  for await (const chunk of req) body += chunk
  const form = Object.fromEntries(new URLSearchParams(body))
  checks.push({ ...form, contentType: String(req.headers['content-type']) })
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ success: form.secret === 'the-secret' && form.response === GOOD_ANSWER }))
})
await new Promise<void>((resolve) => siteverify.listen(0, '127.0.0.1', resolve))
after(() => siteverify.close())
const api = `http://127.0.0.1:${(siteverify.address() as AddressInfo).port}/recaptcha/api/siteverify`

const settings = () => ({
  'outbound.ip_range_allowlist': ['127.0.0.0/8'],
  'registration.recaptcha.private_key': 'the-secret',
  'registration.recaptcha.public_key': 'site-key',
  'registration.recaptcha.siteverify_api': api,
})
const required: TestServer = await startTestServer({ ...settings(), 'registration.recaptcha.required': true })
const optional: TestServer = await startTestServer(settings())
const REGISTER = '/_matrix/client/v3/register'
let counter = 0
const name = () => `captcha${process.pid}x${++counter}`

describe('m.login.recaptcha', () => {
  it('comes first in the registration flow when required, with the site key in the params', async () => {
    const res = await required.api.post(REGISTER, { username: name(), password: 'a long enough password' })
    assert.equal(res.status, 401)
    assert.deepEqual(res.body.flows, [{ stages: ['m.login.recaptcha', 'm.login.dummy'] }])
    assert.deepEqual(res.body.params, { 'm.login.recaptcha': { public_key: 'site-key' } })
  })

  it('is completed by an answer the service accepts, checked with a form of the secret and the answer', async () => {
    const username = name()
    const first = await required.api.post(REGISTER, { username, password: 'a long enough password' })
    const session = first.body.session
    const wrong = await required.api.post(REGISTER, { auth: { type: 'm.login.recaptcha', response: 'a guess', session } })
    assert.equal(wrong.status, 401)
    assert.equal(wrong.body.errcode, 'M_UNAUTHORIZED')
    assert.deepEqual(wrong.body.completed, [])
    const solved = await required.api.post(REGISTER, { auth: { type: 'm.login.recaptcha', response: GOOD_ANSWER, session } })
    assert.equal(solved.status, 401)
    assert.deepEqual(solved.body.completed, ['m.login.recaptcha'])
    assert.deepEqual(checks.at(-1), { secret: 'the-secret', response: GOOD_ANSWER, contentType: 'application/x-www-form-urlencoded' })
    const done = await required.api.post(REGISTER, { auth: { type: 'm.login.dummy', session } })
    assert.equal(done.status, 200, JSON.stringify(done.body))
    assert.equal(done.body.user_id.startsWith(`@${username}:`), true)
  })

  it('cannot be skipped when required', async () => {
    const first = await required.api.post(REGISTER, { username: name(), password: 'a long enough password' })
    const res = await required.api.post(REGISTER, { auth: { type: 'm.login.dummy', session: first.body.session } })
    assert.equal(res.status, 401)
    assert.deepEqual(res.body.completed, ['m.login.dummy'])
  })

  it('can be completed where it is not required, which completes no flow by itself (as Synapse)', async () => {
    const res = await optional.api.post(REGISTER, { username: name(), password: 'a long enough password', auth: { type: 'm.login.recaptcha', response: GOOD_ANSWER } })
    assert.equal(res.status, 401)
    assert.deepEqual(res.body.completed, ['m.login.recaptcha'])
    assert.deepEqual(res.body.flows, [{ stages: ['m.login.dummy'] }])
  })
})
