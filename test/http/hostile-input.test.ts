// Hostile JSON on every endpoint family that reads a JSON body, and on the inline filter parameter: JSON
// nested far too deep, very wide objects and arrays (within http.max_body_bytes), lone UTF-16 surrogates in
// values and keys, bytes that are not UTF-8, floats and integers beyond 2^53, more values than
// http.max_json_values. Each answer is a clear 4xx with {errcode, error} (or a success where the input is
// acceptable), never a 500; while the heaviest of them run, /health answers within a second
// (test/support/hostile.ts).
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type ApiResponse } from '../support/server.ts'
import { whileHealthy } from '../support/hostile.ts'
import { CS, enc, RoomClient, sharedRoom } from '../support/rooms.ts'
import { DEFAULT_MAX_JSON_VALUES } from '../../src/shared/client-json.ts'

const { api } = await startTestServer()

/** A JSON body with the hostile value `h` (JSON text) spliced in where the endpoint reads a value. */
interface Target {
  name: string
  method: 'PUT' | 'POST'
  path: () => string
  body: (h: string) => string
  /** Unauthenticated endpoints (register, login). */
  anonymous?: true
  /** The value ends up in an event: canonical JSON's rules apply (floats and big integers are refused). */
  event?: true
}

let alice: RoomClient
let bob: RoomClient
let roomId = ''
let eventId = ''
let backupVersion = ''
let txn = 0
const t = () => `hx${process.pid}x${++txn}`

