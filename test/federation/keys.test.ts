// Two Homesteads with different server names on loopback, each behind HTTPS with a test CA: one fetches
// the other's keys directly and through it as a notary; a signed request is verified; a forged signature,
// a wrong destination and an expired key are refused.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { startInstanceOn, startTestServer, type TestInstance, type TestServer } from '../support/server.ts'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { federationFronts, startTlsFront } from '../support/federation.ts'
import { signJson, signingKeyFromSeed } from '../../src/protocol/signing.ts'
import { checkKeyResponse, checkNotarySignature } from '../../src/protocol/server-keys.ts'
import { signRequest, type SignedRequest } from '../../src/protocol/x-matrix.ts'
import { MatrixError } from '../../src/shared/errors.ts'
import type { AppContext } from '../../src/context.ts'

const fronts = await federationFronts()
const { frontB, nameA, nameB, common } = fronts
const a: TestServer = await startTestServer({ ...common(), server_name: nameA })
const b: TestServer = await startTestServer({ ...common(), server_name: nameB })
fronts.route(frontB, b.url)

// A's key history: a key retired an hour ago (in old_verify_keys), then the current one. A second instance
// on A's database loads both, as a restart would, and serves A's name from then on.
const oldSeed = randomBytes(32)
const oldKey = signingKeyFromSeed('ed25519:old', oldSeed)
const retiredAt = Date.now() - 3600_000
const sql = new pg.Client({ connectionString: a.database.url })
await sql.connect()
await sql.query('INSERT INTO server_signing_keys (key_id, seed, created_ts, expired_ts) VALUES ($1, $2, $3, $4)', ['ed25519:old', oldSeed, retiredAt - 86400_000, retiredAt])
await sql.end()
const a2: TestInstance = await startInstanceOn(a.database, { ...common(), server_name: nameA })
fronts.route(fronts.frontA, a2.url)

const ctxA: AppContext = a2.server.ctx
const ctxB: AppContext = b.server.ctx

// An origin server whose key document the tests choose (as SyTest's own server does), behind a TLS front.
let originAnswer: { status: number; body: unknown } = { status: 404, body: {} }
const origin = createServer((req, res) => {
  req.resume()
  res.writeHead(req.url === '/_matrix/key/v2/server' ? originAnswer.status : 404, { 'content-type': 'application/json' })
  res.end(JSON.stringify(req.url === '/_matrix/key/v2/server' ? originAnswer.body : {}))
})
await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve))
const originFront = await startTlsFront(fronts.ca.issue(['127.0.0.1']))
originFront.target = (origin.address() as AddressInfo).port
const originName = `127.0.0.1:${originFront.port}`
const originFetches = () => originFront.requests.filter((r) => r === 'GET /_matrix/key/v2/server').length
/** The origin's signed key document: one key, valid until `validUntil`. */
function originKeys(keyId: string, validUntil: number): Record<string, unknown> {
  const key = signingKeyFromSeed(keyId, randomBytes(32))
  return signJson({ server_name: originName, valid_until_ts: validUntil, verify_keys: { [keyId]: { key: key.publicKeyBase64 } }, old_verify_keys: {} }, originName, key)
}

after(async () => {
  await a2.close()
  await originFront.close()
  await new Promise((resolve) => origin.close(resolve))
  await fronts.close()
})

const sendTo = (destination: string, content: unknown = { pdus: [], edus: [] }): SignedRequest => ({
  method: 'PUT',
  uri: '/_matrix/federation/v1/send/txn1?x=1',
  origin: nameA,
  destination,
  content,
})

async function refused(promise: Promise<unknown>, message: RegExp) {
  await assert.rejects(promise, (err: unknown) => err instanceof MatrixError && err.errcode === 'M_UNAUTHORIZED' && err.status === 401 && message.test(err.message))
}

