// The server-default push rules (client-server API, "Predefined Rules", v1.19, with the legacy mention rules
// the spec had before v1.17) and rule evaluation order ("Push Rules": override, content, room, sender,
// underride; .m.rule.master always first).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { evaluate, type PushEvent, type RoomFacts } from '../../src/push/evaluate.ts'
import { buildRuleset, defaultRuleset, isDefaultRule, type StoredRule } from '../../src/push/rules.ts'

const BOB = '@bob:example.org'
const ROOM = '!room:example.org'
const group: RoomFacts = { memberCount: 5, senderPowerLevel: 0, notificationLevel: () => 50 }
const oneToOne: RoomFacts = { ...group, memberCount: 2 }

function ev(type: string, content: Record<string, unknown>, extra: Partial<PushEvent> = {}): PushEvent {
  return { event_id: '$e', room_id: ROOM, type, sender: '@alice:example.org', content, ...extra }
}

function outcome(event: PushEvent, facts: RoomFacts = group, ruleset = defaultRuleset(BOB)) {
  return evaluate(ruleset, event, facts, { userId: BOB, displayName: 'Bob' })
}

const text = (body: string, more: Record<string, unknown> = {}) => ev('m.room.message', { msgtype: 'm.text', body, ...more })

describe('server-default rules', () => {
  it('lists the spec rules with the legacy mention rules, in the order the spec had them, with no room or sender defaults', () => {
    const set = defaultRuleset(BOB)
    assert.deepEqual(
      set.override.map((r) => r.rule_id),
      [
        '.m.rule.master', '.m.rule.suppress_notices', '.m.rule.invite_for_me', '.m.rule.member_event', '.m.rule.is_user_mention',
        '.m.rule.contains_display_name', '.m.rule.is_room_mention', '.m.rule.roomnotif', '.m.rule.tombstone', '.m.rule.reaction',
        '.m.rule.room.server_acl', '.m.rule.suppress_edits',
      ],
    )
    assert.deepEqual(set.underride.map((r) => r.rule_id), ['.m.rule.call', '.m.rule.encrypted_room_one_to_one', '.m.rule.room_one_to_one', '.m.rule.message', '.m.rule.encrypted'])
    assert.deepEqual(set.content, [
      { rule_id: '.m.rule.contains_user_name', default: true, enabled: true, pattern: 'bob', actions: ['notify', { set_tweak: 'sound', value: 'default' }, { set_tweak: 'highlight' }] },
    ])
    assert.deepEqual([set.room, set.sender], [[], []])
    for (const kind of ['override', 'content', 'underride'] as const) for (const r of set[kind]) assert.equal(r.default, true, r.rule_id)
    assert.equal(set.override[0]?.enabled, false, '.m.rule.master is disabled by default')
    assert.ok(set.override.slice(1).every((r) => r.enabled))
  })

  it("puts the user's ID into .m.rule.invite_for_me and .m.rule.is_user_mention", () => {
    const set = defaultRuleset(BOB)
    const invite = set.override.find((r) => r.rule_id === '.m.rule.invite_for_me')
    assert.deepEqual(invite?.conditions?.[2], { kind: 'event_match', key: 'state_key', pattern: BOB })
    const mention = set.override.find((r) => r.rule_id === '.m.rule.is_user_mention')
    assert.deepEqual(mention?.conditions, [{ kind: 'event_property_contains', key: 'content.m\\.mentions.user_ids', value: BOB }])
  })

  it('knows which rule IDs are server-default rules of each kind', () => {
    assert.equal(isDefaultRule('override', '.m.rule.master'), true)
    assert.equal(isDefaultRule('underride', '.m.rule.master'), false)
    assert.equal(isDefaultRule('underride', '.m.rule.message'), true)
    assert.equal(isDefaultRule('content', '.m.rule.contains_user_name'), true, 'a legacy rule Homestead keeps')
    assert.equal(isDefaultRule('override', '.m.rule.contains_user_name'), false)
  })
})

