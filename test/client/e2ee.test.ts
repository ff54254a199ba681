// End-to-end encryption with real crypto: matrix-js-sdk clients running the SDK's Rust crypto
// (matrix-sdk-crypto, WASM) against a real Homestead. Olm sessions from claimed one-time keys carry Megolm
// room keys as to-device messages; device-list changes in /sync make a sender encrypt for a new device;
// cross-signing keys are uploaded and seen by another user; a server-side key backup lets a new device
// decrypt history.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ClientEvent, EventType, RoomEvent, type MatrixClient, type MatrixEvent } from 'matrix-js-sdk'
import { CrossSigningKey, CryptoEvent } from 'matrix-js-sdk/lib/crypto-api/index.js'
import { RustBackupManager } from 'matrix-js-sdk/lib/rust-crypto/backup.js'
import { CS, enc } from '../support/rooms.ts'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'
import {
  cryptoClient,
  cryptoOf,
  decryption,
  decryptionFailure,
  loginNewDevice,
  passwordAuth,
  startSyncing,
  stopClients,
  timelineEvent,
  waitUntil,
  type Session,
} from '../support/sdk-crypto.ts'

const t: TestServer = await startTestServer()

// The backup loop waits a random 0–10 s before uploading, to spread clients out; one client needs no wait.
;(RustBackupManager as unknown as { maxBackupLoopStartDelayMillis: number }).maxBackupLoopStartDelayMillis = 0

const alice = await registerUser(t.api)
const bob = await registerUser(t.api)
const clients: MatrixClient[] = []

/** A started client with Rust crypto for this session. */
async function device(session: Session, initialSyncLimit?: number): Promise<MatrixClient> {
  const client = await cryptoClient(t.url, session)
  clients.push(client)
  await startSyncing(client, initialSyncLimit)
  return client
}

/** Sends `text` and checks that the server stored only ciphertext. */
async function sendEncrypted(client: MatrixClient, roomId: string, text: string): Promise<string> {
  const eventId = (await client.sendTextMessage(roomId, text)).event_id
  const stored = await t.api.get(`${CS}/rooms/${enc(roomId)}/event/${enc(eventId)}`, client.getAccessToken())
  assert.equal(stored.status, 200, JSON.stringify(stored.body))
  assert.equal(stored.body.type, EventType.RoomMessageEncrypted, 'the server holds an m.room.encrypted event')
  assert.equal(stored.body.content.algorithm, 'm.megolm.v1.aes-sha2')
  assert.ok(!JSON.stringify(stored.body).includes(text), 'no plaintext on the server')
  return eventId
}

/** Waits until `client` has the event and decrypted it, and returns the plaintext body. */
async function receivedText(client: MatrixClient, roomId: string, eventId: string): Promise<string> {
  const event = await decryption(client, await timelineEvent(client, roomId, eventId))
  assert.equal(event.getWireType(), EventType.RoomMessageEncrypted)
  assert.equal(event.getType(), EventType.RoomMessage)
  return event.getContent().body
}

/** Events after which a client may know more of another user's keys. */
const KEY_UPDATES = [CryptoEvent.DevicesUpdated, CryptoEvent.KeysChanged, CryptoEvent.UserTrustStatusChanged, ClientEvent.Sync]

/** Waits until `observer` has `userId`'s master key `keyId` from a key query. */
function masterKeyAt(observer: MatrixClient, userId: string, keyId: string): Promise<true> {
  const what = `${userId}'s master key ${keyId} at ${observer.getDeviceId()}`
  return waitUntil(observer, KEY_UPDATES, async () => {
    const keys = await cryptoOf(observer).getUserCrossSigningKeys(userId)
    return Object.values(keys?.master_key?.keys ?? {}).includes(keyId)
  }, what)
}

/** Waits until `observer` sees the device signed by its owner's self-signing key. */
function signedDevice(observer: MatrixClient, userId: string, deviceId: string) {
  return waitUntil(observer, KEY_UPDATES, async () => {
    const status = await cryptoOf(observer).getDeviceVerificationStatus(userId, deviceId)
    return status?.signedByOwner && status
  }, `${userId}'s device ${deviceId} signed by its owner at ${observer.getDeviceId()}`)
}

