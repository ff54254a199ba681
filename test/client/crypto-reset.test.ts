// Resetting one's cryptographic identity with matrix-js-sdk's Rust crypto, again and again: each
// bootstrapCrossSigning({ setupNewCrossSigning: true }) answered with the password must leave the client
// holding the new master key, the server answering /keys/query with the new keys and the device signed by
// the new self-signing key, and another device of the same user learning of the new identity from the
// device_lists.changed of its /sync.
//
// While the password is asked for, the client looks at its own keys (Element's DeviceListener does so
// on each sync): Rust crypto made the new keys before the upload that asked for the password, and drops
// them if that query answers the old ones. Each reset starts as soon as the previous one's checks pass,
// while queries started by that reset's device list changes may still be under way: a query of the
// device's own keys that reaches the server after its upload waits for it and answers the keys it
// proposed (test/http/cross-signing.test.ts shows that ordering deterministically). Only a query answered
// before the upload reaches the server, yet read by the client after it made its keys, is beyond any
// server (matrix-rust-sdk issue 4728).
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ClientEvent, type MatrixClient } from 'matrix-js-sdk'
import type { AuthDict } from 'matrix-js-sdk/lib/interactive-auth.js'
import { CrossSigningKey, CryptoEvent } from 'matrix-js-sdk/lib/crypto-api/index.js'
import { CS } from '../support/rooms.ts'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'
import { cryptoClient, cryptoOf, loginNewDevice, passwordAuth, startSyncing, stopClients, waitUntil, type Exchange, type Session } from '../support/sdk-crypto.ts'

const RESETS = 10

const t: TestServer = await startTestServer()
const alice = await registerUser(t.api)
const clients: MatrixClient[] = []

/** Events after which a client may know more of its own or another user's keys. */
const KEY_UPDATES = [CryptoEvent.DevicesUpdated, CryptoEvent.KeysChanged, CryptoEvent.UserTrustStatusChanged, ClientEvent.Sync]

async function device(session: Session, trace: Exchange[]): Promise<MatrixClient> {
  const client = await cryptoClient(t.url, session, (e) => trace.push(e))
  clients.push(client)
  await startSyncing(client)
  return client
}

const keyId = (key: { keys?: Record<string, string> } | undefined) => Object.values(key?.keys ?? {})[0]

/** The public cross-signing keys and device signatures the server gives for alice. */
async function serverKeys() {
  const res = await t.api.post(`${CS}/keys/query`, { device_keys: { [alice.user_id]: [] } }, alice.access_token)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return {
    master: keyId(res.body.master_keys[alice.user_id]),
    selfSigning: keyId(res.body.self_signing_keys[alice.user_id]),
    userSigning: keyId(res.body.user_signing_keys[alice.user_id]),
    deviceSignedBy: (deviceId: string) => Object.keys(res.body.device_keys[alice.user_id][deviceId]?.signatures?.[alice.user_id] ?? {}),
  }
}

/** Answers UIA with the password, after letting the client query its own keys while it is asked for. */
function passwordAfterOwnKeyCheck(client: MatrixClient, attempts: string[]) {
  const withPassword = passwordAuth(alice, attempts)
  return <T>(makeRequest: (auth: AuthDict | null) => Promise<T>): Promise<T> =>
    withPassword(async (auth) => {
      if (auth) await cryptoOf(client).userHasCrossSigningKeys()
      return makeRequest(auth)
    })
}

/** The exchanges of one client that matter to its own keys, one line each, for a failure message. */
function keyExchanges(trace: Exchange[], userId: string): string {
  const lines: string[] = []
  for (const e of trace) {
    const path = e.path.replace(/^\/_matrix\/client\/(v3|unstable)/, '')
    let what = ''
    if (path.startsWith('/keys/query')) {
      what = `master ${keyId(JSON.parse(e.response).master_keys?.[userId]) ?? '-'}`
    } else if (path.startsWith('/keys/device_signing/upload')) {
      const body = JSON.parse(e.request ?? '{}')
      what = `master ${keyId(body.master_key)} auth ${body.auth ? 'yes' : 'no'}`
    } else if (path.startsWith('/sync')) {
      const changed: string[] = JSON.parse(e.response).device_lists?.changed ?? []
      if (!changed.includes(userId)) continue
      what = 'device_lists.changed has the user'
    } else if (!path.startsWith('/keys/')) continue
    lines.push(`${e.sent.toFixed(0)}→${e.answered.toFixed(0)} ms ${e.method} ${path.split('?')[0]} ${e.status} ${what}`)
  }
  return lines.join('\n')
}

