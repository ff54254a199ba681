// Power levels (client-server "m.room.power_levels"; rooms/v1 stringy and floaty values; v10 integers; v12 creators).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  notificationPowerLevel,
  parsePowerLevelValue,
  parsePowerLevels,
  requiredPowerLevel,
  banLevel,
  inviteLevel,
  kickLevel,
  redactLevel,
  userPowerLevel,
} from '../../src/protocol/auth/index.ts'
import { ALICE, BOB, CAROL, TestRoom, version, versions } from './auth-helpers.ts'

describe('parsePowerLevelValue', () => {
  it('reads integer strings in v1–v9 and refuses them from v10', () => {
    for (const v of versions(1, 9)) {
      for (const [text, value] of [['50', 50], ['000100', 100], ['+100', 100], ['-100', -100], [' 100 ', 100], [' +007 ', 7]] as const) {
        assert.equal(parsePowerLevelValue(text, version(v)), value, `v${v} ${JSON.stringify(text)}`)
      }
      for (const bad of ['1.5', 'abc', '', '1e3', '- 1', '0x10']) assert.equal(parsePowerLevelValue(bad, version(v)), undefined, `v${v} ${bad}`)
    }
    for (const v of versions(10)) {
      assert.equal(parsePowerLevelValue('50', version(v)), undefined, `v${v}`)
      assert.equal(parsePowerLevelValue(50, version(v)), 50, `v${v}`)
    }
  })

  it('truncates floats in v1–v5 and refuses them from v6 (canonical JSON)', () => {
    for (const v of versions(1, 5)) {
      assert.equal(parsePowerLevelValue(50.57, version(v)), 50)
      assert.equal(parsePowerLevelValue(5.114698e4, version(v)), 51146)
      assert.equal(parsePowerLevelValue(-1.5, version(v)), -1)
      assert.equal(parsePowerLevelValue(Infinity, version(v)), undefined)
      assert.equal(parsePowerLevelValue(Number.NaN, version(v)), undefined)
    }
    for (const v of versions(6)) assert.equal(parsePowerLevelValue(50.57, version(v)), undefined, `v${v}`)
    for (const v of versions(1)) {
      for (const bad of [null, true, {}, [], undefined]) assert.equal(parsePowerLevelValue(bad, version(v)), undefined)
    }
  })
})

describe('power level defaults', () => {
  it('with no m.room.power_levels event: creator 100 and others 0 before v12, creators infinite in v12; state_default 50, events_default 0', () => {
    for (const v of versions(1, 11)) {
      const room = new TestRoom(v)
      assert.equal(userPowerLevel(ALICE, room.state, room.version), 100, `v${v} creator`)
      assert.equal(userPowerLevel(BOB, room.state, room.version), 0, `v${v} other`)
    }
    const v12 = new TestRoom('12', { createContent: { additional_creators: [BOB] } })
    assert.equal(userPowerLevel(ALICE, v12.state, v12.version), Infinity)
    assert.equal(userPowerLevel(BOB, v12.state, v12.version), Infinity)
    assert.equal(userPowerLevel(CAROL, v12.state, v12.version), 0)
    for (const v of versions(1)) {
      assert.equal(requiredPowerLevel('m.room.name', true, undefined, version(v)), 50)
      assert.equal(requiredPowerLevel('m.room.message', false, undefined, version(v)), 0)
      assert.deepEqual(
        [inviteLevel(undefined, version(v)), kickLevel(undefined, version(v)), banLevel(undefined, version(v)), redactLevel(undefined, version(v))],
        [0, 50, 50, 50],
      )
    }
  })

  it('the creator is content.creator before v11 and the create sender from v11', () => {
    // A create event whose content.creator names someone else than its sender.
    for (const v of versions(1, 10)) {
      const room = new TestRoom(v, { createContent: { creator: BOB } })
      assert.equal(userPowerLevel(BOB, room.state, room.version), 100, `v${v}`)
      assert.equal(userPowerLevel(ALICE, room.state, room.version), 0, `v${v}`)
    }
    const v11 = new TestRoom('11', { createContent: { creator: BOB } })
    assert.equal(userPowerLevel(ALICE, v11.state, v11.version), 100)
    assert.equal(userPowerLevel(BOB, v11.state, v11.version), 0)
  })
})