describe('remote server keys', () => {
  it('fetches a server\'s keys directly over HTTPS verified against federation.ca_file, and stores them for every instance', async () => {
    const keys = await ctxA.federation.keys.fetchDirect(nameB)
    const own = ctxB.serverKeys.signingKey
    assert.deepEqual(keys.map((k) => [k.keyId, k.key, k.expiredTs]), [[own.keyId, own.publicKeyBase64, null]])
    const rows = await ctxA.storage.repos.remoteServerKeys.forServer(nameB)
    assert.deepEqual(rows.map((r) => [r.key_id, r.verify_key, r.from_server]), [[own.keyId, own.publicKeyBase64, nameB]])
    assert.ok(rows[0]!.valid_until_ts > Date.now())
  })

  it('fetches a server\'s keys through a notary answering for itself (POST /_matrix/key/v2/query)', async () => {
    const keys = await ctxA.federation.keys.fetchFromNotary(nameB, nameB)
    assert.deepEqual(keys.map((k) => k.keyId), [ctxB.serverKeys.signingKey.keyId])
  })

  it('answers as a notary for another server: fetched from it, signed by it, co-signed by us (GET and POST)', async () => {
    const bKeys = new Map([[ctxB.serverKeys.signingKey.keyId, ctxB.serverKeys.signingKey.publicKey]])
    const get = await b.api.get(`/_matrix/key/v2/query/${encodeURIComponent(nameA)}?minimum_valid_until_ts=${Date.now()}`)
    const post = await b.api.post('/_matrix/key/v2/query', { server_keys: { [nameA]: { [ctxA.serverKeys.signingKey.keyId]: {} }, 'not a name!': {} } })
    for (const answer of [get, post]) {
      assert.equal(answer.status, 200)
      assert.equal(answer.body.server_keys.length, 1)
      const doc = answer.body.server_keys[0]
      const checked = checkKeyResponse(doc, nameA, Date.now())
      assert.ok(checked.ok, 'signed by the server itself')
      assert.deepEqual(checked.keys.map((k) => [k.keyId, k.expiredTs === null]).sort(), [['ed25519:old', false], [ctxA.serverKeys.signingKey.keyId, true]].sort())
      assert.ok(checkNotarySignature(doc, nameB, bKeys), 'co-signed by the notary')
    }
  })

  it('fetches through a notary answering for another server, checking the notary\'s signature with its own keys', async () => {
    const keys = await ctxA.federation.keys.fetchFromNotary(nameB, nameA)
    assert.ok(keys.some((k) => k.keyId === ctxA.serverKeys.signingKey.keyId))
  })

  it('fetches once for concurrent lookups of a key, and does not ask again at once for a key the server lacks', async () => {
    const before = frontB.requests.filter((r) => r === 'GET /_matrix/key/v2/server').length
    const lookups = await Promise.all(Array.from({ length: 5 }, () => ctxA.federation.keys.verifyKey(nameB, 'ed25519:unknown', { validAt: Date.now(), forRequest: true })))
    assert.deepEqual(lookups, [null, null, null, null, null])
    assert.equal(frontB.requests.filter((r) => r === 'GET /_matrix/key/v2/server').length - before, 1)
    assert.equal(await ctxA.federation.keys.verifyKey(nameB, 'ed25519:unknown', { validAt: Date.now(), forRequest: true }), null)
    assert.equal(frontB.requests.filter((r) => r === 'GET /_matrix/key/v2/server').length - before, 1)
  })

  it('answers with no keys for a server it cannot reach and has none of', async () => {
    const res = await b.api.get(`/_matrix/key/v2/query/${encodeURIComponent('127.0.0.1:1')}`)
    assert.deepEqual([res.status, res.body], [200, { server_keys: [] }])
    const tooMany = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`s${i}.example`, {}]))
    const big = await b.api.post('/_matrix/key/v2/query', { server_keys: tooMany })
    assert.equal(big.body.errcode, 'M_TOO_LARGE')
  })
})

