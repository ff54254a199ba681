// Who an event notifies without running the rules per member (src/push/fanout.ts): for every member, the room's
// outcome for default members, or their exception where there is one, must equal what running that member's own
// ruleset gives ("Push Rules", v1.19).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { evaluate, type PushEvent, type RoomFacts } from '../../src/push/evaluate.ts'
import { MAX_MENTION_CANDIDATES, mentionCandidates, mentionKey, namedLocalUsers, planEvent, type Decision, type Individual } from '../../src/push/fanout.ts'
import { buildRuleset, defaultRuleset, localpartOf, RULE_KINDS, type Ruleset, type StoredRule } from '../../src/push/rules.ts'

const SERVER = 'example.org'
const ROOM = '!room:example.org'
const ALICE = '@alice:example.org'

let n = 0
function ev(type: string, content: Record<string, unknown>, extra: Partial<PushEvent> = {}): PushEvent {
  return { event_id: `$e${++n}`, room_id: ROOM, type, sender: ALICE, content, ...extra }
}
const text = (body: string, more: Record<string, unknown> = {}) => ev('m.room.message', { msgtype: 'm.text', body, ...more })

const own = (kind: StoredRule['kind'], rule_id: string, rest: Partial<StoredRule>): StoredRule => ({
  kind,
  rule_id,
  conditions: null,
  pattern: null,
  actions: ['notify'],
  enabled: true,
  ...rest,
})

/** Members with their full rulesets: default ones, and some with rules of their own. */
const members: Array<{ userId: string; ruleset: Ruleset; displayName: string; custom: boolean }> = [
  { userId: '@bob:example.org', ruleset: defaultRuleset('@bob:example.org'), displayName: 'Bob', custom: false },
  { userId: '@dave:example.org', ruleset: defaultRuleset('@dave:example.org'), displayName: 'Dave', custom: false },
  { userId: '@erin:example.org', ruleset: defaultRuleset('@erin:example.org'), displayName: 'Erin', custom: false },
  {
    userId: '@carol:example.org',
    ruleset: buildRuleset('@carol:example.org', [own('content', 'cake', { pattern: 'cake', actions: ['notify', { set_tweak: 'highlight' }] })], []),
    displayName: 'Carol',
    custom: true,
  },
  {
    userId: '@frank:example.org',
    ruleset: buildRuleset('@frank:example.org', [own('override', 'mute', { conditions: [{ kind: 'event_match', key: 'room_id', pattern: ROOM }], actions: [] })], []),
    displayName: 'Frank',
    custom: true,
  },
  {
    userId: '@gina:example.org',
    ruleset: buildRuleset('@gina:example.org', [own('override', 'name', { conditions: [{ kind: 'contains_display_name' }], actions: ['notify', { set_tweak: 'highlight' }] })], [
      { kind: 'underride', rule_id: '.m.rule.message', enabled: false, actions: null },
      { kind: 'override', rule_id: '.m.rule.member_event', enabled: null, actions: ['notify'] },
    ]),
    displayName: 'Gina',
    custom: true,
  },
  { userId: '@ivy.lee:example.org', ruleset: defaultRuleset('@ivy.lee:example.org'), displayName: 'Dr. Ivy', custom: false },
  { userId: '@jo:example.org', ruleset: defaultRuleset('@jo:example.org'), displayName: '张伟', custom: false },
  { userId: '@kim:example.org', ruleset: defaultRuleset('@kim:example.org'), displayName: '🌟Star', custom: false },
  {
    userId: '@hal:example.org',
    ruleset: buildRuleset('@hal:example.org', [], [{ kind: 'override', rule_id: '.m.rule.master', enabled: true, actions: null }]),
    displayName: 'Hal',
    custom: true,
  },
]

const group: RoomFacts = { memberCount: 8, senderPowerLevel: 100, notificationLevel: () => 50 }
const weakSender: RoomFacts = { ...group, senderPowerLevel: 0 }
const oneToOne: RoomFacts = { ...group, memberCount: 2 }

