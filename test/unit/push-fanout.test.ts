// Who an event notifies without running the rules per member (src/push/fanout.ts): for every member, the room's
// outcome for default members, or their exception where there is one, must equal what running that member's own
// ruleset gives ("Push Rules", v1.19).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { evaluate, type PushEvent, type RoomFacts } from '../../src/push/evaluate.ts'
import { namedLocalUsers, planEvent, type Decision, type Individual } from '../../src/push/fanout.ts'
import { buildRuleset, defaultRuleset, RULE_KINDS, type Ruleset, type StoredRule } from '../../src/push/rules.ts'

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
]

/** What the planner stores, resolved for one member (what the counts then read). */
function resolved(event: PushEvent, facts: RoomFacts): Map<string, Decision> {
  const named = new Set(namedLocalUsers(event, SERVER))
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

describe('the server-default rules', () => {
  it('read the recipient only through .m.rule.invite_for_me and .m.rule.is_user_mention, never the display name', () => {
    // If the spec's defaults change, the generic evaluation in fanout.ts must learn the new per-user inputs.
    const a = defaultRuleset('@a:x')
    const b = defaultRuleset('@b:x')
    const differing: string[] = []
    for (const kind of RULE_KINDS) {
      a[kind].forEach((rule, i) => {
        if (JSON.stringify(rule) !== JSON.stringify(b[kind][i])) differing.push(rule.rule_id)
        assert.ok(!(rule.conditions ?? []).some((c) => c.kind === 'contains_display_name'), rule.rule_id)
      })
    }
    assert.deepEqual(differing, ['.m.rule.invite_for_me', '.m.rule.is_user_mention'])
  })
})
