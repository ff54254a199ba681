// Push rule conditions (client-server API, "Push Rules" → "Conditions") and dot-separated property paths
// (appendices, "Dot-separated property paths"), with the spec's own examples.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { conditionMatches, memberCountMatches, newBudget, propertyAt, splitPath, type PushEvent, type Recipient, type RoomFacts } from '../../src/push/evaluate.ts'
import type { PushCondition } from '../../src/push/rules.ts'

const room: RoomFacts = { memberCount: 3, senderPowerLevel: 0, notificationLevel: () => 50 }
const bob: Recipient = { userId: '@bob:example.org', displayName: 'Bob Smith' }

function ev(fields: Partial<PushEvent> & { content: Record<string, unknown> }): PushEvent {
  return { event_id: '$e', room_id: '!r:example.org', type: 'm.room.message', sender: '@alice:example.org', ...fields }
}

const holds = (c: PushCondition, e: PushEvent, facts: RoomFacts = room, recipient: Recipient = bob) => conditionMatches(c, e, facts, recipient)

describe('dot-separated property paths', () => {
  it('splits on dots and unescapes \\. and \\\\ only', () => {
    assert.deepEqual(splitPath('content.body'), ['content', 'body'])
    assert.deepEqual(splitPath('content.m\\.relates_to'), ['content', 'm.relates_to'])
    assert.deepEqual(splitPath('content.m\\\\foo'), ['content', 'm\\foo'])
    assert.deepEqual(splitPath('content.m\\x'), ['content', 'm\\x'], 'other escapes stay as they are')
    assert.deepEqual(splitPath('a..b'), ['a', '', 'b'])
  })

  it('reads nested properties and nothing through arrays or scalars', () => {
    const e = ev({ content: { 'm.relates_to': { rel_type: 'm.replace' }, list: [{ x: 1 }], s: 'str' } })
    assert.equal(propertyAt(e, 'content.m\\.relates_to.rel_type'), 'm.replace')
    assert.equal(propertyAt(e, 'content.m.relates_to.rel_type'), undefined)
    assert.equal(propertyAt(e, 'content.list.0.x'), undefined)
    assert.equal(propertyAt(e, 'content.s.length'), undefined)
    assert.equal(propertyAt(e, 'type'), 'm.room.message')
  })
})

describe('event_match', () => {
  const topic = (value: unknown) => ev({ type: 'm.room.topic', state_key: '', content: { topic: value } })
  const c = { kind: 'event_match', key: 'content.topic', pattern: 'lunc?*' }

  it('matches the whole value case-insensitively (spec example)', () => {
    assert.equal(holds(c, topic('Lunch plans')), true)
    assert.equal(holds(c, topic('LUNCH')), true)
    assert.equal(holds(c, topic(' lunch')), false)
    assert.equal(holds(c, topic('lunc')), false)
  })

  it('does not match absent or non-string properties, even with *', () => {
    assert.equal(holds(c, topic(null)), false)
    assert.equal(holds({ kind: 'event_match', key: 'content.topic', pattern: '*' }, topic(12)), false)
    assert.equal(holds({ kind: 'event_match', key: 'content.missing', pattern: '*' }, topic('x')), false)
  })

  it('matches content.body at word boundaries (spec example ex*ple)', () => {
    const b = { kind: 'event_match', key: 'content.body', pattern: 'ex*ple' }
    assert.equal(holds(b, ev({ content: { body: 'An example event.' } })), true)
    assert.equal(holds(b, ev({ content: { body: 'exple' } })), true)
    assert.equal(holds(b, ev({ content: { body: 'An exciting triple-whammy' } })), true)
    assert.equal(holds(b, ev({ content: { body: 'examples' } })), false)
  })

  it('has no implicit state_key condition: state_key "" only matches state events', () => {
    const s = { kind: 'event_match', key: 'state_key', pattern: '' }
    assert.equal(holds(s, ev({ type: 'm.room.tombstone', state_key: '', content: {} })), true)
    assert.equal(holds(s, ev({ type: 'm.room.tombstone', content: {} })), false)
  })

  it('does not match when key or pattern is missing', () => {
    assert.equal(holds({ kind: 'event_match', key: 'type' }, ev({ content: {} })), false)
    assert.equal(holds({ kind: 'event_match', pattern: '*' }, ev({ content: {} })), false)
  })
})

