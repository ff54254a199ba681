// State resolution v2.1 (rooms/v12 "State resolution"): an empty starting state for the iterative auth
// checks and the conflicted state subgraph, against v2 on the same DAGs (MSC4297's problems A and B).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ALICE, BOB, CHARLIE, CREATE, Dag, JR, PL, TOPIC, join, joinRules, member, membership, powerLevels, topic } from './state-res-helpers.ts'
import type { EventSpec } from './state-res-helpers.ts'
import { resolveState } from '../../src/protocol/state-res/index.ts'
import { conflictedSubgraph } from '../../src/protocol/state-res/auth-chain.ts'
import { EventCache } from '../../src/protocol/state-res/store.ts'

function createSpec(dag: Dag): EventSpec {
  return { sender: ALICE, type: 'm.room.create', state_key: '', content: { room_version: dag.version.id } }
}

/**
 * Problem A: Alice set the join rules twice (JR1 public, JR2 invite) and then left. One state set still
 * holds the outdated JR1; both agree Alice has left. The join rules are conflicted, Alice's leave is not.
 */
function problemA(versionId: string): { dag: Dag; sets: Map<string, string>[] } {
  const dag = new Dag(versionId)
  dag.event('CREATE', createSpec(dag), { auth: [], prev: [] })
  dag.event('IMA', join(ALICE), { auth: ['CREATE'], prev: ['CREATE'] })
  dag.event('IPOWER', powerLevels(ALICE, dag.pl({})), { auth: ['CREATE', 'IMA'], prev: ['IMA'] })
  dag.event('JR1', joinRules(ALICE, 'public'), { auth: ['CREATE', 'IPOWER', 'IMA'], prev: ['IPOWER'] })
  dag.event('IMB', join(BOB), { auth: ['CREATE', 'IPOWER', 'JR1'], prev: ['JR1'] })
  dag.event('JR2', joinRules(ALICE, 'invite'), { auth: ['CREATE', 'IPOWER', 'IMA'], prev: ['IMB'] })
  dag.event('LA', membership(ALICE, ALICE, 'leave'), { auth: ['CREATE', 'IPOWER', 'IMA'], prev: ['JR2'] })
  const sets = [dag.stateOf(['CREATE', 'LA', 'IPOWER', 'JR2', 'IMB']), dag.stateOf(['CREATE', 'LA', 'IPOWER', 'JR1', 'IMB'])]
  return { dag, sets }
}

/**
 * Problem B: Alice promotes Bob (PL2), Bob promotes Charlie (PL3). One state set holds the outdated PL1
 * although its Charlie join is authorised by PL2, so PL2 is in both auth chains and not in the auth
 * difference; only the conflicted state subgraph (PL3 → PL2 → PL1, PL3 → IMB → JR → PL1) brings it back.
 */
function problemB(versionId: string): { dag: Dag; sets: Map<string, string>[] } {
  const dag = new Dag(versionId)
  dag.event('CREATE', createSpec(dag), { auth: [], prev: [] })
  dag.event('IMA', join(ALICE), { auth: ['CREATE'], prev: ['CREATE'] })
  dag.event('PL1', powerLevels(ALICE, dag.pl({})), { auth: ['CREATE', 'IMA'], prev: ['IMA'] })
  dag.event('JR', joinRules(ALICE, 'public'), { auth: ['CREATE', 'PL1', 'IMA'], prev: ['PL1'] })
  dag.event('IMB', join(BOB), { auth: ['CREATE', 'PL1', 'JR'], prev: ['JR'] })
  dag.event('PL2', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), { auth: ['CREATE', 'PL1', 'IMA'], prev: ['IMB'] })
  dag.event('IMC', join(CHARLIE), { auth: ['CREATE', 'PL2', 'JR'], prev: ['PL2'] })
  dag.event('PL3', powerLevels(BOB, dag.pl({ [BOB]: 50, [CHARLIE]: 50 })), { auth: ['CREATE', 'PL2', 'IMB'], prev: ['IMC'] })
  const common = ['CREATE', 'IMA', 'JR', 'IMB', 'IMC']
  return { dag, sets: [dag.stateOf([...common, 'PL1']), dag.stateOf([...common, 'PL3'])] }
}

