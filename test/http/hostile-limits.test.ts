// Hostile sizes and slow clients: huge limit parameters across the endpoint families are lowered to the
// configured caps (never a 500, never an unbounded answer), a long presence status is refused, and slow
// bodies, silent connections and idle keep-alives are cut off in bounded time, while /health keeps
// answering within a second and long-polls and uploads keep working. Caps and timeouts are set small here.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, enc } from '../support/rooms.ts'
import { whileHealthy } from '../support/hostile.ts'

const CAPS = {
  'limits.sync_timeline_limit': 5,
  'limits.sync_timeout_ms': 1500,
  'limits.messages_limit': 5,
  'limits.context_limit': 4,
  'limits.relations_limit': 3,
  'limits.search_limit': 3,
  'limits.user_directory_limit': 2,
  'limits.public_rooms_limit': 2,
  'limits.hierarchy_limit': 2,
  'limits.status_msg_bytes': 64,
}
const t: TestServer = await startTestServer({
  ...CAPS,
  'http.headers_timeout_ms': 500,
  'http.request_timeout_ms': 1000,
  'http.idle_timeout_ms': 2500,
  'http.keep_alive_timeout_ms': 500,
})

const HUGE = Number.MAX_SAFE_INTEGER
const { hostname: host, port } = new URL(t.url)

/** A raw connection, for clients that send slowly or not at all; `closed` settles when the server hangs up. */
function rawConnection(): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(port) })
    let data = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (data += chunk))
    const closed = new Promise<void>((done) => socket.on('close', () => done()))
    socket.once('error', () => {})
    socket.once('connect', () => resolve({ socket, received: () => data, closed }))
    socket.once('error', reject)
  })
}

/** Resolves with true once `p` settles, or false after `ms` (a bound on how long the server may take). */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))
  const result = await Promise.race([p.then(() => true), timeout])
  clearTimeout(timer)
  return result
}

/** A room with `n` messages (and one of them with replies), for the paging endpoints. */
async function busyRoom(alice: RoomClient, n: number): Promise<{ roomId: string; root: string; word: string }> {
  const roomId = await alice.createRoom({ preset: 'public_chat' })
  const word = `w${process.pid}x${Date.now().toString(36)}`
  let root = ''
  for (let i = 0; i < n; i++) {
    const id = await alice.send(roomId, `${word} message ${i}`)
    if (i === 0) root = id
  }
  for (let i = 0; i < 5; i++) {
    await alice.send(roomId, { msgtype: 'm.text', body: `${word} reply ${i}`, 'm.relates_to': { rel_type: 'm.thread', event_id: root } })
  }
  return { roomId, root, word }
}