describe('userPowerLevel', () => {
  it('reads users then users_default, and gives v12 creators Infinity even when listed or defaulted', () => {
    for (const v of versions(1, 11)) {
      const room = new TestRoom(v, { powerLevels: { users: { [BOB]: 75 }, users_default: 10 } })
      assert.equal(userPowerLevel(BOB, room.state, room.version), 75)
      assert.equal(userPowerLevel(CAROL, room.state, room.version), 10)
      // The power levels event now decides the creator's level too.
      assert.equal(userPowerLevel(ALICE, room.state, room.version), 10, `v${v}`)
    }
    const room = new TestRoom('12', { createContent: { additional_creators: [CAROL] }, powerLevels: { users: { [BOB]: 75 }, users_default: 10 } })
    assert.equal(userPowerLevel(ALICE, room.state, room.version), Infinity)
    assert.equal(userPowerLevel(CAROL, room.state, room.version), Infinity)
    assert.equal(userPowerLevel(BOB, room.state, room.version), 75)
    // additional_creators means nothing before v12.
    const v11 = new TestRoom('11', { createContent: { additional_creators: [CAROL] }, powerLevels: { users: {} } })
    assert.equal(userPowerLevel(CAROL, v11.state, v11.version), 0)
  })

  it('reads stringy user levels in v9 and ignores them in v10', () => {
    const v9 = new TestRoom('9', { powerLevels: { users: { [BOB]: '60' }, users_default: '5' } })
    assert.equal(userPowerLevel(BOB, v9.state, v9.version), 60)
    assert.equal(userPowerLevel(CAROL, v9.state, v9.version), 5)
    const v10 = new TestRoom('10', { powerLevels: { users: { [BOB]: '60' }, users_default: '5' } })
    assert.equal(userPowerLevel(BOB, v10.state, v10.version), 0)
  })
})

describe('requiredPowerLevel', () => {
  it('uses events[type], else state_default for state and events_default for messages', () => {
    for (const v of versions(1)) {
      const content = { events: { 'm.room.name': 20, 'm.custom': 7 }, state_default: 40, events_default: 3 }
      assert.equal(requiredPowerLevel('m.room.name', true, content, version(v)), 20)
      assert.equal(requiredPowerLevel('m.custom', false, content, version(v)), 7)
      assert.equal(requiredPowerLevel('m.room.topic', true, content, version(v)), 40)
      assert.equal(requiredPowerLevel('m.room.message', false, content, version(v)), 3)
      assert.equal(requiredPowerLevel('m.room.topic', true, {}, version(v)), 50)
    }
    assert.equal(requiredPowerLevel('m.room.name', true, { events: { 'm.room.name': '20' } }, version('9')), 20)
    assert.equal(requiredPowerLevel('m.room.name', true, { events: { 'm.room.name': '20' } }, version('10')), 50)
  })
})

describe('named and notification levels', () => {
  it('reads invite, kick, ban, redact and notifications.room with their defaults', () => {
    const content = { invite: 5, kick: 60, ban: 70, redact: 80, notifications: { room: 20 } }
    for (const v of versions(1)) {
      const levels = parsePowerLevels(content, version(v))
      assert.deepEqual([levels.invite, levels.kick, levels.ban, levels.redact], [5, 60, 70, 80])
      assert.equal(notificationPowerLevel('room', content, version(v)), 20)
      assert.equal(notificationPowerLevel('room', {}, version(v)), 50)
      assert.equal(notificationPowerLevel('room', undefined, version(v)), 50)
      assert.equal(notificationPowerLevel('other', {}, version(v)), undefined)
    }
    assert.equal(notificationPowerLevel('room', { notifications: { room: '10' } }, version('9')), 10)
    assert.equal(notificationPowerLevel('room', { notifications: { room: '10' } }, version('10')), 50)
    assert.equal(inviteLevel({ invite: '25' }, version('9')), 25)
    assert.equal(inviteLevel({ invite: '25' }, version('10')), 0)
  })
})