describe('state resolution v2.1 (room version 12) against v2 (room version 11)', () => {
  it('v2 loses the join rules when their sender has left since (problem A)', async () => {
    const { dag, sets } = problemA('11')
    // Both join rules are replayed on the unconflicted state, where Alice has left: both fail.
    const resolved = dag.named(await resolveState(dag.version, sets, dag.store()))
    assert.deepEqual(resolved, { [CREATE]: 'CREATE', [member(ALICE)]: 'LA', [member(BOB)]: 'IMB', [PL]: 'IPOWER' })
  })

  it('v2.1 replays the join rules from an empty state and keeps the latest (problem A)', async () => {
    const { dag, sets } = problemA('12')
    // From an empty state each join rules event is checked against its own auth events (Alice joined),
    // so both pass in power order (equal power, then timestamps) and JR2 ends on top.
    const resolved = dag.named(await resolveState(dag.version, sets, dag.store()))
    assert.deepEqual(resolved, { [CREATE]: 'CREATE', [member(ALICE)]: 'LA', [member(BOB)]: 'IMB', [PL]: 'IPOWER', [JR]: 'JR2' })
  })

  it("v2 resets the power levels when a promotion's prerequisite is in both auth chains (problem B)", async () => {
    const { dag, sets } = problemB('11')
    // Full conflicted set {PL1, PL3}: PL3 is checked against PL1, where Bob has no power.
    const resolved = dag.named(await resolveState(dag.version, sets, dag.store()))
    assert.deepEqual(resolved, {
      [CREATE]: 'CREATE', [member(ALICE)]: 'IMA', [member(BOB)]: 'IMB', [member(CHARLIE)]: 'IMC', [JR]: 'JR', [PL]: 'PL1',
    })
  })

  it('v2.1 replays the conflicted state subgraph and keeps the promotions (problem B)', async () => {
    const { dag, sets } = problemB('12')
    // Full conflicted set {PL1, JR, IMB, PL2, PL3}, ordered PL1, JR, PL2, IMB, PL3: each passes.
    const resolved = dag.named(await resolveState(dag.version, sets, dag.store()))
    assert.deepEqual(resolved, {
      [CREATE]: 'CREATE', [member(ALICE)]: 'IMA', [member(BOB)]: 'IMB', [member(CHARLIE)]: 'IMC', [JR]: 'JR', [PL]: 'PL3',
    })
  })

  it('gives the same answers with an auth chain index and with the state sets swapped', async () => {
    for (const problem of [problemA, problemB]) {
      for (const versionId of ['11', '12']) {
        const { dag, sets } = problem(versionId)
        const plain = dag.named(await resolveState(dag.version, sets, dag.store()))
        assert.deepEqual(dag.named(await resolveState(dag.version, sets, dag.store({ accelerate: true }))), plain)
        assert.deepEqual(dag.named(await resolveState(dag.version, [...sets].reverse(), dag.store())), plain)
      }
    }
  })

  it('lets a ban win over the power levels the banned user sent concurrently, as v2 does', async () => {
    const dag = new Dag('12')
    await dag.init()
    await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), ['START'])
    await dag.add('MA', join(ALICE), ['PA'])
    await dag.add('MB', membership(ALICE, BOB, 'ban'), ['MA'])
    await dag.add('PB', powerLevels(BOB, dag.pl({ [BOB]: 50 })), ['PA'])
    // The subgraph adds IPOWER and IJR; replayed from empty: IMA, IPOWER, IJR, PA, MA, IMB, MB, PB.
    assert.deepEqual(dag.changes('START', await dag.resolveAt(['MB', 'PB'])), { [PL]: 'PA', [member(ALICE)]: 'MA', [member(BOB)]: 'MB' })
  })

  it('resets the topic when its sender was banned concurrently, as v2 does', async () => {
    const dag = new Dag('12')
    await dag.init()
    await dag.add('T1', topic(ALICE), ['START'])
    await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), ['T1'])
    await dag.add('T2', topic(BOB), ['PA'])
    await dag.add('MB', membership(ALICE, BOB, 'ban'), ['T2'])
    assert.deepEqual(dag.changes('START', await dag.resolveAt(['MB', 'T1'])), { [TOPIC]: 'T1', [PL]: 'PA', [member(BOB)]: 'MB' })
  })
})

describe('conflictedSubgraph', () => {
  // A ← B ← C ← D ← E along auth_events, with B and D conflicted: the paths between them hold C only.
  function chain(): Dag {
    const dag = new Dag('11')
    let prev: string[] = []
    for (const name of ['A', 'B', 'C', 'D', 'E']) {
      dag.event(name, { sender: ALICE, type: 'x.test', state_key: name }, { auth: prev, prev })
      prev = [name]
    }
    return dag
  }

  it('holds the conflicted events and the events on paths between them', async () => {
    const dag = chain()
    const subgraph = await conflictedSubgraph(new EventCache(dag.store(), dag.version), new Set([dag.id('B'), dag.id('D')]))
    assert.deepEqual([...subgraph].map((id) => dag.name(id)).sort(), ['B', 'C', 'D'])
  })

  it('is the same with an auth chain index', async () => {
    const dag = chain()
    const subgraph = await conflictedSubgraph(new EventCache(dag.store({ accelerate: true }), dag.version), new Set([dag.id('B'), dag.id('D')]))
    assert.deepEqual([...subgraph].map((id) => dag.name(id)).sort(), ['B', 'C', 'D'])
  })

  it('holds just the conflicted events when no path joins them', async () => {
    const dag = chain()
    dag.event('F', { sender: ALICE, type: 'x.test', state_key: 'F' }, { auth: ['A'], prev: ['A'] })
    const subgraph = await conflictedSubgraph(new EventCache(dag.store(), dag.version), new Set([dag.id('C'), dag.id('F')]))
    assert.deepEqual([...subgraph].map((id) => dag.name(id)).sort(), ['C', 'F'])
  })
})
