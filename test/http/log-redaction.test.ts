// What the server logs never holds an access token: every spelling of the access_token query parameter
// that authenticates a request is redacted from the request log line.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { registerUser, startTestServer } from '../support/server.ts'

const lines: string[] = []
const sink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
    done()
  },
})
const t = await startTestServer({ 'log.level': 'info' }, { logger: pino({ level: 'info' }, sink) })
const user = await registerUser(t.api)

/** The request log lines written for `path` (the route without its query). */
function requestLines(path: string): string[] {
  return lines.filter((line) => line.includes(`"url":"${path}`))
}

describe('request logs', () => {
  it('redact the access token of every query spelling the server honours', async () => {
    const token = user.access_token
    const spellings = ['access_token', 'access%5Ftoken', 'access%5ftoken', '%61ccess_token', '%61%63%63%65%73%73%5F%74%6F%6B%65%6E']
    for (const key of spellings) {
      const res = await t.api.get(`/_matrix/client/v3/account/whoami?${key}=${encodeURIComponent(token)}&x=1`)
      assert.equal(res.status, 200, `${key} was not honoured: ${JSON.stringify(res.body)}`)
      assert.equal(res.body.user_id, user.user_id)
    }
    // pino writes asynchronously to a stream; a last request flushes the ones before it.
    await t.api.get('/_matrix/client/versions')
    await new Promise((resolve) => setImmediate(resolve))
    const logged = requestLines('/_matrix/client/v3/account/whoami')
    assert.equal(logged.length, spellings.length, lines.join('\n'))
    for (const line of logged) {
      assert.ok(!line.includes(token), `the token was logged: ${line}`)
      assert.ok(!line.includes(encodeURIComponent(token)), `the token was logged: ${line}`)
      assert.match(line, /=<redacted>&x=1/)
    }
    assert.ok(!lines.some((line) => line.includes(token)), 'the token appears in some log line')
  })

  it('redact the token and client_secret of a validation link', async () => {
    const path = '/_matrix/client/unstable/add_threepid/email/submit_token'
    await t.api.get(`${path}?token=mailedTokenValue&client_secret=clientSecretValue&sid=sidValue`)
    await t.api.get('/_matrix/client/versions')
    await new Promise((resolve) => setImmediate(resolve))
    const logged = requestLines(path)
    assert.equal(logged.length, 1, lines.join('\n'))
    assert.ok(!logged[0]?.includes('mailedTokenValue') && !logged[0]?.includes('clientSecretValue'), logged[0])
    assert.match(logged[0] ?? '', /sid=sidValue/)
  })
})
