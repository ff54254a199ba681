// Erased users (POST /account/deactivate with erase: true; client-server API, "Account deactivation"):
// their events are served redacted to users who were not joined when they were sent, and unredacted to
// those who were, through GET /event, /messages, /context, /sync, /events, /search and /relations; their
// account data is deleted.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, enc, ids, sharedRoom, type ClientEventJson } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const PASSWORD = 'correct horse battery staple'

/** Deactivates `client`'s account through user-interactive auth with its password. */
async function deactivate(client: RoomClient, erase: boolean): Promise<void> {
  const first = await client.post('/account/deactivate', { erase })
  assert.equal(first.status, 401, JSON.stringify(first.body))
  const user = client.userId.slice(1, client.userId.indexOf(':'))
  const auth = { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password: PASSWORD, session: first.body.session }
  const res = await client.post('/account/deactivate', { erase, auth })
  assert.equal(res.status, 200, JSON.stringify(res.body))
}

const find = (events: ClientEventJson[], eventId: string) => {
  const event = events.find((e) => e.event_id === eventId)
  assert.ok(event, `${eventId} is served`)
  return event
}
const assertRedacted = (event: ClientEventJson, sender: string) => {
  assert.equal(event.sender, sender)
  assert.deepEqual(event.content, {}, `${event.event_id} is served redacted`)
}

// alice and dave each send a message that bob, already joined, sees; then alice is erased and dave
// deactivated without erasure; carol joins afterwards.
const alice = await RoomClient.register(t.api)
const bob = await RoomClient.register(t.api)
const dave = await RoomClient.register(t.api)
const carol = await RoomClient.register(t.api)
const roomId = await sharedRoom(alice, [bob, dave], { initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'shared' } }] })
const root = await bob.send(roomId, 'bob starts a thread')
const secret = await alice.send(roomId, 'erasable zanzibar words')
const edit = await alice.send(roomId, { msgtype: 'm.text', body: '* fixed', 'm.new_content': { msgtype: 'm.text', body: 'fixed words' }, 'm.relates_to': { rel_type: 'm.replace', event_id: secret } })
const threadReply = await alice.send(roomId, { msgtype: 'm.text', body: 'a thread reply', 'm.relates_to': { rel_type: 'm.thread', event_id: root } })
const kept = await dave.send(roomId, 'dave keeps his zanzibar words')
const reply = await bob.send(roomId, 'bob answers')
for (const client of [alice, dave]) assert.equal((await client.put(`/user/${enc(client.userId)}/account_data/org.example.notes`, { notes: 'private' })).status, 200)
await deactivate(alice, true)
await deactivate(dave, false)
await carol.join(roomId)