describe('huge limit parameters', () => {
  it('lowers /sync timeline limits to limits.sync_timeline_limit, marking the timeline limited', async () => {
    const alice = await RoomClient.register(t.api)
    const { roomId } = await busyRoom(alice, 8)
    for (const limit of [HUGE, 1e9, 6]) {
      const res = await alice.get(`/sync?filter=${enc(JSON.stringify({ room: { timeline: { limit } } }))}`)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      const timeline = res.body.rooms.join[roomId].timeline
      assert.equal(timeline.events.length, 5, `limit ${limit}`)
      assert.equal(timeline.limited, true)
      assert.equal(typeof timeline.prev_batch, 'string')
    }
    // A stored filter is lowered the same way.
    const filterId = (await alice.post(`/user/${enc(alice.userId)}/filter`, { room: { timeline: { limit: HUGE } } })).body.filter_id
    const stored = await alice.get(`/sync?filter=${enc(filterId)}`)
    assert.equal(stored.body.rooms.join[roomId].timeline.events.length, 5)
    assert.equal((await alice.get(`/user/${enc(alice.userId)}/filter/${enc(filterId)}`)).body.room.timeline.limit, HUGE, 'the filter keeps what it asked for')
  })

  it('lowers every paging limit to its cap, across endpoint families, while /health answers', async () => {
    const alice = await RoomClient.register(t.api)
    const { roomId, root, word } = await busyRoom(alice, 10)
    const space = await alice.createRoom({ preset: 'public_chat', creation_content: { type: 'm.space' } })
    for (let i = 0; i < 3; i++) {
      const other = await RoomClient.register(t.api, { username: `${word}user${i}` })
      await other.join(roomId)
      await alice.createRoom({ preset: 'public_chat', visibility: 'public', name: `${word} room ${i}` })
      await alice.putState(space, 'm.space.child', await alice.createRoom({ preset: 'public_chat', name: `${word} child ${i}` }), { via: ['test.localhost'] })
    }
    await whileHealthy(t.api, async () => {
      const messages = await alice.get(`/rooms/${enc(roomId)}/messages?dir=b&limit=${HUGE}`)
      assert.equal(messages.status, 200, JSON.stringify(messages.body))
      assert.equal(messages.body.chunk.length, 5)
      const viaFilter = await alice.get(`/rooms/${enc(roomId)}/messages?dir=b&filter=${enc(JSON.stringify({ limit: HUGE }))}`)
      assert.equal(viaFilter.body.chunk.length, 5)

      const context = await alice.get(`/rooms/${enc(roomId)}/context/${enc(root)}?limit=${HUGE}`)
      assert.equal(context.status, 200, JSON.stringify(context.body))
      assert.ok(context.body.events_before.length + context.body.events_after.length <= 4)

      const relations = await t.api.get(`/_matrix/client/v1/rooms/${enc(roomId)}/relations/${enc(root)}?limit=${HUGE}`, alice.token)
      assert.equal(relations.status, 200, JSON.stringify(relations.body))
      assert.equal(relations.body.chunk.length, 3)
      assert.equal(typeof relations.body.next_batch, 'string')

      const threads = await t.api.get(`/_matrix/client/v1/rooms/${enc(roomId)}/threads?limit=${HUGE}`, alice.token)
      assert.equal(threads.status, 200, JSON.stringify(threads.body))

      const search = await alice.post('/search', {
        search_categories: { room_events: { search_term: word, filter: { limit: HUGE }, event_context: { before_limit: HUGE, after_limit: HUGE } } },
      })
      assert.equal(search.status, 200, JSON.stringify(search.body))
      assert.equal(search.body.search_categories.room_events.results.length, 3)

      const users = await alice.post('/user_directory/search', { search_term: word, limit: HUGE })
      assert.equal(users.status, 200, JSON.stringify(users.body))
      assert.equal(users.body.results.length, 2)
      assert.equal(users.body.limited, true)

      const publicGet = await t.api.get(`/_matrix/client/v3/publicRooms?limit=${HUGE}`, alice.token)
      assert.equal(publicGet.status, 200, JSON.stringify(publicGet.body))
      assert.equal(publicGet.body.chunk.length, 2)
      const publicPost = await alice.post('/publicRooms', { limit: HUGE, filter: { generic_search_term: word } })
      assert.equal(publicPost.status, 200, JSON.stringify(publicPost.body))
      assert.equal(publicPost.body.chunk.length, 2)

      const hierarchy = await t.api.get(`/_matrix/client/v1/rooms/${enc(space)}/hierarchy?limit=${HUGE}`, alice.token)
      assert.equal(hierarchy.status, 200, JSON.stringify(hierarchy.body))
      assert.equal(hierarchy.body.rooms.length, 2)
    })
  })

  it('answers huge lists in requests without a 500 while /health answers', async () => {
    const alice = await RoomClient.register(t.api)
    const many = Array.from({ length: 5000 }, (_, i) => `@nobody${i}:test.localhost`)
    await whileHealthy(t.api, async () => {
      const keys = await alice.post('/keys/query', { device_keys: Object.fromEntries(many.map((u) => [u, []])) })
      assert.ok(keys.status < 500, JSON.stringify(keys.body).slice(0, 200))
      const search = await alice.post('/search', { search_categories: { room_events: { search_term: 'anything', filter: { rooms: many.map((u) => `!${u.slice(1)}`) } } } })
      assert.ok(search.status < 500, JSON.stringify(search.body).slice(0, 200))
      const messages = await alice.get(`/rooms/${enc(await alice.createRoom())}/messages?dir=b&filter=${enc(JSON.stringify({ not_senders: many.slice(0, 500) }))}`)
      assert.ok(messages.status < 500, JSON.stringify(messages.body).slice(0, 200))
    })
  })
})

