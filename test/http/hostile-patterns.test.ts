// Pathological patterns and huge lists wherever a client hands Homestead one: filters (stored, inline on
// /sync, /messages and /context, inside /search's body) and push rules of every kind. Each is refused with a
// 400 naming the limit, or answered while the server keeps answering /health within a second.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'
import { CS, assertError, enc } from '../support/rooms.ts'
import { whileHealthy } from '../support/hostile.ts'

const t: TestServer = await startTestServer()
type User = Awaited<ReturnType<typeof registerUser>>

/** Backtracking regular expressions take the age of the universe over this against a run of a's. */
const EXPLOSIVE = '*a*a*a*a*a*a*a*a*b'
const LONG_TYPE = `org.example.${'a'.repeat(200)}`

async function roomOf(owner: User, ...members: User[]): Promise<string> {
  const created = await t.api.post(`${CS}/createRoom`, { preset: 'public_chat' }, owner.access_token)
  assert.equal(created.status, 200, JSON.stringify(created.body))
  const roomId = created.body.room_id as string
  for (const m of members) assert.equal((await t.api.post(`${CS}/join/${enc(roomId)}`, {}, m.access_token)).status, 200)
  return roomId
}

let txn = 0
async function send(user: User, roomId: string, type: string, content: Record<string, unknown>): Promise<string> {
  const res = await t.api.put(`${CS}/rooms/${enc(roomId)}/send/${enc(type)}/h${++txn}`, content, user.access_token)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body.event_id
}

/** A room whose state, timeline and account data hold types a backtracking matcher chokes on. */
async function hostileRoom(): Promise<{ alice: User; roomId: string; eventId: string }> {
  const alice = await registerUser(t.api)
  const roomId = await roomOf(alice)
  assert.equal((await t.api.put(`${CS}/rooms/${enc(roomId)}/state/${enc(LONG_TYPE)}/`, { x: 1 }, alice.access_token)).status, 200)
  const eventId = await send(alice, roomId, LONG_TYPE, { body: 'a'.repeat(100) })
  await send(alice, roomId, 'm.room.message', { msgtype: 'm.text', body: 'findme' })
  assert.equal((await t.api.put(`${CS}/user/${enc(alice.user_id)}/account_data/${enc(LONG_TYPE)}`, { x: 1 }, alice.access_token)).status, 200)
  assert.equal((await t.api.put(`${CS}/user/${enc(alice.user_id)}/rooms/${enc(roomId)}/account_data/${enc(LONG_TYPE)}`, { x: 1 }, alice.access_token)).status, 200)
  return { alice, roomId, eventId }
}

const explosiveEventFilter = { types: [EXPLOSIVE, '*'], not_types: [EXPLOSIVE] }
const explosiveFilter = {
  account_data: explosiveEventFilter,
  presence: explosiveEventFilter,
  room: { state: explosiveEventFilter, timeline: explosiveEventFilter, ephemeral: explosiveEventFilter, account_data: explosiveEventFilter },
}

/** `count` short entries: a list over the limit that still fits in a URL. */
const many = (count: number, entry = 'a') => Array.from({ length: count }, () => entry)
const wildcards = (count: number) => Array.from({ length: count }, (_, i) => `*${i}*`)

