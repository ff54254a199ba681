// keepVisible with erased senders: an erased sender's events the user may see come back redacted unless the
// user was joined at them (Synapse's rule); what the user may not see stays hidden, and other senders'
// events are untouched.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { keepVisible, type History } from '../../src/rooms/visibility.ts'
import { roomVersion, type RoomVersion } from '../../src/protocol/room-versions.ts'
import type { EventRow } from '../../src/storage/index.ts'

const v11 = roomVersion('11') as RoomVersion

function row(stream: number, sender: string, content: Record<string, unknown> = { msgtype: 'm.text', body: `said at ${stream}` }): EventRow {
  const pdu = { type: 'm.room.message', room_id: '!r:x', sender, content, origin_server_ts: stream, depth: stream, hashes: { sha256: 'h' }, signatures: {}, prev_events: [], auth_events: [] }
  return { room_id: '!r:x', event_id: `$${stream}`, stream_ordering: stream, depth: stream, type: 'm.room.message', state_key: null, sender, json: JSON.stringify(pdu), replaces_state: null, redacted_by: null }
}

const at = (stream: number, key: string, value: string) => ({ stream_ordering: stream, json: JSON.stringify({ content: { [key]: value } }) })
const contentOf = (r: EventRow) => (JSON.parse(r.json) as { content: unknown }).content

describe('keepVisible with erased senders', () => {
  // "shared" history; the user joins at 5, leaves at 8 and joins again at 12.
  const visibility: History = [at(1, 'history_visibility', 'shared')]
  const membership: History = [at(5, 'membership', 'join'), at(8, 'membership', 'leave'), at(12, 'membership', 'join')]
  const rows = [row(3, '@gone:x'), row(6, '@gone:x'), row(7, '@here:x'), row(10, '@gone:x'), row(14, '@gone:x')]
  const erasure = { senders: new Set(['@gone:x']), version: v11 }

  it('redacts the events the user was not joined at, keeps those they were joined at as stored', () => {
    const kept = keepVisible(rows, '@u:x', visibility, membership, undefined, erasure)
    assert.deepEqual(kept.map((r) => r.event_id), ['$3', '$6', '$7', '$10', '$14'])
    const byId = new Map(kept.map((r) => [r.event_id, r]))
    assert.deepEqual(contentOf(byId.get('$3') as EventRow), {})
    assert.deepEqual(contentOf(byId.get('$10') as EventRow), {})
    assert.deepEqual(contentOf(byId.get('$6') as EventRow), { msgtype: 'm.text', body: 'said at 6' })
    assert.deepEqual(contentOf(byId.get('$14') as EventRow), { msgtype: 'm.text', body: 'said at 14' })
    assert.equal(byId.get('$7'), rows[2], "another sender's event is the row itself")
    // What redaction keeps stays.
    const redacted = JSON.parse((byId.get('$3') as EventRow).json)
    assert.deepEqual([redacted.sender, redacted.hashes, redacted.depth], ['@gone:x', { sha256: 'h' }, 3])
  })

  it('hides what the user may not see whoever sent it, and redacts nothing without erasure', () => {
    const joinedOnly: History = [at(1, 'history_visibility', 'joined')]
    assert.deepEqual(keepVisible(rows, '@u:x', joinedOnly, membership, undefined, erasure).map((r) => r.event_id), ['$6', '$7', '$14'])
    assert.deepEqual(keepVisible(rows, '@u:x', visibility, membership), rows)
  })

  it('redacts a world-readable event for a user who never joined', () => {
    const open: History = [at(1, 'history_visibility', 'world_readable')]
    const kept = keepVisible(rows, '@u:x', open, [], undefined, erasure)
    assert.deepEqual(kept.map((r) => (r.sender === '@gone:x' ? contentOf(r) : 'kept')), [{}, {}, 'kept', {}, {}])
  })
})