describe('PUT /presence/{userId}/status', () => {
  it('refuses a status_msg longer than limits.status_msg_bytes with 400', async () => {
    const alice = await RoomClient.register(t.api)
    const path = `/presence/${enc(alice.userId)}/status`
    const tooLong = await alice.put(path, { presence: 'online', status_msg: 'é'.repeat(33) })
    assert.equal(tooLong.status, 400, JSON.stringify(tooLong.body))
    assert.equal(tooLong.body.errcode, 'M_INVALID_PARAM')
    assert.equal((await alice.put(path, { presence: 'online', status_msg: 'é'.repeat(32) })).status, 200)
    assert.equal((await alice.get(path)).body.status_msg, 'é'.repeat(32))
  })
})

describe('slow and idle clients', () => {
  it('cuts off a body that trickles in with 408 and closes the connection, while /health answers', async () => {
    const alice = await RoomClient.register(t.api)
    await whileHealthy(t.api, async () => {
      const conn = await rawConnection()
      conn.socket.write(
        `PUT /_matrix/client/v3/profile/${enc(alice.userId)}/displayname HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${alice.token}\r\n` +
          'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"displayname":"',
      )
      const drip = setInterval(() => conn.socket.writable && conn.socket.write('a'), 100)
      const cut = await within(conn.closed, 5000)
      clearInterval(drip)
      conn.socket.destroy()
      assert.ok(cut, 'the server still held the trickling request after 5 s')
      assert.match(conn.received(), /^HTTP\/1\.1 408/)
    })
  })

  it('closes many connections that never send a byte, and keep-alive connections left idle, while /health answers', async () => {
    await whileHealthy(t.api, async () => {
      const silent = await Promise.all(Array.from({ length: 50 }, () => rawConnection()))
      const kept = await rawConnection()
      kept.socket.write(`GET /health HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n\r\n`)
      const all = await within(Promise.all([...silent, kept].map((c) => c.closed)), 5000)
      for (const c of [...silent, kept]) c.socket.destroy()
      assert.ok(all, 'idle connections were still open after 5 s')
      assert.match(kept.received(), /^HTTP\/1\.1 200/)
    })
  })

  it('keeps /sync long-polls working, with their timeout lowered to limits.sync_timeout_ms', async () => {
    const alice = await RoomClient.register(t.api)
    const first = await alice.sync()
    // The long-poll outlasts the header and request timeouts: they end once the request has arrived.
    const waited = await alice.get(`/sync?since=${enc(first.next_batch)}&timeout=1200`)
    assert.equal(waited.status, 200, JSON.stringify(waited.body))
    const capped = alice.get(`/sync?since=${enc(first.next_batch)}&timeout=${HUGE}`)
    assert.ok(await within(capped, 5000), 'a huge timeout was not lowered')
    assert.equal((await capped).status, 200)
  })

  it('keeps media uploads working', async () => {
    const alice = await RoomClient.register(t.api)
    const bytes = Buffer.alloc(2 * 1024 * 1024, 7)
    const res = await t.api.request('POST', '/_matrix/media/v3/upload', { body: bytes, token: alice.token, headers: { 'Content-Type': 'application/octet-stream' } })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.match(res.body.content_uri, /^mxc:\/\//)
  })
})
