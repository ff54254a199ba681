// State resolution building blocks and store behaviour (rooms/v2 "State resolution", Definitions).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ALICE, BOB, TOPIC, Dag, membership, powerLevels, topic } from './state-res-helpers.ts'
import { stateKey, type RoomEvent } from '../../src/protocol/events/types.ts'
import {
  MissingEventError, compareCodePoints, isPowerEvent, lexicographicalTopologicalSort, resolveState, separateV1, separateV2,
  type StateResStore,
} from '../../src/protocol/state-res/index.ts'
import { authDifference } from '../../src/protocol/state-res/auth-chain.ts'
import { EventCache } from '../../src/protocol/state-res/store.ts'

const refusingStore: StateResStore = {
  getEvents: async () => {
    throw new Error('the store should not be read')
  },
}

describe('resolveState without conflicts', () => {
  for (const versionId of ['1', '2', '11', '12']) {
    it(`passes identical state sets through untouched (room version ${versionId})`, async () => {
      const dag = new Dag(versionId)
      await dag.init()
      const state = dag.stateSets(['START'])[0]!
      const resolved = await resolveState(dag.version, [state, new Map(state), new Map(state)], refusingStore)
      assert.deepEqual(resolved, state)
    })
  }

  it('answers an empty state for no state sets and a copy for one', async () => {
    const dag = new Dag('11')
    await dag.init()
    assert.deepEqual(await resolveState(dag.version, [], refusingStore), new Map())
    const state = dag.stateSets(['START'])[0]!
    const copy = await resolveState(dag.version, [state], refusingStore)
    assert.deepEqual(copy, state)
    assert.notEqual(copy, state)
  })

  it('keeps unconflicted entries even where conflicted ones are resolved', async () => {
    const dag = new Dag('11')
    await dag.init()
    await dag.add('T1', topic(ALICE, 'one'), ['START'])
    await dag.add('T2', topic(ALICE, 'two'), ['START'])
    const resolved = dag.named(await dag.resolveAt(['T1', 'T2']))
    const start = dag.named(dag.stateSets(['START'])[0]!)
    assert.deepEqual({ ...resolved, [TOPIC]: undefined }, { ...start, [TOPIC]: undefined })
    assert.equal(resolved[TOPIC], 'T2')
  })
})

describe('separating state sets', () => {
  const a = stateKey('m.room.topic', '')
  const b = stateKey('m.room.name', '')
  const sets = [new Map([[a, '$1'], [b, '$n']]), new Map([[a, '$1']])]

  it('v2: a key some sets lack is conflicted', () => {
    const { unconflicted, conflicted } = separateV2(sets)
    assert.deepEqual(unconflicted, new Map([[a, '$1']]))
    assert.deepEqual(conflicted, new Map([[b, new Set(['$n'])]]))
  })

  it('v1: a key some sets lack is not a conflict', () => {
    const { unconflicted, conflicted } = separateV1(sets)
    assert.deepEqual(unconflicted, new Map([[a, '$1'], [b, '$n']]))
    assert.deepEqual(conflicted, new Map())
  })
})

describe('power events', () => {
  const base = { room_id: '!r:x', content: {}, origin_server_ts: 0, depth: 1, prev_events: [], auth_events: [], pdu: {} as RoomEvent['pdu'] }
  const ev = (type: string, sender: string, key: string, content = {}): RoomEvent => ({ ...base, event_id: '$e', type, sender, state_key: key, content })

  it('are power levels, join rules, create, and kicks and bans of others', () => {
    assert.equal(isPowerEvent(ev('m.room.power_levels', ALICE, '')), true)
    assert.equal(isPowerEvent(ev('m.room.join_rules', ALICE, '')), true)
    assert.equal(isPowerEvent(ev('m.room.create', ALICE, '')), true)
    assert.equal(isPowerEvent(ev('m.room.member', ALICE, BOB, { membership: 'ban' })), true)
    assert.equal(isPowerEvent(ev('m.room.member', ALICE, BOB, { membership: 'leave' })), true)
  })

  it('are not leaves of oneself, joins, or other state', () => {
    assert.equal(isPowerEvent(ev('m.room.member', BOB, BOB, { membership: 'leave' })), false)
    assert.equal(isPowerEvent(ev('m.room.member', BOB, BOB, { membership: 'join' })), false)
    assert.equal(isPowerEvent(ev('m.room.member', ALICE, BOB, { membership: 'invite' })), false)
    assert.equal(isPowerEvent(ev('m.room.topic', ALICE, '')), false)
  })
})

