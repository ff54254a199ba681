// The proof of E2EE across servers: matrix-js-sdk clients with the SDK's Rust crypto (matrix-sdk-crypto,
// WASM), Alice on one Homestead and Bob on another, in an encrypted room. Each client learns the other's
// devices from its own server (remote key queries and claims over federation), the Megolm room keys travel
// as to-device messages over federation (m.direct_to_device), and each decrypts the other's message.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ClientEvent, EventType, type MatrixClient } from 'matrix-js-sdk'
import { eventually, federatedServers, type FederatedServer } from '../support/federation-rig.ts'
import { CS, enc } from '../support/rooms.ts'
import { registerUser } from '../support/server.ts'
import { cryptoClient, cryptoOf, decryption, startSyncing, stopClients, timelineEvent, waitUntil, type Session } from '../support/sdk-crypto.ts'

const { servers } = await federatedServers(2)
const [a, b] = servers as [FederatedServer, FederatedServer]

const alice = await registerUser(a.api)
const bob = await registerUser(b.api)
const clients: MatrixClient[] = []

async function device(server: FederatedServer, session: Session): Promise<MatrixClient> {
  const client = await cryptoClient(server.api.baseUrl, session)
  clients.push(client)
  await startSyncing(client)
  return client
}

/** Sends `text` and checks that the sender's server stored only ciphertext. */
async function sendEncrypted(server: FederatedServer, client: MatrixClient, roomId: string, text: string): Promise<string> {
  const eventId = (await client.sendTextMessage(roomId, text)).event_id
  const stored = await server.api.get(`${CS}/rooms/${enc(roomId)}/event/${enc(eventId)}`, client.getAccessToken())
  assert.equal(stored.status, 200, JSON.stringify(stored.body))
  assert.equal(stored.body.type, EventType.RoomMessageEncrypted)
  assert.ok(!JSON.stringify(stored.body).includes(text), 'no plaintext on the server')
  return eventId
}

async function receivedText(client: MatrixClient, roomId: string, eventId: string): Promise<string> {
  const event = await decryption(client, await timelineEvent(client, roomId, eventId))
  assert.equal(event.getWireType(), EventType.RoomMessageEncrypted)
  return event.getContent().body
}

describe('an encrypted room across two servers, Rust crypto on both sides', () => {
  after(() => stopClients(clients))

  it('each user decrypts the message the other sent from their own server', async () => {
    const aliceClient = await device(a, alice)
    const bobClient = await device(b, bob)
    const roomId = (
      await aliceClient.createRoom({
        preset: 'public_chat' as never,
        initial_state: [{ type: EventType.RoomEncryption, state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
      })
    ).room_id
    await bobClient.joinRoom(roomId, { viaServers: [a.name] })
    await eventually('both members on A', async () => Object.keys((await a.api.get(`${CS}/rooms/${enc(roomId)}/joined_members`, alice.access_token)).body.joined ?? {}).length, (n) => n === 2)
    await waitUntil(aliceClient, [ClientEvent.Sync], () => aliceClient.getRoom(roomId)?.getJoinedMemberCount() === 2, "Bob's join at Alice's client")
    await waitUntil(bobClient, [ClientEvent.Sync], () => bobClient.getRoom(roomId)?.getJoinedMemberCount() === 2, 'both members at Bob\'s client')
    assert.equal(await cryptoOf(bobClient).isEncryptionEnabledInRoom(roomId), true)

    const fromAlice = await sendEncrypted(a, aliceClient, roomId, 'Meet me at the old mill 🌾')
    assert.equal(await receivedText(bobClient, roomId, fromAlice), 'Meet me at the old mill 🌾')

    const fromBob = await sendEncrypted(b, bobClient, roomId, 'Bring the map')
    assert.equal(await receivedText(aliceClient, roomId, fromBob), 'Bring the map')
  })
})
