// Messages between three Homesteads over HTTPS with a test CA, end to end: A hosts a room, B's and C's users join
// it through A (send_join; A relays C's join to B), then each server's local messages reach the other two through
// its outbound sender (the durable queue) and their PUT /send, and every user reads them in /sync.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { federatedServers } from '../support/federation-rig.ts'
import { RoomClient, enc } from '../support/rooms.ts'

const { servers } = await federatedServers(3)
const [a, b, c] = servers as [(typeof servers)[0], (typeof servers)[0], (typeof servers)[0]]
const alice = await RoomClient.register(a.api)
const bob = await RoomClient.register(b.api)
const carol = await RoomClient.register(c.api)

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The bodies of the room's messages as `client`'s server has them, oldest first. */
async function bodies(client: RoomClient, roomId: string): Promise<string[]> {
  const page = await client.messages(roomId, { dir: 'b', limit: 100 })
  return page.chunk.filter((e) => e.type === 'm.room.message').map((e) => String(e.content.body)).reverse()
}

describe('messages across servers', () => {
  it("delivers each server's local messages to the other two, in order", async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    for (const [client, via] of [[bob, a.name], [carol, a.name]] as const) {
      const res = await client.post(`/join/${enc(roomId)}?via=${enc(via)}`, {})
      assert.equal(res.status, 200, JSON.stringify(res.body))
    }
    // B hears of C's join from A (relayed: it came through A's send_join).
    await until("B has C's join", async () => (await bob.getState(roomId, 'm.room.member', carol.userId).catch((): Record<string, any> => ({}))).membership === 'join')

    await alice.send(roomId, 'from A 1')
    await alice.send(roomId, 'from A 2')
    await until('B and C have A\'s messages', async () => (await bodies(bob, roomId)).length >= 2 && (await bodies(carol, roomId)).length >= 2)
    assert.deepEqual(await bodies(bob, roomId), ['from A 1', 'from A 2'])
    assert.deepEqual(await bodies(carol, roomId), ['from A 1', 'from A 2'])

    await bob.send(roomId, 'from B')
    await until("A and C have B's message", async () => (await bodies(alice, roomId)).includes('from B') && (await bodies(carol, roomId)).includes('from B'))
    await carol.send(roomId, 'from C')
    await until("A and B have C's message", async () => (await bodies(alice, roomId)).includes('from C') && (await bodies(bob, roomId)).includes('from C'))
    for (const client of [alice, bob, carol]) assert.deepEqual(await bodies(client, roomId), ['from A 1', 'from A 2', 'from B', 'from C'])
  })

  it("delivers a to-device message to another server's user's device (m.direct_to_device through the queue)", async () => {
    const before = (await carol.sync()).next_batch
    const res = await bob.put(`/sendToDevice/m.test.ping/t${Date.now()}`, { messages: { [carol.userId]: { [carol.deviceId]: { hello: 'from B' } }, [alice.userId]: { '*': { hello: 'A too' } } } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    let got: Array<{ sender: string; type: string; content: Record<string, unknown> }> = []
    await until('C has the message', async () => {
      got = (await carol.sync({ since: before, timeout: 1000 })).to_device?.events ?? []
      return got.length > 0
    })
    assert.deepEqual(got, [{ sender: bob.userId, type: 'm.test.ping', content: { hello: 'from B' } }])
    await until('A has its message too', async () => ((await alice.sync({ timeout: 0 })).to_device?.events ?? []).some((e: any) => e.content.hello === 'A too'))
  })

  it("builds events (and make_join templates) at the depth of their prev events' highest, plus one, in a room it joined", async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat', name: 'deep', topic: 'several state events first' })
    for (let i = 0; i < 4; i++) await alice.send(roomId, `early ${i}`)
    assert.equal((await bob.post(`/join/${enc(roomId)}?via=${enc(a.name)}`, {})).status, 200)
    await alice.send(roomId, 'before the reply')
    await until('B has the message', async () => (await bodies(bob, roomId)).includes('before the reply'))
    const reply = await bob.send(roomId, 'reply')
    // C joins through B, which builds the make_join template in a room it joined.
    assert.equal((await carol.post(`/join/${enc(roomId)}?via=${enc(b.name)}`, {})).status, 200)
    // Each event as B serves it to A, and its prev events' depths.
    const pdu = async (id: string) => (await a.ctx.federation.client.get<{ pdus: Array<{ depth: number; prev_events: string[] }> }>(b.name, `/_matrix/federation/v1/event/${enc(id)}`)).pdus[0]!
    for (const id of [reply, await lastMemberEvent(carol, roomId)]) {
      const event = await pdu(id)
      const prevDepths = await Promise.all(event.prev_events.map(async (p) => (await pdu(p)).depth))
      assert.equal(event.depth, Math.max(...prevDepths) + 1, `${id}: depth ${event.depth}, prev events at ${prevDepths}`)
    }
  })
})

async function lastMemberEvent(client: RoomClient, roomId: string): Promise<string> {
  const page = await client.messages(roomId, { dir: 'b', limit: 10 })
  const join = page.chunk.find((e) => e.type === 'm.room.member' && e.state_key === client.userId)
  assert.ok(join, 'no join event')
  return join.event_id
}
