// Server-side key backups over real HTTP: POST/GET /room_keys/version, GET/PUT/DELETE /room_keys/version/{version},
// GET/PUT/DELETE /room_keys/keys[/{roomId}[/{sessionId}]].
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startTestServer, type ApiResponse, type TestServer } from '../support/server.ts'
import { CS, RoomClient, assertError, enc } from '../support/rooms.ts'

const t: TestServer = await startTestServer()
const client = () => RoomClient.register(t.api)

const ALGORITHM = 'm.megolm_backup.v1.curve25519-aes-sha2'
const AUTH_DATA = { public_key: 'abcdefg', signatures: { '@alice:example.org': { 'ed25519:deviceid': 'signature' } } }
const ROOM = '!room:test.localhost'
const OTHER_ROOM = '!other:test.localhost'

type KeyData = { first_message_index: number; forwarded_count: number; is_verified: boolean; session_data: Record<string, unknown> }

const key = (fields: Partial<KeyData> = {}, tag = 'a'): KeyData => ({
  ...{ first_message_index: 0, forwarded_count: 0, is_verified: false },
  session_data: { ephemeral: `eph-${tag}`, ciphertext: `cipher-${tag}`, mac: `mac-${tag}` },
  ...fields,
})

const versionPath = (version: string) => `/room_keys/version/${enc(version)}`
const keysPath = (version: string | null, roomId?: string, sessionId?: string) =>
  `/room_keys/keys${roomId === undefined ? '' : `/${enc(roomId)}`}${sessionId === undefined ? '' : `/${enc(sessionId)}`}` +
  (version === null ? '' : `?version=${enc(version)}`)

const del = (c: RoomClient, path: string) => t.api.delete(CS + path, undefined, c.token)

function ok(res: ApiResponse): any {
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body
}

async function createVersion(c: RoomClient, authData: Record<string, unknown> = AUTH_DATA): Promise<string> {
  const { version } = ok(await c.post('/room_keys/version', { algorithm: ALGORITHM, auth_data: authData }))
  assert.equal(typeof version, 'string')
  return version
}

const putSession = async (c: RoomClient, version: string, roomId: string, sessionId: string, data: KeyData): Promise<{ etag: string; count: number }> =>
  ok(await c.put(keysPath(version, roomId, sessionId), data))
const getKeys = async (c: RoomClient, version: string, roomId?: string, sessionId?: string) => ok(await c.get(keysPath(version, roomId, sessionId)))
const versionInfo = async (c: RoomClient, version?: string) => ok(await c.get(version === undefined ? '/room_keys/version' : versionPath(version)))

describe('POST /room_keys/version', () => {
  it('creates versions numbered upwards, each returned as a string', async () => {
    const alice = await client()
    const first = await createVersion(alice)
    assert.ok(Number(await createVersion(alice)) > Number(first))
  })

  it('refuses a body without algorithm or auth_data (M_MISSING_PARAM) or with wrong types (M_BAD_JSON)', async () => {
    const alice = await client()
    assertError(await alice.post('/room_keys/version', { auth_data: AUTH_DATA }), 400, 'M_MISSING_PARAM', 'no algorithm')
    assertError(await alice.post('/room_keys/version', { algorithm: ALGORITHM }), 400, 'M_MISSING_PARAM', 'no auth_data')
    for (const authData of [7, ['a'], null, true]) {
      assertError(await alice.post('/room_keys/version', { algorithm: ALGORITHM, auth_data: authData }), 400, 'M_BAD_JSON', `auth_data ${JSON.stringify(authData)}`)
    }
    assertError(await alice.post('/room_keys/version', { algorithm: 7, auth_data: AUTH_DATA }), 400, 'M_BAD_JSON', 'number algorithm')
  })

  it('keeps a string auth_data as given (as Synapse does), on create and on update', async () => {
    const alice = await client()
    const { version } = ok(await alice.post('/room_keys/version', { algorithm: ALGORITHM, auth_data: 'an opaque string' }))
    assert.equal((await versionInfo(alice, version)).auth_data, 'an opaque string')
    ok(await alice.put(versionPath(version), { algorithm: ALGORITHM, auth_data: '{"not": "parsed"}', version }))
    assert.equal((await versionInfo(alice)).auth_data, '{"not": "parsed"}')
    ok(await alice.put(versionPath(version), { algorithm: ALGORITHM, auth_data: { public_key: 'object again' } }))
    assert.deepEqual((await versionInfo(alice)).auth_data, { public_key: 'object again' })
  })
})

