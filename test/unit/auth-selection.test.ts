// server-server-api, "Auth events selection".
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { authEventKeys, selectAuthEvents } from '../../src/protocol/auth/index.ts'
import { stateKey } from '../../src/protocol/events/types.ts'
import { ALICE, BOB, CAROL, TestRoom, version, versions } from './auth-helpers.ts'

const CREATE = stateKey('m.room.create', '')
const POWER = stateKey('m.room.power_levels', '')
const JOIN_RULES = stateKey('m.room.join_rules', '')
const member = (u: string) => stateKey('m.room.member', u)

function keys(v: string, event: Parameters<typeof authEventKeys>[0]): string[] {
  return [...authEventKeys(event, version(v))].sort()
}

describe('authEventKeys', () => {
  it('selects create (not in v12), power levels and the sender, and nothing for the create event', () => {
    const message = { type: 'm.room.message', sender: ALICE, content: {} }
    for (const v of versions(1, 11)) assert.deepEqual(keys(v, message), [CREATE, member(ALICE), POWER].sort(), `v${v}`)
    assert.deepEqual(keys('12', message), [member(ALICE), POWER].sort())
    for (const v of versions(1)) assert.deepEqual(keys(v, { type: 'm.room.create', sender: ALICE, state_key: '', content: {} }), [])
  })

  it('adds the target and, for join, invite and knock, the join rules', () => {
    for (const membership of ['join', 'invite', 'knock']) {
      const event = { type: 'm.room.member', sender: ALICE, state_key: BOB, content: { membership } }
      assert.deepEqual(keys('12', event), [JOIN_RULES, member(ALICE), member(BOB), POWER].sort(), membership)
    }
    for (const membership of ['leave', 'ban']) {
      const event = { type: 'm.room.member', sender: ALICE, state_key: BOB, content: { membership } }
      assert.deepEqual(keys('12', event), [member(ALICE), member(BOB), POWER].sort(), membership)
    }
    // Sender and target are the same pair once.
    assert.equal(authEventKeys({ type: 'm.room.member', sender: BOB, state_key: BOB, content: { membership: 'leave' } }, version('12')).length, 2)
  })

  it('adds the m.room.third_party_invite named by signed.token for 3pid invites only', () => {
    const tpi = { signed: { mxid: BOB, token: 'tok', signatures: {} } }
    const invite = { type: 'm.room.member', sender: ALICE, state_key: BOB, content: { membership: 'invite', third_party_invite: tpi } }
    assert.ok(authEventKeys(invite, version('1')).includes(stateKey('m.room.third_party_invite', 'tok')))
    const join = { ...invite, content: { membership: 'join', third_party_invite: tpi } }
    assert.ok(!authEventKeys(join, version('1')).includes(stateKey('m.room.third_party_invite', 'tok')))
    const malformed = { ...invite, content: { membership: 'invite', third_party_invite: { signed: { token: 5 } } } }
    assert.ok(!authEventKeys(malformed, version('1')).some((k) => k.startsWith('m.room.third_party_invite')))
  })

  it("adds the authorising user's membership for restricted joins from v8", () => {
    const join = { type: 'm.room.member', sender: BOB, state_key: BOB, content: { membership: 'join', join_authorised_via_users_server: CAROL } }
    for (const v of versions(1, 7)) assert.ok(!authEventKeys(join, version(v)).includes(member(CAROL)), `v${v}`)
    for (const v of versions(8)) assert.ok(authEventKeys(join, version(v)).includes(member(CAROL)), `v${v}`)
    const leave = { ...join, content: { membership: 'leave', join_authorised_via_users_server: CAROL } }
    assert.ok(!authEventKeys(leave, version('10')).includes(member(CAROL)))
  })
})

describe('selectAuthEvents', () => {
  it('picks the selected events the state holds', () => {
    const room = new TestRoom('11', { joinRule: 'public' })
    const picked = selectAuthEvents({ type: 'm.room.member', sender: BOB, state_key: BOB, content: { membership: 'join' } }, room.state, room.version)
    assert.deepEqual(picked.map((e) => e.type).sort(), ['m.room.create', 'm.room.join_rules'])
    const v12 = new TestRoom('12', { powerLevels: { users: {} } })
    const forMessage = selectAuthEvents({ type: 'm.room.message', sender: ALICE, content: {} }, v12.state, v12.version)
    assert.deepEqual(forMessage.map((e) => e.type).sort(), ['m.room.member', 'm.room.power_levels'])
  })
})