describe('the legacy mention rules', () => {
  it('.m.rule.contains_user_name: the localpart as a word of the body highlights, case-insensitively', () => {
    const noName = (event: PushEvent, ruleset = defaultRuleset(BOB)) => evaluate(ruleset, event, group, { userId: BOB, displayName: null })
    const o = noName(text('ask @BOB:example.org please'))
    assert.equal(o.ruleId, '.m.rule.contains_user_name')
    assert.deepEqual(o.actions, ['notify', { set_tweak: 'sound', value: 'default' }, { set_tweak: 'highlight' }])
    assert.equal(noName(text('bobsleigh')).ruleId, '.m.rule.message', 'not inside a word')
  })

  it('.m.rule.contains_display_name: the display name in the body highlights', () => {
    const ruleset = defaultRuleset('@robert:example.org')
    const o = evaluate(ruleset, text('thanks, bob!'), group, { userId: '@robert:example.org', displayName: 'Bob' })
    assert.equal(o.ruleId, '.m.rule.contains_display_name')
    assert.equal(o.highlight, true)
    assert.equal(evaluate(ruleset, text('thanks, bob!'), group, { userId: '@robert:example.org', displayName: null }).ruleId, '.m.rule.message')
  })

  it('.m.rule.roomnotif: @room in the body highlights when the sender may notify the room', () => {
    assert.equal(outcome(text('@room lunch'), { ...group, senderPowerLevel: 50 }).ruleId, '.m.rule.roomnotif')
    assert.equal(outcome(text('@room lunch'), group).ruleId, '.m.rule.message', 'power 0 < notifications.room 50')
  })

  it('do not apply to an event with m.mentions, whatever it holds', () => {
    assert.equal(outcome(text('bob, @room', { 'm.mentions': {} }), { ...group, senderPowerLevel: 100 }).ruleId, '.m.rule.message')
    assert.equal(outcome(text('bob', { 'm.mentions': { user_ids: [BOB] } })).ruleId, '.m.rule.is_user_mention')
  })

  it('can be disabled like any server-default rule', () => {
    const ruleset = buildRuleset(BOB, [], [
      { kind: 'content', rule_id: '.m.rule.contains_user_name', enabled: false, actions: null },
      { kind: 'override', rule_id: '.m.rule.contains_display_name', enabled: false, actions: null },
    ])
    assert.equal(outcome(text('bob?'), group, ruleset).ruleId, '.m.rule.message')
  })
})