describe('events of an erased user', () => {
  it('are served unredacted to a user who was joined when they were sent', async () => {
    assert.equal((await bob.event(roomId, secret)).content.body, 'erasable zanzibar words')
    const page = await bob.messages(roomId, { dir: 'b', limit: 20 })
    assert.equal(find(page.chunk, secret).content.body, 'erasable zanzibar words')
  })

  it('are served redacted by GET /event, /messages and /context to a user who joined afterwards', async () => {
    assertRedacted(await carol.event(roomId, secret), alice.userId)
    const page = await carol.messages(roomId, { dir: 'b', limit: 20 })
    assertRedacted(find(page.chunk, secret), alice.userId)
    assertRedacted(find(page.chunk, threadReply), alice.userId)
    assert.equal(find(page.chunk, kept).content.body, 'dave keeps his zanzibar words', 'deactivation without erasure redacts nothing')
    assert.equal(find(page.chunk, reply).content.body, 'bob answers')

    const around = await carol.get(`/rooms/${enc(roomId)}/context/${enc(secret)}?limit=10`)
    assert.equal(around.status, 200, JSON.stringify(around.body))
    assertRedacted(around.body.event, alice.userId)
    assertRedacted(find(around.body.events_after, threadReply), alice.userId)
    assert.equal(find(around.body.events_after, reply).content.body, 'bob answers')
  })

  it('are served redacted in the /sync and /events timelines of a user who joined afterwards', async () => {
    const synced = await carol.sync({ filter: JSON.stringify({ room: { timeline: { limit: 20 } } }) })
    const timeline: ClientEventJson[] = synced.rooms.join[roomId].timeline.events
    assertRedacted(find(timeline, secret), alice.userId)
    assert.equal(find(timeline, kept).content.body, 'dave keeps his zanzibar words')
    const bobs: ClientEventJson[] = (await bob.sync({ filter: JSON.stringify({ room: { timeline: { limit: 20 } } }) })).rooms.join[roomId].timeline.events
    assert.equal(find(bobs, secret).content.body, 'erasable zanzibar words')

    const stream = await carol.get(`/events?room_id=${enc(roomId)}&from=s0&timeout=0&limit=50`)
    assert.equal(stream.status, 200, JSON.stringify(stream.body))
    assertRedacted(find(stream.body.chunk, secret), alice.userId)
  })

  it('are served redacted as /search results and /relations children to a user who joined afterwards', async () => {
    const res = await carol.post('/search', { search_categories: { room_events: { search_term: 'zanzibar', event_context: { before_limit: 2, after_limit: 2 } } } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const results: Array<{ result: ClientEventJson; context: unknown }> = res.body.search_categories.room_events.results
    assert.deepEqual(ids(results.map((r) => r.result)).sort(), [secret, kept].sort())
    assertRedacted(find(results.map((r) => r.result), secret), alice.userId)
    assert.equal(find(results.map((r) => r.result), kept).content.body, 'dave keeps his zanzibar words')
    // dave's hit has alice's thread reply just before it as context.
    const daves = results.find((r) => r.result.event_id === kept) as { context: { events_before: ClientEventJson[] } }
    assertRedacted(find(daves.context.events_before, threadReply), alice.userId)

    const relations = (client: RoomClient) => t.api.get(`/_matrix/client/v1/rooms/${enc(roomId)}/relations/${enc(root)}`, client.token)
    const children = await relations(carol)
    assert.equal(children.status, 200, JSON.stringify(children.body))
    assertRedacted(find(children.body.chunk, threadReply), alice.userId)
    const bobsChildren = await relations(bob)
    assert.equal(find(bobsChildren.body.chunk, threadReply).content.body, 'a thread reply')
  })

  it('are bundled redacted, and an erased event gets no bundle, for a user who joined afterwards', async () => {
    const carols = (await carol.messages(roomId, { dir: 'b', limit: 20 })).chunk
    assert.equal(find(carols, secret).unsigned?.['m.relations'], undefined, 'no edit is bundled into an erased event')
    const latest = find(carols, root).unsigned?.['m.relations']?.['m.thread']?.latest_event
    assert.equal(latest?.event_id, threadReply)
    assertRedacted(latest, alice.userId)

    const bobs = (await bob.messages(roomId, { dir: 'b', limit: 20 })).chunk
    const replaced = find(bobs, secret).unsigned?.['m.relations']?.['m.replace']
    assert.equal(replaced?.event_id, edit)
    assert.deepEqual(replaced?.content['m.new_content'], { msgtype: 'm.text', body: 'fixed words' })
    assert.equal(find(bobs, root).unsigned?.['m.relations']?.['m.thread']?.latest_event.content.body, 'a thread reply')
  })

  it('stay redacted when they are world_readable, for a user who never joined', async () => {
    const eve = await RoomClient.register(t.api)
    const erin = await RoomClient.register(t.api)
    const open = await eve.createRoom({ preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'world_readable' } }] })
    const said = await eve.send(open, 'said in the open')
    assert.equal((await erin.event(open, said)).content.body, 'said in the open')
    await deactivate(eve, true)
    assertRedacted(await erin.event(open, said), eve.userId)
  })

  it("take the user's account data with them; a deactivation without erasure keeps it", async () => {
    const count = async (userId: string) =>
      (await t.server.ctx.storage.db.query<{ n: number }>('SELECT count(*)::int AS n FROM account_data WHERE user_id = $1', [userId])).rows[0]?.n
    assert.equal(await count(alice.userId), 0)
    assert.ok(((await count(dave.userId)) ?? 0) > 0)
  })
})