describe('filters with pathological patterns', () => {
  it('answers an initial /sync whose stored filter matches every kind of event against *a*a*…b', async () => {
    const { alice, roomId } = await hostileRoom()
    const created = await t.api.post(`${CS}/user/${enc(alice.user_id)}/filter`, explosiveFilter, alice.access_token)
    assert.equal(created.status, 200, JSON.stringify(created.body))
    const res = await whileHealthy(t.api, () => t.api.get(`${CS}/sync?filter=${created.body.filter_id}`, alice.access_token))
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const room = res.body.rooms.join[roomId]
    const types = [...room.state.events, ...room.timeline.events].map((e: { type: string }) => e.type)
    assert.ok(types.includes('m.room.create') && types.includes(LONG_TYPE), `"*" still lets the room's events through: ${types}`)
    assert.ok(res.body.account_data.events.some((e: { type: string }) => e.type === LONG_TYPE), 'a type the pattern does not match is not excluded')
  })

  it('answers /sync, /messages and /context with the pattern inline', async () => {
    const { alice, roomId, eventId } = await hostileRoom()
    const inline = enc(JSON.stringify(explosiveFilter))
    const roomFilter = enc(JSON.stringify(explosiveEventFilter))
    await whileHealthy(t.api, async () => {
      assert.equal((await t.api.get(`${CS}/sync?filter=${inline}`, alice.access_token)).status, 200)
      assert.equal((await t.api.get(`${CS}/rooms/${enc(roomId)}/messages?dir=b&filter=${roomFilter}`, alice.access_token)).status, 200)
      assert.equal((await t.api.get(`${CS}/rooms/${enc(roomId)}/context/${enc(eventId)}?filter=${roomFilter}`, alice.access_token)).status, 200)
    })
  })

  it('answers /messages and /search with as many adversarial LIKE patterns as a type list may hold', async () => {
    const { alice, roomId } = await hostileRoom()
    const filter = { types: Array.from({ length: 20 }, (_, i) => `${'*a'.repeat(60)}*b${i}`), not_types: [EXPLOSIVE] }
    await whileHealthy(t.api, async () => {
      const page = await t.api.get(`${CS}/rooms/${enc(roomId)}/messages?dir=b&limit=50&filter=${enc(JSON.stringify(filter))}`, alice.access_token)
      assert.equal(page.status, 200, JSON.stringify(page.body))
      assert.deepEqual(page.body.chunk, [])
      const found = await t.api.post(`${CS}/search`, { search_categories: { room_events: { search_term: 'findme', filter } } }, alice.access_token)
      assert.equal(found.status, 200, JSON.stringify(found.body))
    })
  })
})