describe('evaluating the server-default rules', () => {
  it('.m.rule.message: a message in a group room notifies without highlight', () => {
    assert.deepEqual(outcome(text('hello')), { notify: true, highlight: false, actions: ['notify'], ruleId: '.m.rule.message' })
  })

  it('.m.rule.room_one_to_one: a message in a two-member room notifies with the default sound', () => {
    const o = outcome(text('hello'), oneToOne)
    assert.equal(o.ruleId, '.m.rule.room_one_to_one')
    assert.deepEqual(o.actions, ['notify', { set_tweak: 'sound', value: 'default' }])
  })

  it('.m.rule.encrypted and .m.rule.encrypted_room_one_to_one: encrypted events notify', () => {
    const enc = ev('m.room.encrypted', { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'x' })
    assert.equal(outcome(enc).ruleId, '.m.rule.encrypted')
    assert.equal(outcome(enc).notify, true)
    assert.equal(outcome(enc, oneToOne).ruleId, '.m.rule.encrypted_room_one_to_one')
  })

  it('.m.rule.call: a call invite notifies with the ring sound', () => {
    const o = outcome(ev('m.call.invite', { call_id: 'c' }))
    assert.equal(o.ruleId, '.m.rule.call')
    assert.deepEqual(o.actions, ['notify', { set_tweak: 'sound', value: 'ring' }])
  })

  it('.m.rule.suppress_notices: notices never notify', () => {
    const o = outcome(ev('m.room.message', { msgtype: 'm.notice', body: 'bot says hi' }))
    assert.deepEqual([o.ruleId, o.notify], ['.m.rule.suppress_notices', false])
  })

  it('.m.rule.is_user_mention: an m.mentions.user_ids mention highlights, beating suppress_edits and the message rule', () => {
    const o = outcome(text('hi', { 'm.mentions': { user_ids: [BOB] } }))
    assert.deepEqual([o.ruleId, o.notify, o.highlight], ['.m.rule.is_user_mention', true, true])
    assert.equal(outcome(text('hi', { 'm.mentions': { user_ids: ['@carol:example.org'] } })).highlight, false)
  })

  it('a plain-text mention of the user ID or display name highlights only without m.mentions (the legacy rules)', () => {
    assert.equal(outcome(text(`hey ${BOB}`)).highlight, true)
    assert.equal(outcome(text('hey Bob')).highlight, true)
    assert.equal(outcome(text(`hey ${BOB}`, { 'm.mentions': {} })).highlight, false)
    assert.equal(outcome(text('hey Bob', { 'm.mentions': { user_ids: [] } })).highlight, false)
  })

  it('.m.rule.is_room_mention: @room highlights only from a sender with the notifications.room level', () => {
    const roomMention = text('@room hi', { 'm.mentions': { room: true } })
    assert.equal(outcome(roomMention).ruleId, '.m.rule.message', 'power level 0 < 50')
    const o = outcome(roomMention, { ...group, senderPowerLevel: 50 })
    assert.deepEqual([o.ruleId, o.highlight], ['.m.rule.is_room_mention', true])
    assert.deepEqual(o.actions, ['notify', { set_tweak: 'highlight' }])
  })

  it('.m.rule.invite_for_me: an invite of the user notifies; other member events do not', () => {
    const invite = ev('m.room.member', { membership: 'invite' }, { state_key: BOB })
    assert.deepEqual([outcome(invite).ruleId, outcome(invite).notify], ['.m.rule.invite_for_me', true])
    const other = ev('m.room.member', { membership: 'invite' }, { state_key: '@carol:example.org' })
    assert.deepEqual([outcome(other).ruleId, outcome(other).notify], ['.m.rule.member_event', false])
    const join = ev('m.room.member', { membership: 'join' }, { state_key: '@carol:example.org' })
    assert.equal(outcome(join).ruleId, '.m.rule.member_event')
  })

  it('.m.rule.tombstone: a tombstone state event highlights; one without a state_key does not match it', () => {
    const o = outcome(ev('m.room.tombstone', { body: 'moved', replacement_room: '!new:x' }, { state_key: '' }))
    assert.deepEqual([o.ruleId, o.highlight], ['.m.rule.tombstone', true])
    assert.equal(outcome(ev('m.room.tombstone', { body: 'x' })).ruleId, null)
  })

  it('.m.rule.reaction, .m.rule.room.server_acl and .m.rule.suppress_edits: silent', () => {
    assert.equal(outcome(ev('m.reaction', { 'm.relates_to': { rel_type: 'm.annotation', event_id: '$x', key: '👍' } })).ruleId, '.m.rule.reaction')
    assert.equal(outcome(ev('m.room.server_acl', { allow: ['*'] }, { state_key: '' })).ruleId, '.m.rule.room.server_acl')
    const edit = outcome(text('* fixed', { 'm.relates_to': { rel_type: 'm.replace', event_id: '$x' } }))
    assert.deepEqual([edit.ruleId, edit.notify], ['.m.rule.suppress_edits', false])
  })

  it('no rule matches other events (a state event of another type)', () => {
    assert.deepEqual(outcome(ev('m.room.topic', { topic: 'x' }, { state_key: '' })), { notify: false, highlight: false, actions: null, ruleId: null })
  })
})