const targets: Target[] = [
  { name: 'register', method: 'POST', anonymous: true, path: () => '/register', body: (h) => `{"username":"${t()}","password":"correct horse battery staple","auth":${h}}` },
  { name: 'login', method: 'POST', anonymous: true, path: () => '/login', body: (h) => `{"type":"m.login.password","identifier":${h},"password":"wrong"}` },
  { name: 'profile displayname', method: 'PUT', path: () => `/profile/${enc(alice.userId)}/displayname`, body: (h) => `{"displayname":${h}}` },
  { name: 'profile avatar_url', method: 'PUT', path: () => `/profile/${enc(alice.userId)}/avatar_url`, body: (h) => `{"avatar_url":${h}}` },
  { name: 'account data', method: 'PUT', path: () => `/user/${enc(alice.userId)}/account_data/org.example.hostile`, body: (h) => `{"data":${h}}` },
  { name: 'room account data', method: 'PUT', path: () => `/user/${enc(alice.userId)}/rooms/${enc(roomId)}/account_data/org.example.hostile`, body: (h) => `{"data":${h}}` },
  { name: 'room tags', method: 'PUT', path: () => `/user/${enc(alice.userId)}/rooms/${enc(roomId)}/tags/u.hostile`, body: (h) => `{"order":0.5,"data":${h}}` },
  { name: 'createRoom creation_content', method: 'POST', event: true, path: () => '/createRoom', body: (h) => `{"creation_content":{"data":${h}}}` },
  { name: 'createRoom initial_state', method: 'POST', event: true, path: () => '/createRoom', body: (h) => `{"initial_state":[{"type":"org.example","state_key":"","content":{"data":${h}}}]}` },
  { name: 'createRoom invite', method: 'POST', path: () => '/createRoom', body: (h) => `{"invite":${h}}` },
  { name: 'send', method: 'PUT', event: true, path: () => `/rooms/${enc(roomId)}/send/m.room.message/${t()}`, body: (h) => `{"msgtype":"m.text","body":"x","data":${h}}` },
  { name: 'state', method: 'PUT', event: true, path: () => `/rooms/${enc(roomId)}/state/org.example.hostile/${t()}`, body: (h) => `{"data":${h}}` },
  { name: 'redact', method: 'PUT', path: () => `/rooms/${enc(roomId)}/redact/${enc(eventId)}/${t()}`, body: (h) => `{"reason":${h}}` },
  { name: 'membership (invite)', method: 'POST', path: () => `/rooms/${enc(roomId)}/invite`, body: (h) => `{"user_id":${h}}` },
  { name: 'join', method: 'POST', path: () => `/join/${enc(roomId)}`, body: (h) => `{"reason":${h}}` },
  { name: 'receipt', method: 'POST', path: () => `/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, body: (h) => `{"thread_id":${h}}` },
  { name: 'read markers', method: 'POST', path: () => `/rooms/${enc(roomId)}/read_markers`, body: (h) => `{"m.fully_read":${h}}` },
  { name: 'typing', method: 'PUT', path: () => `/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, body: (h) => `{"typing":true,"timeout":${h}}` },
  { name: 'presence', method: 'PUT', path: () => `/presence/${enc(alice.userId)}/status`, body: (h) => `{"presence":"online","status_msg":${h}}` },
  { name: 'filter upload', method: 'POST', path: () => `/user/${enc(alice.userId)}/filter`, body: (h) => `{"room":{"timeline":{"types":${h}}}}` },
  { name: 'keys upload', method: 'POST', path: () => '/keys/upload', body: (h) => `{"one_time_keys":${h}}` },
  { name: 'keys query', method: 'POST', path: () => '/keys/query', body: (h) => `{"device_keys":${h}}` },
  { name: 'keys claim', method: 'POST', path: () => '/keys/claim', body: (h) => `{"one_time_keys":${h}}` },
  { name: 'signatures upload', method: 'POST', path: () => '/keys/signatures/upload', body: (h) => `{"${alice.userId}":${h}}` },
  { name: 'to-device', method: 'PUT', path: () => `/sendToDevice/org.example.hostile/${t()}`, body: (h) => `{"messages":${h}}` },
  { name: 'room keys version', method: 'POST', path: () => '/room_keys/version', body: (h) => `{"algorithm":"m.megolm_backup.v1.curve25519-aes-sha2","auth_data":${h}}` },
  { name: 'room keys', method: 'PUT', path: () => `/room_keys/keys?version=${backupVersion}`, body: (h) => `{"rooms":${h}}` },
  { name: 'push rules', method: 'PUT', path: () => '/pushrules/global/override/hostile', body: (h) => `{"actions":["notify"],"conditions":${h}}` },
  { name: 'report', method: 'POST', path: () => `/rooms/${enc(roomId)}/report/${enc(eventId)}`, body: (h) => `{"reason":${h}}` },
  { name: 'directory alias', method: 'PUT', path: () => `/directory/room/${enc(`#${t()}:test.localhost`)}`, body: (h) => `{"room_id":${h}}` },
  { name: 'directory visibility', method: 'PUT', path: () => `/directory/list/room/${enc(roomId)}`, body: (h) => `{"visibility":${h}}` },
  { name: 'public rooms', method: 'POST', path: () => '/publicRooms', body: (h) => `{"filter":${h}}` },
  { name: 'user directory', method: 'POST', path: () => '/user_directory/search', body: (h) => `{"search_term":${h}}` },
  { name: 'search', method: 'POST', path: () => '/search', body: (h) => `{"search_categories":{"room_events":{"search_term":"x","filter":${h}}}}` },
  { name: 'device', method: 'PUT', path: () => `/devices/${enc(alice.deviceId)}`, body: (h) => `{"display_name":${h}}` },
  { name: 'delete devices', method: 'POST', path: () => '/delete_devices', body: (h) => `{"devices":${h}}` },
]

function send(target: Target, body: string | Buffer): Promise<ApiResponse> {
  const token = target.anonymous ? null : alice.token
  return api.request(target.method, CS + target.path(), { body, token, headers: { 'Content-Type': 'application/json' } })
}

/** The body with `h` spliced in as raw bytes (for bytes that are not UTF-8). */
function bytesBody(target: Target, h: Buffer): Buffer {
  const [head, tail] = target.body('\u0000').split('\u0000') as [string, string]
  return Buffer.concat([Buffer.from(head), h, Buffer.from(tail)])
}

/** A client error a client can act on: {errcode, error}, or a user-interactive-auth challenge. */
function assertClear(res: ApiResponse, what: string): void {
  assert.ok(res.status < 500, `${what}: ${res.status} ${JSON.stringify(res.body)?.slice(0, 300)}`)
  if (res.status < 400) return
  const body = res.body as Record<string, unknown>
  if (res.status === 401 && Array.isArray(body?.flows)) return
  assert.equal(typeof body?.errcode, 'string', `${what}: ${res.status} ${JSON.stringify(res.body)?.slice(0, 300)}`)
  assert.equal(typeof body?.error, 'string', `${what}: ${JSON.stringify(res.body)?.slice(0, 300)}`)
}

function assertRefused(res: ApiResponse, errcode: string, what: string): void {
  assert.equal(res.status, 400, `${what}: ${res.status} ${JSON.stringify(res.body)?.slice(0, 300)}`)
  assert.equal(res.body?.errcode, errcode, `${what}: ${JSON.stringify(res.body)?.slice(0, 300)}`)
  assert.equal(typeof res.body?.error, 'string', what)
}

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)
const wideObject = (n: number) => `{${Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',')}}`

before(async () => {
  alice = await RoomClient.register(api)
  bob = await RoomClient.register(api)
  roomId = await sharedRoom(alice, [bob])
  eventId = await alice.send(roomId, 'target')
  const backup = await alice.post('/room_keys/version', { algorithm: 'm.megolm_backup.v1.curve25519-aes-sha2', auth_data: { public_key: 'abc' } })
  assert.equal(backup.status, 200, JSON.stringify(backup.body))
  backupVersion = backup.body.version
})

