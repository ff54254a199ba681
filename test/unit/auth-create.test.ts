// Authorization rules for m.room.create (rooms/v1–v12 rule 1) and v12 rule 2 (the room ID names the create event).
import { describe, it } from 'node:test'
import { checkEventAuth } from '../../src/protocol/auth/index.ts'
import { stateKey } from '../../src/protocol/events/types.ts'
import type { JsonObject } from '../../src/protocol/events/types.ts'
import { ALICE, BOB, TestRoom, assertAllowed, assertRefused, makeCreate, makeEvent, version, versions, type EventSpec } from './auth-helpers.ts'

type CreateSpec = EventSpec & { content: JsonObject }

function checkCreate(v: string, mutate: (spec: CreateSpec) => void = () => {}) {
  const rv = version(v)
  const template = makeCreate(rv, ALICE)
  const spec: CreateSpec = {
    type: 'm.room.create',
    sender: ALICE,
    state_key: '',
    content: { ...template.content },
    prev_events: [] as string[],
    event_id: template.event_id,
    noWireRoomId: rv.roomIdFromCreateEvent,
  }
  mutate(spec)
  return checkEventAuth(makeEvent(spec, rv, template.room_id), new Map(), rv)
}

describe('m.room.create', () => {
  it('refuses a create event with prev_events (1.1)', () => {
    for (const v of versions(1)) {
      assertAllowed(checkCreate(v), `v${v}`)
      assertRefused(checkCreate(v, (s) => (s.prev_events = ['$other'])), `v${v}`, /prev_events/)
    }
  })

  it("refuses a room ID on another server than the sender's (v1–v11) and any wire room_id (v12) (1.2)", () => {
    for (const v of versions(1, 11)) {
      assertAllowed(checkCreate(v, (s) => (s.room_id = '!x:a.example')), `v${v}`)
      assertRefused(checkCreate(v, (s) => (s.room_id = '!x:b.example')), `v${v}`, /server/)
      assertRefused(checkCreate(v, (s) => (s.room_id = '!no-server')), `v${v}`)
    }
    assertAllowed(checkCreate('12'))
    assertRefused(checkCreate('12', (s) => (s.noWireRoomId = false)), 'v12', /room_id/)
  })

  it('refuses an unknown content.room_version (1.3)', () => {
    for (const v of versions(1)) {
      assertAllowed(checkCreate(v, (s) => delete s.content.room_version), `v${v} absent`)
      assertAllowed(checkCreate(v, (s) => (s.content.room_version = '1')), `v${v} "1"`)
      assertRefused(checkCreate(v, (s) => (s.content.room_version = '13')), `v${v}`, /room version/)
      assertRefused(checkCreate(v, (s) => (s.content.room_version = 12)), `v${v} number`)
    }
  })

  it('requires content.creator before v11 only (1.4)', () => {
    for (const v of versions(1, 10)) {
      assertAllowed(checkCreate(v), `v${v}`)
      assertRefused(checkCreate(v, (s) => delete s.content.creator), `v${v}`, /creator/)
    }
    for (const v of versions(11)) assertAllowed(checkCreate(v, (s) => delete s.content.creator), `v${v}`)
  })

  it('validates additional_creators as an array of user IDs in v12 only', () => {
    assertAllowed(checkCreate('12', (s) => (s.content.additional_creators = [BOB, '@carol:c.example:8448'])))
    assertAllowed(checkCreate('12', (s) => (s.content.additional_creators = [])))
    for (const bad of ['@bob:b.example', [BOB, 'bob'], [42], [BOB, null], {}]) {
      assertRefused(checkCreate('12', (s) => (s.content.additional_creators = bad)), JSON.stringify(bad), /additional_creators/)
    }
    assertAllowed(checkCreate('11', (s) => (s.content.additional_creators = 'not checked before v12')))
  })
})

describe('the create event of the room', () => {
  it('is required in the auth state, in the same room; in v12 the room ID must name an accepted create event (v12 rule 2)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v)
      const message = { type: 'm.room.message', sender: ALICE, content: { body: 'hi' } }
      assertAllowed(room.check(message), `v${v}`)
      const withoutCreate = new Map(room.state)
      withoutCreate.delete(stateKey('m.room.create', ''))
      assertRefused(checkEventAuth(room.event(message), withoutCreate, room.version), `v${v}`, /m\.room\.create/)
      assertRefused(room.check({ ...message, room_id: room.version.roomIdFromCreateEvent ? '!other' : '!other:a.example' }), `v${v} other room`)
    }
    const room = new TestRoom('12')
    const message = { type: 'm.room.message', sender: ALICE, content: { body: 'hi' } }
    assertAllowed(room.check(message, { isCreateEventAccepted: true }))
    assertRefused(room.check(message, { isCreateEventAccepted: false }), 'rejected create', /rejected/)
  })
})
