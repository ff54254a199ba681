// History from before a server joined: B's users paginate /messages back past B's join, and B asks A
// (/backfill) for what came before, checks it and shows it in order, older than everything else B has, with
// the room's history visibility applied at each event, and never as news in /sync.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { federatedServers, type FederatedServer } from '../support/federation-rig.ts'
import { RoomClient, enc, type ClientEventJson } from '../support/rooms.ts'

const { servers } = await federatedServers(2)
const [a, b] = servers as [FederatedServer, FederatedServer]
const alice = await RoomClient.register(a.api)
const bob = await RoomClient.register(b.api)

/** Every event of the room bob can page back to, oldest first, and the pages it took. */
async function wholeHistory(client: RoomClient, roomId: string, limit: number): Promise<{ events: ClientEventJson[]; pages: number }> {
  const events: ClientEventJson[] = []
  let from: string | undefined
  let pages = 0
  for (; pages < 50; pages++) {
    const page = await client.messages(roomId, { dir: 'b', limit, ...(from === undefined ? {} : { from }) })
    events.push(...page.chunk)
    if (page.end === undefined) break
    from = page.end
  }
  return { events: events.reverse(), pages }
}

const bodies = (events: ClientEventJson[]) => events.filter((e) => e.type === 'm.room.message').map((e) => (e.content as { body?: string }).body)
const backfills = (roomId: string) => a.front.requests.filter((r) => r.startsWith(`GET /_matrix/federation/v1/backfill/${enc(roomId)}`)).length

describe('backfill', () => {
  it("pages back past the join through the other server's history, in order, once", async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat', name: 'Old news' })
    const sent: string[] = []
    // More than one /backfill answer holds (100 events).
    for (let i = 0; i < 130; i++) {
      const body = `m${i}`
      sent.push(body)
      await alice.send(roomId, { msgtype: 'm.text', body })
    }
    assert.equal((await bob.post(`/join/${enc(roomId)}?via=${enc(a.name)}`, {})).status, 200)
    const before = await bob.sync({ timeout: 0 })
    const joined = before.rooms.join[roomId]
    assert.ok(joined, 'the room is in bob\'s sync')
    assert.deepEqual(bodies(joined.timeline.events), [], 'the join brought no history along')

    const { events } = await wholeHistory(bob, roomId, 40)
    assert.deepEqual(bodies(events), sent, 'every message, oldest first')
    assert.equal(events[0]?.type, 'm.room.create', 'back to the room\'s creation')
    const ids = events.map((e) => e.event_id)
    assert.equal(new Set(ids).size, ids.length, 'no event twice')
    assert.equal(events.at(-1)?.type, 'm.room.member', 'bob\'s join is the newest')
    assert.ok(backfills(roomId) >= 2, 'B asked A for the history (two answers at least)')

    // The backfilled events are readable one by one and as context, and history is not news to /sync.
    const old = events.find((e) => (e.content as { body?: string }).body === 'm7') as ClientEventJson
    assert.equal(((await bob.event(roomId, old.event_id)).content as { body: string }).body, 'm7')
    const context = await bob.get(`/rooms/${enc(roomId)}/context/${enc(old.event_id)}?limit=2`)
    assert.equal(context.status, 200)
    assert.deepEqual(bodies(context.body.events_before).reverse().concat(bodies(context.body.events_after)), ['m6', 'm8'])
    const after = await bob.sync({ since: before.next_batch, timeout: 0 })
    assert.deepEqual(bodies(after.rooms?.join?.[roomId]?.timeline?.events ?? []), [], 'nothing old arrives through /sync')

    // The whole history is stored now: paging again asks nobody.
    const asked = backfills(roomId)
    assert.deepEqual(bodies((await wholeHistory(bob, roomId, 100)).events), sent)
    assert.equal(backfills(roomId), asked)

    // New messages still come after all of it.
    await alice.send(roomId, { msgtype: 'm.text', body: 'new' })
    let newest: ClientEventJson[] = []
    for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
      newest = (await bob.messages(roomId, { dir: 'b', limit: 2 })).chunk
      if (bodies(newest)[0] === 'new') break
    }
    assert.deepEqual(bodies(newest), ['new'])
  })

  it('hides what history visibility hid from the joining user, judged at each event', async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await alice.send(roomId, { msgtype: 'm.text', body: 'shared before' })
    await alice.putState(roomId, 'm.room.history_visibility', '', { history_visibility: 'joined' })
    for (const body of ['secret 1', 'secret 2']) await alice.send(roomId, { msgtype: 'm.text', body })
    assert.equal((await bob.post(`/join/${enc(roomId)}?via=${enc(a.name)}`, {})).status, 200)
    const { events } = await wholeHistory(bob, roomId, 10)
    const shown = bodies(events)
    assert.ok(!shown.some((b) => b?.startsWith('secret')), `no secret shown: ${JSON.stringify(shown)}`)
    assert.ok(backfills(roomId) >= 1, 'B asked A for the history')
    // The visibility change itself is visible (visible before it), and so is what came before it.
    assert.ok(events.some((e) => e.type === 'm.room.history_visibility'), 'the visibility change is shown')
    assert.deepEqual(shown, ['shared before'])
  })

  it("judges each backfilled event by the state at it, for history the other server let this one see", async () => {
    // Under "invited" visibility A shows B the messages sent while carol (on B) was invited, in full: B
    // itself must keep them from bob, who was not. The newest 100 come first, without the visibility
    // change that precedes them, so only the state at each event can tell.
    const carol = await RoomClient.register(b.api)
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await alice.send(roomId, { msgtype: 'm.text', body: 'open' })
    await alice.putState(roomId, 'm.room.history_visibility', '', { history_visibility: 'invited' })
    await alice.invite(roomId, carol.userId)
    for (let i = 0; i < 110; i++) await alice.send(roomId, { msgtype: 'm.text', body: `for invitees ${i}` })
    assert.equal((await bob.post(`/join/${enc(roomId)}?via=${enc(a.name)}`, {})).status, 200)
    const firstPage = await bob.messages(roomId, { dir: 'b', limit: 10 })
    assert.ok(backfills(roomId) >= 1, 'B asked A for the history')
    assert.deepEqual(bodies(firstPage.chunk), [])
    const { events } = await wholeHistory(bob, roomId, 50)
    assert.deepEqual(bodies(events), ['open'])
    assert.ok(events.some((e) => e.type === 'm.room.history_visibility' && (e.content as { history_visibility?: string }).history_visibility === 'invited'))
  })

  it('asks no server about a room whose whole history is here', async () => {
    const roomId = await bob.createRoom({ preset: 'private_chat' })
    await bob.send(roomId, { msgtype: 'm.text', body: 'local' })
    const { events } = await wholeHistory(bob, roomId, 5)
    assert.deepEqual(bodies(events), ['local'])
    assert.equal(events[0]?.type, 'm.room.create')
    assert.ok(!a.front.requests.some((r) => r.includes(`/backfill/${enc(roomId)}`)))
  })
})