describe('GET /room_keys/version', () => {
  it('returns M_NOT_FOUND when no backup exists', async () => {
    assertError(await (await client()).get('/room_keys/version'), 404, 'M_NOT_FOUND')
  })

  it('returns the latest version with algorithm, auth_data, count, etag and version (also under r0)', async () => {
    const alice = await client()
    await createVersion(alice, { public_key: 'old' })
    const version = await createVersion(alice)
    const info = await versionInfo(alice)
    assert.equal(typeof info.etag, 'string')
    assert.deepEqual({ ...info, etag: undefined }, { algorithm: ALGORITHM, auth_data: AUTH_DATA, count: 0, etag: undefined, version })
    assert.deepEqual(ok(await t.api.get('/_matrix/client/r0/room_keys/version', alice.token)), info)
  })

  it('falls back to the previous version once the latest is deleted', async () => {
    const alice = await client()
    const first = await createVersion(alice)
    ok(await del(alice, versionPath(await createVersion(alice))))
    assert.equal((await versionInfo(alice)).version, first)
  })
})

describe('GET /room_keys/version/:version', () => {
  it('returns an older version by number, and M_NOT_FOUND for an unknown or malformed one', async () => {
    const alice = await client()
    const first = await createVersion(alice, { public_key: 'first' })
    const second = await createVersion(alice)
    const info = await versionInfo(alice, first)
    assert.deepEqual([info.version, info.auth_data], [first, { public_key: 'first' }])
    assertError(await alice.get(versionPath(String(Number(second) + 1))), 404, 'M_NOT_FOUND', 'unknown')
    assertError(await alice.get(versionPath('abc')), 404, 'M_NOT_FOUND', 'not a number')
  })

  it("does not show another user's backup", async () => {
    const bob = await client()
    const version = await createVersion(bob)
    await putSession(bob, version, ROOM, 'bobs', key())
    const alice = await client()
    assertError(await alice.get(versionPath(version)), 404, 'M_NOT_FOUND', 'version')
    assertError(await alice.get('/room_keys/version'), 404, 'M_NOT_FOUND', 'latest')
    assertError(await alice.get(keysPath(version, ROOM, 'bobs')), 404, 'M_NOT_FOUND', 'session')
    assertError(await alice.put(versionPath(version), { algorithm: ALGORITHM, auth_data: {} }), 404, 'M_NOT_FOUND', 'update')
    assertError(await alice.put(keysPath(version, ROOM, 'alices'), key()), 404, 'M_NOT_FOUND', 'upload')
    assertError(await del(alice, keysPath(version)), 404, 'M_NOT_FOUND', 'delete keys')
    assertError(await del(alice, versionPath(version)), 404, 'M_NOT_FOUND', 'delete version')
    // Alice's own version with the same number holds only her keys.
    assert.equal(await createVersion(alice), version)
    assert.deepEqual(await getKeys(alice, version), { rooms: {} })
    const bobs = await versionInfo(bob, version)
    assert.deepEqual([bobs.count, bobs.auth_data], [1, AUTH_DATA])
    assert.deepEqual(await getKeys(bob, version, ROOM, 'bobs'), key())
  })
})

describe('PUT /room_keys/version/:version', () => {
  it('replaces auth_data, with or without a matching version in the body', async () => {
    const alice = await client()
    const version = await createVersion(alice)
    assert.deepEqual(ok(await alice.put(versionPath(version), { algorithm: ALGORITHM, auth_data: { public_key: 'new' } })), {})
    assert.deepEqual((await versionInfo(alice, version)).auth_data, { public_key: 'new' })
    ok(await alice.put(versionPath(version), { algorithm: ALGORITHM, auth_data: { public_key: 'newer' }, version }))
    assert.deepEqual((await versionInfo(alice)).auth_data, { public_key: 'newer' })
  })

  it('refuses a body version other than the path one, or another algorithm, with 400 M_INVALID_PARAM', async () => {
    const alice = await client()
    const version = await createVersion(alice)
    const put = (body: Record<string, unknown>) => alice.put(versionPath(version), body)
    assertError(await put({ algorithm: ALGORITHM, auth_data: {}, version: `${version}0` }), 400, 'M_INVALID_PARAM', 'version')
    assertError(await put({ algorithm: 'm.other', auth_data: {} }), 400, 'M_INVALID_PARAM', 'algorithm')
    assertError(await put({ algorithm: ALGORITHM }), 400, 'M_MISSING_PARAM', 'no auth_data')
    assert.deepEqual((await versionInfo(alice)).auth_data, AUTH_DATA)
  })

  it('returns M_NOT_FOUND for an unknown or deleted version', async () => {
    const alice = await client()
    const version = await createVersion(alice)
    const body = { algorithm: ALGORITHM, auth_data: {} }
    assertError(await alice.put(versionPath(String(Number(version) + 1)), body), 404, 'M_NOT_FOUND', 'unknown')
    await del(alice, versionPath(version))
    assertError(await alice.put(versionPath(version), body), 404, 'M_NOT_FOUND', 'deleted')
  })
})