const events: Array<[string, PushEvent, RoomFacts]> = [
  ['a plain message', text('hello'), group],
  ['a message in a room of two', text('hello'), oneToOne],
  ['an encrypted event', ev('m.room.encrypted', { algorithm: 'm.megolm.v1.aes-sha2' }), group],
  ['a notice', ev('m.room.message', { msgtype: 'm.notice', body: 'bot' }), group],
  ['a mention of bob', text('hey', { 'm.mentions': { user_ids: ['@bob:example.org'] } }), group],
  ['a mention of carol and of a remote user', text('hey', { 'm.mentions': { user_ids: ['@carol:example.org', '@zed:elsewhere.org'] } }), group],
  ['a mention of everyone by name', text('all', { 'm.mentions': { user_ids: members.map((m) => m.userId) } }), group],
  ['@room from a powerful sender', text('@room', { 'm.mentions': { room: true } }), group],
  ['@room from a weak sender', text('@room', { 'm.mentions': { room: true } }), weakSender],
  ['a body naming Gina and cake', text('gina: cake?'), group],
  ['a reaction', ev('m.reaction', { 'm.relates_to': { rel_type: 'm.annotation', event_id: '$x', key: 'x' } }), group],
  ['an edit', text('* fixed', { 'm.relates_to': { rel_type: 'm.replace', event_id: '$x' } }), group],
  ['a join', ev('m.room.member', { membership: 'join' }, { state_key: '@zed:example.org', sender: '@zed:example.org' }), group],
  ['an invite of bob', ev('m.room.member', { membership: 'invite' }, { state_key: '@bob:example.org' }), group],
  ['an invite of BOB in upper case', ev('m.room.member', { membership: 'invite' }, { state_key: '@BOB:EXAMPLE.org' }), group],
  ['an invite of gina', ev('m.room.member', { membership: 'invite' }, { state_key: '@gina:example.org' }), group],
  ['a tombstone', ev('m.room.tombstone', { body: 'moved', replacement_room: '!new:example.org' }, { state_key: '' }), group],
  ['a call invite', ev('m.call.invite', { call_id: '1' }), group],
  ['a custom event type', ev('org.example.custom', { body: 'cake' }), group],
  ['an empty-string mention', text('x', { 'm.mentions': { user_ids: [''] } }), group],
  ['a body naming bob by his localpart', text('ask @bob:example.org'), group],
  ['a body naming dave by his display name in capitals', text('DAVE, lunch?'), group],
  ['a body naming ivy by the start of her localpart only', text('ivy, lunch?'), group],
  ['a body naming ivy by localpart and display name', text('ping ivy.lee and dr. ivy'), group],
  ['a body naming jo by a name without word characters', text('你好张伟'), group],
  ['a body naming kim by a name starting with a symbol', text('thanks 🌟star!'), group],
  ['a body naming bob inside a word', text('bobsleigh'), group],
  ['a body naming bob with m.mentions naming nobody', text('bob?', { 'm.mentions': {} }), group],
  ['a body saying @room from a powerful sender', text('@room hello'), group],
  ['a body saying @room from a weak sender', text('@room hello'), weakSender],
  ['a body saying @room with m.mentions', text('@room hello', { 'm.mentions': {} }), group],
  ['a notice naming bob', ev('m.room.message', { msgtype: 'm.notice', body: 'bob' }), group],
]

/**
 * The members an event names: by user ID (namedLocalUsers), and members listed under one of the body's
 * mention keys, as the storage finds them (push_mention_keys: the keys of their localpart and display name).
 */
function namedMembers(event: PushEvent): Set<string> {
  const named = new Set(namedLocalUsers(event, SERVER))
  const candidates = new Set(mentionCandidates(event, 16_384))
  for (const m of members) {
    const keys = [mentionKey(localpartOf(m.userId)), mentionKey(m.displayName)]
    if (keys.some((k) => k !== null && candidates.has(k))) named.add(m.userId)
  }
  return named
}

/** What the planner stores, resolved for one member (what the counts then read). */
function resolved(event: PushEvent, facts: RoomFacts): Map<string, Decision> {
  const named = namedMembers(event)
  const individuals: Individual[] = members
    .filter((m) => m.userId !== event.sender && (m.custom || named.has(m.userId)))
    .map((m) => ({ userId: m.userId, ruleset: m.ruleset, displayName: m.displayName }))
  const plan = planEvent(event, facts, individuals)
  const exceptions = new Map(plan.exceptions.map((e) => [e.user_id, { notify: e.notify, highlight: e.highlight }]))
  return new Map(members.map((m) => [m.userId, exceptions.get(m.userId) ?? plan.room]))
}

