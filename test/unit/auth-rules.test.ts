// Authorization rules (rooms/v1–v12) for m.federate, aliases, senders, 3pid invites, levels, state keys, redactions.
import { describe, it } from 'node:test'
import { ALICE, BOB, CAROL, DAVE, TestRoom, assertAllowed, assertRefused, versions } from './auth-helpers.ts'

describe('m.federate', () => {
  it("refuses senders from other servers than the creator's when m.federate is false (v1 rule 3)", () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, { createContent: { 'm.federate': false }, joinRule: 'public', members: { [BOB]: 'join', [CAROL]: 'join' } })
      assertAllowed(room.check({ type: 'm.room.message', sender: CAROL, content: {} }), `v${v} same server`)
      assertRefused(room.check({ type: 'm.room.message', sender: BOB, content: {} }), `v${v}`, /federate/)
      assertRefused(room.check({ type: 'm.room.member', sender: DAVE, state_key: DAVE, content: { membership: 'join' } }), `v${v} join`, /federate/)
      const federated = new TestRoom(v, { createContent: { 'm.federate': true }, members: { [BOB]: 'join' } })
      assertAllowed(federated.check({ type: 'm.room.message', sender: BOB, content: {} }), `v${v} federated`)
      // Like Synapse, a malformed m.federate keeps the room local.
      const malformed = new TestRoom(v, { createContent: { 'm.federate': 'false' }, members: { [BOB]: 'join' } })
      assertRefused(malformed.check({ type: 'm.room.message', sender: BOB, content: {} }), `v${v} malformed`)
    }
  })
})

describe('m.room.aliases', () => {
  it("lets a server set its own aliases without joining in v1–v5; from v6 it is ordinary state (v1 rule 4)", () => {
    for (const v of versions(1, 5)) {
      const room = new TestRoom(v)
      assertAllowed(room.check({ type: 'm.room.aliases', sender: BOB, state_key: 'b.example', content: { aliases: [] } }), `v${v}`)
      assertRefused(room.check({ type: 'm.room.aliases', sender: BOB, state_key: 'a.example', content: { aliases: [] } }), `v${v}`, /state_key/)
      assertRefused(room.check({ type: 'm.room.aliases', sender: BOB, content: { aliases: [] } }), `v${v} no state_key`)
    }
    for (const v of versions(6)) {
      const room = new TestRoom(v, { powerLevels: { users: { [BOB]: 50 } }, members: { [BOB]: 'join' } })
      assertRefused(room.check({ type: 'm.room.aliases', sender: DAVE, state_key: 'c.example', content: { aliases: [] } }), `v${v} not joined`)
      assertAllowed(room.check({ type: 'm.room.aliases', sender: BOB, state_key: 'a.example', content: { aliases: [] } }), `v${v}`)
    }
  })
})

describe('joined senders', () => {
  it('refuses non-member events from senders who are not joined (v1 rule 6)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, { members: { [BOB]: 'join', [CAROL]: 'invite', [DAVE]: 'leave' } })
      assertAllowed(room.check({ type: 'm.room.message', sender: BOB, content: {} }), `v${v}`)
      assertRefused(room.check({ type: 'm.room.message', sender: CAROL, content: {} }), `v${v} invited`, /not joined/)
      assertRefused(room.check({ type: 'm.room.message', sender: DAVE, content: {} }), `v${v} left`, /not joined/)
      assertRefused(room.check({ type: 'm.room.message', sender: '@eve:e.example', content: {} }), `v${v} stranger`, /not joined/)
    }
  })
})

describe('m.room.third_party_invite', () => {
  it('is allowed exactly at the invite level, whatever events says (v1 rule 7)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, {
        powerLevels: { invite: 30, users: { [BOB]: 30, [CAROL]: 29 }, events: { 'm.room.third_party_invite': 100 } },
        members: { [BOB]: 'join', [CAROL]: 'join' },
      })
      const spec = (sender: string) => ({ type: 'm.room.third_party_invite', sender, state_key: 'tok', content: { display_name: 'x' } })
      assertAllowed(room.check(spec(BOB)), `v${v}`)
      assertRefused(room.check(spec(CAROL)), `v${v}`, /invite/)
    }
  })
})

