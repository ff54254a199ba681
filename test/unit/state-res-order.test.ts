// Property: state resolution does not depend on the order of its inputs (rooms/v2 "State resolution": the
// resolution of a *set* of states). On random forked rooms, built from a seeded PRNG so a failure names its
// seed, the state sets are resolved in random orders, each set's entries in random insertion order, and the
// store answers in random order, with and without an auth chain index: the answer must not change.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ALICE, BOB, CHARLIE, EVELYN, ZARA, Dag, join, joinRules, membership, powerLevels, topic, type EventSpec } from './state-res-helpers.ts'
import type { RoomEvent, StateKey } from '../../src/protocol/events/types.ts'
import { resolveState, type StateResStore } from '../../src/protocol/state-res/index.ts'

type Random = () => number

/** mulberry32: a small deterministic PRNG, uniform in [0, 1). */
function prng(seed: number): Random {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T

function shuffle<T>(random: Random, items: Iterable<T>): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j] as T, out[i] as T]
  }
  return out
}

const USERS = [ALICE, BOB, CHARLIE, ZARA, EVELYN]
const LEVELS = [0, 0, 50, 50, 100]

/** A random event some user might try: most are refused by the auth rules and not added. */
function randomSpec(random: Random, dag: Dag): EventSpec {
  const sender = pick(random, USERS)
  const target = pick(random, USERS)
  switch (Math.floor(random() * 7)) {
    case 0:
      return topic(sender, `topic ${Math.floor(random() * 1000)}`)
    case 1:
      return { sender, type: 'm.room.name', state_key: '', content: { name: `name ${Math.floor(random() * 1000)}` } }
    case 2: {
      const users: Record<string, number> = {}
      for (const user of USERS) if (user !== ALICE && random() < 0.5) users[user] = pick(random, LEVELS)
      const extra = random() < 0.3 ? { events: { 'm.room.topic': pick(random, [0, 50, 100]) } } : {}
      return powerLevels(sender, dag.pl(users, extra))
    }
    case 3:
      return joinRules(sender, pick(random, ['public', 'invite']))
    case 4:
      return join(sender)
    case 5:
      return membership(sender, sender, 'leave')
    default:
      return membership(sender, target, pick(random, ['ban', 'leave', 'invite']))
  }
}

/** A room forked at random: each event extends one to three recent events and is allowed at its place. */
async function randomRoom(versionId: string, random: Random): Promise<{ dag: Dag; names: string[] }> {
  const dag = new Dag(versionId)
  await dag.init()
  const names = ['START']
  for (let attempt = 0; names.length < 15 && attempt < 200; attempt++) {
    const recent = names.slice(-6)
    const width = random() < 0.6 ? 1 : random() < 0.75 ? 2 : 3
    const prev = shuffle(random, recent).slice(0, width)
    // Timestamps from a narrow range: ties and timestamps that run against the DAG are both common.
    const ts = 100 + Math.floor(random() * 30)
    const name = `E${names.length}`
    if (await dag.addIfAllowed(name, randomSpec(random, dag), prev, ts)) names.push(name)
  }
  return { dag, names }
}

/** The Dag's store, answering every lookup in a random order, with or without an auth chain index. */
function shuffledStore(dag: Dag, random: Random, accelerate: boolean): StateResStore {
  const inner = dag.store({ accelerate })
  const store: StateResStore = {
    getEvents: async (ids) => new Map<string, RoomEvent>(shuffle(random, (await inner.getEvents(shuffle(random, ids))).entries())),
  }
  if (accelerate) store.getAuthChainIds = async (ids) => new Set(shuffle(random, (await inner.getAuthChainIds?.(shuffle(random, ids))) ?? []))
  return store
}

const SEEDS = 100
const ORDERS = 6

for (const versionId of ['1', '2', '10', '11', '12']) {
  describe(`state resolution is independent of input order (room version ${versionId})`, () => {
    it(`gives one answer for any order of the state sets, their entries and the store's answers (${SEEDS} random rooms)`, async () => {
      let conflicts = 0
      for (let seed = 1; seed <= SEEDS; seed++) {
        const random = prng(seed * 7919 + Number(versionId))
        const { dag, names } = await randomRoom(versionId, random)
        // Two to four state sets, from the forward extremities and any other events of the room.
        const chosen = shuffle(random, names).slice(0, 2 + Math.floor(random() * 3))
        const sets = dag.stateSets(chosen)
        const expected = dag.named(await resolveState(dag.version, sets, dag.store()))
        if (new Set(sets.map((s) => JSON.stringify([...s].sort()))).size > 1) conflicts++
        for (let order = 0; order < ORDERS; order++) {
          const reordered = shuffle(random, sets).map((set) => new Map<StateKey, string>(shuffle(random, set.entries())))
          const store = shuffledStore(dag, random, random() < 0.5)
          const got = dag.named(await resolveState(dag.version, reordered, store))
          assert.deepEqual(got, expected, `seed ${seed}: resolving ${chosen.join(', ')} in another order`)
        }
      }
      // The property means little unless most rooms actually disagree about their state.
      assert.ok(conflicts >= SEEDS / 2, `only ${conflicts} of ${SEEDS} rooms had conflicting state sets`)
    })
  })
}