describe('event_property_is', () => {
  const create = (federate: unknown) => ev({ type: 'm.room.create', state_key: '', content: { 'm.federate': federate } })
  const c = { kind: 'event_property_is', key: 'content.m\\.federate', value: true }

  it('matches the exact value with the escaped key (spec example)', () => {
    assert.equal(holds(c, create(true)), true)
    assert.equal(holds(c, create('true')), false, 'no string/boolean casting')
    assert.equal(holds(c, create(1)), false, 'no number/boolean casting')
  })

  it('matches strings, integers and null exactly, never compound values', () => {
    assert.equal(holds({ kind: 'event_property_is', key: 'content.n', value: 5 }, ev({ content: { n: 5 } })), true)
    assert.equal(holds({ kind: 'event_property_is', key: 'content.n', value: 5 }, ev({ content: { n: 6 } })), false)
    assert.equal(holds({ kind: 'event_property_is', key: 'content.n', value: null }, ev({ content: { n: null } })), true)
    assert.equal(holds({ kind: 'event_property_is', key: 'content.n', value: null }, ev({ content: {} })), false, 'absent is not null')
    assert.equal(holds({ kind: 'event_property_is', key: 'content.s', value: 'Abc' }, ev({ content: { s: 'abc' } })), false, 'case-sensitive')
    assert.equal(holds({ kind: 'event_property_is', key: 'content.o', value: null }, ev({ content: { o: {} } })), false)
    assert.equal(holds({ kind: 'event_property_is', key: 'content.o', value: [] as unknown }, ev({ content: { o: [] } })), false)
  })
})

describe('event_property_contains', () => {
  const alias = (alt: unknown) => ev({ type: 'm.room.canonical_alias', state_key: '', content: { alias: '#somewhere:localhost', alt_aliases: alt } })
  const c = { kind: 'event_property_contains', key: 'content.alt_aliases', value: '#myroom:example.com' }

  it('matches an array holding the exact value (spec example)', () => {
    assert.equal(holds(c, alias(['#somewhere:example.org', '#myroom:example.com'])), true)
    assert.equal(holds(c, alias([':example.com'])), false, 'partial values do not match')
  })

  it('does not match absent properties or non-arrays', () => {
    assert.equal(holds(c, alias('#myroom:example.com')), false)
    assert.equal(holds(c, ev({ content: {} })), false)
  })

  it('ignores array values that are not scalars', () => {
    assert.equal(holds({ kind: 'event_property_contains', key: 'content.a', value: 1 }, ev({ content: { a: [[1], { x: 1 }, 1] } })), true)
    assert.equal(holds({ kind: 'event_property_contains', key: 'content.a', value: 1 }, ev({ content: { a: [[1], { x: 1 }] } })), false)
  })
})

describe('contains_display_name', () => {
  const c = { kind: 'contains_display_name' }

  it("matches the recipient's display name in the body at word boundaries, case-insensitively", () => {
    assert.equal(holds(c, ev({ content: { body: 'hey bob smith, lunch?' } })), true)
    assert.equal(holds(c, ev({ content: { body: 'Bob Smithers' } })), false)
    assert.equal(holds(c, ev({ content: { body: 'hello' } })), false)
  })

  it('treats wildcard characters in the display name literally', () => {
    const star: Recipient = { userId: '@s:example.org', displayName: 'St*r' }
    assert.equal(holds(c, ev({ content: { body: 'hi St*r' } }), room, star), true)
    assert.equal(holds(c, ev({ content: { body: 'hi Stellar' } }), room, star), false)
  })

  it('never matches without a display name or a string body', () => {
    assert.equal(holds(c, ev({ content: { body: 'anything' } }), room, { userId: '@x:y', displayName: null }), false)
    assert.equal(holds(c, ev({ content: { body: 'anything' } }), room, { userId: '@x:y', displayName: '' }), false)
    assert.equal(holds(c, ev({ content: { body: 42 } })), false)
  })
})

