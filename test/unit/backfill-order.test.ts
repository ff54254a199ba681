// The order a backfilled batch is stored in (federation/backfill.ts oldestFirst): every event after its
// prev_events of the batch, whatever order the server answered in and whatever depths it claimed.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { oldestFirst } from '../../src/federation/backfill.ts'
import type { RoomEvent } from '../../src/protocol/events/types.ts'
import { permutations } from './state-res-helpers.ts'

const ev = (id: string, prevs: string[], depth: number) => ({ event_id: id, prev_events: prevs, depth }) as unknown as RoomEvent
const ids = (events: RoomEvent[]) => events.map((e) => e.event_id)

describe('oldestFirst', () => {
  // $a ← $b ← {$c, $d} ← $e (a fork and its merge), $x's prev outside the batch.
  const batch = [ev('$a', ['$x'], 1), ev('$b', ['$a'], 2), ev('$c', ['$b'], 3), ev('$d', ['$b'], 3), ev('$e', ['$c', '$d'], 4)]

  it('puts every event after its predecessors in the batch, for any answer order', () => {
    for (const order of permutations(batch)) assert.deepEqual(ids(oldestFirst(order)), ['$a', '$b', '$c', '$d', '$e'])
  })

  it('follows prev_events, not the depths a server claims', () => {
    const lying = [ev('$a', [], 9), ev('$b', ['$a'], 1), ev('$c', ['$b'], 5)]
    assert.deepEqual(ids(oldestFirst(lying)), ['$a', '$b', '$c'])
  })

  it('leaves out the events of a cycle, which only a forged batch has', () => {
    const cycle = [ev('$a', ['$c'], 1), ev('$b', ['$a'], 2), ev('$c', ['$b'], 3), ev('$z', [], 1)]
    assert.deepEqual(ids(oldestFirst(cycle)), ['$z'])
  })
})
