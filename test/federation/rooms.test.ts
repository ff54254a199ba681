// A room shared by three Homesteads over HTTPS (test CA): A creates it, B and C join. Messages, edits and
// redactions sent on any server reach the others' users through the outbound queue and /send; concurrent
// state changes on two servers end in the same current state everywhere; a server that was down catches up.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { eventually, federatedServers, type FederatedServer } from '../support/federation-rig.ts'
import { RoomClient, enc } from '../support/rooms.ts'

// Short backoff, so a server that comes back is retried within the test.
const { servers } = await federatedServers(3, { 'federation.sender.backoff_base_ms': 200, 'federation.sender.backoff_max_ms': 1000 })
const [a, b, c] = servers as [FederatedServer, FederatedServer, FederatedServer]

const alice = await RoomClient.register(a.api)
const bob = await RoomClient.register(b.api)
let carol = await RoomClient.register(c.api)

/** The room's messages as `client`'s server has them, oldest first: [sender, body] pairs. */
async function bodiesOf(client: RoomClient, roomId: string): Promise<Array<[string, string]>> {
  const res = await client.messages(roomId, { dir: 'b', limit: 100 })
  return res.chunk
    .filter((e) => e.type === 'm.room.message')
    .reverse()
    .map((e) => [e.sender, (e.content as { body: string }).body])
}

async function sharedRoom(): Promise<string> {
  const roomId = await alice.createRoom({ preset: 'public_chat' })
  for (const client of [bob, carol]) {
    const res = await client.post(`/join/${enc(roomId)}?via=${enc(a.name)}`, {})
    assert.equal(res.status, 200, JSON.stringify(res.body))
  }
  // Each server knows the others are in the room (A relayed the joins).
  for (const client of [alice, bob, carol]) {
    await eventually('members everywhere', async () => Object.keys((await client.get(`/rooms/${enc(roomId)}/joined_members`)).body.joined ?? {}).length, (n) => n === 3)
  }
  return roomId
}

