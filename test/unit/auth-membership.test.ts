// Authorization rules for m.room.member (rooms/v1–v5 rule 5, v6–v11 rule 4, v12 rule 5) but third-party invites.
import { describe, it } from 'node:test'
import { ALICE, BOB, CAROL, DAVE, TestRoom, assertAllowed, assertRefused, versions } from './auth-helpers.ts'

const member = (sender: string, target: string, membership: string, extra: Record<string, unknown> = {}) => ({
  type: 'm.room.member',
  sender,
  state_key: target,
  content: { membership, ...extra },
})

describe('m.room.member', () => {
  it('refuses events without a state_key or a membership (4.1)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, { joinRule: 'public' })
      assertAllowed(room.check(member(BOB, BOB, 'join')), `v${v}`)
      assertRefused(room.check({ type: 'm.room.member', sender: BOB, content: { membership: 'join' } }), `v${v}`, /state_key/)
      assertRefused(room.check({ type: 'm.room.member', sender: BOB, state_key: BOB, content: {} }), `v${v}`, /membership/)
      assertRefused(room.check({ type: 'm.room.member', sender: BOB, state_key: BOB, content: { membership: 5 } }), `v${v}`, /membership/)
    }
  })

  it("needs the signature of join_authorised_via_users_server's server from v8 (4.2)", () => {
    for (const v of versions(8)) {
      const room = new TestRoom(v, { joinRule: 'public' })
      const join = member(BOB, BOB, 'join', { join_authorised_via_users_server: CAROL })
      assertAllowed(room.check({ ...join, signatures: { 'b.example': { 'ed25519:1': 'x' }, 'a.example': { 'ed25519:1': 'y' } } }), `v${v}`)
      assertRefused(room.check(join), `v${v} unsigned`, /signed/)
      assertAllowed(room.check(join, { isSignedBy: (server) => server === 'a.example' }), `v${v} isSignedBy`)
      assertRefused(room.check(join, { isSignedBy: () => false }), `v${v} isSignedBy`)
      assertRefused(room.check(member(BOB, BOB, 'join', { join_authorised_via_users_server: 'carol' })), `v${v} not a user`)
      // The spec applies the rule to every membership (Synapse: joins only).
      room.member(BOB, 'join')
      assertRefused(room.check(member(BOB, BOB, 'leave', { join_authorised_via_users_server: CAROL })), `v${v} leave`)
    }
    for (const v of versions(1, 7)) {
      const room = new TestRoom(v, { joinRule: 'public' })
      assertAllowed(room.check(member(BOB, BOB, 'join', { join_authorised_via_users_server: CAROL })), `v${v} ignored`)
    }
  })

  it("allows the creator's join right after the create event: content.creator before v11, the create sender from v11 (join 1)", () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, { bare: true, createContent: { creator: BOB } })
      const creator = room.version.implicitRoomCreator ? ALICE : BOB
      const other = creator === ALICE ? BOB : ALICE
      const first = (user: string, prev = [room.create.event_id]) => ({ ...member(user, user, 'join'), prev_events: prev })
      assertAllowed(room.check(first(creator)), `v${v}`)
      assertRefused(room.check(first(other)), `v${v} not the creator`)
      assertRefused(room.check(first(creator, [room.create.event_id, '$other'])), `v${v} two prev events`)
      assertRefused(room.check(first(creator, ['$other'])), `v${v} prev is not the create`)
    }
    // v12: additional creators are not "the sender of the create event".
    const v12 = new TestRoom('12', { bare: true, createContent: { additional_creators: [BOB] } })
    const first = (user: string) => ({ ...member(user, user, 'join'), prev_events: [v12.create.event_id] })
    assertAllowed(v12.check(first(ALICE)))
    assertRefused(v12.check(first(BOB)), 'additional creator')
  })

  it('refuses joining on behalf of someone else (join 2)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, { joinRule: 'public' })
      assertAllowed(room.check(member(BOB, BOB, 'join')), `v${v}`)
      assertRefused(room.check(member(ALICE, BOB, 'join')), `v${v}`, /behalf/)
    }
  })

  it('refuses a banned user joining (join 3)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, { joinRule: 'public', members: { [BOB]: 'ban' } })
      assertAllowed(room.check(member(CAROL, CAROL, 'join')), `v${v}`)
      assertRefused(room.check(member(BOB, BOB, 'join')), `v${v}`, /banned/)
    }
  })

  it('allows invite-only joins (and knock joins from v7) for invited or joined users (join 4)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, { joinRule: 'invite', members: { [BOB]: 'invite', [DAVE]: 'join' } })
      assertAllowed(room.check(member(BOB, BOB, 'join')), `v${v} invited`)
      assertAllowed(room.check(member(DAVE, DAVE, 'join')), `v${v} joined`)
      assertRefused(room.check(member(CAROL, CAROL, 'join')), `v${v}`, /invite/)
      // No join rules event: invite-only, as Synapse reads it.
      const noRule = new TestRoom(v, { members: { [BOB]: 'invite' } })
      assertAllowed(noRule.check(member(BOB, BOB, 'join')), `v${v} no rule`)
      assertRefused(noRule.check(member(CAROL, CAROL, 'join')), `v${v} no rule`)
      // A join_rule that is not a string matches no rule, so even invitees are refused (as in Synapse).
      const malformed = new TestRoom(v, { members: { [BOB]: 'invite' } })
      malformed.set({ type: 'm.room.join_rules', sender: ALICE, state_key: '', content: { join_rule: 5 } })
      assertRefused(malformed.check(member(BOB, BOB, 'join')), `v${v} malformed rule`)
    }
    for (const v of versions(1, 6)) {
      const knock = new TestRoom(v, { joinRule: 'knock', members: { [BOB]: 'invite' } })
      assertRefused(knock.check(member(BOB, BOB, 'join')), `v${v} knock rule unknown`)
    }
    for (const v of versions(7)) {
      const knock = new TestRoom(v, { joinRule: 'knock', members: { [BOB]: 'invite', [DAVE]: 'knock' } })
      assertAllowed(knock.check(member(BOB, BOB, 'join')), `v${v}`)
      assertRefused(knock.check(member(DAVE, DAVE, 'join')), `v${v} knocked only`)
    }
  })

  it('allows restricted joins from v8 via a joined user who may invite, or for invited users (join 5)', () => {
    const authorised = (room: TestRoom, user: string, authoriser: string) =>
      room.check(member(user, user, 'join', { join_authorised_via_users_server: authoriser }), { isSignedBy: () => true })
    for (const v of versions(8)) {
      const room = new TestRoom(v, {
        joinRule: 'restricted',
        powerLevels: { invite: 10, users: { [ALICE]: 100, [CAROL]: 10, '@low:a.example': 5, '@gone:a.example': 50 } },
        members: { [CAROL]: 'join', '@low:a.example': 'join', [DAVE]: 'invite', '@gone:a.example': 'leave' },
      })
      assertAllowed(authorised(room, BOB, CAROL), `v${v}`)
      assertAllowed(room.check(member(DAVE, DAVE, 'join')), `v${v} invited`)
      assertRefused(room.check(member(BOB, BOB, 'join')), `v${v} no authoriser`, /join_authorised_via_users_server/)
      assertRefused(authorised(room, BOB, '@low:a.example'), `v${v} cannot invite`, /may not invite/)
      assertRefused(authorised(room, BOB, '@gone:a.example'), `v${v} not joined`, /not joined/)
    }
    for (const v of versions(1, 7)) {
      const room = new TestRoom(v, { joinRule: 'restricted', members: { [CAROL]: 'join' } })
      assertRefused(authorised(room, BOB, ALICE), `v${v} restricted unknown`)
    }
  })

  it('treats knock_restricted like restricted for joins from v10 (join 5)', () => {
    const authorised = (room: TestRoom) =>
      room.check(member(BOB, BOB, 'join', { join_authorised_via_users_server: ALICE }), { isSignedBy: () => true })
    for (const v of versions(10)) {
      const room = new TestRoom(v, { joinRule: 'knock_restricted', members: { [DAVE]: 'invite' } })
      assertAllowed(authorised(room), `v${v}`)
      assertAllowed(room.check(member(DAVE, DAVE, 'join')), `v${v} invited`)
      assertRefused(room.check(member(CAROL, CAROL, 'join')), `v${v}`)
    }
    for (const v of versions(1, 9)) assertRefused(authorised(new TestRoom(v, { joinRule: 'knock_restricted' })), `v${v}`)
  })

  it('allows anyone to join a public room and refuses other join rules (join 6, 7)', () => {
    for (const v of versions(1)) {
      assertAllowed(new TestRoom(v, { joinRule: 'public' }).check(member(BOB, BOB, 'join')), `v${v}`)
      assertRefused(new TestRoom(v, { joinRule: 'private' }).check(member(BOB, BOB, 'join')), `v${v} private`, /does not allow/)
      assertRefused(new TestRoom(v, { joinRule: 'secret' }).check(member(BOB, BOB, 'join')), `v${v} unknown`)
    }
  })

  it('allows invites by joined senders at the invite level to users neither joined nor banned (invite 2–5)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, {
        powerLevels: { invite: 20, users: { [ALICE]: 100, [BOB]: 20, [CAROL]: 19 } },
        members: { [BOB]: 'join', [CAROL]: 'join', '@banned:b.example': 'ban', '@in:b.example': 'join', '@left:b.example': 'leave' },
      })
      assertAllowed(room.check(member(BOB, DAVE, 'invite')), `v${v}`)
      assertAllowed(room.check(member(BOB, '@left:b.example', 'invite')), `v${v} left`)
      assertRefused(room.check(member(CAROL, DAVE, 'invite')), `v${v} level`, /may not invite/)
      assertRefused(room.check(member(DAVE, '@x:b.example', 'invite')), `v${v} not joined`, /not joined/)
      assertRefused(room.check(member(BOB, '@banned:b.example', 'invite')), `v${v} banned`, /banned/)
      assertRefused(room.check(member(BOB, '@in:b.example', 'invite')), `v${v} joined`, /joined/)
    }
  })

  it('allows leaving from invite or join (and knock from v7) (leave 1)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, { joinRule: 'knock', members: { [BOB]: 'invite', [CAROL]: 'join', [DAVE]: 'ban', '@k:b.example': 'knock', '@l:b.example': 'leave' } })
      assertAllowed(room.check(member(BOB, BOB, 'leave')), `v${v} reject invite`)
      assertAllowed(room.check(member(CAROL, CAROL, 'leave')), `v${v} leave`)
      assertRefused(room.check(member(DAVE, DAVE, 'leave')), `v${v} banned`)
      assertRefused(room.check(member('@l:b.example', '@l:b.example', 'leave')), `v${v} already left`)
      assertRefused(room.check(member('@n:b.example', '@n:b.example', 'leave')), `v${v} never there`)
      const retract = room.check(member('@k:b.example', '@k:b.example', 'leave'))
      if (room.version.knock) assertAllowed(retract, `v${v} retract knock`)
      else assertRefused(retract, `v${v} knock unknown`)
    }
  })

  it('allows kicks by joined senders at the kick level above the target (leave 2, 4, 5)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, {
        powerLevels: { kick: 40, users: { [ALICE]: 100, [BOB]: 40, [CAROL]: 39, [DAVE]: 40 } },
        members: { [BOB]: 'join', [CAROL]: 'join', [DAVE]: 'join', '@x:c.example': 'join' },
      })
      assertAllowed(room.check(member(BOB, '@x:c.example', 'leave')), `v${v}`)
      assertAllowed(room.check(member(ALICE, BOB, 'leave')), `v${v}`)
      assertRefused(room.check(member(CAROL, '@x:c.example', 'leave')), `v${v} below kick level`, /may not kick/)
      assertRefused(room.check(member(BOB, DAVE, 'leave')), `v${v} equal level`, /may not kick/)
      room.member(BOB, 'leave')
      assertRefused(room.check(member(BOB, '@x:c.example', 'leave')), `v${v} not joined`, /not joined/)
    }
  })

  it('needs the ban level to unban (leave 3)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, {
        powerLevels: { kick: 10, ban: 60, users: { [ALICE]: 100, [BOB]: 50 } },
        members: { [BOB]: 'join', [DAVE]: 'ban' },
      })
      assertAllowed(room.check(member(ALICE, DAVE, 'leave')), `v${v}`)
      assertRefused(room.check(member(BOB, DAVE, 'leave')), `v${v}`, /unban/)
    }
  })

  it('allows bans by joined senders at the ban level above the target (ban)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, {
        powerLevels: { ban: 50, users: { [ALICE]: 100, [BOB]: 50, [CAROL]: 49, [DAVE]: 50 } },
        members: { [BOB]: 'join', [CAROL]: 'join', [DAVE]: 'join' },
      })
      assertAllowed(room.check(member(BOB, '@x:c.example', 'ban')), `v${v} not in room`)
      assertAllowed(room.check(member(ALICE, DAVE, 'ban')), `v${v}`)
      assertRefused(room.check(member(CAROL, '@x:c.example', 'ban')), `v${v} level`, /may not ban/)
      assertRefused(room.check(member(BOB, DAVE, 'ban')), `v${v} equal`, /may not ban/)
      assertRefused(room.check(member('@x:c.example', '@y:c.example', 'ban')), `v${v} not joined`, /not joined/)
    }
  })

  it('gives v12 creators a level no one can kick or ban, creators included', () => {
    const room = new TestRoom('12', {
      createContent: { additional_creators: [BOB] },
      powerLevels: { users: { [CAROL]: 100 } },
      members: { [BOB]: 'join', [CAROL]: 'join', [DAVE]: 'join' },
    })
    assertAllowed(room.check(member(ALICE, CAROL, 'ban')))
    assertAllowed(room.check(member(BOB, DAVE, 'leave')))
    assertRefused(room.check(member(CAROL, ALICE, 'ban')), 'admin bans creator')
    assertRefused(room.check(member(ALICE, BOB, 'leave')), 'creator kicks creator')
    // v11: the creator is an ordinary 100 once the power levels say otherwise.
    const v11 = new TestRoom('11', { powerLevels: { users: { [ALICE]: 50, [CAROL]: 100 } }, members: { [CAROL]: 'join' } })
    assertAllowed(v11.check(member(CAROL, ALICE, 'ban')))
  })

  it('allows knocks from v7 on knock rooms (and knock_restricted from v10) by users not banned, invited or joined (knock)', () => {
    for (const v of versions(7)) {
      const room = new TestRoom(v, { joinRule: 'knock', members: { [CAROL]: 'ban', [DAVE]: 'invite', '@l:c.example': 'leave' } })
      assertAllowed(room.check(member(BOB, BOB, 'knock')), `v${v}`)
      assertAllowed(room.check(member('@l:c.example', '@l:c.example', 'knock')), `v${v} after leaving`)
      assertRefused(room.check(member(ALICE, BOB, 'knock')), `v${v} for another`, /behalf/)
      assertRefused(room.check(member(CAROL, CAROL, 'knock')), `v${v} banned`)
      assertRefused(room.check(member(DAVE, DAVE, 'knock')), `v${v} invited`)
      assertRefused(room.check(member(ALICE, ALICE, 'knock')), `v${v} joined`)
      assertRefused(new TestRoom(v, { joinRule: 'invite' }).check(member(BOB, BOB, 'knock')), `v${v} invite rule`, /knocking/)
      const restrictedRoom = new TestRoom(v, { joinRule: 'knock_restricted' })
      const restricted = restrictedRoom.check(member(BOB, BOB, 'knock'))
      if (restrictedRoom.version.knockRestricted) assertAllowed(restricted, `v${v} knock_restricted`)
      else assertRefused(restricted, `v${v} knock_restricted`)
    }
    for (const v of versions(1, 6)) {
      assertRefused(new TestRoom(v, { joinRule: 'knock' }).check(member(BOB, BOB, 'knock')), `v${v}`, /unknown membership/)
    }
  })

  it('refuses unknown memberships', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, { joinRule: 'public' })
      assertAllowed(room.check(member(BOB, BOB, 'join')), `v${v}`)
      assertRefused(room.check(member(ALICE, ALICE, 'joined')), `v${v}`, /unknown membership/)
    }
  })
})
