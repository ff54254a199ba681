// Cross-signing over real HTTP: POST /keys/device_signing/upload (with re-authentication to replace keys)
// and POST /keys/signatures/upload, every signature checked, and what /keys/query shows to whom.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import { signJson } from '../../src/protocol/signing.ts'
import { startTestServer, type TestServer } from '../support/server.ts'
import { assertError } from '../support/rooms.ts'
import { crossSigningKeys, loginAgain, userWithKeys, type Json } from '../support/e2ee.ts'
import { waitFor } from '../support/cli.ts'

const t: TestServer = await startTestServer()
const PASSWORD = 'correct horse battery staple'
const passwordAuth = (userId: string, session?: string) => ({
  type: 'm.login.password',
  identifier: { type: 'm.id.user', user: userId },
  password: PASSWORD,
  ...(session ? { session } : {}),
})

const query = async (viewer: { post(p: string, b: unknown): Promise<{ body: any }> }, userId: string) =>
  (await viewer.post('/keys/query', { device_keys: { [userId]: [] } })).body

describe('POST /keys/device_signing/upload', () => {
  it('publishes the first keys without re-authentication; others see master and self-signing keys, only the owner the user-signing key', async () => {
    const alice = await userWithKeys(t.api)
    const bob = await userWithKeys(t.api)
    const keys = crossSigningKeys(alice.client.userId)
    const res = await alice.client.post('/keys/device_signing/upload', keys.body)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const seenByBob = await query(bob.client, alice.client.userId)
    assert.deepEqual(seenByBob.master_keys[alice.client.userId], keys.body.master_key)
    assert.deepEqual(seenByBob.self_signing_keys[alice.client.userId], keys.body.self_signing_key)
    assert.deepEqual(seenByBob.user_signing_keys, {})
    const seenByAlice = await query(alice.client, alice.client.userId)
    assert.deepEqual(seenByAlice.user_signing_keys[alice.client.userId], keys.body.user_signing_key)
  })

  it('accepts the same keys again without re-authentication, and asks for it to replace them', async () => {
    const alice = await userWithKeys(t.api)
    const keys = crossSigningKeys(alice.client.userId)
    assert.equal((await alice.client.post('/keys/device_signing/upload', keys.body)).status, 200)
    assert.equal((await alice.client.post('/keys/device_signing/upload', keys.body)).status, 200, 'an identical upload is idempotent')

    const replacement = crossSigningKeys(alice.client.userId)
    const challenge = await alice.client.post('/keys/device_signing/upload', replacement.body)
    assert.equal(challenge.status, 401, JSON.stringify(challenge.body))
    assert.ok(challenge.body.session)
    assert.deepEqual(challenge.body.flows, [{ stages: ['m.login.password'] }])
    const phone = await loginAgain(t.api, alice.client)
    assert.deepEqual((await query(phone, alice.client.userId)).master_keys[alice.client.userId], keys.body.master_key, 'nothing replaced yet')

    const wrong = await alice.client.post('/keys/device_signing/upload', { ...replacement.body, auth: { ...passwordAuth(alice.client.userId, challenge.body.session), password: 'wrong' } })
    assert.equal(wrong.status, 401)
    assert.equal(wrong.body.errcode, 'M_FORBIDDEN')
    const done = await alice.client.post('/keys/device_signing/upload', { ...replacement.body, auth: passwordAuth(alice.client.userId, challenge.body.session) })
    assert.equal(done.status, 200, JSON.stringify(done.body))
    assert.deepEqual((await query(alice.client, alice.client.userId)).master_keys[alice.client.userId], replacement.body.master_key)
  })

  it('shows the device whose replacement awaits the password its proposed keys, no one else, and only while they would replace the keys in force', async () => {
    const alice = await userWithKeys(t.api)
    const bob = await userWithKeys(t.api)
    const phone = await loginAgain(t.api, alice.client)
    const user = alice.client.userId
    const first = crossSigningKeys(user)
    assert.equal((await alice.client.post('/keys/device_signing/upload', first.body)).status, 200)

    // A client makes its new keys before the upload that asks for the password; its own queries meanwhile
    // must not answer the old ones (Rust crypto would drop the new private keys).
    const proposed = crossSigningKeys(user)
    const challenge = await alice.client.post('/keys/device_signing/upload', proposed.body)
    assert.equal(challenge.status, 401, JSON.stringify(challenge.body))
    const own = await query(alice.client, user)
    assert.deepEqual(own.master_keys[user], proposed.body.master_key)
    assert.deepEqual(own.self_signing_keys[user], proposed.body.self_signing_key)
    assert.deepEqual(own.user_signing_keys[user], proposed.body.user_signing_key)
    assert.deepEqual((await query(phone, user)).master_keys[user], first.body.master_key, "the user's other devices see the keys in force")
    assert.deepEqual((await query(bob.client, user)).master_keys[user], first.body.master_key, 'so does everyone else')
    const wrong = await alice.client.post('/keys/device_signing/upload', { ...proposed.body, auth: { ...passwordAuth(user, challenge.body.session), password: 'wrong' } })
    assert.equal(wrong.status, 401)
    assert.deepEqual((await query(alice.client, user)).master_keys[user], proposed.body.master_key, 'still awaiting the password')

    // Another device replaces the keys first: the proposal would no longer replace what is in force.
    const fromPhone = crossSigningKeys(user)
    const phoneChallenge = await phone.post('/keys/device_signing/upload', fromPhone.body)
    assert.equal((await phone.post('/keys/device_signing/upload', { ...fromPhone.body, auth: passwordAuth(user, phoneChallenge.body.session) })).status, 200)
    assert.deepEqual((await query(alice.client, user)).master_keys[user], fromPhone.body.master_key)

    const again = crossSigningKeys(user)
    const againChallenge = await alice.client.post('/keys/device_signing/upload', again.body)
    assert.deepEqual((await query(alice.client, user)).master_keys[user], again.body.master_key)
    assert.equal((await alice.client.post('/keys/device_signing/upload', { ...again.body, auth: passwordAuth(user, againChallenge.body.session) })).status, 200)
    assert.deepEqual((await query(phone, user)).master_keys[user], again.body.master_key, 'in force once the password was given')
    assert.deepEqual((await query(alice.client, user)).master_keys[user], again.body.master_key)
  })

  it("makes the device's own query that reaches the server during its replacement upload wait for that upload, and answer the keys it proposed", async () => {
    // The client made the keys before sending them: a query of its own keys sent after the upload, even
    // on another connection, must not answer the old ones (Rust crypto would drop the new private keys).
    const alice = await userWithKeys(t.api)
    const user = alice.client.userId
    const first = crossSigningKeys(user)
    assert.equal((await alice.client.post('/keys/device_signing/upload', first.body)).status, 200)
    // Another connection holds the UIA sessions table, so that the upload stops while it opens its session.
    const holder = new pg.Client({ connectionString: t.database.url })
    await holder.connect()
    try {
      await holder.query('BEGIN')
      await holder.query('LOCK TABLE uia_sessions IN EXCLUSIVE MODE')
      // A lock of this test's database that a server connection waits for.
      const waiting = async (locktype: string) =>
        (await holder.query(
          `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database AND d.datname = current_database()
            WHERE NOT l.granted AND l.locktype = $1`,
          [locktype],
        )).rows[0].n > 0
      const proposed = crossSigningKeys(user)
      const upload = alice.client.post('/keys/device_signing/upload', proposed.body)
      await waitFor(() => waiting('relation'), 30_000, () => 'the upload to wait for the sessions table')
      let answered = false
      const own = query(alice.client, user).finally(() => (answered = true))
      await waitFor(async () => answered || (await waiting('advisory')), 30_000, () => 'the query to be answered or to wait for the upload')
      await holder.query('COMMIT')
      assert.equal((await upload).status, 401)
      assert.deepEqual((await own).master_keys[user], proposed.body.master_key, 'the query waited for the upload that reached the server first')
    } finally {
      await holder.end()
    }
  })

  it('refuses keys not signed by the master key, keys of another user, and a self-signing key with no master key', async () => {
    const alice = await userWithKeys(t.api)
    const keys = crossSigningKeys(alice.client.userId)
    const other = crossSigningKeys(alice.client.userId)
    const badlySigned = { master_key: keys.body.master_key, self_signing_key: other.body.self_signing_key }
    assertError(await alice.client.post('/keys/device_signing/upload', badlySigned), 400, 'M_INVALID_SIGNATURE')
    const foreign = crossSigningKeys('@someone:elsewhere.example')
    assertError(await alice.client.post('/keys/device_signing/upload', { master_key: foreign.body.master_key }), 400, 'M_INVALID_PARAM')
    assertError(await alice.client.post('/keys/device_signing/upload', { self_signing_key: keys.body.self_signing_key }), 400, 'M_MISSING_PARAM')
    assertError(await alice.client.post('/keys/device_signing/upload', { master_key: { ...keys.body.master_key, usage: ['self_signing'] } }), 400, 'M_BAD_JSON')
    assertError(await alice.client.post('/keys/device_signing/upload', {}), 400, 'M_MISSING_PARAM')
    assert.deepEqual((await query(alice.client, alice.client.userId)).master_keys, {}, 'nothing was stored')
  })
})

