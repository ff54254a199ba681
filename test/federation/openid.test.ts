// OpenID (client-server API and server-server API, "OpenID"): a user of A asks A for an OpenID token, and a
// third party exchanges it at A's /_matrix/federation/v1/openid/userinfo, over HTTPS with the test CA, for
// the user's ID. Tokens are the user's own, expire after an hour, and are refused with 401 when missing,
// unknown or expired; B knows nothing of A's tokens.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { federatedServers, type FederatedServer } from '../support/federation-rig.ts'
import { RoomClient, enc } from '../support/rooms.ts'
import { httpsGet } from '../support/federation.ts'
import { OPENID_TOKENS_PER_USER } from '../../src/users/openid.ts'

const { servers, caFile } = await federatedServers(2)
const [a, b] = servers as [FederatedServer, FederatedServer]
const ca = readFileSync(caFile)

/** An unsigned GET over HTTPS to a server's front (as a third party, not a homeserver, sends it). */
function httpsGetFrom(server: FederatedServer, path: string) {
  const [host, port] = server.name.split(':') as [string, string]
  return httpsGet({ host, port: Number(port), ca }, path)
}

const userInfo = (server: FederatedServer, token?: string) =>
  httpsGetFrom(server, `/_matrix/federation/v1/openid/userinfo${token === undefined ? '' : `?access_token=${enc(token)}`}`)

async function requestToken(client: RoomClient): Promise<any> {
  const res = await client.post(`/user/${enc(client.userId)}/openid/request_token`, {})
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

const alice = await RoomClient.register(a.api)
const bob = await RoomClient.register(a.api)

describe('OpenID tokens', () => {
  it('are issued to the user for an hour and exchanged at the server for the user ID', async () => {
    const token = await requestToken(alice)
    assert.deepEqual(Object.keys(token).sort(), ['access_token', 'expires_in', 'matrix_server_name', 'token_type'])
    assert.equal(token.token_type, 'Bearer')
    assert.equal(token.matrix_server_name, a.name)
    assert.equal(token.expires_in, 3600)
    assert.ok(token.access_token.length >= 43, 'at least 256 random bits')
    const info = await userInfo(a, token.access_token)
    assert.equal(info.status, 200, JSON.stringify(info.body))
    assert.deepEqual(info.body, { sub: alice.userId })
    // Only its SHA-256 is stored.
    const { rows } = await a.ctx.storage.db.query<{ token_hash: Buffer }>('SELECT token_hash FROM openid_tokens WHERE user_id = $1', [alice.userId])
    assert.deepEqual(rows.map((r) => r.token_hash.toString('hex')), [createHash('sha256').update(token.access_token).digest('hex')])
  })

  it('are refused for another user (403) and are not access tokens of the client API', async () => {
    const res = await alice.post(`/user/${enc(bob.userId)}/openid/request_token`, {})
    assert.equal(res.status, 403)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
    const token = await requestToken(alice)
    const whoami = await a.api.get('/_matrix/client/v3/account/whoami', token.access_token)
    assert.equal(whoami.status, 401)
    assert.equal(whoami.body.errcode, 'M_UNKNOWN_TOKEN')
  })

  it('answers 401 M_MISSING_TOKEN without a token and M_UNKNOWN_TOKEN for an unknown one or one of another server', async () => {
    const missing = await userInfo(a)
    assert.deepEqual([missing.status, missing.body.errcode], [401, 'M_MISSING_TOKEN'])
    const empty = await userInfo(a, '')
    assert.deepEqual([empty.status, empty.body.errcode], [401, 'M_MISSING_TOKEN'])
    for (const bad of ['an/invalid/token', 'x'.repeat(2000), alice.token]) {
      const res = await userInfo(a, bad)
      assert.deepEqual([res.status, res.body.errcode], [401, 'M_UNKNOWN_TOKEN'], bad.slice(0, 20))
    }
    const token = await requestToken(alice)
    const elsewhere = await userInfo(b, token.access_token)
    assert.deepEqual([elsewhere.status, elsewhere.body.errcode], [401, 'M_UNKNOWN_TOKEN'])
  })

  it('expire: an expired token is refused, and removed when another token is issued', async () => {
    const carol = await RoomClient.register(a.api)
    const token = await requestToken(carol)
    assert.equal((await userInfo(a, token.access_token)).status, 200)
    // An hour passes.
    await a.ctx.storage.db.query('UPDATE openid_tokens SET expires_ts = $2 WHERE user_id = $1', [carol.userId, Date.now() - 1])
    const res = await userInfo(a, token.access_token)
    assert.deepEqual([res.status, res.body.errcode], [401, 'M_UNKNOWN_TOKEN'])
    await requestToken(alice)
    const { rows } = await a.ctx.storage.db.query<{ n: number }>('SELECT count(*)::int AS n FROM openid_tokens WHERE user_id = $1', [carol.userId])
    assert.equal(rows[0]?.n, 0)
  })

  it('are bounded per user: past the cap the oldest live token stops working', async () => {
    const dave = await RoomClient.register(a.api)
    const first = await requestToken(dave)
    for (let i = 0; i < OPENID_TOKENS_PER_USER; i++) await requestToken(dave)
    assert.equal((await userInfo(a, first.access_token)).status, 401)
    const { rows } = await a.ctx.storage.db.query<{ n: number }>('SELECT count(*)::int AS n FROM openid_tokens WHERE user_id = $1', [dave.userId])
    assert.equal(rows[0]?.n, OPENID_TOKENS_PER_USER)
  })

  it('stop working when their user deactivates', async () => {
    const erin = await RoomClient.register(a.api)
    const token = await requestToken(erin)
    const first = await erin.post('/account/deactivate', {})
    const user = erin.userId.slice(1, erin.userId.indexOf(':'))
    const auth = { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password: 'correct horse battery staple', session: first.body.session }
    assert.equal((await erin.post('/account/deactivate', { auth })).status, 200)
    assert.equal((await userInfo(a, token.access_token)).status, 401)
  })
})