describe('required power level', () => {
  it('refuses senders below events[type], state_default or events_default (v1 rule 8)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, {
        powerLevels: { users: { [BOB]: 20 }, events: { 'm.room.name': 20, 'm.reaction': 21 }, state_default: 50, events_default: 10 },
        members: { [BOB]: 'join', [CAROL]: 'join' },
      })
      assertAllowed(room.check({ type: 'm.room.name', sender: BOB, state_key: '', content: { name: 'n' } }), `v${v}`)
      assertRefused(room.check({ type: 'm.room.topic', sender: BOB, state_key: '', content: {} }), `v${v} state_default`, /power level 50/)
      assertAllowed(room.check({ type: 'm.room.message', sender: BOB, content: {} }), `v${v}`)
      assertRefused(room.check({ type: 'm.reaction', sender: BOB, content: {} }), `v${v} events`)
      assertRefused(room.check({ type: 'm.room.message', sender: CAROL, content: {} }), `v${v} events_default`)
    }
    // No power levels event: only the creator reaches state_default 50.
    for (const v of versions(1)) {
      const room = new TestRoom(v, { members: { [BOB]: 'join' } })
      assertAllowed(room.check({ type: 'm.room.topic', sender: ALICE, state_key: '', content: {} }), `v${v}`)
      assertRefused(room.check({ type: 'm.room.topic', sender: BOB, state_key: '', content: {} }), `v${v}`)
      assertAllowed(room.check({ type: 'm.room.message', sender: BOB, content: {} }), `v${v}`)
    }
  })
})

describe('user-owned state keys', () => {
  it('refuses state keys starting with @ other than the sender, even for the creator (v1 rule 9)', () => {
    for (const v of versions(1)) {
      const room = new TestRoom(v, { powerLevels: { users: { [ALICE]: 100 }, state_default: 0 }, members: { [BOB]: 'join' } })
      assertAllowed(room.check({ type: 'm.custom', sender: BOB, state_key: BOB, content: {} }), `v${v}`)
      assertAllowed(room.check({ type: 'm.custom', sender: BOB, state_key: 'plain', content: {} }), `v${v}`)
      assertRefused(room.check({ type: 'm.custom', sender: ALICE, state_key: BOB, content: {} }), `v${v}`, /another user/)
    }
  })
})

describe('m.room.redaction', () => {
  it('needs the redact level or the same server as the redacted event in v1–v2; from v3 only the event type level', () => {
    for (const v of versions(1, 2)) {
      const room = new TestRoom(v, { powerLevels: { users: { [CAROL]: 50 }, redact: 50 }, members: { [BOB]: 'join', [CAROL]: 'join' } })
      const redaction = (sender: string, redacts: string) => ({ type: 'm.room.redaction', sender, redacts, content: {} })
      assertAllowed(room.check(redaction(CAROL, '$1:c.example')), `v${v} redact level`)
      assertAllowed(room.check(redaction(BOB, '$1:b.example')), `v${v} same server`)
      assertRefused(room.check(redaction(BOB, '$1:a.example')), `v${v}`, /redact/)
      assertRefused(room.check({ type: 'm.room.redaction', sender: BOB, content: {} }), `v${v} no redacts`)
    }
    for (const v of versions(3)) {
      const room = new TestRoom(v, { powerLevels: { users: {}, redact: 50 }, members: { [BOB]: 'join' } })
      const redacts = room.version.updatedRedactionRules ? { content: { redacts: '$x' } } : { redacts: '$x', content: {} }
      assertAllowed(room.check({ type: 'm.room.redaction', sender: BOB, ...redacts }), `v${v}`)
      const strict = new TestRoom(v, { powerLevels: { users: {}, events: { 'm.room.redaction': 10 } }, members: { [BOB]: 'join' } })
      assertRefused(strict.check({ type: 'm.room.redaction', sender: BOB, ...redacts }), `v${v} event level`)
    }
  })
})