describe('DELETE /room_keys/version/:version', () => {
  it('deletes the version and its keys; deleting it again succeeds; its number is not reused', async () => {
    const alice = await client()
    const version = await createVersion(alice)
    await putSession(alice, version, ROOM, 's1', key())
    assert.deepEqual(ok(await del(alice, versionPath(version))), {})
    assertError(await alice.get(versionPath(version)), 404, 'M_NOT_FOUND', 'version')
    assertError(await alice.get(keysPath(version)), 404, 'M_NOT_FOUND', 'keys')
    assertError(await alice.get(keysPath(version, ROOM, 's1')), 404, 'M_NOT_FOUND', 'session')
    ok(await del(alice, versionPath(version)))
    assert.notEqual(await createVersion(alice), version)
    assert.equal((await versionInfo(alice)).count, 0)
  })

  it('returns M_NOT_FOUND for a version that never existed', async () => {
    const alice = await client()
    assertError(await del(alice, versionPath('1')), 404, 'M_NOT_FOUND', 'none')
    assertError(await del(alice, versionPath('x')), 404, 'M_NOT_FOUND', 'malformed')
  })
})

describe('PUT /room_keys/keys', () => {
  it('stores keys through all three shapes, reads them back through all three, and keeps only the spec fields', async () => {
    const alice = await client()
    const version = await createVersion(alice)
    const [s1, s2, s3, s4] = [key({}, '1'), key({ is_verified: true }, '2'), key({}, '3'), key({ forwarded_count: 2 }, '4')]
    const empty = await versionInfo(alice)
    const all = ok(await alice.put(keysPath(version), { rooms: { [ROOM]: { sessions: { s1, s2 } } } }))
    assert.deepEqual([all.count, typeof all.etag, all.etag === empty.etag], [2, 'string', false])
    assert.equal(ok(await alice.put(keysPath(version, OTHER_ROOM), { sessions: { s3 } })).count, 3)
    assert.equal((await putSession(alice, version, OTHER_ROOM, 's4', { ...s4, extra: 'dropped' } as KeyData)).count, 4)
    assert.deepEqual(await getKeys(alice, version), { rooms: { [ROOM]: { sessions: { s1, s2 } }, [OTHER_ROOM]: { sessions: { s3, s4 } } } })
    assert.deepEqual(await getKeys(alice, version, OTHER_ROOM), { sessions: { s3, s4 } })
    assert.deepEqual(await getKeys(alice, version, ROOM, 's2'), s2)
    const info = await versionInfo(alice)
    assert.deepEqual([info.count, info.etag === all.etag], [4, false])
  })

  it('writes hundreds of sessions in one request', async () => {
    const alice = await client()
    const version = await createVersion(alice)
    const sessions = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`session${i}`, key({ first_message_index: i }, `${i}`)]))
    assert.equal(ok(await alice.put(keysPath(version), { rooms: { [ROOM]: { sessions }, [OTHER_ROOM]: { sessions } } })).count, 600)
    assert.deepEqual(await getKeys(alice, version, OTHER_ROOM), { sessions })
  })

  it('answers 403 M_WRONG_ROOM_KEYS_VERSION with current_version for an older version', async () => {
    const alice = await client()
    const old = await createVersion(alice)
    const current = await createVersion(alice)
    const res = await alice.put(keysPath(old, ROOM, 's1'), key())
    assertError(res, 403, 'M_WRONG_ROOM_KEYS_VERSION')
    assert.equal(res.body.current_version, current)
    assertError(await alice.put(keysPath(old), { rooms: {} }), 403, 'M_WRONG_ROOM_KEYS_VERSION', 'empty upload')
    assert.deepEqual(await getKeys(alice, old), { rooms: {} })
  })

  it('answers 404 M_NOT_FOUND for an unknown version, or when the user has no backup', async () => {
    const alice = await client()
    assertError(await alice.put(keysPath('1', ROOM, 's1'), key()), 404, 'M_NOT_FOUND', 'no backup')
    const version = await createVersion(alice)
    assertError(await alice.put(keysPath(String(Number(version) + 1), ROOM, 's1'), key()), 404, 'M_NOT_FOUND', 'unknown')
    assertError(await alice.put(keysPath('latest', ROOM, 's1'), key()), 404, 'M_NOT_FOUND', 'malformed')
  })

  it('refuses a missing version query parameter with 400 M_MISSING_PARAM', async () => {
    const alice = await client()
    await createVersion(alice)
    assertError(await alice.put(keysPath(null, ROOM, 's1'), key()), 400, 'M_MISSING_PARAM', 'PUT')
    assertError(await alice.get(keysPath(null)), 400, 'M_MISSING_PARAM', 'GET')
    assertError(await del(alice, keysPath(null, ROOM)), 400, 'M_MISSING_PARAM', 'DELETE')
  })

  it('keeps a string session_data as given (as Synapse does)', async () => {
    const alice = await client()
    const version = await createVersion(alice)
    ok(await alice.put(keysPath(version, ROOM, 's1'), { ...key(), session_data: 'an opaque string' }))
    assert.equal(ok(await alice.get(keysPath(version, ROOM, 's1'))).session_data, 'an opaque string')
  })

  it('refuses malformed key data with 400 and stores none of the request', async () => {
    const alice = await client()
    const version = await createVersion(alice)
    const bad: Array<[string, unknown, string]> = [
      ['session_data a number', { ...key(), session_data: 7 }, 'M_BAD_JSON'],
      ['session_data an array', { ...key(), session_data: [] }, 'M_BAD_JSON'],
      ['negative first_message_index', { ...key(), first_message_index: -1 }, 'M_BAD_JSON'],
      ['fractional forwarded_count', { ...key(), forwarded_count: 1.5 }, 'M_BAD_JSON'],
      ['string forwarded_count', { ...key(), forwarded_count: '1' }, 'M_BAD_JSON'],
      ['is_verified a string', { ...key(), is_verified: 'true' }, 'M_BAD_JSON'],
      ['no is_verified', { ...key(), is_verified: undefined }, 'M_MISSING_PARAM'],
      ['no session_data', { ...key(), session_data: undefined }, 'M_MISSING_PARAM'],
    ]
    for (const [what, data, errcode] of bad) {
      assertError(await alice.put(keysPath(version, ROOM, 's1'), data), 400, errcode, what)
      // One bad session among good ones: nothing of the request is stored.
      const rooms = { [ROOM]: { sessions: { good: key(), bad: data } } }
      assertError(await alice.put(keysPath(version), { rooms }), 400, errcode, `${what}, among others`)
    }
    assertError(await alice.put(keysPath(version), { rooms: { 'not-a-room': { sessions: {} } } }), 400, 'M_BAD_JSON', 'room ID')
    assertError(await alice.put(keysPath(version), { rooms: { [ROOM]: { sessions: { '': key() } } } }), 400, 'M_BAD_JSON', 'empty session ID')
    assertError(await alice.put(keysPath(version), { rooms: { [ROOM]: {} } }), 400, 'M_MISSING_PARAM', 'no sessions')
    assertError(await alice.put(keysPath(version), {}), 400, 'M_MISSING_PARAM', 'no rooms')
    assertError(await alice.put(keysPath(version, ROOM), { sessions: [] }), 400, 'M_BAD_JSON', 'sessions an array')
    assertError(await t.api.put(CS + keysPath(version, ROOM, 's1'), 'not json', alice.token), 400, 'M_NOT_JSON', 'not JSON')
    assertError(await alice.put(keysPath(version, 'no-bang', 's1'), key()), 400, 'M_INVALID_PARAM', 'path room ID')
    assert.deepEqual(await getKeys(alice, version), { rooms: {} })
    assert.equal((await versionInfo(alice)).count, 0)
  })

  it('keeps every new session when several uploads race', async () => {
    const alice = await client()
    const version = await createVersion(alice)
    // Each upload brings one session of its own and one shared by all (as several devices backing up the same room).
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => alice.put(keysPath(version, ROOM), { sessions: { [`own${i}`]: key(), shared: key({ forwarded_count: i }) } })),
    )
    results.forEach(ok)
    assert.equal((await versionInfo(alice)).count, 9)
    assert.equal(Object.keys((await getKeys(alice, version, ROOM)).sessions).length, 9)
    assert.equal((await getKeys(alice, version, ROOM, 'shared')).forwarded_count, 0)
  })
})

