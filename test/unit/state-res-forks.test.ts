// Hand-built forks resolved by state resolution v2 (room versions 2 and 11) and v2.1 (room version 12):
// bans against power-level changes, concurrent joins, and Synapse's v2.1 example of a rename that cites old
// power levels. Each answer is checked in every order of the state sets.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  ALICE, BOB, CHARLIE, CREATE, EVELYN, JR, PL, ZARA, Dag, join, joinRules, member, membership, permutations, powerLevels, topic,
} from './state-res-helpers.ts'
import { stateKey } from '../../src/protocol/events/types.ts'
import { resolveState, separateV2 } from '../../src/protocol/state-res/index.ts'
import { authDifference, conflictedSubgraph } from '../../src/protocol/state-res/auth-chain.ts'
import { EventCache } from '../../src/protocol/state-res/store.ts'

const XAVIER = '@xavier:example.com'
const CREATE_KEY = stateKey('m.room.create', '')

/** Builds events after START and returns the events whose states are resolved. */
type Fork = (dag: Dag) => Promise<string[]>

/** The resolved state at `fork`'s extremities as changes from START's, the same in every order of the sets. */
async function resolveFork(versionId: string, fork: Fork): Promise<Record<string, string | null>> {
  const dag = new Dag(versionId)
  await dag.init()
  const sets = dag.stateSets(await fork(dag))
  const answers = new Set<string>()
  for (const order of permutations(sets)) answers.add(JSON.stringify(dag.changes('START', await resolveState(dag.version, order, dag.store()))))
  assert.equal(answers.size, 1, `the answer depends on the order of the state sets: ${[...answers].join(' / ')}`)
  return JSON.parse([...answers][0] as string) as Record<string, string | null>
}

const ALL_V2 = ['2', '11', '12']

for (const versionId of ALL_V2) {
  describe(`bans against power-level changes (room version ${versionId})`, () => {
    it('refuses a ban by a moderator whom the room admin concurrently demoted', async () => {
      // Alice (the creator) makes Bob a moderator, then demotes him on one branch while on the other Bob bans
      // Charlie. Both are power events; Alice's sorts first (more power), and the ban then fails.
      const changes = await resolveFork(versionId, async (dag) => {
        await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), ['START'])
        await dag.add('PDEMOTE', powerLevels(ALICE, dag.pl({ [BOB]: 0 })), ['PA'])
        await dag.add('BAN', membership(BOB, CHARLIE, 'ban'), ['PA'])
        return ['PDEMOTE', 'BAN']
      })
      assert.deepEqual(changes, { [PL]: 'PDEMOTE' })
    })

    it("undoes a banned moderator's concurrent promotion and what it allowed", async () => {
      // Bob (50, enough to change power levels here) promotes Charlie, who then sets the topic; meanwhile Alice
      // bans Bob. The ban sorts before Bob's promotion, which fails, and Charlie's topic fails with it.
      const changes = await resolveFork(versionId, async (dag) => {
        await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 50 }, { events: { 'm.room.power_levels': 50 } })), ['START'])
        await dag.add('BANB', membership(ALICE, BOB, 'ban'), ['PA'])
        await dag.add('PB', powerLevels(BOB, dag.pl({ [BOB]: 50, [CHARLIE]: 50 }, { events: { 'm.room.power_levels': 50 } })), ['PA'])
        await dag.add('TC', topic(CHARLIE, 'mine now'), ['PB'])
        return ['BANB', 'TC']
      })
      assert.deepEqual(changes, { [PL]: 'PA', [member(BOB)]: 'BANB' })
    })

    it('keeps a ban by a moderator whose concurrent demotion came from someone without the power to demote them', async () => {
      // Charlie (50) tries to demote Bob (50) to 0: the auth rules refuse changing the level of a user at one's
      // own level, so the demotion fails in the resolution too, and Bob's concurrent ban of Zara stands.
      const changes = await resolveFork(versionId, async (dag) => {
        await dag.add('PA', powerLevels(ALICE, dag.pl({ [BOB]: 50, [CHARLIE]: 50 }, { events: { 'm.room.power_levels': 50 } })), ['START'])
        await dag.add('BANZ', membership(BOB, ZARA, 'ban'), ['PA'])
        // add() does not check the auth rules: Charlie's own server would not have sent this, but another may.
        await dag.add('PC', powerLevels(CHARLIE, dag.pl({ [BOB]: 0, [CHARLIE]: 50 }, { events: { 'm.room.power_levels': 50 } })), ['PA'])
        return ['BANZ', 'PC']
      })
      assert.deepEqual(changes, { [PL]: 'PA', [member(ZARA)]: 'BANZ' })
    })
  })

  describe(`concurrent joins (room version ${versionId})`, () => {
    it('keeps three concurrent joins to a public room', async () => {
      const changes = await resolveFork(versionId, async (dag) => {
        await dag.add('ME', join(EVELYN), ['START'])
        await dag.add('MX', join(XAVIER), ['START'])
        await dag.add('MZ', { ...join(ZARA), content: { membership: 'join', displayname: 'Zara again' } }, ['START'])
        return ['ME', 'MX', 'MZ']
      })
      assert.deepEqual(changes, { [member(EVELYN)]: 'ME', [member(XAVIER)]: 'MX', [member(ZARA)]: 'MZ' })
    })

    it('refuses joins made concurrently with a switch to invite-only', async () => {
      const changes = await resolveFork(versionId, async (dag) => {
        await dag.add('JRI', joinRules(ALICE, 'invite'), ['START'])
        await dag.add('ME', join(EVELYN), ['START'])
        await dag.add('MX', join(XAVIER), ['START'])
        return ['JRI', 'ME', 'MX']
      })
      assert.deepEqual(changes, { [JR]: 'JRI' })
    })

    it('refuses a join made concurrently with a ban of the joining user, and keeps the other join', async () => {
      const changes = await resolveFork(versionId, async (dag) => {
        await dag.add('BANE', membership(ALICE, EVELYN, 'ban'), ['START'])
        await dag.add('ME', join(EVELYN), ['START'])
        await dag.add('MX', join(XAVIER), ['START'])
        return ['BANE', 'ME', 'MX']
      })
      assert.deepEqual(changes, { [member(EVELYN)]: 'BANE', [member(XAVIER)]: 'MX' })
    })

    it('keeps the later of two concurrent joins of one user (a profile change on each branch)', async () => {
      const changes = await resolveFork(versionId, async (dag) => {
        await dag.add('MZ1', { ...join(ZARA), content: { membership: 'join', displayname: 'one' } }, ['START'], 50)
        await dag.add('MZ2', { ...join(ZARA), content: { membership: 'join', displayname: 'two' } }, ['START'], 40)
        return ['MZ1', 'MZ2']
      })
      assert.deepEqual(changes, { [member(ZARA)]: 'MZ1' })
    })
  })
}