describe('hostile JSON bodies on every endpoint family', () => {
  it('refuses nesting 10,000 and 1,000,000 deep with M_BAD_JSON (or, for an event body past its limit, M_TOO_LARGE unread)', async () => {
    await whileHealthy(api, async () => {
      for (const target of targets) {
        assertRefused(await send(target, target.body(nested(10_000))), 'M_BAD_JSON', `${target.name} 10,000 deep`)
        const deepest = await send(target, target.body(nested(1_000_000)))
        if (deepest.status === 413) assert.equal(deepest.body?.errcode, 'M_TOO_LARGE', `${target.name} 1,000,000 deep`)
        else assertRefused(deepest, 'M_BAD_JSON', `${target.name} 1,000,000 deep`)
      }
    })
  })

  it('refuses an event body of more than four times the PDU limit before reading it (413 M_TOO_LARGE)', async () => {
    const content = `"${'x'.repeat(4 * 65536)}"`
    for (const target of targets.filter((t) => t.method === 'PUT' && t.event)) {
      const res = await send(target, target.body(content))
      assert.equal(res.status, 413, `${target.name}: ${res.status} ${JSON.stringify(res.body)?.slice(0, 300)}`)
      assert.equal(res.body?.errcode, 'M_TOO_LARGE', target.name)
    }
  })

  it('refuses lone surrogates in values and in keys with M_BAD_JSON', async () => {
    for (const target of targets) {
      assertRefused(await send(target, target.body('"\\ud800"')), 'M_BAD_JSON', `${target.name} value`)
      assertRefused(await send(target, target.body('["ok","x\\udfff"]')), 'M_BAD_JSON', `${target.name} value in a list`)
      assertRefused(await send(target, target.body('{"\\udbff":1}')), 'M_BAD_JSON', `${target.name} key`)
    }
  })

  it('refuses bytes that are not UTF-8 with M_NOT_JSON', async () => {
    for (const target of targets) {
      for (const bad of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]]) {
        const body = bytesBody(target, Buffer.from([0x22, ...bad, 0x22]))
        assertRefused(await send(target, body), 'M_NOT_JSON', `${target.name} bytes ${bad.map((b) => b.toString(16)).join(' ')}`)
      }
    }
  })

  it('answers floats and integers beyond 2^53 - 1 clearly, and M_BAD_JSON where they would enter an event', async () => {
    for (const target of targets) {
      for (const value of ['1.5', '12345678901234567890', '-9007199254740993', '1e400', '{"n":[0.1]}']) {
        const res = await send(target, target.body(value))
        if (target.event) assertRefused(res, 'M_BAD_JSON', `${target.name} ${value}`)
        else assertClear(res, `${target.name} ${value}`)
      }
    }
  })

  it(`refuses more than ${DEFAULT_MAX_JSON_VALUES} values with M_TOO_LARGE, and answers wide JSON within that clearly, while /health stays quick`, async () => {
    const tooMany = wideObject(DEFAULT_MAX_JSON_VALUES + 1)
    const object = wideObject(DEFAULT_MAX_JSON_VALUES - 10)
    // Near http.max_body_bytes (10 MB): 90,000 strings of 100 characters.
    const array = `[${Array.from({ length: 90_000 }, (_, i) => `"@${String(i).padStart(97, 'u')}:t"`).join(',')}]`
    await whileHealthy(api, async () => {
      for (const target of targets) {
        const refused = await send(target, target.body(tooMany))
        assert.equal(refused.status, 413, `${target.name} too many values: ${refused.status} ${JSON.stringify(refused.body)?.slice(0, 300)}`)
        assert.equal(refused.body?.errcode, 'M_TOO_LARGE', target.name)
        assertClear(await send(target, target.body(object)), `${target.name} wide object`)
        assertClear(await send(target, target.body(array)), `${target.name} wide array`)
      }
    })
  })
})

describe('hostile inline filters', () => {
  const reads = () => [
    (f: string) => `/sync?timeout=0&filter=${encodeURIComponent(`{"room":{"timeline":${f}}}`)}`,
    (f: string) => `/rooms/${enc(roomId)}/messages?dir=b&filter=${encodeURIComponent(f)}`,
    (f: string) => `/rooms/${enc(roomId)}/context/${enc(eventId)}?filter=${encodeURIComponent(f)}`,
  ]

  it('refuses deep nesting and lone surrogates with M_BAD_JSON, and answers numbers clearly', async () => {
    await whileHealthy(api, async () => {
      for (const read of reads()) {
        assertRefused(await alice.get(read(`{"types":${nested(2_000)}}`)), 'M_BAD_JSON', `${read('F')} deep`)
        assertRefused(await alice.get(read('{"types":["\\ud800"]}')), 'M_BAD_JSON', `${read('F')} lone surrogate value`)
        assertRefused(await alice.get(read('{"\\udc00":1}')), 'M_BAD_JSON', `${read('F')} lone surrogate key`)
        assertClear(await alice.get(read('{"limit":1.5}')), `${read('F')} float`)
        assertClear(await alice.get(read('{"limit":12345678901234567890}')), `${read('F')} big integer`)
      }
    })
  })
})