describe("resetting one's cryptographic identity with matrix-js-sdk Rust crypto", () => {
  after(() => stopClients(clients))

  it(`leaves the new identity in place at the client and the server, ${RESETS} times in a row, and another device learns of each`, async () => {
    const laptopTrace: Exchange[] = []
    const phoneTrace: Exchange[] = []
    const laptop = await device(alice, laptopTrace)
    const phoneSession = await loginNewDevice(t.url, alice, "Alice's phone")
    const phone = await device(phoneSession, phoneTrace)
    const crypto = cryptoOf(laptop)

    // Round 0 sets up the first identity (no password needed), rounds 1 to RESETS replace it.
    const outcomes: string[] = []
    for (let i = 0; i <= RESETS; i++) {
      const before = (await serverKeys()).master
      const traceStart = laptopTrace.length
      const phoneTraceStart = phoneTrace.length
      const attempts: string[] = []
      if (i === 0) {
        await crypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordAuth(alice, attempts) })
        assert.deepEqual(attempts, ['no auth: 200'], 'the first keys need no password')
      } else {
        await crypto.bootstrapCrossSigning({ setupNewCrossSigning: true, authUploadDeviceSigningKeys: passwordAfterOwnKeyCheck(laptop, attempts) })
        assert.deepEqual(attempts, ['no auth: 401 offering [["m.login.password"]]', 'm.login.password: 200'], `reset ${i}: replacing keys needs the password`)
      }

      const server = await serverKeys()
      assert.ok(server.master && server.master !== before, `reset ${i}: the server has a new master key`)
      // The client ends up either holding the new identity or having dropped its private keys, which
      // nothing brings back.
      const outcome = await waitUntil(laptop, KEY_UPDATES, async () => {
        if ((await crypto.getCrossSigningKeyId(CrossSigningKey.Master)) === server.master) return 'new identity'
        const status = await crypto.getCrossSigningStatus()
        return !status.privateKeysCachedLocally.masterKey && 'private keys dropped'
      }, `reset ${i}: the client to hold master key ${server.master}`)
      outcomes.push(outcome)
      assert.equal(outcome, 'new identity', `reset ${i}: the client lost its new identity after:\n${keyExchanges(laptopTrace.slice(traceStart), alice.user_id)}`)
      assert.equal(await crypto.getCrossSigningKeyId(CrossSigningKey.SelfSigning), server.selfSigning, `reset ${i}: self-signing key`)
      assert.equal(await crypto.getCrossSigningKeyId(CrossSigningKey.UserSigning), server.userSigning, `reset ${i}: user-signing key`)

      // The device is signed by the new self-signing key, at the server and as the client sees it.
      const signedAtServer = await waitUntil(laptop, KEY_UPDATES, async () => (await serverKeys()).deviceSignedBy(alice.device_id).includes(`ed25519:${server.selfSigning}`), `reset ${i}: the device's signature by the new self-signing key at the server`)
      assert.ok(signedAtServer)
      const status = await waitUntil(laptop, KEY_UPDATES, async () => {
        const s = await crypto.getDeviceVerificationStatus(alice.user_id, alice.device_id)
        return s?.crossSigningVerified && s
      }, `reset ${i}: the device cross-signing verified at the client`)
      assert.equal(status.signedByOwner, true)

      // The other device hears of the change in its /sync and queries the new keys.
      await waitUntil(phone, KEY_UPDATES, async () => keyId((await cryptoOf(phone).getUserCrossSigningKeys(alice.user_id))?.master_key) === server.master, `reset ${i}: the new master key at the phone`)
      const told = phoneTrace.slice(phoneTraceStart).some((e) => e.path.includes('/sync') && (JSON.parse(e.response).device_lists?.changed ?? []).includes(alice.user_id))
      assert.ok(told, `reset ${i}: the phone's /sync listed alice in device_lists.changed`)
    }
    assert.deepEqual(outcomes, Array(RESETS + 1).fill('new identity'))
  })
})