describe('a room shared by three servers', () => {
  it("delivers each server's messages to the others, in the order each sender sent them", async () => {
    const roomId = await sharedRoom()
    await alice.send(roomId, { msgtype: 'm.text', body: 'a1' })
    await bob.send(roomId, { msgtype: 'm.text', body: 'b1' })
    await carol.send(roomId, { msgtype: 'm.text', body: 'c1' })
    await alice.send(roomId, { msgtype: 'm.text', body: 'a2' })
    for (const client of [alice, bob, carol]) {
      const got = await eventually('all messages', () => bodiesOf(client, roomId), (m) => m.length === 4)
      const bodies = got.map(([, body]) => body)
      assert.ok(bodies.indexOf('a1') < bodies.indexOf('a2'), JSON.stringify(bodies))
      assert.deepEqual([...bodies].sort(), ['a1', 'a2', 'b1', 'c1'])
    }
  })

  it("reaches the other servers' clients through /sync", async () => {
    const roomId = await sharedRoom()
    const since = (await bob.sync()).next_batch
    const eventId = await carol.send(roomId, { msgtype: 'm.text', body: 'hello bob' })
    const synced = await eventually('B /sync', () => bob.sync({ since, timeout: 1000 }), (s) => (s.rooms?.join?.[roomId]?.timeline?.events ?? []).some((e: { event_id: string }) => e.event_id === eventId))
    const event = synced.rooms.join[roomId].timeline.events.find((e: { event_id: string }) => e.event_id === eventId)
    assert.deepEqual([event.sender, event.content.body], [carol.userId, 'hello bob'])
  })

  it('carries edits and redactions both ways', async () => {
    const roomId = await sharedRoom()
    const original = await bob.send(roomId, { msgtype: 'm.text', body: 'tpyo' })
    await bob.send(roomId, { msgtype: 'm.text', body: '* typo', 'm.new_content': { msgtype: 'm.text', body: 'typo' }, 'm.relates_to': { rel_type: 'm.replace', event_id: original } })
    await eventually('the edit on A', () => alice.event(roomId, original), (e) => (e.unsigned as any)?.['m.relations']?.['m.replace'] !== undefined)
    const doomed = await alice.send(roomId, { msgtype: 'm.text', body: 'secret' })
    await eventually('the message on C', () => bodiesOf(carol, roomId), (m) => m.some(([, body]) => body === 'secret'))
    const res = await alice.put(`/rooms/${enc(roomId)}/redact/${enc(doomed)}/r${Date.now()}`, { reason: 'oops' })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    for (const client of [bob, carol]) {
      const redacted = await eventually('the redaction', () => client.event(roomId, doomed), (e) => Object.keys(e.content).length === 0)
      assert.equal((redacted.unsigned as any)?.redacted_because?.type, 'm.room.redaction')
    }
  })

  it('resolves concurrent state changes on two servers to the same state everywhere', async () => {
    const roomId = await sharedRoom()
    const pl = await alice.getState(roomId, 'm.room.power_levels')
    await alice.putState(roomId, 'm.room.power_levels', '', { ...pl, users: { ...pl.users, [bob.userId]: 100 } })
    await eventually('B is an admin on B', () => bob.getState(roomId, 'm.room.power_levels'), (p) => p.users?.[bob.userId] === 100)
    // Alice and Bob change the name at the same time on their own servers: a fork, merged by state resolution.
    await Promise.all([alice.putState(roomId, 'm.room.name', '', { name: 'from A' }), bob.putState(roomId, 'm.room.name', '', { name: 'from B' })])
    await Promise.all([alice.putState(roomId, 'm.room.topic', '', { topic: 'A' }), bob.putState(roomId, 'm.room.topic', '', { topic: 'B' })])
    const names = async () => Promise.all([alice, bob, carol].map(async (cl) => [(await cl.getState(roomId, 'm.room.name')).name, (await cl.getState(roomId, 'm.room.topic')).topic]))
    // Everyone ends on one answer: every server holds both forks and resolves them alike.
    const settled = await eventually('the same state everywhere', names, (all) => all.every((n) => JSON.stringify(n) === JSON.stringify(all[0])))
    assert.ok(['from A', 'from B'].includes(settled[0]![0]))
  })

  it("carries typing, read receipts and presence to the other servers' users", async () => {
    const roomId = await sharedRoom()
    const since = (await alice.sync()).next_batch
    assert.equal((await bob.put(`/rooms/${enc(roomId)}/typing/${enc(bob.userId)}`, { typing: true, timeout: 20_000 })).status, 200)
    await eventually('B typing on A', () => alice.sync({ since, timeout: 500 }), (s) => {
      const typing = (s.rooms?.join?.[roomId]?.ephemeral?.events ?? []).find((e: { type: string }) => e.type === 'm.typing')
      return typing?.content.user_ids.includes(bob.userId) === true
    })
    const eventId = await alice.send(roomId, { msgtype: 'm.text', body: 'read me' })
    await eventually('the message on C', () => bodiesOf(carol, roomId), (m) => m.some(([, body]) => body === 'read me'))
    assert.equal((await carol.post(`/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, {})).status, 200)
    const receipt = await eventually('C\'s receipt on A', () => alice.sync({ since, timeout: 500 }), (s) =>
      (s.rooms?.join?.[roomId]?.ephemeral?.events ?? []).some((e: { type: string; content: any }) => e.type === 'm.receipt' && e.content[eventId]?.['m.read']?.[carol.userId]),
    )
    assert.ok(receipt)
    assert.equal((await carol.put(`/presence/${enc(carol.userId)}/status`, { presence: 'unavailable', status_msg: 'gardening' })).status, 200)
    const presence = await eventually('C\'s presence on B', () => bob.get(`/presence/${enc(carol.userId)}/status`), (r) => r.status === 200 && r.body.status_msg === 'gardening')
    assert.equal(presence.body.presence, 'unavailable')
  })

  it('tells presence set before two users shared a room once one joins the other\'s room, both ways', async () => {
    const dave = await RoomClient.register(a.api)
    const erin = await RoomClient.register(b.api)
    assert.equal((await dave.put(`/presence/${enc(dave.userId)}/status`, { presence: 'online', status_msg: 'at home' })).status, 200)
    assert.equal((await erin.put(`/presence/${enc(erin.userId)}/status`, { presence: 'unavailable', status_msg: 'away' })).status, 200)
    const roomId = await dave.createRoom({ preset: 'public_chat' })
    assert.equal((await erin.post(`/join/${enc(roomId)}?via=${enc(a.name)}`, {})).status, 200)
    const onB = await eventually("dave's presence on B", () => erin.get(`/presence/${enc(dave.userId)}/status`), (r) => r.status === 200 && r.body.status_msg === 'at home')
    assert.equal(onB.body.presence, 'online')
    const onA = await eventually("erin's presence on A", () => dave.get(`/presence/${enc(erin.userId)}/status`), (r) => r.status === 200 && r.body.status_msg === 'away')
    assert.equal(onA.body.presence, 'unavailable')
  })

  it("tells presence on a join only: a member's profile change sends none", async () => {
    const dave = await RoomClient.register(a.api)
    const frank = await RoomClient.register(a.api)
    const erin = await RoomClient.register(c.api)
    for (const u of [dave, frank]) assert.equal((await u.put(`/presence/${enc(u.userId)}/status`, { presence: 'online' })).status, 200)
    const roomId = await dave.createRoom({ preset: 'public_chat' })
    assert.equal((await erin.post(`/join/${enc(roomId)}?via=${enc(a.name)}`, {})).status, 200)
    await eventually("dave's presence on C", () => erin.get(`/presence/${enc(dave.userId)}/status`), (r) => r.status === 200 && r.body.presence === 'online')
    // With C down, what A queues for it stays in its queue to be looked at.
    await c.stop()
    try {
      const queuedFor = async (userId: string) => {
        const { rows } = await a.ctx.storage.db.query<{ content: string }>("SELECT content FROM federation_edu_queue WHERE destination = $1 AND edu_type = 'm.presence'", [c.name])
        return rows.filter((r) => r.content.includes(JSON.stringify(userId))).length
      }
      assert.equal((await dave.put(`/profile/${enc(dave.userId)}/displayname`, { displayname: 'Dave again' })).status, 200)
      assert.equal((await dave.getState(roomId, 'm.room.member', dave.userId)).displayname, 'Dave again')
      assert.equal(await queuedFor(dave.userId), 0, 'a join to join tells no presence')
      assert.equal((await frank.post(`/join/${enc(roomId)}`, {})).status, 200)
      assert.equal(await queuedFor(frank.userId), 1, "a new member's join does")
    } finally {
      await c.restart()
      carol = carol.on(c.api)
    }
  })

  it("sends an invite of a third server's user to the room's other servers too", async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    assert.equal((await bob.post(`/join/${enc(roomId)}?via=${enc(a.name)}`, {})).status, 200)
    assert.equal((await alice.post(`/rooms/${enc(roomId)}/invite`, { user_id: carol.userId })).status, 200)
    const member = await eventually("the invite on B", () => bob.getState(roomId, 'm.room.member', carol.userId), (m) => m.membership === 'invite')
    assert.equal(member.membership, 'invite')
  })

  it('catches a server up on what it missed while it was down', async () => {
    const roomId = await sharedRoom()
    await c.stop()
    await alice.send(roomId, { msgtype: 'm.text', body: 'while C was away 1' })
    await bob.send(roomId, { msgtype: 'm.text', body: 'while C was away 2' })
    await c.restart()
    carol = carol.on(c.api)
    const got = await eventually('C caught up', () => bodiesOf(carol, roomId), (m) => m.length === 2)
    assert.deepEqual(got.map(([, body]) => body).sort(), ['while C was away 1', 'while C was away 2'])
    // And C's own sends go out again.
    await carol.send(roomId, { msgtype: 'm.text', body: 'back' })
    await eventually('A has C\'s message', () => bodiesOf(alice, roomId), (m) => m.some(([, body]) => body === 'back'))
  })
})