describe('filters over the size limits', () => {
  it('refuses a stored filter of 200 000 types (past the body value count) and one of 5 000 types (past the list limit), naming the limit', async () => {
    const alice = await registerUser(t.api)
    const post = (n: number) => {
      const types = Array.from({ length: n }, (_, i) => `m.type.${i}`)
      return t.api.post(`${CS}/user/${enc(alice.user_id)}/filter`, { room: { timeline: { types } } }, alice.access_token)
    }
    const huge = await whileHealthy(t.api, () => post(200_000))
    assertError(huge, 413, 'M_TOO_LARGE')
    const large = await whileHealthy(t.api, () => post(5_000))
    assertError(large, 400, 'M_INVALID_PARAM')
    assert.match(large.body.error, /limit/)
  })

  it('refuses a stored filter with a list of more than 1 000 entries, in every list of every part', async () => {
    const alice = await registerUser(t.api)
    const path = `${CS}/user/${enc(alice.user_id)}/filter`
    const lists = ['types', 'not_types', 'senders', 'not_senders']
    const cases: Array<[string, unknown]> = [['event_fields', { event_fields: many(1001) }], ['room.rooms', { room: { rooms: many(1001) } }], ['room.not_rooms', { room: { not_rooms: many(1001) } }]]
    for (const list of lists) {
      cases.push([`presence.${list}`, { presence: { [list]: many(1001) } }], [`account_data.${list}`, { account_data: { [list]: many(1001) } }])
      for (const part of ['timeline', 'state', 'ephemeral', 'account_data']) cases.push([`room.${part}.${list}`, { room: { [part]: { [list]: many(1001) } } }])
    }
    for (const part of ['timeline', 'state']) cases.push([`room.${part}.rooms`, { room: { [part]: { rooms: many(1001) } } }])
    for (const [name, filter] of cases) {
      const res = await t.api.post(path, filter, alice.access_token)
      assertError(res, 400, 'M_INVALID_PARAM', name)
      assert.ok(res.body.error.includes(name) && res.body.error.includes('1000'), res.body.error)
    }
    assert.equal((await t.api.post(path, { room: { timeline: { types: many(1000) } } }, alice.access_token)).status, 200, 'a list at the limit is accepted')
  })

  it('refuses a filter entry over 255 bytes and a type list with more than 20 patterns with *', async () => {
    const alice = await registerUser(t.api)
    const path = `${CS}/user/${enc(alice.user_id)}/filter`
    assertError(await t.api.post(path, { room: { timeline: { senders: ['é'.repeat(128)] } } }, alice.access_token), 400, 'M_INVALID_PARAM')
    assertError(await t.api.post(path, { room: { timeline: { types: wildcards(21) } } }, alice.access_token), 400, 'M_INVALID_PARAM')
    assert.equal((await t.api.post(path, { room: { timeline: { types: wildcards(20), senders: [`@${'x'.repeat(242)}:example.org`] } } }, alice.access_token)).status, 200)
  })

  it('refuses a stored filter over 64 KiB of JSON', async () => {
    const alice = await registerUser(t.api)
    const res = await t.api.post(`${CS}/user/${enc(alice.user_id)}/filter`, { room: { timeline: { types: many(300, 'x'.repeat(250)) } } }, alice.access_token)
    assertError(res, 400, 'M_INVALID_PARAM')
    assert.match(res.body.error, /65536/)
  })

  it('refuses oversized inline filters on /sync, /messages, /context and /search', async () => {
    const { alice, roomId, eventId } = await hostileRoom()
    const long = { not_senders: many(1001) }
    const starry = { types: wildcards(21) }
    for (const filter of [long, starry]) {
      const q = enc(JSON.stringify(filter))
      assertError(await t.api.get(`${CS}/sync?filter=${enc(JSON.stringify({ room: { timeline: filter } }))}`, alice.access_token), 400, 'M_INVALID_PARAM', '/sync')
      assertError(await t.api.get(`${CS}/rooms/${enc(roomId)}/messages?dir=b&filter=${q}`, alice.access_token), 400, 'M_INVALID_PARAM', '/messages')
      assertError(await t.api.get(`${CS}/rooms/${enc(roomId)}/context/${enc(eventId)}?filter=${q}`, alice.access_token), 400, 'M_INVALID_PARAM', '/context')
      const search = await t.api.post(`${CS}/search`, { search_categories: { room_events: { search_term: 'findme', filter } } }, alice.access_token)
      assertError(search, 400, 'M_INVALID_PARAM', '/search')
    }
    const huge = { rooms: many(20_000, roomId) }
    assertError(await t.api.post(`${CS}/search`, { search_categories: { room_events: { search_term: 'findme', filter: huge } } }, alice.access_token), 400, 'M_INVALID_PARAM')
  })
})

const G = `${CS}/pushrules/global`

