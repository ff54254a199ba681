// authorizeAuthChain: a send_join answer's state and auth chain checked against their own auth events.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { authorizeAuthChain, selectAuthEvents } from '../../src/protocol/auth/index.ts'
import { stateKey, type RoomEvent, type StateKey } from '../../src/protocol/events/types.ts'
import { ALICE, BOB, DAVE, makeCreate, makeEvent, version, type EventSpec } from './auth-helpers.ts'

/** A room whose events cite the auth events the selection rules pick from the state so far. */
function chainRoom(versionId: string) {
  const v = version(versionId)
  const create = makeCreate(v, ALICE)
  const state = new Map<StateKey, RoomEvent>([[stateKey('m.room.create', ''), create]])
  const events: RoomEvent[] = [create]
  const add = (spec: EventSpec, apply = true): RoomEvent => {
    const probe = makeEvent(spec, v, create.room_id)
    const auth = selectAuthEvents(probe, state, v).map((e) => e.event_id)
    const event = makeEvent({ ...spec, auth_events: spec.auth_events ?? auth }, v, create.room_id)
    if (apply && event.state_key !== undefined) state.set(stateKey(event.type, event.state_key), event)
    events.push(event)
    return event
  }
  add({ type: 'm.room.member', sender: ALICE, state_key: ALICE, content: { membership: 'join' }, prev_events: [create.event_id] })
  add({ type: 'm.room.power_levels', sender: ALICE, state_key: '', content: { users: v.privilegedCreators ? {} : { [ALICE]: 100 } } })
  add({ type: 'm.room.join_rules', sender: ALICE, state_key: '', content: { join_rule: 'public' } })
  return { v, create, state, events, add }
}

const ids = (events: RoomEvent[]) => events.map((e) => e.event_id)

describe('authorizeAuthChain', () => {
  for (const versionId of ['1', '6', '11', '12']) {
    it(`accepts a well-formed chain in any order, auth events first (v${versionId})`, () => {
      const room = chainRoom(versionId)
      const bob = room.add({ type: 'm.room.member', sender: BOB, state_key: BOB, content: { membership: 'join' } })
      const shuffled = [...room.events].reverse()
      const verdict = authorizeAuthChain(shuffled, room.v)
      assert.deepEqual(verdict.rejected, new Map())
      assert.deepEqual(new Set(ids(verdict.accepted)), new Set(ids(room.events)))
      const position = new Map(verdict.accepted.map((e, i) => [e.event_id, i]))
      for (const event of verdict.accepted) {
        for (const auth of event.auth_events) assert.ok((position.get(auth) as number) < (position.get(event.event_id) as number))
      }
      assert.ok(position.has(bob.event_id))
    })
  }

  it('rejects an event failing the rules and everything that cites it', () => {
    const room = chainRoom('11')
    // Dave sets the topic without having joined: refused; a later event citing it as an auth event is too.
    const topic = room.add({ type: 'm.room.power_levels', sender: DAVE, state_key: '', content: { users: { [DAVE]: 100 } } }, false)
    const citing = room.add({
      type: 'm.room.name',
      sender: ALICE,
      state_key: '',
      content: { name: 'x' },
      auth_events: [room.create.event_id, topic.event_id, room.state.get(stateKey('m.room.member', ALICE))!.event_id],
    })
    const verdict = authorizeAuthChain(room.events, room.v)
    assert.match(verdict.rejected.get(topic.event_id) ?? '', /./)
    assert.match(verdict.rejected.get(citing.event_id) ?? '', /rejected/)
    assert.equal(verdict.accepted.length, room.events.length - 2)
  })

  it('rejects an event whose auth event is missing from the set', () => {
    const room = chainRoom('10')
    const bob = room.add({ type: 'm.room.member', sender: BOB, state_key: BOB, content: { membership: 'join' } })
    const withoutJoinRules = room.events.filter((e) => e.type !== 'm.room.join_rules')
    const verdict = authorizeAuthChain(withoutJoinRules, room.v)
    assert.match(verdict.rejected.get(bob.event_id) ?? '', /missing/)
  })

  it('rejects auth cycles without recursing', () => {
    const v = version('10')
    const create = makeCreate(v, ALICE)
    const a = makeEvent({ type: 'm.room.member', sender: ALICE, state_key: ALICE, content: { membership: 'join' }, event_id: '$a', auth_events: [create.event_id, '$b'] }, v, create.room_id)
    const b = makeEvent({ type: 'm.room.power_levels', sender: ALICE, state_key: '', content: {}, event_id: '$b', auth_events: [create.event_id, '$a'] }, v, create.room_id)
    const verdict = authorizeAuthChain([a, b, create], v)
    assert.deepEqual(ids(verdict.accepted), [create.event_id])
    assert.ok(verdict.rejected.has('$a') && verdict.rejected.has('$b'))
  })

  it('walks a chain 30,000 events long', () => {
    const v = version('10')
    const create = makeCreate(v, ALICE)
    const join = makeEvent({ type: 'm.room.member', sender: ALICE, state_key: ALICE, content: { membership: 'join' }, prev_events: [create.event_id], auth_events: [create.event_id] }, v, create.room_id)
    const events = [create, join]
    let power = makeEvent({ type: 'm.room.power_levels', sender: ALICE, state_key: '', content: { users: { [ALICE]: 100 } }, auth_events: [create.event_id, join.event_id] }, v, create.room_id)
    events.push(power)
    for (let i = 0; i < 30_000; i++) {
      power = makeEvent({ type: 'm.room.power_levels', sender: ALICE, state_key: '', content: { users: { [ALICE]: 100 } }, auth_events: [create.event_id, join.event_id, power.event_id] }, v, create.room_id)
      events.push(power)
    }
    const verdict = authorizeAuthChain(events.reverse(), v)
    assert.equal(verdict.rejected.size, 0)
    assert.equal(verdict.accepted.length, events.length)
  })
})