describe('PUT /room_keys/keys: keeping the better key of a session', () => {
  // [what, stored, uploaded, which one the backup keeps]
  const cases: Array<[string, Partial<KeyData>, Partial<KeyData>, 'stored' | 'uploaded']> = [
    ['a verified key replaces an unverified one', { is_verified: false }, { is_verified: true, first_message_index: 9, forwarded_count: 9 }, 'uploaded'],
    ['an unverified key never replaces a verified one', { is_verified: true, first_message_index: 9, forwarded_count: 9 }, { is_verified: false }, 'stored'],
    ['a lower first_message_index wins', { first_message_index: 5 }, { first_message_index: 2, forwarded_count: 7 }, 'uploaded'],
    ['a higher first_message_index loses', { first_message_index: 2, forwarded_count: 7 }, { first_message_index: 5 }, 'stored'],
    ['with the same index, a lower forwarded_count wins', { first_message_index: 3, forwarded_count: 4 }, { first_message_index: 3, forwarded_count: 1 }, 'uploaded'],
    ['with the same index, a higher forwarded_count loses', { first_message_index: 3, forwarded_count: 1 }, { first_message_index: 3, forwarded_count: 4 }, 'stored'],
    ['a key equal in every field does not replace the stored one', { is_verified: true, forwarded_count: 1 }, { is_verified: true, forwarded_count: 1 }, 'stored'],
  ]
  for (const [what, stored, uploaded, kept] of cases) {
    it(what, async () => {
      const alice = await client()
      const version = await createVersion(alice)
      const before = await putSession(alice, version, ROOM, 'session', key(stored, 'stored'))
      const after = await putSession(alice, version, ROOM, 'session', key(uploaded, 'uploaded'))
      assert.deepEqual(await getKeys(alice, version, ROOM, 'session'), kept === 'stored' ? key(stored, 'stored') : key(uploaded, 'uploaded'))
      assert.equal(after.count, 1)
      if (kept === 'stored') assert.equal(after.etag, before.etag, 'nothing changed: same etag')
      else assert.notEqual(after.etag, before.etag, 'a replacement changes the etag')
    })
  }

  it('applies the rule to each session of a batch on its own', async () => {
    const alice = await client()
    const version = await createVersion(alice)
    ok(await alice.put(keysPath(version, ROOM), { sessions: { better: key({ first_message_index: 5 }, 'old'), worse: key({}, 'old') } }))
    const [better, worse, fresh] = [key({}, 'new'), key({ first_message_index: 5 }, 'new'), key({}, 'new')]
    assert.equal(ok(await alice.put(keysPath(version, ROOM), { sessions: { better, worse, fresh } })).count, 3)
    assert.deepEqual((await getKeys(alice, version, ROOM)).sessions, { better, worse: key({}, 'old'), fresh })
  })
})

