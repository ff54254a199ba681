// GET /voip/turnServer (client-server API, "Voice over IP"): with voip.turn_shared_secret, each user gets
// coturn's time-limited credentials (its REST API scheme, use-auth-secret), checked here as coturn checks
// them: the password is base64(HMAC-SHA1(secret, username)) and the username's first part is the expiry in
// Unix seconds. Fixed credentials without a secret; nothing without URIs.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, assertError } from '../support/rooms.ts'

const secret = randomBytes(24).toString('hex')
const uris = ['turns:turn.example.org:5349?transport=tcp', 'turn:turn.example.org:3478?transport=udp']
const withSecret: TestServer = await startTestServer({ 'voip.turn_uris': [...uris], 'voip.turn_shared_secret': secret, 'voip.turn_user_lifetime_ms': 600_000 })
const fixed: TestServer = await startTestServer({ 'voip.turn_uris': [...uris], 'voip.turn_username': 'family', 'voip.turn_password': 'calls' })
const guestsOut: TestServer = await startTestServer({ 'voip.turn_uris': [...uris], 'voip.turn_shared_secret': secret, 'registration.allow_guest_access': true, 'voip.turn_allow_guests': false })
const guestsIn: TestServer = await startTestServer({ 'voip.turn_uris': [...uris], 'voip.turn_shared_secret': secret, 'registration.allow_guest_access': true })
after(async () => {
  await withSecret.close()
  await fixed.close()
  await guestsOut.close()
  await guestsIn.close()
})

/** A guest's access token (POST /register?kind=guest). */
async function guestToken(server: TestServer): Promise<string> {
  const res = await server.api.post('/_matrix/client/v3/register?kind=guest', {})
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body.access_token
}

/** What coturn does with use-auth-secret: the password it expects for a username, and whether it has expired. */
function coturnAccepts(username: string, password: string, nowSeconds: number): boolean {
  const expiry = Number(username.split(':')[0])
  const expected = createHmac('sha1', secret).update(username).digest('base64')
  return expected === password && Number.isInteger(expiry) && expiry > nowSeconds
}

describe('GET /voip/turnServer', () => {
  it("gives a user coturn credentials made with the shared secret, valid for the configured lifetime", async () => {
    const alice = await RoomClient.register(withSecret.api)
    const res = await alice.get('/voip/turnServer')
    assert.equal(res.status, 200)
    assert.deepEqual(res.body.uris, uris)
    assert.equal(res.body.ttl, 600)
    const [expiry, ...user] = String(res.body.username).split(':')
    assert.equal(user.join(':'), alice.userId)
    const now = Math.floor(Date.now() / 1000)
    assert.ok(Number(expiry) > now + 590 && Number(expiry) <= now + 601, `expiry ${expiry}, now ${now}`)
    assert.ok(coturnAccepts(res.body.username, res.body.password, now))
    assert.ok(!coturnAccepts(res.body.username, res.body.password, Number(expiry)), 'coturn refuses them once expired')
    // Another user's credentials are their own.
    const bob = await RoomClient.register(withSecret.api)
    const theirs = (await bob.get('/voip/turnServer')).body
    assert.ok(String(theirs.username).endsWith(`:${bob.userId}`))
    assert.notEqual(theirs.password, res.body.password)
  })

  it('gives the fixed credentials when there is no shared secret, and needs an access token', async () => {
    const alice = await RoomClient.register(fixed.api)
    const res = await alice.get('/voip/turnServer')
    assert.deepEqual(res.body, { username: 'family', password: 'calls', ttl: 3600, uris })
    assertError(await fixed.api.request('GET', '/_matrix/client/v3/voip/turnServer'), 401, 'M_MISSING_TOKEN')
  })

  it('gives guests credentials unless voip.turn_allow_guests is false, which leaves full accounts theirs', async () => {
    const allowed = await guestsIn.api.get('/_matrix/client/v3/voip/turnServer', await guestToken(guestsIn))
    assert.ok(coturnAccepts(allowed.body.username, allowed.body.password, Math.floor(Date.now() / 1000)))
    const refused = await guestsOut.api.get('/_matrix/client/v3/voip/turnServer', await guestToken(guestsOut))
    assert.deepEqual([refused.status, refused.body], [200, {}])
    const alice = await RoomClient.register(guestsOut.api)
    assert.deepEqual((await alice.get('/voip/turnServer')).body.uris, uris)
  })
})
