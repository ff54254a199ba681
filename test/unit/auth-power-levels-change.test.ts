// Authorization rules for m.room.power_levels (rooms/v1–v5 rule 10, v6–v11 rule 9, v12 rule 10).
import { describe, it } from 'node:test'
import type { JsonObject } from '../../src/protocol/events/types.ts'
import { ALICE, BOB, CAROL, DAVE, TestRoom, assertAllowed, assertRefused, version, versions } from './auth-helpers.ts'

const pl = (sender: string, content: JsonObject) => ({ type: 'm.room.power_levels', sender, state_key: '', content })

/** Bob (50) may send power levels (events: 50); Carol has 50 too, Dave 10. Alice is the creator (100 before v12). */
function room(v: string, extra: JsonObject = {}): TestRoom {
  const users: JsonObject = { [BOB]: 50, [CAROL]: 50, [DAVE]: 10 }
  return new TestRoom(v, {
    powerLevels: { users: version(v).privilegedCreators ? users : { [ALICE]: 100, ...users }, events: { 'm.room.power_levels': 50 }, ...extra },
    members: { [BOB]: 'join', [CAROL]: 'join', [DAVE]: 'join' },
  })
}

/** The room's current power levels content with `change` applied. */
function changed(r: TestRoom, change: (c: JsonObject) => void): JsonObject {
  const content = structuredClone(r.get('m.room.power_levels').content)
  change(content)
  return content
}

