// Authorization rules, "Considering the event's auth_events" (rooms/v1–v11 rule 2, v12 rule 3).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { authStateFromEvents, checkAuthEventsList, checkEventAuth, selectAuthEvents } from '../../src/protocol/auth/index.ts'
import type { RoomEvent } from '../../src/protocol/events/types.ts'
import { ALICE, BOB, TestRoom, assertAllowed, assertRefused, versions } from './auth-helpers.ts'

/** A message from Alice citing `authEvents` (by default what the selection picks from the room state). */
function message(room: TestRoom, authEvents?: RoomEvent[]) {
  const cited = authEvents ?? selectAuthEvents({ type: 'm.room.message', sender: ALICE, content: {} }, room.state, room.version)
  const event = room.event({ type: 'm.room.message', sender: ALICE, content: { body: 'hi' }, auth_events: cited.map((e) => e.event_id) })
  return { event, cited }
}

describe('checkAuthEventsList', () => {
  it('refuses duplicate (type, state_key) pairs (2.1)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, { powerLevels: { users: {} } })
      const { event, cited } = message(room)
      assertAllowed(checkAuthEventsList(event, cited, room.version), `v${v}`)
      const older = room.event({ type: 'm.room.power_levels', sender: ALICE, state_key: '', content: {} })
      const { event: dup, cited: dupCited } = message(room, [...cited, older])
      assertRefused(checkAuthEventsList(dup, dupCited, room.version), `v${v}`, /duplicate/)
    }
  })

  it('refuses pairs the selection does not pick: the create event is required before v12 and forbidden in v12 (2.2, 2.4)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, { joinRule: 'public' })
      const { event, cited } = message(room)
      assertAllowed(checkAuthEventsList(event, cited, room.version), `v${v}`)
      const joinRules = room.get('m.room.join_rules')
      const extra = message(room, [...cited, joinRules])
      assertRefused(checkAuthEventsList(extra.event, extra.cited, room.version), `v${v}`, /unexpected/)
    }
    for (const v of versions(1, 11)) {
      const room = new TestRoom(v)
      const withoutCreate = message(room, [room.get('m.room.member', ALICE)])
      assertRefused(checkAuthEventsList(withoutCreate.event, withoutCreate.cited, room.version), `v${v}`, /m\.room\.create/)
    }
    const v12 = new TestRoom('12')
    const withCreate = message(v12, [...message(v12).cited, v12.create])
    assertRefused(checkAuthEventsList(withCreate.event, withCreate.cited, v12.version), 'v12', /unexpected/)
  })

  it('refuses auth events the caller knows were rejected (2.3)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v)
      const { event, cited } = message(room)
      const membership = cited.find((e) => e.type === 'm.room.member')!
      assertAllowed(checkAuthEventsList(event, cited, room.version, { isRejected: () => false }), `v${v}`)
      assertRefused(checkAuthEventsList(event, cited, room.version, { isRejected: (id) => id === membership.event_id }), `v${v}`, /rejected/)
    }
  })

  it('refuses auth events from another room, and IDs not provided (2.5)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v)
      const other = new TestRoom(v)
      const { event, cited } = message(room)
      assertAllowed(checkAuthEventsList(event, cited, room.version), `v${v}`)
      const foreign = other.get('m.room.member', ALICE)
      const mixed = message(room, [...cited.filter((e) => e.type !== 'm.room.member'), foreign])
      assertRefused(checkAuthEventsList(mixed.event, mixed.cited, room.version), `v${v}`, /room/)
      assertRefused(checkAuthEventsList(event, cited.slice(1), room.version), `v${v}`, /not provided/)
    }
  })
})

describe('authStateFromEvents', () => {
  it('builds the auth state checkEventAuth needs, with the v12 create event passed in', () => {
    const room = new TestRoom('12', { members: { [BOB]: 'join' } })
    const { event, cited } = message(room)
    assertAllowed(checkEventAuth(event, authStateFromEvents(cited, room.create), room.version))
    assertRefused(checkEventAuth(event, authStateFromEvents(cited), room.version), 'no create', /m\.room\.create/)
    assert.equal(authStateFromEvents(cited, room.create).size, cited.length + 1)
  })
})