describe('Homestead as a notary', () => {
  const notaryQuery = async (keyId: string, minimum?: number) => {
    const res = await b.api.post('/_matrix/key/v2/query', { server_keys: { [originName]: { [keyId]: minimum === undefined ? {} : { minimum_valid_until_ts: minimum } } } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return res.body.server_keys as Array<{ server_name: string; valid_until_ts: number; verify_keys: Record<string, unknown> }>
  }

  it('answers GET /_matrix/key/v2/query/{serverName}/{keyId} as it does without the key ID', async () => {
    const keyId = ctxA.serverKeys.signingKey.keyId
    const withId = await b.api.get(`/_matrix/key/v2/query/${encodeURIComponent(nameA)}/${encodeURIComponent(keyId)}`)
    const without = await b.api.get(`/_matrix/key/v2/query/${encodeURIComponent(nameA)}`)
    assert.equal(withId.status, 200, JSON.stringify(withId.body))
    assert.ok(withId.body.server_keys.some((doc: { verify_keys: Record<string, unknown> }) => keyId in doc.verify_keys))
    assert.deepEqual(withId.body, without.body)
  })

  it('fetches again when its keys are not valid until the minimum asked, and gives the last ones known when the server fails', async () => {
    const expiry = Date.now() - 86400_000
    originAnswer = { status: 200, body: originKeys('ed25519:k1', expiry) }
    const first = await notaryQuery('ed25519:k1')
    assert.deepEqual(first.map((d) => [d.server_name, d.valid_until_ts, Object.keys(d.verify_keys)]), [[originName, expiry, ['ed25519:k1']]])
    assert.equal(originFetches(), 1)
    // Asked for a key valid later than the one kept: fetched again at once (the same answer comes back).
    const second = await notaryQuery('ed25519:k1', expiry + 1000)
    assert.deepEqual(second.map((d) => d.valid_until_ts), [expiry])
    assert.equal(originFetches(), 2)
    // The origin fails: the kept key is given, expired as it is.
    originAnswer = { status: 400, body: {} }
    const third = await notaryQuery('ed25519:k1', expiry + 1000)
    assert.deepEqual(third.map((d) => [d.valid_until_ts, Object.keys(d.verify_keys)]), [[expiry, ['ed25519:k1']]])
    assert.equal(originFetches(), 3)
    // The origin forgets k1 and lists another key: k1 stays known, and a query it satisfies fetches nothing.
    originAnswer = { status: 200, body: originKeys('ed25519:k2', expiry + 1000) }
    await notaryQuery('ed25519:k1', Date.now())
    assert.equal(originFetches(), 4)
    const kept = await notaryQuery('ed25519:k1', expiry)
    assert.deepEqual(kept.map((d) => Object.keys(d.verify_keys)), [['ed25519:k1']])
    assert.equal(originFetches(), 4)
  })

  it('fetches one server at most a few times in a row for anonymous queries, however many ask', async () => {
    const before = originFetches()
    for (let i = 0; i < 12; i++) await notaryQuery('ed25519:unknown', Date.now())
    assert.ok(originFetches() - before <= 8, `${originFetches() - before} fetches`)
  })
})

describe('X-Matrix request authentication', () => {
  it('refuses a request signed with a key the origin has retired, yet keeps that key for old events', async () => {
    const request = sendTo(nameB)
    await refused(ctxB.federation.auth.authenticate({ ...request, authorization: signRequest(request, oldKey) }), /No valid key ed25519:old/)
    // The refusal is the key's expiry: B fetched A's keys and holds the old one, with its expiry.
    const stored = (await ctxB.storage.repos.remoteServerKeys.forServer(nameA)).find((r) => r.key_id === 'ed25519:old')
    assert.equal(stored?.expired_ts, retiredAt)
    assert.ok(await ctxB.federation.keys.verifyKey(nameA, 'ed25519:old', { validAt: retiredAt - 1000, forRequest: false }), 'an event from before the expiry')
    assert.equal(await ctxB.federation.keys.verifyKey(nameA, 'ed25519:old', { validAt: retiredAt + 1000, forRequest: false }), null)
  })

  it('verifies a request signed by the origin\'s current key, fetched over HTTPS', async () => {
    const request = sendTo(nameB)
    const authorization = signRequest(request, ctxA.serverKeys.signingKey)
    assert.deepEqual(await ctxB.federation.auth.authenticate({ ...request, authorization }), { origin: nameA })
  })

  it('refuses a forged signature, and a signature over another body or target', async () => {
    const request = sendTo(nameB)
    const forger = signingKeyFromSeed(ctxA.serverKeys.signingKey.keyId, randomBytes(32))
    await refused(ctxB.federation.auth.authenticate({ ...request, authorization: signRequest(request, forger) }), /Invalid signature/)
    const authorization = signRequest(request, ctxA.serverKeys.signingKey)
    await refused(ctxB.federation.auth.authenticate({ ...request, content: { pdus: [{}], edus: [] }, authorization }), /Invalid signature/)
    await refused(ctxB.federation.auth.authenticate({ ...request, uri: '/_matrix/federation/v1/send/txn2', authorization }), /Invalid signature/)
  })

  it('refuses a request for another destination, even one validly signed', async () => {
    const request = sendTo('elsewhere.example')
    await refused(ctxB.federation.auth.authenticate({ ...request, authorization: signRequest(request, ctxA.serverKeys.signingKey) }), /destination/)
  })

  it('refuses a missing or malformed Authorization header', async () => {
    const request = sendTo(nameB)
    await refused(ctxB.federation.auth.authenticate({ ...request, authorization: undefined }), /Missing/)
    await refused(ctxB.federation.auth.authenticate({ ...request, authorization: 'X-Matrix origin="a"' }), /Malformed/)
    // An origin no server can have (a port that is not a number) is a bad request.
    await assert.rejects(
      ctxB.federation.auth.authenticate({ ...request, authorization: 'X-Matrix origin="localhost:http",destination="' + nameB + '",key="ed25519:1",sig="c2ln"' }),
      (err: unknown) => err instanceof MatrixError && err.errcode === 'M_INVALID_PARAM' && err.status === 400,
    )
  })
})