/**
 * Waits until `client` has no query of its user's own keys outstanding: a message from `other` reaches it
 * through /sync after every earlier device_lists change (the SDK hands a sync's device lists to the crypto
 * before its room events), and getUserDeviceInfo waits for a pending query of the user it asks about.
 */
async function ownKeysSettled(client: MatrixClient, other: MatrixClient, roomId: string): Promise<void> {
  const marker = (await other.sendTextMessage(roomId, 'are your keys settled?')).event_id
  await timelineEvent(client, roomId, marker)
  await cryptoOf(client).getUserDeviceInfo([client.getUserId() as string])
}

describe('end-to-end encryption with matrix-js-sdk Rust crypto', () => {
  let aliceClient: MatrixClient
  let bobClient: MatrixClient
  let roomId = ''
  let firstMessage = ''
  // Inside the suite, so it runs before the file's hook closes the server.
  after(() => stopClients(clients))

  it('carries Megolm-encrypted messages both ways in an encrypted room, each decrypted to the exact plaintext', async () => {
    aliceClient = await device(alice)
    bobClient = await device(bob)
    roomId = (
      await aliceClient.createRoom({
        name: 'Secret plans',
        invite: [bob.user_id],
        initial_state: [{ type: EventType.RoomEncryption, state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
      })
    ).room_id
    await waitUntil(bobClient, [ClientEvent.Room, RoomEvent.MyMembership], () => bobClient.getRoom(roomId)?.getMyMembership() === 'invite', 'the invite at bob')
    await bobClient.joinRoom(roomId)
    await waitUntil(aliceClient, [ClientEvent.Sync], () => aliceClient.getRoom(roomId)?.getJoinedMemberCount() === 2, "bob's join at alice")
    assert.equal(await cryptoOf(aliceClient).isEncryptionEnabledInRoom(roomId), true)

    firstMessage = await sendEncrypted(aliceClient, roomId, 'The cake is in the oven 🎂')
    assert.equal(await receivedText(bobClient, roomId, firstMessage), 'The cake is in the oven 🎂')

    const reply = await sendEncrypted(bobClient, roomId, 'Say nothing to Carol')
    assert.equal(await receivedText(aliceClient, roomId, reply), 'Say nothing to Carol')
  })

  it("encrypts for a device the recipient logs in later, learnt from device_lists in the sender's /sync", async () => {
    const bobPhoneSession = await loginNewDevice(t.url, bob, "Bob's phone")
    const bobPhone = await device(bobPhoneSession)
    // Alice's client must hear of the new device by itself: the server lists bob in her device_lists.changed
    // and her client queries his keys again.
    await waitUntil(
      aliceClient,
      KEY_UPDATES,
      async () => (await cryptoOf(aliceClient).getUserDeviceInfo([bob.user_id])).get(bob.user_id)?.has(bobPhoneSession.device_id),
      "bob's new device in alice's device list",
    )
    const message = await sendEncrypted(aliceClient, roomId, 'Welcome, new phone')
    assert.equal(await receivedText(bobPhone, roomId, message), 'Welcome, new phone')
    assert.equal(await receivedText(bobClient, roomId, message), 'Welcome, new phone', "bob's first device too")
  })

  it("bootstraps cross-signing: alice's device is signed by her master key, which bob then sees", async () => {
    const aliceCrypto = cryptoOf(aliceClient)
    const attempts: string[] = []
    await aliceCrypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordAuth(alice, attempts) })
    assert.deepEqual(attempts, ['no auth: 200'], 'the first upload of cross-signing keys needs no auth')

    assert.equal(await aliceCrypto.isCrossSigningReady(), true)
    const status = await aliceCrypto.getCrossSigningStatus()
    assert.deepEqual(status.privateKeysCachedLocally, { masterKey: true, selfSigningKey: true, userSigningKey: true })
    assert.equal(status.publicKeysOnDevice, true)
    // Her client sees its own device signed once it has queried her keys again after the signature upload.
    const own = await signedDevice(aliceClient, alice.user_id, alice.device_id)
    assert.equal(own.crossSigningVerified, true)
    assert.equal((await aliceCrypto.getUserVerificationStatus(alice.user_id)).isCrossSigningVerified(), true)

    const masterKey = await aliceCrypto.getCrossSigningKeyId(CrossSigningKey.Master)
    assert.ok(masterKey, 'alice has a master key')
    // Bob's client learns of the keys, and then of the signature (a separate upload), through
    // device_lists.changed and key queries.
    await masterKeyAt(bobClient, alice.user_id, masterKey)
    assert.equal(await cryptoOf(bobClient).userHasCrossSigningKeys(alice.user_id), true)
    await signedDevice(bobClient, alice.user_id, alice.device_id)
  })

  it('replaces the cross-signing keys only with the password (UIA), and bob then sees the new master key', async () => {
    // A query of her own keys answered between the new keys' creation and their upload (which waits for the
    // password) would show the old identity, and Rust crypto then drops the new private keys as not matching;
    // so first let the queries that bootstrapping caused finish.
    await ownKeysSettled(aliceClient, bobClient, roomId)
    const aliceCrypto = cryptoOf(aliceClient)
    const before = await aliceCrypto.getCrossSigningKeyId(CrossSigningKey.Master)
    const attempts: string[] = []
    await aliceCrypto.bootstrapCrossSigning({ setupNewCrossSigning: true, authUploadDeviceSigningKeys: passwordAuth(alice, attempts) })
    assert.deepEqual(attempts, ['no auth: 401 offering [["m.login.password"]]', 'm.login.password: 200'])
    // Her client trusts the new identity once its key query returns the new public keys.
    const replacement = await waitUntil(aliceClient, KEY_UPDATES, async () => {
      const id = await aliceCrypto.getCrossSigningKeyId(CrossSigningKey.Master)
      return id !== before && id
    }, "alice's new master key at alice")
    await masterKeyAt(bobClient, alice.user_id, replacement)
    await signedDevice(bobClient, alice.user_id, alice.device_id)
  })

  it("backs up room keys on the server, from which a new device of alice's restores them and decrypts history", async () => {
    const aliceCrypto = cryptoOf(aliceClient)
    await aliceCrypto.resetKeyBackup()
    const version = await aliceCrypto.getActiveSessionBackupVersion()
    assert.ok(version, 'the backup is active')
    const sessionId = (await t.api.get(`${CS}/rooms/${enc(roomId)}/event/${enc(firstMessage)}`, alice.access_token)).body.content.session_id
    // The backup loop uploads every room key alice has, the session of her first message among them.
    const backedUp = await waitUntil(
      aliceClient,
      [CryptoEvent.KeyBackupSessionsRemaining, ClientEvent.Sync],
      async () => {
        const res = await t.api.get(`${CS}/room_keys/keys/${enc(roomId)}/${enc(sessionId)}?version=${enc(version)}`, alice.access_token)
        return res.status === 200 && res.body
      },
      'the session of the first message in the backup',
    )
    assert.deepEqual(Object.keys(backedUp.session_data).sort(), ['ciphertext', 'ephemeral', 'mac'], 'the key is stored encrypted to the backup key')
    const backupKey = await aliceCrypto.getSessionBackupPrivateKey()
    assert.ok(backupKey, 'alice holds the backup decryption key')

    const laptopSession = await loginNewDevice(t.url, alice, "Alice's laptop")
    const laptop = await device(laptopSession, 1)
    const room = laptop.getRoom(roomId)
    assert.ok(room, 'the room is in the first sync of the new device')
    // Back through the history to the first message, sent before this device existed.
    let old: MatrixEvent | undefined
    while (!(old = room.findEventById(firstMessage))) {
      assert.ok(await laptop.paginateEventTimeline(room.getLiveTimeline(), { backwards: true, limit: 5 }), 'history ended before the first message')
    }
    await decryptionFailure(laptop, old)

    await cryptoOf(laptop).storeSessionBackupPrivateKey(backupKey, version)
    const restored = await cryptoOf(laptop).restoreKeyBackup()
    assert.ok(restored.imported >= 1, `keys imported from the backup: ${JSON.stringify(restored)}`)
    await decryption(laptop, old)
    assert.equal(old.getContent().body, 'The cake is in the oven 🎂')
  })
})