describe('GET /room_keys/keys', () => {
  it('answers {rooms: {}} and {sessions: {}} for nothing stored, and M_NOT_FOUND for one missing session', async () => {
    const alice = await client()
    const version = await createVersion(alice)
    assert.deepEqual(await getKeys(alice, version), { rooms: {} })
    assert.deepEqual(await getKeys(alice, version, ROOM), { sessions: {} })
    assertError(await alice.get(keysPath(version, ROOM, 'missing')), 404, 'M_NOT_FOUND')
    await putSession(alice, version, ROOM, 's1', key())
    assert.deepEqual(await getKeys(alice, version, OTHER_ROOM), { sessions: {} })
    assertError(await alice.get(keysPath(version, ROOM, 's2')), 404, 'M_NOT_FOUND')
  })

  it('answers M_NOT_FOUND for an unknown version', async () => {
    const alice = await client()
    const unknown = String(Number(await createVersion(alice)) + 1)
    assertError(await alice.get(keysPath(unknown)), 404, 'M_NOT_FOUND', 'all')
    assertError(await alice.get(keysPath(unknown, ROOM)), 404, 'M_NOT_FOUND', 'room')
    assertError(await alice.get(keysPath(unknown, ROOM, 's1')), 404, 'M_NOT_FOUND', 'session')
  })
})