describe('lexicographicalTopologicalSort', () => {
  it('emits auth events first and the smallest candidate at each step', () => {
    const graph = new Map([
      ['l', new Set(['o'])],
      ['m', new Set(['n', 'o'])],
      ['n', new Set(['o'])],
      ['o', new Set<string>()],
      ['p', new Set(['o'])],
    ])
    assert.deepEqual(lexicographicalTopologicalSort(graph, compareCodePoints), ['o', 'l', 'n', 'm', 'p'])
  })
})

describe('compareCodePoints', () => {
  it('orders by code point, not UTF-16 unit', () => {
    assert.ok(compareCodePoints('\uffff', '\u{10000}') < 0)
    assert.ok(compareCodePoints('$a', '$b') < 0)
    assert.ok(compareCodePoints('$ab', '$a') > 0)
    assert.equal(compareCodePoints('$a', '$a'), 0)
  })
})

describe('auth difference', () => {
  it('is the events in some but not all auth chains, counting each state set as in its own chain', async () => {
    const dag = new Dag('11')
    await dag.init()
    await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), ['START'])
    await dag.add('T2', topic(BOB), ['PA'])
    await dag.add('MB', membership(ALICE, BOB, 'ban'), ['T2'])
    const sets = dag.stateSets(['MB', 'START']).map((s) => new Set(s.values()))
    for (const accelerate of [false, true]) {
      const diff = await authDifference(new EventCache(dag.store({ accelerate }), dag.version), sets)
      assert.deepEqual([...diff].map((id) => dag.name(id)).sort(), ['MB', 'PA', 'T2'])
    }
  })
})

describe('the store', () => {
  it('drops conflicted events it does not hold (v2)', async () => {
    const dag = new Dag('11')
    await dag.init()
    await dag.add('T1', topic(ALICE, 'one'), ['START'])
    await dag.add('T2', topic(ALICE, 'two'), ['START'])
    const store = dag.store({ missing: ['T2'] })
    assert.equal(dag.named(await resolveState(dag.version, dag.stateSets(['T1', 'T2']), store))[TOPIC], 'T1')
  })

  it('fails with MissingEventError when state it must authorise against is missing', async () => {
    const dag = new Dag('11')
    await dag.init()
    await dag.add('T1', topic(ALICE, 'one'), ['START'])
    await dag.add('T2', topic(ALICE, 'two'), ['START'])
    const store = dag.store({ missing: ['IPOWER'] })
    await assert.rejects(resolveState(dag.version, dag.stateSets(['T1', 'T2']), store), MissingEventError)
  })

  it('is read in batches, never for the same event twice', async () => {
    const dag = new Dag('11')
    await dag.init()
    await dag.add('T1', topic(ALICE), ['START'])
    await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), ['T1'])
    await dag.add('T2', topic(BOB), ['PA'])
    await dag.add('MB', membership(ALICE, BOB, 'ban'), ['T2'])
    const store = dag.store()
    await dag.resolveAt(['MB', 'T1'], store)
    const requested = store.calls.flat()
    assert.equal(new Set(requested).size, requested.length)
    // One call per level of the auth chain walk (the deepest chain here is 5 events) and a few more.
    assert.ok(store.calls.length <= 8, `${store.calls.length} calls`)
    assert.ok(requested.length > 2 * store.calls.length)
  })

  it('gives the same answers with an auth chain index', async () => {
    const dag = new Dag('11')
    await dag.init()
    await dag.add('T1', topic(ALICE), ['START'])
    await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), ['T1'])
    await dag.add('T2', topic(BOB), ['PA'])
    await dag.add('MB', membership(ALICE, BOB, 'ban'), ['T2'])
    const plain = await dag.resolveAt(['MB', 'T1'], dag.store())
    const indexed = await dag.resolveAt(['MB', 'T1'], dag.store({ accelerate: true }))
    assert.deepEqual(indexed, plain)
  })

  it('refuses to resolve events of different rooms together', async () => {
    const dag = new Dag('11')
    await dag.init()
    await dag.add('T1', topic(ALICE), ['START'])
    const stray = { ...dag.events.get(dag.id('T1'))!, event_id: '$STRAY', room_id: '!other:example.com' }
    dag.events.set('$STRAY', stray)
    const sets = [dag.stateSets(['T1'])[0]!, new Map([...dag.stateSets(['START'])[0]!, [stateKey('m.room.topic', ''), '$STRAY']])]
    await assert.rejects(resolveState(dag.version, sets, dag.store()), /mixes rooms/)
  })
})