describe('user rules and changes to server-default rules', () => {
  const own = (r: Partial<StoredRule> & Pick<StoredRule, 'kind' | 'rule_id'>): StoredRule => ({
    conditions: null, pattern: null, actions: ['notify'], enabled: true, ...r,
  })

  it('orders .m.rule.master first, then user overrides, then the other defaults; user rules before default underrides', () => {
    const set = buildRuleset(BOB, [own({ kind: 'override', rule_id: 'mine', conditions: [] }), own({ kind: 'underride', rule_id: 'low', conditions: [] })], [])
    assert.deepEqual(set.override.slice(0, 3).map((r) => r.rule_id), ['.m.rule.master', 'mine', '.m.rule.suppress_notices'])
    assert.equal(set.underride[0]?.rule_id, 'low')
    assert.deepEqual(set.override[1], { rule_id: 'mine', default: false, enabled: true, actions: ['notify'], conditions: [] })
  })

  it('an enabled .m.rule.master silences everything, even user rules', () => {
    const set = buildRuleset(BOB, [own({ kind: 'override', rule_id: 'all', conditions: [] })], [{ kind: 'override', rule_id: '.m.rule.master', enabled: true, actions: null }])
    const o = outcome(text('hi', { 'm.mentions': { user_ids: [BOB] } }), group, set)
    assert.deepEqual([o.ruleId, o.notify, o.highlight], ['.m.rule.master', false, false])
  })

  it('a disabled default rule is skipped and changed actions apply', () => {
    const disabled = buildRuleset(BOB, [], [{ kind: 'underride', rule_id: '.m.rule.message', enabled: false, actions: null }])
    assert.equal(outcome(text('hi'), group, disabled).ruleId, null)
    const loud = buildRuleset(BOB, [], [{ kind: 'underride', rule_id: '.m.rule.message', enabled: null, actions: ['notify', { set_tweak: 'highlight' }] }])
    assert.equal(outcome(text('hi'), group, loud).highlight, true)
  })

  it('a content rule matches the body at word boundaries and ranks above room, sender and underride rules', () => {
    const set = buildRuleset(BOB, [
      own({ kind: 'content', rule_id: 'cake', pattern: 'cake', actions: ['notify', { set_tweak: 'highlight' }] }),
      own({ kind: 'room', rule_id: ROOM, actions: [] }),
    ], [])
    assert.equal(outcome(text('who wants cake?'), group, set).ruleId, 'cake')
    assert.equal(outcome(text('pancakes'), group, set).ruleId, ROOM)
    assert.equal(outcome(text('pancakes'), group, set).notify, false)
    assert.deepEqual(set.content[0], { rule_id: 'cake', default: false, enabled: true, actions: ['notify', { set_tweak: 'highlight' }], pattern: 'cake' })
  })

  it('a sender rule matches by user ID and the historical dont_notify action means no actions', () => {
    const set = buildRuleset(BOB, [own({ kind: 'sender', rule_id: '@alice:example.org', actions: ['dont_notify'] })], [])
    const o = outcome(text('hi'), group, set)
    assert.deepEqual(o, { notify: false, highlight: false, actions: [], ruleId: '@alice:example.org' })
    assert.deepEqual(set.sender[0]?.actions, ['dont_notify'], 'stored and served as given')
  })

  it('a disabled user rule never matches; a rule with an unknown condition never matches', () => {
    const set = buildRuleset(BOB, [
      own({ kind: 'override', rule_id: 'off', conditions: [], enabled: false, actions: [] }),
      own({ kind: 'override', rule_id: 'odd', conditions: [{ kind: 'org.example.unknown' }], actions: [] }),
    ], [])
    assert.equal(outcome(text('hi'), group, set).ruleId, '.m.rule.message')
  })

  it('a highlight tweak with value false does not highlight', () => {
    const set = buildRuleset(BOB, [own({ kind: 'override', rule_id: 'x', conditions: [], actions: ['notify', { set_tweak: 'highlight', value: false }] })], [])
    assert.deepEqual([outcome(text('hi'), group, set).notify, outcome(text('hi'), group, set).highlight], [true, false])
  })

  it('contains_display_name in a user rule highlights a body naming the user', () => {
    const set = buildRuleset(BOB, [own({ kind: 'override', rule_id: 'name', conditions: [{ kind: 'contains_display_name' }], actions: ['notify', { set_tweak: 'highlight' }] })], [])
    assert.equal(outcome(text('hi bob!'), group, set).highlight, true)
    assert.equal(outcome(text('hi bobby'), group, set).highlight, false)
  })
})