describe('planEvent', () => {
  for (const [label, event, facts] of events) {
    it(`gives every member the outcome of their own rules: ${label}`, () => {
      const got = resolved(event, facts)
      for (const m of members) {
        const { notify, highlight } = evaluate(m.ruleset, event, facts, { userId: m.userId, displayName: m.displayName })
        assert.deepEqual(got.get(m.userId), { notify, highlight }, m.userId)
      }
    })
  }

  it('stores an exception only for the members whose outcome differs', () => {
    const plan = planEvent(text('hey', { 'm.mentions': { user_ids: ['@bob:example.org'] } }), group, [
      { userId: '@bob:example.org', ruleset: defaultRuleset('@bob:example.org'), displayName: null },
      { userId: '@carol:example.org', ruleset: members[3]!.ruleset, displayName: null },
    ])
    assert.deepEqual(plan.room, { notify: true, highlight: false })
    assert.deepEqual(plan.exceptions, [{ user_id: '@bob:example.org', notify: true, highlight: true }])
  })
})

describe('namedLocalUsers', () => {
  it('lists local users in m.mentions.user_ids and a member event target, also in its lower-case local form', () => {
    assert.deepEqual(namedLocalUsers(text('x', { 'm.mentions': { user_ids: ['@bob:example.org', '@zed:elsewhere.org', 7] } }), SERVER), ['@bob:example.org'])
    assert.deepEqual(namedLocalUsers(ev('m.room.member', { membership: 'invite' }, { state_key: '@Bob:Example.org' }), SERVER), ['@bob:example.org'])
    assert.deepEqual(namedLocalUsers(ev('m.room.member', { membership: 'invite' }, { state_key: '@zed:elsewhere.org' }), SERVER), [])
    assert.deepEqual(namedLocalUsers(text('x', { 'm.mentions': { user_ids: '@bob:example.org' } }), SERVER), [])
  })
})

describe('mention keys', () => {
  it('key a name by its first run of word characters, lower-cased, else by its first character that is not white space', () => {
    assert.equal(mentionKey('Dr. Ivy'), 'dr')
    assert.equal(mentionKey('ivy.lee'), 'ivy')
    assert.equal(mentionKey('🌟Star'), 'star')
    assert.equal(mentionKey('  张伟'), '张')
    assert.equal(mentionKey('-'), '-')
    assert.equal(mentionKey(' \t'), null)
  })

  it("lists a body's distinct word runs and other characters, and nothing for an event with m.mentions or no body", () => {
    assert.deepEqual(mentionCandidates(text('Hi @Bob:ex, hi!'), 100), ['hi', '@', 'bob', ':', 'ex', ',', '!'])
    assert.deepEqual(mentionCandidates(text('hi bob', { 'm.mentions': {} }), 100), [])
    assert.deepEqual(mentionCandidates(text('hi bob', { 'm.mentions': {} }), 100, true), ['hi', 'bob'], 'for rules of the user\'s own')
    assert.deepEqual(mentionCandidates(ev('m.room.message', { body: 7 }), 100), [])
    assert.deepEqual(mentionCandidates(text('abc def'), 3), ['abc'], 'only what matching reads')
  })

  it('bounds the keys of a hostile body', () => {
    const body = Array.from({ length: 5000 }, (_, i) => `w${i}`).join(' ')
    assert.equal(mentionCandidates(text(body), 1_000_000).length, MAX_MENTION_CANDIDATES)
  })
})

describe('the server-default rules', () => {
  it('read the recipient only through the rules the fan-out knows, and the display name only through .m.rule.contains_display_name', () => {
    // If the spec's defaults change, the generic evaluation in fanout.ts must learn the new per-user inputs.
    const a = defaultRuleset('@a:x')
    const b = defaultRuleset('@b:x')
    const differing: string[] = []
    for (const kind of RULE_KINDS) {
      a[kind].forEach((rule, i) => {
        if (JSON.stringify(rule) !== JSON.stringify(b[kind][i])) differing.push(rule.rule_id)
        if ((rule.conditions ?? []).some((c) => c.kind === 'contains_display_name')) differing.push(rule.rule_id)
      })
    }
    assert.deepEqual(differing, ['.m.rule.invite_for_me', '.m.rule.is_user_mention', '.m.rule.contains_display_name', '.m.rule.contains_user_name'])
  })
})
