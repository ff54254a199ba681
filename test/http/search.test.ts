// POST /search (room_events): full-text matching over bodies, names and topics, rank and recent order,
// next_batch pagination, filters, groups, event context, state, and what a user may not see.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, assertError, enc, ids, sharedRoom } from '../support/rooms.ts'

const t: TestServer = await startTestServer()

/** A word no other test uses (letters only, so the text parser keeps it whole). */
function word(): string {
  return `q${[...randomBytes(8)].map((b) => String.fromCharCode(97 + (b % 26))).join('')}`
}

async function search(client: RoomClient, criteria: Record<string, unknown>, nextBatch?: string) {
  const path = `/search${nextBatch !== undefined ? `?next_batch=${encodeURIComponent(nextBatch)}` : ''}`
  return client.post(path, { search_categories: { room_events: criteria } })
}

async function found(client: RoomClient, criteria: Record<string, unknown>, nextBatch?: string) {
  const res = await search(client, criteria, nextBatch)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body.search_categories.room_events
}

const resultIds = (r: { results: Array<{ result: { event_id: string } }> }) => r.results.map((x) => x.result.event_id)

describe('POST /search', () => {
  it('finds messages by whole word and by word prefix, case-insensitively, and not others', async () => {
    const alice = await RoomClient.register(t.api)
    const roomId = await alice.createRoom()
    const w = word()
    const hit = await alice.send(roomId, `Martians ${w.toUpperCase()} landed`)
    await alice.send(roomId, 'nothing to see here')
    const whole = await found(alice, { search_term: w })
    assert.deepEqual(resultIds(whole), [hit])
    assert.equal(whole.count, 1)
    const result = whole.results[0]
    assert.ok(result.rank > 0)
    assert.equal(result.result.room_id, roomId)
    assert.equal(result.result.sender, alice.userId)
    assert.equal(result.result.content.body, `Martians ${w.toUpperCase()} landed`)
    assert.equal(whole.next_batch, undefined, 'no next_batch when everything was returned')

    const prefix = await found(alice, { search_term: `${w.slice(0, 6)} MART` })
    assert.deepEqual(resultIds(prefix), [hit], 'every word is matched as a prefix')
    assert.ok(prefix.highlights.includes('martians') && prefix.highlights.includes(w), `highlights: ${prefix.highlights}`)

    const none = await found(alice, { search_term: `${w} absentword` })
    assert.deepEqual(none.results, [])
    assert.equal(none.count, 0)
  })

  it('searches room names and topics (including m.topic text/plain), and keys restrict what is searched', async () => {
    const alice = await RoomClient.register(t.api)
    const w = word()
    const roomId = await alice.createRoom({ name: `${w} lounge` })
    const topic = await alice.putState(roomId, 'm.room.topic', '', {
      topic: 'plain topic',
      'm.topic': { 'm.text': [{ mimetype: 'text/html', body: `<b>${w}html</b>` }, { body: `${w}rich topic` }] },
    })
    const message = await alice.send(roomId, `${w} in a message`)
    const all = await found(alice, { search_term: w, order_by: 'recent' })
    assert.equal(all.results.length, 3)
    assert.equal(all.results[0].result.event_id, message)
    assert.equal(all.results[1].result.event_id, topic)
    assert.equal(all.results[2].result.type, 'm.room.name')

    assert.deepEqual(resultIds(await found(alice, { search_term: w, keys: ['content.topic'] })), [topic])
    assert.deepEqual(resultIds(await found(alice, { search_term: w, keys: ['content.body'] })), [message])
    assert.deepEqual(resultIds(await found(alice, { search_term: `${w}html` })), [], 'only the text/plain representation is searched')
  })

  it('orders by relevance with order_by rank (the default) and newest first with recent', async () => {
    const alice = await RoomClient.register(t.api)
    const roomId = await alice.createRoom()
    const w = word()
    const dense = await alice.send(roomId, `${w} ${w} ${w}`)
    const sparse = await alice.send(roomId, `${w} and a great many other words that dilute how relevant this message is`)
    const byRank = await found(alice, { search_term: w })
    assert.deepEqual(resultIds(byRank), [dense, sparse])
    assert.ok(byRank.results[0].rank > byRank.results[1].rank)
    assert.deepEqual(resultIds(await found(alice, { search_term: w, order_by: 'recent' })), [sparse, dense])
  })

  it('pages through results with next_batch in both orders, without repeats', async () => {
    const alice = await RoomClient.register(t.api)
    const roomId = await alice.createRoom()
    const w = word()
    const sent: string[] = []
    // The earlier a message, the more often it has the word: rank order is the reverse of recent order.
    for (let i = 0; i < 5; i++) sent.push(await alice.send(roomId, `${w} `.repeat(5 - i)))
    for (const order of ['recent', 'rank']) {
      const seen: string[] = []
      let next: string | undefined
      const pages: number[] = []
      do {
        const page = await found(alice, { search_term: w, order_by: order, filter: { limit: 2 } }, next)
        assert.equal(page.count, 5)
        pages.push(page.results.length)
        seen.push(...resultIds(page))
        next = page.next_batch
      } while (next !== undefined)
      assert.deepEqual(pages.slice(0, 3), [2, 2, 1], `${order} pages`)
      assert.deepEqual([...seen].sort(), [...sent].sort(), `${order} covers every result once`)
      if (order === 'recent') assert.deepEqual(seen, [...sent].reverse())
      if (order === 'rank') assert.deepEqual(seen, sent)
    }
  })

  it('includes event_context: neighbours, /messages tokens and historic profiles', async () => {
    const alice = await RoomClient.register(t.api)
    const roomId = await alice.createRoom()
    await alice.putState(roomId, 'm.room.member', alice.userId, { membership: 'join', displayname: 'Alice Then' })
    const w = word()
    const before = [await alice.send(roomId, 'before one'), await alice.send(roomId, 'before two')]
    const hit = await alice.send(roomId, `the ${w} result`)
    const after = [await alice.send(roomId, 'after one'), await alice.send(roomId, 'after two')]
    await alice.putState(roomId, 'm.room.member', alice.userId, { membership: 'join', displayname: 'Alice Now' })

    const r = await found(alice, { search_term: w, event_context: { before_limit: 1, after_limit: 2, include_profile: true } })
    const context = r.results[0].context
    assert.deepEqual(ids(context.events_before), [before[1]])
    assert.deepEqual(ids(context.events_after), after)
    assert.deepEqual(context.profile_info, { [alice.userId]: { displayname: 'Alice Then' } }, 'the name as of the context, not today')
    const older = await alice.messages(roomId, { from: context.start, dir: 'b', limit: 1 })
    assert.deepEqual(ids(older.chunk), [before[0]], 'start paginates backwards from the context')
    assert.equal(r.results[0].result.event_id, hit)

    const plain = await found(alice, { search_term: w, event_context: {} })
    assert.equal(plain.results[0].context.events_before.length, 5, 'before_limit defaults to 5')
    assert.equal(plain.results[0].context.profile_info, undefined)
    assert.equal((await found(alice, { search_term: w })).results[0].context, undefined)
  })

  it('searches only rooms the user is or was in, and in left rooms only what happened before they left', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    const w = word()
    const roomId = await sharedRoom(alice, [bob])
    const beforeLeave = await alice.send(roomId, `${w} while bob was here`)
    await bob.leave(roomId)
    await alice.send(roomId, `${w} after bob left`)
    const elsewhere = await alice.createRoom({ preset: 'public_chat' })
    await alice.send(elsewhere, `${w} in a room bob never joined`)

    await alice.putState(roomId, 'm.room.topic', '', { topic: 'set after bob left' })
    const bobs = await found(bob, { search_term: w, include_state: true })
    assert.deepEqual(resultIds(bobs), [beforeLeave])
    const state = bobs.state[roomId] as Array<{ type: string; state_key: string; content: Record<string, unknown> }>
    assert.equal(state.find((e) => e.type === 'm.room.member' && e.state_key === bob.userId)?.content.membership, 'leave')
    assert.ok(!state.some((e) => e.type === 'm.room.topic'), 'the state of a left room is as it was when they left')
    assert.equal((await found(alice, { search_term: w })).results.length, 3)

    assert.equal((await bob.post(`/rooms/${enc(roomId)}/forget`)).status, 200)
    assert.deepEqual((await found(bob, { search_term: w })).results, [], 'forgotten rooms are not searched')
  })

  it('leaves out history the user may not see', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    const w = word()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await alice.putState(roomId, 'm.room.history_visibility', '', { history_visibility: 'joined' })
    await alice.send(roomId, `${w} said before bob joined`)
    await bob.join(roomId)
    const visible = await alice.send(roomId, `${w} said after bob joined`)
    const r = await found(bob, { search_term: w })
    assert.deepEqual(resultIds(r), [visible])
    // Context follows the same rule.
    const c = await found(bob, { search_term: w, event_context: { before_limit: 10, after_limit: 0 } })
    assert.ok(c.results[0].context.events_before.every((e: { content: { body?: string } }) => !String(e.content.body ?? '').includes('before bob')))
  })

  it('counts only what the user may see: a knock that was withdrawn reveals no secret word, not even by prefix', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    const secret = word()
    const roomId = await alice.createRoom({ room_version: '7', initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }] })
    await alice.send(roomId, `the password is ${secret}`)
    assert.equal((await bob.post(`/knock/${enc(roomId)}`, {})).status, 200)
    await bob.leave(roomId)
    // A walk over ever longer prefixes, as a guesser would take it, finds nothing at any step.
    for (let n = 1; n <= secret.length; n++) {
      const r = await found(bob, { search_term: secret.slice(0, n) })
      assert.equal(r.count, 0, `count for the prefix ${secret.slice(0, n)}`)
      assert.deepEqual(r.results, [])
    }
    assert.equal((await found(alice, { search_term: secret })).count, 1)
  })

  it('counts only events history visibility shows: one who joined after a secret (joined) counts what the results hold', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    const secret = word()
    const common = word()
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await alice.putState(roomId, 'm.room.history_visibility', '', { history_visibility: 'joined' })
    await alice.send(roomId, `${common} before: the secret is ${secret}`)
    await alice.send(roomId, `${common} also before bob`)
    await bob.join(roomId)
    const visible = [await alice.send(roomId, `${common} after bob joined`), await alice.send(roomId, `${common} again after`)]
    const hidden = await found(bob, { search_term: secret })
    assert.equal(hidden.count, 0)
    assert.deepEqual(hidden.results, [])
    assert.equal((await found(bob, { search_term: secret.slice(0, 3) })).count, 0, 'a prefix of the secret counts nothing either')
    const r = await found(bob, { search_term: common, order_by: 'recent' })
    assert.deepEqual(resultIds(r), visible.reverse())
    assert.equal(r.count, r.results.length)
    // Paging one by one reaches the same number of results as the count, then stops.
    let pages = 0
    let batch: string | undefined
    do {
      const page = await found(bob, { search_term: common, order_by: 'recent', filter: { limit: 1 } }, batch)
      assert.equal(page.count, 2)
      pages += page.results.length
      batch = page.next_batch
    } while (batch !== undefined)
    assert.equal(pages, 2)
    assert.equal((await found(alice, { search_term: common })).count, 4)
  })

  it('applies the filter (rooms, not_rooms, senders, types) and leaves out redacted and encrypted-room events', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    const w = word()
    const room1 = await sharedRoom(alice, [bob])
    const room2 = await sharedRoom(alice, [bob])
    const a1 = await alice.send(room1, `${w} alice one`)
    const b1 = await bob.send(room1, `${w} bob one`)
    const a2 = await alice.send(room2, `${w} alice two`)
    const redacted = await alice.send(room2, `${w} regretted`)
    assert.equal((await alice.put(`/rooms/${enc(room2)}/redact/${enc(redacted)}/r1`, {})).status, 200)
    const encrypted = await alice.createRoom({ initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }] })
    await alice.send(encrypted, `${w} cleartext in an encrypted room`)

    const sorted = (x: string[]) => [...x].sort()
    assert.deepEqual(sorted(resultIds(await found(alice, { search_term: w }))), sorted([a1, b1, a2]))
    assert.deepEqual(sorted(resultIds(await found(alice, { search_term: w, filter: { rooms: [room1] } }))), sorted([a1, b1]))
    assert.deepEqual(resultIds(await found(alice, { search_term: w, filter: { not_rooms: [room1] } })), [a2])
    assert.deepEqual(resultIds(await found(alice, { search_term: w, filter: { senders: [bob.userId] } })), [b1])
    assert.deepEqual((await found(alice, { search_term: w, filter: { types: ['m.room.name'] } })).results, [])
  })

  it('groups results by room and sender, with next_batch tokens scoped to the group, and returns room state', async () => {
    const alice = await RoomClient.register(t.api)
    const bob = await RoomClient.register(t.api)
    const w = word()
    const room1 = await sharedRoom(alice, [bob])
    const room2 = await sharedRoom(alice, [bob])
    const r1 = [await alice.send(room1, `${w} a`), await bob.send(room1, `${w} b`), await alice.send(room1, `${w} c`)]
    const r2 = await alice.send(room2, `${w} d`)
    const r = await found(alice, {
      search_term: w,
      order_by: 'recent',
      filter: { limit: 2 },
      include_state: true,
      groupings: { group_by: [{ key: 'room_id' }, { key: 'sender' }] },
    })
    assert.deepEqual(resultIds(r), [r2, r1[2]])
    assert.deepEqual(r.groups.room_id[room2], { results: [r2], order: 1, next_batch: r.groups.room_id[room2].next_batch })
    assert.equal(r.groups.room_id[room1].order, 2)
    assert.deepEqual(Object.keys(r.groups.sender), [alice.userId])
    assert.ok(r.state[room1].some((e: { type: string }) => e.type === 'm.room.create'))
    assert.ok(r.state[room2].some((e: { type: string }) => e.type === 'm.room.create'))

    const inRoom1 = await found(alice, { search_term: w, order_by: 'recent', filter: { limit: 2 } }, r.groups.room_id[room1].next_batch)
    assert.deepEqual(resultIds(inRoom1), [r1[1], r1[0]], 'a group token continues inside its room')
    const bobs = await found(alice, { search_term: w, order_by: 'recent' }, r.groups.sender[alice.userId].next_batch)
    assert.deepEqual(resultIds(bobs), [r1[0]], 'a sender group token continues with that sender')
  })

  it('answers a term without words with no results', async () => {
    const alice = await RoomClient.register(t.api)
    await alice.send(await alice.createRoom(), 'something')
    const r = await found(alice, { search_term: ' !!! ' })
    assert.deepEqual(r.results, [])
    assert.equal(r.count, 0)
  })

  it('refuses malformed requests with the spec error codes', async () => {
    const alice = await RoomClient.register(t.api)
    assertError(await alice.post('/search', { search_categories: {} }), 400, 'M_UNKNOWN', 'no room_events')
    assertError(await alice.post('/search', {}), 400, 'M_MISSING_PARAM', 'no search_categories')
    assertError(await search(alice, {}), 400, 'M_MISSING_PARAM', 'no search_term')
    assertError(await search(alice, { search_term: 'x', order_by: 'newest' }), 400, 'M_BAD_JSON', 'bad order_by')
    assertError(await search(alice, { search_term: 'x', keys: ['content.msgtype'] }), 400, 'M_BAD_JSON', 'bad key')
    assertError(await search(alice, { search_term: 'x', filter: { limit: -1 } }), 400, 'M_BAD_JSON', 'bad limit')
    assertError(await search(alice, { search_term: 'x' }, 'not-a-token'), 400, 'M_INVALID_PARAM', 'bad next_batch')
    const roomId = await alice.createRoom()
    const w = word()
    await alice.send(roomId, `${w} one`)
    await alice.send(roomId, `${w} two`)
    const page = await found(alice, { search_term: w, filter: { limit: 1 } })
    assertError(await search(alice, { search_term: w, order_by: 'recent' }, page.next_batch), 400, 'M_INVALID_PARAM', 'token of another order')
    assertError(await t.api.post('/_matrix/client/v3/search', { search_categories: { room_events: { search_term: 'x' } } }), 401, 'M_MISSING_TOKEN')
  })
})
