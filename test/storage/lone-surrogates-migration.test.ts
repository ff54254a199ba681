// The repair of events stored before lone UTF-16 surrogates were refused (migration repair_lone_surrogates):
// rows are written the old way (the "\ud800" escape JSON.stringify wrote into events.json, set here with raw
// SQL), a fresh instance shows the reads they broke, the migration runs, and the same reads work again.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Database, listMigrations, migrate } from '../../src/storage/index.ts'
import { startInstanceOn, startTestServer } from '../support/server.ts'
import { enc, RoomClient, sharedRoom } from '../support/rooms.ts'

const { api, database } = await startTestServer()
const db = new Database({ connectionString: database.url }, { poolSize: 2, statementTimeoutMs: 30000 })
after(() => db.close())

const repair = listMigrations().find((m) => m.name === 'repair_lone_surrogates')
assert.ok(repair, 'the repair migration exists')

/** Replaces a marker in one stored event's JSON text, as the old writer stored a lone surrogate: escaped. */
async function storeOldWay(eventId: string, marker: string, escaped: string): Promise<void> {
  const { rowCount } = await db.query('UPDATE events SET json = replace(json, $2, $3) WHERE event_id = $1', [eventId, marker, escaped])
  assert.equal(rowCount, 1)
}

async function storedJson(eventId: string): Promise<string> {
  const { rows } = await db.query<{ json: string }>('SELECT json FROM events WHERE event_id = $1', [eventId])
  return rows[0]?.json as string
}

describe('migration repair_lone_surrogates', () => {
  it('redacts or repairs events holding lone surrogates so that /sync, /messages, /event, /context and kicks work', async () => {
    const alice = await RoomClient.register(api)
    const mallory = await RoomClient.register(api)
    const roomId = await sharedRoom(alice, [mallory], { creation_content: { 'org.example.note': 'CREATE_NOTE' } })
    const member = await mallory.putState(roomId, 'm.room.member', mallory.userId, { membership: 'join', displayname: 'MALLORY_NAME' })
    const original = await mallory.send(roomId, 'hello')
    const edit = await mallory.send(roomId, {
      msgtype: 'm.text',
      body: '* EDIT_BODY',
      'm.new_content': { msgtype: 'm.text', body: 'EDIT_BODY' },
      'm.relates_to': { rel_type: 'm.replace', event_id: original },
    })
    const pair = await alice.send(roomId, 'PAIR_TEXT')
    const createId = (await alice.fullState(roomId)).find((e) => e.type === 'm.room.create')?.event_id as string

    await storeOldWay(member, 'MALLORY_NAME', 'x\\ud800')
    await storeOldWay(edit, 'EDIT_BODY', '\\udc00')
    await storeOldWay(createId, 'CREATE_NOTE', 'note \\udbff')
    // An escaped surrogate pair is a well-formed character: found by the text search, left alone.
    await storeOldWay(pair, 'PAIR_TEXT', '\\ud83d\\ude00')
    const pairJson = await storedJson(pair)

    // What a restarted server saw before the repair.
    const before = await startInstanceOn(database)
    try {
      const a = alice.on(before.api)
      assert.notEqual((await a.get(`/rooms/${enc(roomId)}/event/${enc(original)}`)).status, 200, '/event failed before the repair')
      assert.notEqual((await a.get(`/rooms/${enc(roomId)}/messages?dir=b`)).status, 200, '/messages failed before the repair')
      assert.notEqual((await a.get('/sync')).status, 200, '/sync failed before the repair')
      assert.notEqual((await a.membershipRaw('kick', roomId, mallory.userId)).status, 200, 'the kick failed before the repair')
    } finally {
      await before.close()
    }

    await db.query('DELETE FROM schema_migrations WHERE version = $1', [repair.version])
    assert.deepEqual((await migrate(db)).applied, [repair.version])
    // Every stored event reads as jsonb again.
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE (json::jsonb) IS NOT NULL')
    assert.ok((rows[0]?.n ?? 0) > 0)

    const fixed = await startInstanceOn(database)
    try {
      const a = alice.on(fixed.api)
      const since = (await a.sync()).next_batch
      await a.send(roomId, 'after the repair')
      assert.ok((await a.sync({ since, timeout: 0 })).rooms.join[roomId])
      // The member event and the edit are redacted as stored: the IDs hold, the content is pruned.
      const memberEvent = await a.event(roomId, member)
      assert.deepEqual(memberEvent.content, { membership: 'join' })
      assert.deepEqual((await a.event(roomId, edit)).content, {})
      const seen = await a.event(roomId, original)
      assert.equal(seen.content.body, 'hello')
      assert.equal(seen.unsigned?.['m.relations']?.['m.replace'], undefined, 'the redacted edit no longer replaces the message')
      const messages = await a.messages(roomId, { dir: 'b', limit: 50 })
      assert.ok(messages.chunk.some((e) => e.event_id === edit))
      const context = await a.get(`/rooms/${enc(roomId)}/context/${enc(original)}?limit=4`)
      assert.equal(context.status, 200, JSON.stringify(context.body))
      // Redaction keeps the whole create content from v11: there the surrogate becomes U+FFFD.
      assert.equal((await a.event(roomId, createId)).content['org.example.note'], 'note \ufffd')
      assert.equal(await storedJson(pair), pairJson)
      assert.equal((await a.event(roomId, pair)).content.body, '😀')
      assert.equal((await a.membershipRaw('kick', roomId, mallory.userId)).status, 200)
      assert.equal((await a.membershipRaw('ban', roomId, mallory.userId)).status, 200)
    } finally {
      await fixed.close()
    }
  })
})
