// visibleSpans (the stretches of a room's stream a user may see, which search applies in SQL) agrees with
// keepVisible (the per-event rules) on every event of every kind but the two keepVisible treats specially.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { keepVisible, visibleSpans, type History } from '../../src/rooms/visibility.ts'
import type { EventRow } from '../../src/storage/index.ts'

const VISIBILITIES = ['world_readable', 'shared', 'invited', 'joined', 'unknown_value']
const MEMBERSHIPS = ['invite', 'join', 'leave', 'knock', 'ban']

/** A small deterministic generator, so a failure names its seed and replays. */
function random(seed: number): () => number {
  let x = seed
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31
    return x / 2 ** 31
  }
}

function history(next: () => number, key: string, values: string[], streams: number[]): History {
  return streams.map((stream) => ({ stream_ordering: stream, json: JSON.stringify({ content: { [key]: values[Math.floor(next() * values.length)] } }) }))
}

function message(stream: number): EventRow {
  return { room_id: '!r:x', event_id: `$${stream}`, stream_ordering: stream, depth: stream, type: 'm.room.message', state_key: null, sender: '@a:x', json: '{}', replaces_state: null, redacted_by: null } as unknown as EventRow
}

const inSpans = (spans: Array<{ from: number; to: number }>, stream: number) => spans.some((s) => s.from <= stream && stream < s.to)

describe('visibleSpans', () => {
  it('keeps exactly the events keepVisible keeps, for random visibility and membership histories', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const next = random(seed)
      // Changes at distinct positions in 1..40; events at every position around them, negative ones too.
      const positions = [...Array(40).keys()].map((i) => i + 1).filter(() => next() < 0.2)
      const visibility = history(next, 'history_visibility', VISIBILITIES, positions.filter(() => next() < 0.5))
      const membership = history(next, 'membership', MEMBERSHIPS, positions.filter((p) => !visibility.some((v) => v.stream_ordering === p)))
      const events = [...Array(50).keys()].map((i) => message(i - 5))
      const kept = new Set(keepVisible(events, '@u:x', visibility, membership).map((e) => e.stream_ordering))
      const spans = visibleSpans(visibility, membership)
      for (const e of events) assert.equal(inSpans(spans, e.stream_ordering), kept.has(e.stream_ordering), `seed ${seed}, stream ${e.stream_ordering}`)
      spans.forEach((s, i) => assert.ok(s.from < s.to && (i === 0 || (spans[i - 1] as { to: number }).to < s.from), `seed ${seed}: spans are ordered, disjoint and merged`))
    }
  })

  it('gives nothing to a user who never joined a room whose history is not world-readable', () => {
    const visibility = [{ stream_ordering: 2, json: JSON.stringify({ content: { history_visibility: 'shared' } }) }]
    const membership = [
      { stream_ordering: 5, json: JSON.stringify({ content: { membership: 'knock' } }) },
      { stream_ordering: 6, json: JSON.stringify({ content: { membership: 'leave' } }) },
    ]
    assert.deepEqual(visibleSpans(visibility, membership), [])
  })

  it('opens the whole stream of a world-readable room', () => {
    const visibility = [{ stream_ordering: 1, json: JSON.stringify({ content: { history_visibility: 'world_readable' } }) }]
    assert.deepEqual(visibleSpans(visibility, []), [{ from: 1, to: Number.MAX_SAFE_INTEGER }])
  })
})