describe('POST /keys/signatures/upload', () => {
  it("stores a valid self-signing signature over the user's own device, shown to everyone", async () => {
    const alice = await userWithKeys(t.api)
    const bob = await userWithKeys(t.api)
    const keys = crossSigningKeys(alice.client.userId)
    await alice.client.post('/keys/device_signing/upload', keys.body)
    const signed = signJson(alice.device.deviceKeys(), alice.client.userId, keys.selfSigning)
    const res = await alice.client.post('/keys/signatures/upload', { [alice.client.userId]: { [alice.client.deviceId]: signed } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body, { failures: {} })
    const device = (await query(bob.client, alice.client.userId)).device_keys[alice.client.userId][alice.client.deviceId]
    assert.equal(device.signatures[alice.client.userId][keys.selfSigning.keyId], signed.signatures[alice.client.userId]?.[keys.selfSigning.keyId])
    assert.ok(device.signatures[alice.client.userId][`ed25519:${alice.client.deviceId}`], "the device's own signature stays")
  })

  it("stores a device's signature over its user's master key", async () => {
    const alice = await userWithKeys(t.api)
    const keys = crossSigningKeys(alice.client.userId)
    await alice.client.post('/keys/device_signing/upload', keys.body)
    const signed = alice.device.sign(keys.body.master_key)
    const res = await alice.client.post('/keys/signatures/upload', { [alice.client.userId]: { [keys.master.publicKeyBase64]: signed } })
    assert.deepEqual(res.body, { failures: {} })
    const master = (await query(alice.client, alice.client.userId)).master_keys[alice.client.userId]
    assert.ok(master.signatures[alice.client.userId][`ed25519:${alice.client.deviceId}`])
  })

  it("shows a user-signing signature over another user's master key only to the signer", async () => {
    const alice = await userWithKeys(t.api)
    const bob = await userWithKeys(t.api)
    const carol = await userWithKeys(t.api)
    const aliceKeys = crossSigningKeys(alice.client.userId)
    const bobKeys = crossSigningKeys(bob.client.userId)
    await alice.client.post('/keys/device_signing/upload', aliceKeys.body)
    await bob.client.post('/keys/device_signing/upload', bobKeys.body)
    const signed = signJson(aliceKeys.body.master_key, bob.client.userId, bobKeys.userSigning)
    const res = await bob.client.post('/keys/signatures/upload', { [alice.client.userId]: { [aliceKeys.master.publicKeyBase64]: signed } })
    assert.deepEqual(res.body, { failures: {} })
    const byBob = (await query(bob.client, alice.client.userId)).master_keys[alice.client.userId]
    assert.ok(byBob.signatures[bob.client.userId]?.[bobKeys.userSigning.keyId], JSON.stringify(byBob))
    const byCarol = (await query(carol.client, alice.client.userId)).master_keys[alice.client.userId]
    assert.equal(byCarol.signatures?.[bob.client.userId], undefined)
  })

  it('reports bad signatures, mismatched objects and unknown keys as failures, storing none of them', async () => {
    const alice = await userWithKeys(t.api)
    const bob = await userWithKeys(t.api)
    const keys = crossSigningKeys(alice.client.userId)
    await alice.client.post('/keys/device_signing/upload', keys.body)
    const impostor = crossSigningKeys(alice.client.userId)
    const badSignature = signJson(alice.device.deviceKeys(), alice.client.userId, { ...impostor.selfSigning, keyId: keys.selfSigning.keyId })
    const mismatched = signJson({ ...alice.device.deviceKeys(), algorithms: ['x'] }, alice.client.userId, keys.selfSigning)
    const res = await alice.client.post('/keys/signatures/upload', {
      [alice.client.userId]: { [alice.client.deviceId]: badSignature, NOSUCHDEVICE: mismatched },
      [bob.client.userId]: { [bob.client.deviceId]: bob.device.deviceKeys() },
    })
    assert.equal(res.status, 200)
    const failures: Record<string, Record<string, Json>> = res.body.failures
    assert.equal(failures[alice.client.userId]?.[alice.client.deviceId]?.errcode, 'M_INVALID_SIGNATURE')
    assert.equal(failures[alice.client.userId]?.NOSUCHDEVICE?.errcode, 'M_NOT_FOUND')
    assert.equal(failures[bob.client.userId]?.[bob.client.deviceId]?.errcode, 'M_NOT_FOUND', "another user's device cannot be signed")
    const device = (await query(bob.client, alice.client.userId)).device_keys[alice.client.userId][alice.client.deviceId]
    assert.equal(device.signatures[alice.client.userId][keys.selfSigning.keyId], undefined)

    const mismatch = await alice.client.post('/keys/signatures/upload', { [alice.client.userId]: { [alice.client.deviceId]: mismatched } })
    assert.equal(mismatch.body.failures[alice.client.userId][alice.client.deviceId].errcode, 'M_INVALID_PARAM')
    assertError(await alice.client.post('/keys/signatures/upload', { 'not-a-user': {} }), 400, 'M_INVALID_PARAM')
  })

  it("tells room-mates' clients through device_lists when signatures change", async () => {
    const alice = await userWithKeys(t.api)
    const bob = await userWithKeys(t.api)
    const roomId = await alice.client.createRoom({ preset: 'public_chat' })
    await bob.client.join(roomId)
    const keys = crossSigningKeys(alice.client.userId)
    await alice.client.post('/keys/device_signing/upload', keys.body)
    const since = (await bob.client.sync()).next_batch
    const signed = signJson(alice.device.deviceKeys(), alice.client.userId, keys.selfSigning)
    await alice.client.post('/keys/signatures/upload', { [alice.client.userId]: { [alice.client.deviceId]: signed } })
    assert.deepEqual((await bob.client.sync({ since, timeout: 0 })).device_lists.changed, [alice.client.userId])
  })
})

describe('secret storage (account data)', () => {
  it('keeps the key description, the default key and the encrypted secrets, and syncs them to the other devices', async () => {
    const alice = await userWithKeys(t.api)
    const keyId = 'abcdefgh'
    const entries: Record<string, Json> = {
      [`m.secret_storage.key.${keyId}`]: { algorithm: 'm.secret_storage.v1.aes-hmac-sha2', iv: 'aXZ2YWx1ZQ', mac: 'bWFjdmFsdWU' },
      'm.secret_storage.default_key': { key: keyId },
      'm.cross_signing.master': { encrypted: { [keyId]: { iv: 'aXY', ciphertext: 'Y2lwaGVy', mac: 'bWFj' } } },
      'm.megolm_backup.v1': { encrypted: { [keyId]: { iv: 'aXY', ciphertext: 'YmFja3Vw', mac: 'bWFj' } } },
    }
    const path = (type: string) => `/user/${encodeURIComponent(alice.client.userId)}/account_data/${type}`
    for (const [type, content] of Object.entries(entries)) assert.equal((await alice.client.put(path(type), content)).status, 200)
    for (const [type, content] of Object.entries(entries)) assert.deepEqual((await alice.client.get(path(type))).body, content)
    const laptop = await loginAgain(t.api, alice.client)
    const synced: Array<{ type: string; content: Json }> = (await laptop.sync()).account_data.events
    for (const [type, content] of Object.entries(entries)) assert.deepEqual(synced.find((e) => e.type === type)?.content, content, type)
  })
})