describe('state resolution v2.1 (room version 12): replaying the conflicted state subgraph', () => {
  it("keeps the newest power levels against a state that cites old ones through a rename (Synapse's test_state_reset_replay_conflicted_subgraph)", async () => {
    const dag = new Dag('12')
    dag.event('CREATE', { sender: ALICE, type: 'm.room.create', state_key: '', content: { room_version: '12' } }, { auth: [], prev: [] })
    dag.event('MA', join(ALICE), { auth: ['CREATE'], prev: ['CREATE'] })
    dag.event('P1', powerLevels(ALICE, dag.pl({})), { auth: ['MA'], prev: ['MA'] })
    dag.event('JR', joinRules(ALICE, 'public'), { auth: ['MA', 'P1'], prev: ['P1'] })
    dag.event('MB', join(BOB), { auth: ['P1', 'JR'], prev: ['JR'] })
    dag.event('MC', join(CHARLIE), { auth: ['P1', 'JR'], prev: ['MB'] })
    dag.event('P2', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), { auth: ['MA', 'P1'], prev: ['MC'] })
    dag.event('P3', powerLevels(BOB, dag.pl({ [BOB]: 50, [CHARLIE]: 50 })), { auth: ['MB', 'P2'], prev: ['P2'] })
    dag.event('ME1', join(EVELYN), { auth: ['P3', 'JR'], prev: ['P3'] })
    // Evelyn's rename cites the old power levels directly, the new ones only through her join.
    dag.event('ME2', join(EVELYN), { auth: ['P1', 'JR', 'ME1'], prev: ['ME1'] })
    dag.event('MZ', join(ZARA), { auth: ['P3', 'JR'], prev: ['P3'] })
    const common = ['CREATE', 'MA', 'MB', 'MC', 'JR']
    const dodgy = dag.stateOf([...common, 'ME2', 'P1'])
    const sensible = dag.stateOf([...common, 'MZ', 'P3'])
    const expected = {
      [CREATE]: 'CREATE', [member(ALICE)]: 'MA', [member(BOB)]: 'MB', [member(CHARLIE)]: 'MC', [JR]: 'JR',
      // ME2 is replayed first (it is in P1's epoch), then ME1 (in P3's).
      [member(EVELYN)]: 'ME1', [member(ZARA)]: 'MZ', [PL]: 'P3',
    }
    // v12's create event is an implicit auth event of every other event, so it is in every auth chain: never
    // in the auth difference, nor on a path between conflicted events (it is not conflicted itself). MB and JR
    // are on the path P3 → MB → JR → P1; Alice's join only below P1.
    const cache = new EventCache(dag.store(), dag.version)
    const conflicted = new Set([...separateV2([dodgy, sensible]).conflicted.values()].flatMap((ids) => [...ids]))
    const replayed = new Set([...(await authDifference(cache, [dodgy, sensible].map((s) => new Set(s.values())))), ...(await conflictedSubgraph(cache, conflicted))])
    assert.deepEqual([...replayed].map((id) => dag.name(id)).sort(), ['JR', 'MB', 'ME1', 'ME2', 'MZ', 'P1', 'P2', 'P3'])
    for (const sets of [[dodgy, sensible], [sensible, dodgy]]) {
      assert.deepEqual(dag.named(await resolveState(dag.version, sets, dag.store())), expected)
      assert.deepEqual(dag.named(await resolveState(dag.version, sets, dag.store({ accelerate: true }))), expected)
    }
  })
})