describe('push rules with pathological patterns', () => {
  it('refuses a pattern, key or member-count parameter over 255 characters, in every kind that has one', async () => {
    const alice = await registerUser(t.api)
    const long = `*${'a*'.repeat(200)}b`
    assertError(await t.api.put(`${G}/content/long`, { pattern: long, actions: ['notify'] }, alice.access_token), 400, 'M_INVALID_PARAM')
    for (const kind of ['override', 'underride']) {
      for (const condition of [
        { kind: 'event_match', key: 'content.body', pattern: long },
        { kind: 'event_match', key: `content.${'k'.repeat(300)}`, pattern: 'x' },
        { kind: 'event_property_is', key: `content.${'k'.repeat(300)}`, value: 'x' },
        { kind: 'room_member_count', is: `${'0'.repeat(300)}2` },
      ]) {
        const res = await t.api.put(`${G}/${kind}/long`, { conditions: [condition], actions: ['notify'] }, alice.access_token)
        assertError(res, 400, 'M_INVALID_PARAM', `${kind} ${condition.kind}`)
        assert.match(res.body.error, /255/)
      }
    }
    assert.equal((await t.api.put(`${G}/content/fits`, { pattern: 'a'.repeat(255), actions: ['notify'] }, alice.access_token)).status, 200)
  })

  it('refuses a 101st rule of a kind with 400 M_INVALID_PARAM naming the limit, and still replaces existing ones', async () => {
    const alice = await registerUser(t.api)
    const bodies: Record<string, (i: number) => Record<string, unknown>> = {
      content: (i) => ({ pattern: `word${i}`, actions: ['notify'] }),
      room: () => ({ actions: ['notify'] }),
    }
    for (const [kind, body] of Object.entries(bodies)) {
      const id = (i: number) => (kind === 'room' ? `!r${i}:test.localhost` : `r${i}`)
      for (let i = 0; i < 100; i++) assert.equal((await t.api.put(`${G}/${kind}/${enc(id(i))}`, body(i), alice.access_token)).status, 200)
      const refused = await t.api.put(`${G}/${kind}/${enc(id(100))}`, body(100), alice.access_token)
      assertError(refused, 400, 'M_INVALID_PARAM', kind)
      assert.match(refused.body.error, /100/)
      assert.equal((await t.api.put(`${G}/${kind}/${enc(id(5))}`, body(5), alice.access_token)).status, 200, 'replacing a rule adds none')
    }
  })

  it('cannot be bypassed through the m.push_rules account data', async () => {
    const alice = await registerUser(t.api)
    const rules = { global: { content: [{ rule_id: 'x', pattern: EXPLOSIVE.repeat(100), enabled: true, default: false, actions: ['notify'] }] } }
    const res = await t.api.put(`${CS}/user/${enc(alice.user_id)}/account_data/m.push_rules`, rules, alice.access_token)
    assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`)
    assert.deepEqual((await t.api.get(`${G}/`, alice.access_token)).body.content.filter((r: { default: boolean }) => !r.default), [])
  })

  it("sends a 60 KB message promptly although two members' rules are as adversarial as the limits allow", async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const carol = await registerUser(t.api)
    const roomId = await roomOf(alice, bob, carol)
    // Distinct patterns (no answer can be reused) of the longest length, that scan the whole body to fail.
    const pattern = (user: number, i: number) => `${`*a`.repeat(126)}*${String.fromCharCode(98 + user)}${i}`.slice(-255)
    for (const [u, user] of [bob, carol].entries()) {
      for (let i = 0; i < 40; i++) {
        assert.equal((await t.api.put(`${G}/content/c${i}`, { pattern: pattern(u, i), actions: ['notify'] }, user.access_token)).status, 200)
      }
      for (const kind of ['override', 'underride']) {
        const conditions = Array.from({ length: 5 }, (_, i) => ({ kind: 'event_match', key: 'content.body', pattern: pattern(u, 100 + i) }))
        assert.equal((await t.api.put(`${G}/${kind}/adversary`, { conditions, actions: ['notify'] }, user.access_token)).status, 200)
      }
    }
    const body = 'a '.repeat(30_000)
    await whileHealthy(t.api, async () => {
      for (let i = 0; i < 3; i++) await send(alice, roomId, 'm.room.message', { msgtype: 'm.text', body })
    })
    // The rules still work where they can match: a short message naming a keyword notifies.
    assert.equal((await t.api.put(`${G}/content/hello`, { pattern: 'hello', actions: ['notify', { set_tweak: 'highlight' }] }, bob.access_token)).status, 200)
    await send(alice, roomId, 'm.room.message', { msgtype: 'm.text', body: 'well hello there' })
    const sync = await t.api.get(`${CS}/sync`, bob.access_token)
    assert.equal(sync.body.rooms.join[roomId].unread_notifications.highlight_count, 1)
  })
})