describe('room_member_count', () => {
  it('compares with ==, <, >, <=, >= and defaults to ==', () => {
    const cases: Array<[string, number, boolean]> = [
      ['2', 2, true], ['2', 3, false], ['==2', 2, true], ['<3', 2, true], ['<3', 3, false], ['>3', 4, true],
      ['>3', 3, false], ['<=3', 3, true], ['<=3', 4, false], ['>=3', 3, true], ['>=3', 2, false],
    ]
    for (const [is, count, expected] of cases) assert.equal(memberCountMatches(is, count), expected, `${is} with ${count}`)
  })

  it('never matches an unparseable parameter', () => {
    for (const is of ['', 'two', '=2', '!=2', ' 2', '2.5', '<']) assert.equal(memberCountMatches(is, 2), false, is)
    assert.equal(memberCountMatches(2 as unknown, 2), false)
  })

  it('reads the joined member count of the room', () => {
    assert.equal(holds({ kind: 'room_member_count', is: '3' }, ev({ content: {} })), true)
    assert.equal(holds({ kind: 'room_member_count', is: '2' }, ev({ content: {} })), false)
  })
})

describe('sender_notification_permission', () => {
  const c = { kind: 'sender_notification_permission', key: 'room' }
  const facts = (senderPowerLevel: number, required: Record<string, number>): RoomFacts => ({
    memberCount: 3,
    senderPowerLevel,
    notificationLevel: (key) => required[key] ?? 50,
  })

  it('holds when the sender has the power level notifications[key] requires', () => {
    assert.equal(holds(c, ev({ content: {} }), facts(50, {})), true)
    assert.equal(holds(c, ev({ content: {} }), facts(49, {})), false)
    assert.equal(holds(c, ev({ content: {} }), facts(10, { room: 10 })), true)
    assert.equal(holds(c, ev({ content: {} }), facts(Infinity, { room: 100 })), true, 'v12 creators')
  })

  it('does not match without a key', () => {
    assert.equal(holds({ kind: 'sender_notification_permission' }, ev({ content: {} }), facts(100, {})), false)
  })
})

describe('unrecognised conditions', () => {
  it('never match', () => {
    assert.equal(holds({ kind: 'org.example.always' }, ev({ content: {} })), false)
  })
})

describe('bounded matching work', () => {
  const match = (pattern: string) => ({ kind: 'event_match', key: 'content.body', pattern })

  it('matches only the first maxMatchLength code units of a value', () => {
    const e = ev({ content: { body: `${'x '.repeat(10)}cake` } })
    assert.equal(conditionMatches(match('cake'), e, room, bob, newBudget({ maxMatchLength: 1000, budget: 1e6 })), true)
    assert.equal(conditionMatches(match('cake'), ev({ content: { body: `${'x '.repeat(10)}cake` } }), room, bob, newBudget({ maxMatchLength: 20, budget: 1e6 })), false)
  })

  it("stops matching a recipient's patterns once the budget is spent, and reuses answers for free", () => {
    const e = ev({ content: { body: `${'a '.repeat(500)}cake` } })
    const budget = newBudget({ maxMatchLength: 16384, budget: 1500 })
    assert.equal(conditionMatches(match('*b'), e, room, bob, budget), false)
    const left = budget.left
    assert.ok(left < 1500)
    assert.equal(conditionMatches(match('*b'), e, room, bob, budget), false, 'an answer already known for the event')
    assert.equal(budget.left, left, 'costs nothing')
    assert.equal(conditionMatches(match('cake'), e, room, bob, budget), false, 'past the budget: does not match')
    assert.equal(conditionMatches(match('cake'), e, room, bob, newBudget()), true, "another recipient's budget is its own")
  })

  it('stops matching for every recipient once the event-wide budget is spent, however many recipients', () => {
    const e = ev({ content: { body: `${'a '.repeat(500)}cake` } })
    const limits = { maxMatchLength: 16384, budget: 1e6, eventBudget: 1500 }
    // Each recipient brings a pattern of its own: no answer is shared, every one costs.
    assert.equal(conditionMatches(match('*b'), e, room, bob, newBudget(limits)), false)
    assert.equal(conditionMatches(match('*c*d'), e, room, bob, newBudget(limits)), false)
    assert.equal(conditionMatches(match('cake'), e, room, bob, newBudget(limits)), false, 'a fresh recipient, but the event has spent its budget')
    assert.equal(conditionMatches(match('cake'), ev({ content: { body: `${'a '.repeat(500)}cake` } }), room, bob, newBudget(limits)), true, 'another event has its own')
  })
})
