// State resolution v2 (rooms/v2 "State resolution", fragments/v2-state-res.md): the scenarios homeserver
// test suites share (Synapse tests/state/test_v2.py), with expectations worked out from the spec.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  ALICE, BOB, CHARLIE, EVELYN, JR, PL, TOPIC, ZARA, Dag, join, joinRules, member, membership, permutations, powerLevels, topic,
} from './state-res-helpers.ts'
import { resolveState } from '../../src/protocol/state-res/index.ts'

/** A scenario builds its events after START and returns the forward extremities to resolve. */
type Scenario = (dag: Dag) => Promise<string[]>

// Alice (100) gives Bob 50 (PA), then on one branch bans him (MB); on the other Bob re-sends the power
// levels (PB). The ban is a power event by a more powerful sender, so it sorts before PB, and PB then
// fails: Bob is banned.
const banVsPowerLevels: Scenario = async (dag) => {
  await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), ['START'])
  await dag.add('MA', join(ALICE), ['PA'])
  await dag.add('MB', membership(ALICE, BOB, 'ban'), ['MA'])
  await dag.add('PB', powerLevels(BOB, dag.pl({ [BOB]: 50 })), ['PA'])
  return ['MB', 'PB']
}

// Alice makes the room invite-only while Evelyn joins it. The join rules are power events and are
// applied first; Evelyn's join (a leftover event) is then checked against "invite" and fails.
const joinRulesVsJoin: Scenario = async (dag) => {
  await dag.add('JR', joinRules(ALICE, 'invite'), ['START'])
  await dag.add('ME', join(EVELYN), ['START'])
  return ['JR', 'ME']
}

// PA → PB (Bob gives Charlie 50) → PC (Charlie lowers himself to 0) against a branch still at PA. The
// auth chain orders PA, PB, PC, each allowed by the one before.
const offtopicPowerLevels: Scenario = async (dag) => {
  await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), ['START'])
  await dag.add('PB', powerLevels(BOB, dag.pl({ [BOB]: 50, [CHARLIE]: 50 })), ['PA'])
  await dag.add('PC', powerLevels(CHARLIE, dag.pl({ [BOB]: 50, [CHARLIE]: 0 })), ['PB'])
  return ['PC', 'PA']
}

// Alice demotes Bob (PA2) while Bob re-sends his power levels (PB) and sets a topic (T3). PA2 (Alice,
// 100) sorts before PB (Bob, 50), which then fails. T2 and T3 both sit on PA1 in the mainline of PA2, so
// timestamps order them; T3 fails against PA2 and T2 stays.
const topicBasic: Scenario = async (dag) => {
  await dag.add('T1', topic(ALICE), ['START'])
  await dag.add('PA1', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), ['T1'])
  await dag.add('T2', topic(ALICE), ['PA1'])
  await dag.add('PA2', powerLevels(ALICE, dag.pl({ [BOB]: 0 })), ['T2'])
  await dag.add('PB', powerLevels(BOB, dag.pl({ [BOB]: 50 })), ['PA1'])
  await dag.add('T3', topic(BOB), ['PB'])
  return ['PA2', 'T3']
}

// One branch: T1, PA (Bob 50), Bob's topic T2, then Alice bans Bob. The other is still at T1. The
// power events IPOWER, PA and the ban are replayed; the topics follow in mainline order (T1 on IPOWER,
// T2 on PA): T1 passes, T2 fails because Bob is banned. The topic resets to T1.
const topicReset: Scenario = async (dag) => {
  await dag.add('T1', topic(ALICE), ['START'])
  await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), ['T1'])
  await dag.add('T2', topic(BOB), ['PA'])
  await dag.add('MB', membership(ALICE, BOB, 'ban'), ['T2'])
  return ['MB', 'T1']
}

// PA2 forbids everyone but Alice to change the power levels, which makes Bob's concurrent PB fail. T4
// (Alice, authorised by PB, whose mainline position is PA1's) sorts before T3 (Bob, authorised by PA2),
// although T4 is the later event, so T3 is applied last and wins.
const mainlineOrdering: Scenario = async (dag) => {
  await dag.add('T1', topic(ALICE), ['START'])
  await dag.add('PA1', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), ['T1'])
  await dag.add('T2', topic(ALICE), ['PA1'])
  await dag.add('PA2', powerLevels(ALICE, dag.pl({ [BOB]: 50 }, { events: { 'm.room.power_levels': 100 } })), ['T2'])
  await dag.add('PB', powerLevels(BOB, dag.pl({ [BOB]: 50 })), ['PA1'])
  await dag.add('T3', topic(BOB), ['PA2'])
  await dag.add('T4', topic(ALICE), ['PB'])
  return ['T3', 'T4']
}

// Alice kicks Bob on one branch; on the other Bob, unaware, sets a topic and then a name, both later
// than the kick. The kick is a power event and is applied first; Bob's events then fail.
const kickedUserLoses: Scenario = async (dag) => {
  await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), ['START'])
  await dag.add('KB', membership(ALICE, BOB, 'leave'), ['PA'])
  await dag.add('TB', topic(BOB), ['PA'])
  await dag.add('NB', { sender: BOB, type: 'm.room.name', state_key: '', content: { name: 'Bob was here' } }, ['TB'])
  return ['KB', 'NB']
}

async function run(versionId: string, scenario: Scenario): Promise<{ dag: Dag; changes: Record<string, string | null> }> {
  const dag = new Dag(versionId)
  await dag.init()
  const extremities = await scenario(dag)
  return { dag, changes: dag.changes('START', await dag.resolveAt(extremities)) }
}