describe('m.room.power_levels', () => {
  it('accepts integer strings in v1–v9 and requires integers from v10 for every level (v10 9.1, 9.2)', () => {
    for (const v of versions(1)) {
      const r = room(v)
      const stringy = [
        (c: JsonObject) => (c.ban = '40'),
        (c: JsonObject) => ((c.events as JsonObject)['m.room.name'] = '40'),
        (c: JsonObject) => (c.notifications = { room: '40' }),
      ]
      assertAllowed(r.check(pl(BOB, changed(r, (c) => (c.ban = 40)))), `v${v} integer`)
      for (const change of stringy) {
        const result = r.check(pl(BOB, changed(r, change)))
        if (r.version.integerPowerLevels) assertRefused(result, `v${v}`, /integer/)
        else assertAllowed(result, `v${v}`)
      }
      for (const bad of [null, 'abc', '4.5', {}, true]) assertRefused(r.check(pl(BOB, changed(r, (c) => (c.kick = bad)))), `v${v} ${JSON.stringify(bad)}`)
      assertRefused(r.check(pl(BOB, changed(r, (c) => (c.events = 'all')))), `v${v} events not an object`)
    }
  })

  it('requires users to map valid user IDs to integers (or integer strings before v10) (9.1 / v10 9.3)', () => {
    for (const v of versions(1)) {
      const r = room(v)
      assertAllowed(r.check(pl(BOB, changed(r, (c) => ((c.users as JsonObject)['@new:c.example'] = 5)))), `v${v}`)
      assertAllowed(r.check(pl(ALICE, changed(r, (c) => delete c.users))), `v${v} no users`)
      assertRefused(r.check(pl(BOB, changed(r, (c) => ((c.users as JsonObject)['new:c.example'] = 5)))), `v${v} bad key`, /user ID/)
      assertRefused(r.check(pl(BOB, changed(r, (c) => ((c.users as JsonObject)['@new'] = 5)))), `v${v} no server`, /user ID/)
      assertRefused(r.check(pl(BOB, changed(r, (c) => ((c.users as JsonObject)['@new:c.example'] = 'five')))), `v${v} bad value`)
      assertRefused(r.check(pl(BOB, changed(r, (c) => (c.users = [])))), `v${v} not an object`)
      const stringy = r.check(pl(BOB, changed(r, (c) => ((c.users as JsonObject)['@new:c.example'] = '5'))))
      if (r.version.integerPowerLevels) assertRefused(stringy, `v${v}`)
      else assertAllowed(stringy, `v${v}`)
    }
  })

  it('refuses v12 power levels listing a room creator (v12 10.4)', () => {
    const r = new TestRoom('12', { createContent: { additional_creators: [CAROL] }, powerLevels: { users: { [BOB]: 50 } }, members: { [BOB]: 'join', [CAROL]: 'join' } })
    assertAllowed(r.check(pl(ALICE, { users: { [BOB]: 60 } })))
    assertRefused(r.check(pl(ALICE, { users: { [BOB]: 60, [ALICE]: 100 } })), 'create sender', /creator/)
    assertRefused(r.check(pl(ALICE, { users: { [BOB]: 60, [CAROL]: 100 } })), 'additional creator', /creator/)
    const v11 = new TestRoom('11', { createContent: { additional_creators: [CAROL] }, powerLevels: { users: { [ALICE]: 100 } } })
    assertAllowed(v11.check(pl(ALICE, { users: { [ALICE]: 100, [CAROL]: 100 } })), 'v11')
  })

  it('allows any levels when there is no previous power levels event (9.2)', () => {
    for (const v of versions(1)) {
      const r = new TestRoom(v, { members: { [BOB]: 'join' } })
      const users = r.version.privilegedCreators ? { [BOB]: 1000 } : { [ALICE]: 100, [BOB]: 1000 }
      assertAllowed(r.check(pl(ALICE, { users, ban: 500 })), `v${v}`)
      // The required power level (state_default 50) still applies.
      assertRefused(r.check(pl(BOB, { users: { [BOB]: 50 } })), `v${v}`, /power level 50/)
    }
  })

  it('refuses changing a top-level level from or to above the sender (9.3)', () => {
    for (const v of versions(1)) {
      const r = room(v, { kick: 60, ban: 40 })
      assertAllowed(r.check(pl(BOB, changed(r, (c) => (c.ban = 50)))), `v${v} raise to own`)
      assertAllowed(r.check(pl(BOB, changed(r, (c) => (c.invite = 50)))), `v${v} add`)
      assertAllowed(r.check(pl(BOB, changed(r, (c) => delete c.ban))), `v${v} remove`)
      assertAllowed(r.check(pl(BOB, changed(r, (c) => (c.kick = r.version.integerPowerLevels ? 60 : '060')))), `v${v} same value`)
      assertRefused(r.check(pl(BOB, changed(r, (c) => (c.ban = 51)))), `v${v} new above`, /ban/)
      assertRefused(r.check(pl(BOB, changed(r, (c) => (c.kick = 50)))), `v${v} old above`, /kick/)
      assertRefused(r.check(pl(BOB, changed(r, (c) => delete c.kick))), `v${v} remove above`, /kick/)
      assertRefused(r.check(pl(BOB, changed(r, (c) => (c.state_default = 70)))), `v${v} add above`, /state_default/)
    }
  })

  it('refuses changing events entries from or to above the sender, and notifications entries from v6 (9.4, 9.5)', () => {
    for (const v of versions(1)) {
      const r = room(v, { events: { 'm.room.power_levels': 50, 'm.room.tombstone': 100 }, notifications: { room: 20 } })
      assertAllowed(r.check(pl(BOB, changed(r, (c) => ((c.events as JsonObject)['m.room.name'] = 50)))), `v${v}`)
      assertRefused(r.check(pl(BOB, changed(r, (c) => ((c.events as JsonObject)['m.room.name'] = 51)))), `v${v} add above`, /events/)
      assertRefused(r.check(pl(BOB, changed(r, (c) => ((c.events as JsonObject)['m.room.tombstone'] = 50)))), `v${v} change above`, /events/)
      assertRefused(r.check(pl(BOB, changed(r, (c) => delete (c.events as JsonObject)['m.room.tombstone']))), `v${v} remove above`, /events/)
      assertAllowed(r.check(pl(BOB, changed(r, (c) => (c.notifications = { room: 50 })))), `v${v}`)
      const notify = r.check(pl(BOB, changed(r, (c) => (c.notifications = { room: 80 }))))
      if (r.version.limitNotificationsPowerLevels) assertRefused(notify, `v${v} notifications`, /notifications/)
      else assertAllowed(notify, `v${v} notifications unchecked`)
    }
  })

  it('refuses changing users at or above the sender, other than the sender, and raising anyone above the sender (9.6, 9.7)', () => {
    for (const v of versions(1)) {
      const r = room(v)
      assertAllowed(r.check(pl(BOB, changed(r, (c) => ((c.users as JsonObject)[DAVE] = 50)))), `v${v} promote to own`)
      assertAllowed(r.check(pl(BOB, changed(r, (c) => delete (c.users as JsonObject)[DAVE]))), `v${v} remove lower`)
      assertAllowed(r.check(pl(BOB, changed(r, (c) => ((c.users as JsonObject)[BOB] = 10)))), `v${v} demote self`)
      assertRefused(r.check(pl(BOB, changed(r, (c) => ((c.users as JsonObject)[DAVE] = 51)))), `v${v} above own`, /above/)
      assertRefused(r.check(pl(BOB, changed(r, (c) => ((c.users as JsonObject)[BOB] = 51)))), `v${v} raise self`, /above/)
      assertRefused(r.check(pl(BOB, changed(r, (c) => ((c.users as JsonObject)[CAROL] = 10)))), `v${v} demote equal`, /not below/)
      assertRefused(r.check(pl(BOB, changed(r, (c) => delete (c.users as JsonObject)[CAROL]))), `v${v} remove equal`, /not below/)
    }
  })

  it('lets a v12 creator set any level, and nobody touch creators', () => {
    const r = new TestRoom('12', {
      createContent: { additional_creators: [CAROL] },
      powerLevels: { users: { [BOB]: 100 }, events: { 'm.room.power_levels': 100 } },
      members: { [BOB]: 'join', [CAROL]: 'join' },
    })
    assertAllowed(r.check(pl(CAROL, { users: { [BOB]: Number.MAX_SAFE_INTEGER }, events: { 'm.room.power_levels': 100 }, ban: 9000 })))
    assertAllowed(r.check(pl(ALICE, { users: {} })), 'demote an admin')
    assertRefused(r.check(pl(BOB, { users: { [BOB]: 100, [DAVE]: 101 }, events: { 'm.room.power_levels': 100 } })), 'admin above own', /above/)
    assertRefused(r.check(pl(BOB, { users: { [BOB]: 100, [ALICE]: 0 }, events: { 'm.room.power_levels': 100 } })), 'admin demotes creator', /creator/)
  })
})
