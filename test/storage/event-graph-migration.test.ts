// The DAG's edge tables (migration event_graph): every append writes an event's prev_events and auth events
// (plus room version 12's implied create event), and the migration's backfill of the events stored before
// it derives the very same rows from the events' JSON, in every event format.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Database, listMigrations } from '../../src/storage/index.ts'
import { startTestServer } from '../support/server.ts'
import { RoomClient, sharedRoom } from '../support/rooms.ts'

const { api, database } = await startTestServer()
const db = new Database({ connectionString: database.url }, { poolSize: 2, statementTimeoutMs: 30000 })
after(() => db.close())

const migration = listMigrations().find((m) => m.name === 'event_graph')
assert.ok(migration?.sql, 'the event_graph migration exists')
/** The migration without its CREATE TABLEs: the backfill of stored events. */
const backfill = migration.sql.slice(migration.sql.indexOf('-- The events stored so far.'))

type Edge = [string, string, string]
async function edges(roomIds: string[]): Promise<{ prev: Edge[]; auth: Edge[] }> {
  const read = async (sql: string) => (await db.query<{ r: string; e: string; t: string }>(sql, [roomIds])).rows.map((x): Edge => [x.r, x.e, x.t])
  return {
    prev: await read('SELECT room_id r, event_id e, prev_event_id t FROM event_edges WHERE room_id = ANY($1) ORDER BY 1, 2, 3'),
    auth: await read('SELECT room_id r, event_id e, auth_event_id t FROM event_auth_edges WHERE room_id = ANY($1) ORDER BY 1, 2, 3'),
  }
}

describe('migration event_graph', () => {
  it('backfills the same edges the append writes, for room versions 1, 10 and 12', async () => {
    const alice = await RoomClient.register(api)
    const bob = await RoomClient.register(api)
    const rooms: string[] = []
    for (const version of ['1', '10', '12']) {
      const roomId = await sharedRoom(alice, [bob], { room_version: version })
      await alice.send(roomId, 'hello')
      await alice.putState(roomId, 'm.room.topic', '', { topic: 'edges' })
      await bob.send(roomId, 'hi')
      rooms.push(roomId)
    }
    const written = await edges(rooms)
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int n FROM events WHERE room_id = ANY($1)', [rooms])
    assert.equal(new Set(written.prev.map((e) => e[1])).size, (rows[0]?.n ?? 0) - rooms.length, 'every event but the create events has prev_events')
    const v12 = rooms[2] as string
    const create12 = `$${v12.slice(1)}`
    assert.ok(written.auth.filter((e) => e[0] === v12).every((e) => e[1] === create12 || written.auth.some((x) => x[1] === e[1] && x[2] === create12)), 'v12 events name the create event')

    await db.query('DELETE FROM event_edges WHERE room_id = ANY($1)', [rooms])
    await db.query('DELETE FROM event_auth_edges WHERE room_id = ANY($1)', [rooms])
    assert.deepEqual(await edges(rooms), { prev: [], auth: [] })
    await db.simple(backfill)
    assert.deepEqual(await edges(rooms), written)
  })
})