for (const versionId of ['11', '12']) {
  describe(`rejected events in the iterative auth checks (room version ${versionId})`, () => {
    // Alice and Bob set the topic on two branches. With `cited`, both state sets hold Bob's name change NB,
    // which cites his join MB: MB is then in every auth chain, not replayed, and Bob's membership is in neither
    // state set, so checking his topic falls back on his own auth events (rooms/v2, "Iterative auth checks").
    // Without it, MB is only in the auth chain of Bob's branch: in the auth difference, so replayed.
    function topics(cited: boolean): { dag: Dag; sets: Map<string, string>[] } {
      const dag = new Dag(versionId)
      dag.event('CREATE', { sender: ALICE, type: 'm.room.create', state_key: '', content: { room_version: versionId } }, { auth: [], prev: [] })
      dag.event('IMA', join(ALICE), { auth: ['CREATE'], prev: ['CREATE'] })
      dag.event('IPOWER', powerLevels(ALICE, dag.pl({ [BOB]: 50 })), { auth: ['CREATE', 'IMA'], prev: ['IMA'] })
      dag.event('IJR', joinRules(ALICE, 'public'), { auth: ['CREATE', 'IPOWER', 'IMA'], prev: ['IPOWER'] })
      dag.event('MB', join(BOB), { auth: ['CREATE', 'IPOWER', 'IJR'], prev: ['IJR'] })
      dag.event('NB', { sender: BOB, type: 'm.room.name', state_key: '', content: { name: 'b' } }, { auth: ['CREATE', 'IPOWER', 'MB'], prev: ['MB'] })
      dag.event('TA', { sender: ALICE, type: 'm.room.topic', state_key: '', content: { topic: 'a' } }, { auth: ['CREATE', 'IPOWER', 'IMA'], prev: ['NB'] })
      dag.event('TB', { sender: BOB, type: 'm.room.topic', state_key: '', content: { topic: 'b' } }, { auth: ['CREATE', 'IPOWER', 'MB'], prev: ['NB'] })
      const common = ['CREATE', 'IMA', 'IPOWER', 'IJR', ...(cited ? ['NB'] : [])]
      return { dag, sets: [dag.stateOf([...common, 'TA']), dag.stateOf([...common, 'TB'])] }
    }

    async function topicAfter(rejected: string[], cited = true): Promise<string | undefined> {
      const { dag, sets } = topics(cited)
      const answers = new Set<string | undefined>()
      for (const order of [sets, [...sets].reverse()]) {
        answers.add(dag.named(await resolveState(dag.version, order, dag.store({ rejected })))['m.room.topic|'])
      }
      assert.equal(answers.size, 1)
      return [...answers][0]
    }

    it('applies the later topic when nothing was rejected', async () => {
      assert.equal(await topicAfter([]), 'TB')
    })

    it('does not authorise with a rejected auth event: without his join, Bob may not set the topic', async () => {
      assert.equal(await topicAfter(['MB']), 'TA')
    })

    it('checks a previously rejected event again and applies it when allowed, as the spec says (Synapse keeps it out)', async () => {
      assert.equal(await topicAfter(['TB']), 'TB')
    })

    it('replays a rejected join found in the auth difference, which then authorises, as the spec says (Synapse: TA)', async () => {
      assert.equal(await topicAfter(['MB'], false), 'TB')
    })

    if (versionId === '12') {
      it('refuses every event of a room whose create event was rejected, from the auth events or the state', async () => {
        assert.equal(await topicAfter(['CREATE']), undefined)
        // A state set without the create event makes it conflicted: replayed, it is in the state the topics
        // are checked against, and that it was rejected still refuses them (v12 auth rule 2).
        const { dag, sets } = topics(true)
        sets[0]?.delete(CREATE_KEY)
        const resolved = dag.named(await resolveState(dag.version, sets, dag.store({ rejected: ['CREATE'] })))
        assert.equal(resolved[CREATE], 'CREATE')
        assert.equal(resolved['m.room.topic|'], undefined)
      })
    }
  })
}
