// POST /user_directory/search: word-prefix matching on user IDs and display names among the users the
// searcher may discover (room-mates, members of public or world-readable rooms), limit and limited.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { startTestServer, type TestServer } from '../support/server.ts'
import { RoomClient, assertError, enc } from '../support/rooms.ts'

const t: TestServer = await startTestServer()

/** A lower-case word no other test uses. */
function word(): string {
  return `d${[...randomBytes(7)].map((b) => String.fromCharCode(97 + (b % 26))).join('')}`
}

async function named(displayname: string, username?: string): Promise<RoomClient> {
  const client = await RoomClient.register(t.api, username !== undefined ? { username } : {})
  const res = await client.put(`/profile/${enc(client.userId)}/displayname`, { displayname })
  assert.equal(res.status, 200)
  return client
}

async function directory(client: RoomClient, search_term: string, limit?: number) {
  const res = await client.post('/user_directory/search', { search_term, ...(limit !== undefined ? { limit } : {}) })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body as { results: Array<{ user_id: string; display_name?: string; avatar_url?: string }>; limited: boolean }
}

const userIds = (r: { results: Array<{ user_id: string }> }) => r.results.map((x) => x.user_id).sort()

describe('POST /user_directory/search', () => {
  it('finds users sharing a private room by display name word prefix, case-insensitively, but not strangers', async () => {
    const w = word()
    const alice = await named(`Alice ${w}`)
    const bob = await named(`Bob ${w.toUpperCase()} Builder`)
    const stranger = await named(`Stranger ${w}`)
    const roomId = await alice.createRoom({ preset: 'private_chat' })
    await alice.invite(roomId, bob.userId)
    await bob.join(roomId)

    const r = await directory(alice, w.slice(0, 5).toUpperCase())
    assert.deepEqual(userIds(r), [bob.userId], 'the stranger and the searcher herself are not found')
    assert.equal(r.results[0]?.display_name, `Bob ${w.toUpperCase()} Builder`)
    assert.equal(r.limited, false)
    assert.deepEqual(userIds(await directory(alice, `build ${w}`)), [bob.userId], 'every word must match a word prefix')
    assert.deepEqual(userIds(await directory(alice, 'uilder')), [], 'matching is by word prefix, not substring')
    assert.deepEqual(userIds(await directory(bob, w)), [alice.userId])
    assert.deepEqual(userIds(await directory(stranger, w)), [])
  })

  it('matches any part of a user ID and follows display name changes at once', async () => {
    const w = word()
    const alice = await RoomClient.register(t.api)
    const carol = await named('Someone', `${w}.smith`)
    const roomId = await alice.createRoom({ preset: 'private_chat' })
    await alice.invite(roomId, carol.userId)
    await carol.join(roomId)
    assert.deepEqual(userIds(await directory(alice, 'smi')), [carol.userId], 'a later part of the localpart')
    assert.deepEqual(userIds(await directory(alice, `${w}.smith`)), [carol.userId])
    assert.deepEqual(userIds(await directory(alice, carol.userId)), [carol.userId], 'the whole user ID')
    assert.deepEqual(userIds(await directory(alice, `@${w}`)), [carol.userId])

    const renamed = word()
    assert.equal((await carol.put(`/profile/${enc(carol.userId)}/displayname`, { displayname: `Carol ${renamed}` })).status, 200)
    const r = await directory(alice, renamed)
    assert.deepEqual(userIds(r), [carol.userId])
    assert.equal(r.results[0]?.display_name, `Carol ${renamed}`)
    assert.deepEqual(userIds(await directory(alice, 'someone')), [])
  })

  it('finds members of public and world-readable rooms without a shared room, until the room stops being public', async () => {
    const w = word()
    const owner = await named(`Owner ${w}`)
    const member = await named(`Member ${w}`)
    const reader = await named(`Reader ${w}`)
    const searcher = await RoomClient.register(t.api)
    const publicRoom = await owner.createRoom({ preset: 'public_chat' })
    await member.join(publicRoom)
    const readable = await reader.createRoom({ preset: 'private_chat' })
    await reader.putState(readable, 'm.room.history_visibility', '', { history_visibility: 'world_readable' })

    assert.deepEqual(userIds(await directory(searcher, w)), [owner.userId, member.userId, reader.userId].sort())
    assert.deepEqual(userIds(await directory(owner, w)), [owner.userId, member.userId, reader.userId].sort(), 'a member of a public room finds herself too')

    await owner.putState(publicRoom, 'm.room.join_rules', '', { join_rule: 'invite' })
    await reader.putState(readable, 'm.room.history_visibility', '', { history_visibility: 'shared' })
    assert.deepEqual(userIds(await directory(searcher, w)), [])
    await member.leave(publicRoom)
    assert.deepEqual(userIds(await directory(owner, w)), [], 'a former room-mate is no longer found')
  })

  it('returns at most limit results (10 by default) and says when the list was cut', async () => {
    const w = word()
    const owner = await named(`Crowd ${w}`)
    const roomId = await owner.createRoom({ preset: 'public_chat' })
    for (let i = 0; i < 11; i++) await (await named(`Crowd ${w} ${i}`)).join(roomId)
    const searcher = await RoomClient.register(t.api)
    const byDefault = await directory(searcher, w)
    assert.equal(byDefault.results.length, 10)
    assert.equal(byDefault.limited, true)
    const three = await directory(searcher, w, 3)
    assert.equal(three.results.length, 3)
    assert.equal(three.limited, true)
    const all = await directory(searcher, w, 50)
    assert.equal(all.results.length, 12)
    assert.equal(all.limited, false)
  })

  it('answers a term without words with no results', async () => {
    const alice = await RoomClient.register(t.api)
    assert.deepEqual(await directory(alice, ' :: '), { results: [], limited: false })
  })

  it('refuses malformed requests with the spec error codes', async () => {
    const alice = await RoomClient.register(t.api)
    assertError(await alice.post('/user_directory/search', {}), 400, 'M_MISSING_PARAM')
    assertError(await alice.post('/user_directory/search', { search_term: 1 }), 400, 'M_BAD_JSON')
    assertError(await alice.post('/user_directory/search', { search_term: 'a', limit: -1 }), 400, 'M_BAD_JSON')
    assertError(await t.api.post('/_matrix/client/v3/user_directory/search', { search_term: 'a' }), 401, 'M_MISSING_TOKEN')
  })
})