for (const versionId of ['2', '11']) {
  describe(`state resolution v2 (room version ${versionId})`, () => {
    it('lets a ban win over the power levels the banned user sent concurrently', async () => {
      const { changes } = await run(versionId, banVsPowerLevels)
      assert.deepEqual(changes, { [PL]: 'PA', [member(ALICE)]: 'MA', [member(BOB)]: 'MB' })
    })

    it('applies a join rules change before a concurrent join, which then fails', async () => {
      const { changes } = await run(versionId, joinRulesVsJoin)
      assert.deepEqual(changes, { [JR]: 'JR' })
    })

    it('keeps a chain of power levels changes each authorised by the previous one', async () => {
      const { changes } = await run(versionId, offtopicPowerLevels)
      assert.deepEqual(changes, { [PL]: 'PC' })
    })

    it('keeps the topic of the sender who kept their power (topic basic)', async () => {
      const { changes } = await run(versionId, topicBasic)
      assert.deepEqual(changes, { [PL]: 'PA2', [TOPIC]: 'T2' })
    })

    it('keeps the topic of the sender who kept their power across a merge, then the next one (topic)', async () => {
      // Synapse's test_topic: topic basic's two branches merged by a message (MZ1), then Alice's topic T4.
      const dag = new Dag(versionId)
      await dag.init()
      await dag.add('MZ1', { sender: ZARA, type: 'm.room.message', content: {} }, await topicBasic(dag))
      await dag.add('T4', topic(ALICE), ['MZ1'])
      assert.deepEqual(dag.changes('START', await dag.resolveAt(['MZ1'])), { [PL]: 'PA2', [TOPIC]: 'T2' })
      assert.deepEqual(dag.changes('START', await dag.resolveAt(['T4'])), { [PL]: 'PA2', [TOPIC]: 'T4' })
    })

    it('resets the topic when its sender was banned concurrently (topic reset)', async () => {
      const { changes } = await run(versionId, topicReset)
      assert.deepEqual(changes, { [TOPIC]: 'T1', [PL]: 'PA', [member(BOB)]: 'MB' })
    })

    it('orders normal events by mainline position before timestamps', async () => {
      const { changes } = await run(versionId, mainlineOrdering)
      assert.deepEqual(changes, { [TOPIC]: 'T3', [PL]: 'PA2' })
    })

    it("drops a kicked user's later events", async () => {
      const { changes } = await run(versionId, kickedUserLoses)
      assert.deepEqual(changes, { [PL]: 'PA', [member(BOB)]: 'KB' })
    })

    it('breaks mainline ties by origin_server_ts: the later event is applied last and wins', async () => {
      // Same sender, same power levels: equal mainline positions. TA is created first but stamped later.
      const { changes } = await run(versionId, async (dag) => {
        await dag.add('TA', topic(ALICE, 'a'), ['START'], 20)
        await dag.add('TB', topic(ALICE, 'b'), ['START'], 10)
        return ['TA', 'TB']
      })
      assert.deepEqual(changes, { [TOPIC]: 'TA' })
    })

    it('breaks mainline ties of equal timestamps by event ID: the greater ID wins', async () => {
      const { changes } = await run(versionId, async (dag) => {
        await dag.add('TB', topic(ALICE, 'b'), ['START'], 10)
        await dag.add('TA', topic(ALICE, 'a'), ['START'], 10)
        return ['TB', 'TA']
      })
      assert.deepEqual(changes, { [TOPIC]: 'TB' })
    })

    it("sorts power events by their sender's power before timestamps", async () => {
      // Alice (100) and Bob (50) change the join rules concurrently; Bob's is older. The reverse
      // topological power ordering puts Alice's first, so Bob's (also allowed) is applied last.
      const { changes } = await run(versionId, async (dag) => {
        await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), ['START'])
        await dag.add('JA', joinRules(ALICE, 'invite'), ['PA'], 20)
        await dag.add('JB', joinRules(BOB, 'public'), ['PA'], 10)
        return ['JA', 'JB']
      })
      assert.deepEqual(changes, { [PL]: 'PA', [JR]: 'JB' })
    })

    it('sorts power events of equally powerful senders by timestamp', async () => {
      // Bob is raised to 100 too; now the older change (Bob's) sorts first and Alice's later one wins.
      const { changes } = await run(versionId, async (dag) => {
        await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 100 })), ['START'])
        await dag.add('JA', joinRules(ALICE, 'invite'), ['PA'], 20)
        await dag.add('JB', joinRules(BOB, 'public'), ['PA'], 10)
        return ['JA', 'JB']
      })
      assert.deepEqual(changes, { [PL]: 'PA', [JR]: 'JA' })
    })

    it('keeps both of two concurrent joins', async () => {
      const { changes } = await run(versionId, async (dag) => {
        await dag.add('ME', join(EVELYN), ['START'])
        await dag.add('MX', join('@xavier:example.com'), ['START'])
        return ['ME', 'MX']
      })
      assert.deepEqual(changes, { [member(EVELYN)]: 'ME', [member('@xavier:example.com')]: 'MX' })
    })

    it('gives the same answer whatever the order of the state sets', async () => {
      const scenarios = [banVsPowerLevels, topicBasic, topicReset, mainlineOrdering, kickedUserLoses]
      for (const scenario of scenarios) {
        const dag = new Dag(versionId)
        await dag.init()
        const extremities = await scenario(dag)
        // A third state set (START's) makes six orders to try.
        const sets = dag.stateSets([...extremities, 'START'])
        const expected = dag.named(await resolveState(dag.version, sets, dag.store()))
        for (const order of permutations(sets)) {
          assert.deepEqual(dag.named(await resolveState(dag.version, order, dag.store())), expected)
        }
      }
    })
  })
}
