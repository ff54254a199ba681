// The original state resolution algorithm (rooms/v1 "State resolution"), as Synapse's state/v1.py reads it.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ALICE, BOB, CHARLIE, EVELYN, PL, TOPIC, Dag, join, member, membership, powerLevels, topic } from './state-res-helpers.ts'
import { resolveState } from '../../src/protocol/state-res/index.ts'

async function room(versionId = '1'): Promise<Dag> {
  const dag = new Dag(versionId)
  await dag.init() // CREATE…START at depths 1–8
  return dag
}

function message(sender: string) {
  return { sender, type: 'm.room.message', content: { body: 'hi' } }
}

describe('state resolution v1 (room version 1)', () => {
  it('keeps a key that only some state sets hold, without checking it', async () => {
    const dag = await room()
    // Evelyn is not in the room, so her topic would fail any auth check; v1 never checks it.
    dag.event('TE', topic(EVELYN), { auth: ['CREATE', 'IPOWER'], prev: ['START'] })
    const withTopic = new Map([...dag.stateSets(['START'])[0]!, ...dag.stateOf(['TE'])])
    const sets = [withTopic, dag.stateSets(['START'])[0]!]
    assert.equal(dag.named(await resolveState(dag.version, sets, dag.store()))[TOPIC], 'TE')

    // v2 counts a key some sets lack as conflicted and re-checks the event: the topic is dropped.
    const v2 = await room('2')
    v2.event('TE', topic(EVELYN), { auth: ['CREATE', 'IPOWER'], prev: ['START'] })
    const v2Sets = [new Map([...v2.stateSets(['START'])[0]!, ...v2.stateOf(['TE'])]), v2.stateSets(['START'])[0]!]
    assert.equal(v2.named(await resolveState(v2.version, v2Sets, v2.store()))[TOPIC], undefined)
  })

  it('takes the shallower power levels, then each deeper one the previous allows', async () => {
    const dag = await room()
    await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), ['START']) // depth 9
    await dag.add('PB', powerLevels(BOB, dag.pl({ [BOB]: 50, [CHARLIE]: 50 })), ['PA']) // depth 10
    assert.equal(dag.named(await dag.resolveAt(['PB', 'PA']))[PL], 'PB')
  })

  it('keeps the shallower power levels when the deeper one is not allowed', async () => {
    const dag = await room()
    await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), ['START'])
    await dag.add('PC', powerLevels(CHARLIE, dag.pl({ [BOB]: 50, [CHARLIE]: 100 })), ['PA']) // Charlie has 0
    assert.equal(dag.named(await dag.resolveAt(['PC', 'PA']))[PL], 'PA')
  })

  it('stops at the first power levels event that fails, ignoring deeper ones', async () => {
    const dag = await room()
    await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), ['START']) // depth 9
    await dag.add('PX', powerLevels(CHARLIE, dag.pl({ [CHARLIE]: 100 })), ['PA']) // depth 10, fails
    await dag.add('M', message(ALICE), ['PA']) // depth 10
    await dag.add('PY', powerLevels(ALICE, dag.pl({ [BOB]: 0 })), ['M']) // depth 11, would pass
    assert.equal(dag.named(await dag.resolveAt(['PA', 'PX', 'PY']))[PL], 'PA')
  })

  it('takes the deepest other state event that is allowed', async () => {
    const dag = await room()
    await dag.add('T1', topic(ALICE), ['START']) // depth 9
    await dag.add('M', message(CHARLIE), ['START'])
    await dag.add('T2', topic(CHARLIE), ['M']) // depth 10, but Charlie (0) may not set the topic (50)
    assert.equal(dag.named(await dag.resolveAt(['T1', 'T2']))[TOPIC], 'T1')
  })

  it('falls back to the shallowest event when none is allowed (as Synapse does)', async () => {
    const dag = await room()
    await dag.add('T3', topic(CHARLIE), ['START']) // depth 9
    await dag.add('M', message(CHARLIE), ['START'])
    await dag.add('T2', topic(CHARLIE), ['M']) // depth 10
    assert.equal(dag.named(await dag.resolveAt(['T2', 'T3']))[TOPIC], 'T3')
  })

  it('breaks depth ties by the lowest sha1 of the event ID', async () => {
    const dag = await room()
    // sha1('$TD:example.com') = eaa769…, sha1('$TG:example.com') = 0438d0…: TG wins though TD < TG.
    await dag.add('TD', topic(ALICE, 'd'), ['START'])
    await dag.add('TG', topic(ALICE, 'g'), ['START'])
    assert.equal(dag.named(await dag.resolveAt(['TD', 'TG']))[TOPIC], 'TG')
    assert.equal(dag.named(await dag.resolveAt(['TG', 'TD']))[TOPIC], 'TG')
  })

  it('resolves each membership against R without the other conflicted memberships', async () => {
    // The ban-vs-power-levels DAG. PL: PA (depth 9) then PB (Bob, whose membership is conflicted and so
    // absent from R): PB fails. Alice: IMA then MA, allowed. Bob: IMB then MB, Alice's ban, checked
    // against R where Alice's own membership is not yet resolved: it fails and Bob stays joined (one of
    // the v1 state resets v2 fixed).
    const dag = await room()
    await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), ['START'])
    await dag.add('MA', join(ALICE), ['PA'])
    await dag.add('MB', membership(ALICE, BOB, 'ban'), ['MA'])
    await dag.add('PB', powerLevels(BOB, dag.pl({ [BOB]: 50 })), ['PA'])
    assert.deepEqual(dag.changes('START', await dag.resolveAt(['MB', 'PB'])), { [PL]: 'PA', [member(ALICE)]: 'MA' })
  })

  it('drops conflicting events the store does not hold', async () => {
    const dag = await room()
    await dag.add('T1', topic(ALICE), ['START'])
    await dag.add('T2', topic(ALICE), ['START'])
    const store = dag.store({ missing: ['T2'] })
    assert.equal(dag.named(await resolveState(dag.version, dag.stateSets(['T1', 'T2']), store))[TOPIC], 'T1')
  })
})