describe('GET/DELETE /room_keys/keys on an older version', () => {
  it('reads and deletes the keys the older version keeps apart from the current one', async () => {
    const alice = await client()
    const old = await createVersion(alice)
    await putSession(alice, old, ROOM, 'old-session', key())
    const current = await createVersion(alice)
    await putSession(alice, current, ROOM, 'new-session', key())
    assert.deepEqual(Object.keys((await getKeys(alice, old, ROOM)).sessions), ['old-session'])
    assert.deepEqual(Object.keys((await getKeys(alice, current, ROOM)).sessions), ['new-session'])
    assert.equal(ok(await del(alice, keysPath(old, ROOM, 'old-session'))).count, 0)
    assert.equal((await versionInfo(alice)).count, 1)
  })
})

describe('DELETE /room_keys/keys', () => {
  it('deletes one session, then one room, then everything, answering a new etag and the count each time', async () => {
    const alice = await client()
    const version = await createVersion(alice)
    const rooms = { [ROOM]: { sessions: { s1: key(), s2: key() } }, [OTHER_ROOM]: { sessions: { s3: key(), s4: key() } } }
    let last = ok(await alice.put(keysPath(version), { rooms }))
    assert.equal(last.count, 4)
    const steps: Array<[string, number, Record<string, unknown>]> = [
      [keysPath(version, ROOM, 's1'), 3, { rooms: { [ROOM]: { sessions: { s2: key() } }, [OTHER_ROOM]: rooms[OTHER_ROOM] } }],
      [keysPath(version, OTHER_ROOM), 1, { rooms: { [ROOM]: { sessions: { s2: key() } } } }],
      [keysPath(version), 0, { rooms: {} }],
    ]
    for (const [path, count, left] of steps) {
      const res = ok(await del(alice, path))
      assert.equal(res.count, count, path)
      assert.notEqual(res.etag, last.etag, path)
      assert.deepEqual(await getKeys(alice, version), left, path)
      last = res
    }
    const info = await versionInfo(alice)
    assert.deepEqual([info.count, info.etag], [0, last.etag])
  })

  it('leaves the etag alone when nothing was deleted', async () => {
    const alice = await client()
    const version = await createVersion(alice)
    const stored = await putSession(alice, version, ROOM, 's1', key())
    assert.deepEqual(ok(await del(alice, keysPath(version, ROOM, 'never-stored'))), stored)
  })

  it('answers M_NOT_FOUND for an unknown version', async () => {
    const alice = await client()
    const unknown = String(Number(await createVersion(alice)) + 1)
    assertError(await del(alice, keysPath(unknown)), 404, 'M_NOT_FOUND', 'all')
    assertError(await del(alice, keysPath(unknown, ROOM, 's1')), 404, 'M_NOT_FOUND', 'session')
  })
})

describe('KeyBackup.deleteAllForUser', () => {
  it('removes every version and key of the user and no one else', async () => {
    const [alice, bob] = [await client(), await client()]
    const aliceVersion = await createVersion(alice)
    await putSession(alice, aliceVersion, ROOM, 's1', key())
    await createVersion(alice)
    await putSession(bob, await createVersion(bob), ROOM, 's1', key())
    const ctx = t.server.ctx
    await ctx.storage.transaction((repos) => ctx.keyBackup.deleteAllForUser(repos, alice.userId))
    assertError(await alice.get('/room_keys/version'), 404, 'M_NOT_FOUND', 'latest')
    assertError(await alice.get(keysPath(aliceVersion)), 404, 'M_NOT_FOUND', 'keys')
    assert.equal((await versionInfo(bob)).count, 1)
  })
})

describe('authentication', () => {
  it('refuses every key backup endpoint without an access token with 401', async () => {
    const scoped = [versionPath('1'), keysPath('1'), keysPath('1', ROOM), keysPath('1', ROOM, 's1')]
    const requests = [['POST', '/room_keys/version'], ['GET', '/room_keys/version'], ...['GET', 'PUT', 'DELETE'].flatMap((m) => scoped.map((p) => [m, p]))]
    for (const [method, path] of requests) {
      const body = method === 'GET' || method === 'DELETE' ? undefined : {}
      assertError(await t.api.request(method!, CS + path, { body }), 401, 'M_MISSING_TOKEN', `${method} ${path}`)
    }
  })
})
