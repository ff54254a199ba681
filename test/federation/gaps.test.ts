// A received event whose predecessors this server lacks: A sends a server that was down only the newest event
// of the room (catch_up_max_events: 1), and B fetches what it missed before it (get_missing_events), so B's
// users see every message in order. When more were missed than one get_missing_events answer holds, B takes
// the state at the gap behind the oldest fetched event from A (/state_ids at its prev event), and the rest
// comes back by backfill when B's users page back.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { federatedServers, type FederatedServer } from '../support/federation-rig.ts'
import { RoomClient, enc } from '../support/rooms.ts'

const { servers } = await federatedServers(2, {
  'federation.sender.catch_up_max_events': 1,
  'federation.sender.backoff_base_ms': 200,
  'federation.sender.backoff_max_ms': 1000,
})
const [a, b] = servers as [FederatedServer, FederatedServer]
const alice = await RoomClient.register(a.api)
let bob = await RoomClient.register(b.api)

async function bodies(client: RoomClient, roomId: string): Promise<string[]> {
  const res = await client.messages(roomId, { dir: 'b', limit: 50 })
  return res.chunk.filter((e) => e.type === 'm.room.message').reverse().map((e) => (e.content as { body: string }).body)
}

describe('events received after a gap', () => {
  it('fetch the missing events before them, so nothing is lost or out of order', async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    assert.equal((await bob.post(`/join/${enc(roomId)}?via=${enc(a.name)}`, {})).status, 200)
    await alice.send(roomId, { msgtype: 'm.text', body: 'before' })
    const deadline = () => Date.now() + 20_000
    for (const end = deadline(); (await bodies(bob, roomId)).length < 1 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100))
    await b.stop()
    for (const body of ['m1', 'm2', 'm3', 'm4']) await alice.send(roomId, { msgtype: 'm.text', body })
    await b.restart()
    bob = bob.on(b.api)
    let got: string[] = []
    for (const end = deadline(); Date.now() < end; ) {
      got = await bodies(bob, roomId).catch(() => [])
      if (got.length === 5) break
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.deepEqual(got, ['before', 'm1', 'm2', 'm3', 'm4'])
    // B got m4 alone and asked A for what came before it.
    assert.ok(a.front.requests.some((r) => r.startsWith(`POST /_matrix/federation/v1/get_missing_events/${enc(roomId)}`)), 'B asked for the missing events')
  })

  it('take the state at the gap behind more missed events than one answer holds, and backfill the rest', async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    assert.equal((await bob.post(`/join/${enc(roomId)}?via=${enc(a.name)}`, {})).status, 200)
    await alice.send(roomId, { msgtype: 'm.text', body: 'before' })
    for (const end = Date.now() + 20_000; (await bodies(bob, roomId)).length < 1 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100))
    await b.stop()
    const missed = Array.from({ length: 30 }, (_, i) => `gap ${i}`)
    for (const body of missed) await alice.send(roomId, { msgtype: 'm.text', body })
    await b.restart()
    bob = bob.on(b.api)
    let got: string[] = []
    for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
      got = await bodies(bob, roomId).catch(() => [])
      if (got.length === 31) break
    }
    assert.deepEqual(got, ['before', ...missed])
    assert.ok(a.front.requests.some((r) => r.startsWith(`GET /_matrix/federation/v1/state_ids/${enc(roomId)}`)), 'B asked for the state at the gap')
    assert.ok(a.front.requests.some((r) => r.startsWith(`GET /_matrix/federation/v1/backfill/${enc(roomId)}`)), 'B backfilled the gap')
  })
})
