// Self-destructing messages (MSC2228, rooms.ephemeral_messages): B prunes events that ask for it when their
// time comes, its users' and A's alike; A, with the setting off, keeps them whole. Proven over real
// federation between two Homesteads.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { federationFronts } from '../support/federation.ts'
import { eventually } from '../support/federation-rig.ts'
import { RoomClient, enc } from '../support/rooms.ts'

const fronts = await federationFronts()
const { nameA, nameB, common } = fronts
const a: TestServer = await startTestServer({ ...common(), server_name: nameA })
const b: TestServer = await startTestServer({ ...common(), server_name: nameB, 'rooms.ephemeral_messages': true })
fronts.route(fronts.frontA, a.url)
fronts.route(fronts.frontB, b.url)
after(() => fronts.close())

const SELF_DESTRUCT = 'org.matrix.self_destruct_after'
const bob = await RoomClient.register(b.api)
const alice = await RoomClient.register(a.api)
const roomId = await bob.createRoom({ preset: 'public_chat' })
assert.equal((await alice.post(`/join/${enc(roomId)}?via=${enc(nameB)}`, {})).status, 200)

/** The event as `client` reads it through GET /rooms/{roomId}/event/{eventId}. */
async function read(client: RoomClient, eventId: string) {
  const res = await client.get(`/rooms/${enc(roomId)}/event/${enc(eventId)}`)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

describe('self-destructing messages (MSC2228)', () => {
  it("prunes a local user's message at its time: content gone from reads, /messages and search, the event kept", async () => {
    const word = `vanishing${Date.now()}`
    const eventId = await bob.send(roomId, { msgtype: 'm.text', body: `a ${word} message`, [SELF_DESTRUCT]: Date.now() + 800 })
    const kept = await bob.send(roomId, { msgtype: 'm.text', body: `a lasting ${word}` })
    assert.equal((await read(bob, eventId)).content.body, `a ${word} message`, 'whole before its time')
    await eventually('the message pruned', () => read(bob, eventId), (e) => Object.keys(e.content).length === 0)
    const page = await bob.messages(roomId, { dir: 'b', limit: 5 })
    assert.deepEqual(page.chunk.find((e) => e.event_id === eventId)?.content, {})
    assert.equal(page.chunk.find((e) => e.event_id === kept)?.content.body, `a lasting ${word}`)
    const search = await bob.post('/search', { search_categories: { room_events: { search_term: word } } })
    assert.equal(search.status, 200)
    assert.deepEqual(search.body.search_categories.room_events.results.map((r: { result: { event_id: string } }) => r.result.event_id), [kept])
  })

  it("prunes a remote user's message on the server that prunes; the sender's server, with the setting off, keeps it", async () => {
    const eventId = await alice.send(roomId, { msgtype: 'm.text', body: 'from A', [SELF_DESTRUCT]: Date.now() + 800 })
    await eventually('the message pruned on B', () => read(bob, eventId), (e) => Object.keys(e.content).length === 0)
    assert.equal((await read(alice, eventId)).content.body, 'from A')
  })

  it('leaves state events and a timestamp that is not an integer alone', async () => {
    const topic = await bob.putState(roomId, 'm.room.topic', '', { topic: 'stays', [SELF_DESTRUCT]: Date.now() })
    const odd = await bob.send(roomId, { msgtype: 'm.text', body: 'stays too', [SELF_DESTRUCT]: String(Date.now()) })
    const marker = await bob.send(roomId, { msgtype: 'm.text', body: 'goes', [SELF_DESTRUCT]: Date.now() })
    // The marker, due at once, is pruned in the same run as anything else due.
    await eventually('the marker pruned', () => read(bob, marker), (e) => Object.keys(e.content).length === 0)
    assert.equal((await read(bob, topic)).content.topic, 'stays')
    assert.equal((await read(bob, odd)).content.body, 'stays too')
  })
})
