// Joining, leaving and knocking over federation between two Homesteads with different server names (HTTPS,
// test CA): B's FederationClient asks A's make_join / make_leave / make_knock, B signs the template with its
// own key and sends it to A's send_join / send_leave / send_knock. A's users see the membership in /sync;
// B builds the room from the send_join answer (ingestJoinedRoom), as an outbound join does.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { federatedPair, refusedBy } from '../support/federation.ts'
import { RoomClient, enc, ids } from '../support/rooms.ts'
import { eventIdOf, hashAndSignEvent, parsePdu, type JsonObject, type RoomEvent } from '../../src/protocol/events/index.ts'
import { roomVersion } from '../../src/protocol/room-versions.ts'
import { signingKeyFromSeed } from '../../src/protocol/signing.ts'
import type { AppContext } from '../../src/context.ts'

const { a, b, nameA, nameB } = await federatedPair()
const ctxB: AppContext = b.server.ctx

const alice = await RoomClient.register(a.api)
const bob = await RoomClient.register(b.api)
const carl = await RoomClient.register(b.api)

type Kind = 'join' | 'leave' | 'knock'
const make = (kind: Kind, roomId: string, userId: string, query?: Record<string, string | string[]>) =>
  ctxB.federation.client.get<{ room_version: string; event: JsonObject }>(nameA, `/_matrix/federation/v1/make_${kind}/${enc(roomId)}/${enc(userId)}`, query)

/** B signs A's template as it is and sends it back (send_join / send_leave v2, send_knock v1). */
async function sendSigned(kind: Kind, made: { room_version: string; event: JsonObject }, key = ctxB.serverKeys.signingKey) {
  const version = roomVersion(made.room_version)!
  const pdu = hashAndSignEvent({ ...made.event }, version, nameB, key)
  const eventId = eventIdOf(pdu, version)
  const roomId = made.event.room_id as string
  const answer = await ctxB.federation.client.put<any>(nameA, `/_matrix/federation/${kind === 'knock' ? 'v1' : 'v2'}/send_${kind}/${enc(roomId)}/${enc(eventId)}`, pdu)
  return { eventId, answer, pdu }
}

const parseAll = (pdus: unknown[], versionId: string): RoomEvent[] =>
  pdus.map((p) => {
    const parsed = parsePdu(p, roomVersion(versionId)!)
    assert.ok(parsed.ok, JSON.stringify(p))
    return parsed.event
  })

describe('GET /_matrix/federation/v1/make_join', () => {
  it('answers a join template for a user of the asking server, built on the room as it is', async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    const made = await make('join', roomId, bob.userId, { ver: ['11', '12'] })
    assert.equal(made.room_version, '12')
    assert.deepEqual([made.event.type, made.event.state_key, made.event.sender, made.event.room_id], ['m.room.member', bob.userId, bob.userId, roomId])
    assert.deepEqual(made.event.content, { membership: 'join' })
    assert.equal(made.event.signatures, undefined)
    assert.equal((made.event.prev_events as string[]).length, 1)
  })

  it('refuses a server that supports none of the room version (M_INCOMPATIBLE_ROOM_VERSION), users of other servers and unknown rooms', async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await refusedBy(make('join', roomId, bob.userId, { ver: ['10', '11'] }), 400, 'M_INCOMPATIBLE_ROOM_VERSION')
    await refusedBy(make('join', roomId, alice.userId, { ver: ['12'] }), 403, 'M_FORBIDDEN')
    await refusedBy(make('join', `!nothere:${nameA}`, bob.userId, { ver: ['12'] }), 404, 'M_NOT_FOUND')
  })

  it("refuses a server the room's server ACL denies with 403", async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat', initial_state: [{ type: 'm.room.server_acl', state_key: '', content: { allow: ['*'], allow_ip_literals: false } }] })
    await refusedBy(make('join', roomId, bob.userId, { ver: ['12'] }), 403, 'M_FORBIDDEN')
  })

  it('refuses a join the room does not allow (invite-only) with 403', async () => {
    const roomId = await alice.createRoom({ preset: 'private_chat' })
    await refusedBy(make('join', roomId, bob.userId, { ver: ['12'] }), 403, 'M_FORBIDDEN')
  })
})

describe('PUT /_matrix/federation/v2/send_join', () => {
  it("appends B's signed join: A's user sees it in /sync, and B builds the room from the answer", async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat', name: 'Family' })
    await alice.send(roomId, 'before bob')
    const levels = await alice.getState(roomId, 'm.room.power_levels')
    const newLevels = await alice.putState(roomId, 'm.room.power_levels', '', { ...levels, users: { ...(levels.users as object), [bob.userId]: 50 } })
    const since = (await alice.sync()).next_batch
    const made = await make('join', roomId, bob.userId, { ver: ['12'] })
    const { eventId, answer, pdu } = await sendSigned('join', made)

    const sync = await alice.sync({ since, timeout: 0 })
    assert.deepEqual(ids(sync.rooms.join[roomId].timeline.events), [eventId])
    assert.ok(bob.userId in (await alice.get(`/rooms/${enc(roomId)}/joined_members`)).body.joined)

    // The state before the join, and the auth chain behind it.
    const state = parseAll(answer.state, '12')
    const types = state.map((e) => `${e.type}|${e.state_key}`).sort()
    assert.ok(types.includes('m.room.create|') && types.includes(`m.room.member|${alice.userId}`) && types.includes('m.room.name|'), types.join(' '))
    assert.ok(!types.includes(`m.room.member|${bob.userId}`))
    const chain = parseAll(answer.auth_chain, '12')
    assert.ok(chain.some((e) => e.type === 'm.room.create'))
    // Oldest first: a joining server that reads the chain, then the state, in order as the room's state
    // (first copy of each event kept) ends with the current power levels, not the ones they replaced.
    assert.deepEqual(chain.map((e) => e.depth), chain.map((e) => e.depth).sort((x, y) => x - y))
    const naive = new Map<string, string>()
    const seen = new Set<string>()
    for (const e of [...chain, ...state]) {
      if (seen.has(e.event_id) || e.state_key === undefined) continue
      seen.add(e.event_id)
      naive.set(`${e.type}|${e.state_key}`, e.event_id)
    }
    assert.equal(naive.get('m.room.power_levels|'), newLevels)
    assert.equal(answer.members_omitted, undefined)

    // B, the joining server, builds the room from it (the outbound join's last step).
    const join = parseAll([pdu], '12')[0] as RoomEvent
    const result = await ctxB.remoteEvents.ingestJoinedRoom(roomId, roomVersion('12')!, { state, authChain: chain, join, origin: nameA })
    assert.deepEqual(result, { outcome: 'accepted' })
    const bobSync = await bob.sync()
    assert.ok(bobSync.rooms.join[roomId], JSON.stringify(bobSync.rooms))
    assert.equal((await bob.getState(roomId, 'm.room.name')).name, 'Family')
  })

  it('answers a repeated send_join as the first, and refuses an event that B did not sign or that is not a join of its user', async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    const made = await make('join', roomId, carl.userId, { ver: ['12'] })
    // Signed with a key that is not B's.
    await refusedBy(sendSigned('join', made, signingKeyFromSeed('ed25519:forged', randomBytes(32))), 403, 'M_FORBIDDEN')
    // B's own user, but the event says it is a leave.
    await refusedBy(sendSigned('join', { ...made, event: { ...made.event, content: { membership: 'leave' } } }), 400, 'M_INVALID_PARAM')
    const first = await sendSigned('join', made)
    const again = await ctxB.federation.client.put<any>(nameA, `/_matrix/federation/v2/send_join/${enc(roomId)}/${enc(first.eventId)}`, first.pdu)
    assert.deepEqual(again, first.answer)
  })

  it('co-signs a restricted join one of its users authorises (join_authorised_via_users_server)', async () => {
    const space = await alice.createRoom({ preset: 'public_chat' })
    const restricted = await alice.createRoom({
      preset: 'private_chat',
      initial_state: [{ type: 'm.room.join_rules', state_key: '', content: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: space }] } }],
    })
    // Carl is in no allowed room, and A, in the space, can tell: refused outright.
    await refusedBy(make('join', restricted, carl.userId, { ver: ['12'] }), 403, 'M_FORBIDDEN')
    await sendSigned('join', await make('join', space, bob.userId, { ver: ['12'] }))
    const made = await make('join', restricted, bob.userId, { ver: ['12'] })
    assert.equal(made.event.content && (made.event.content as JsonObject).join_authorised_via_users_server, alice.userId)
    const { eventId, answer } = await sendSigned('join', made)
    assert.equal(answer.event.event_id ?? eventIdOf(answer.event, roomVersion('12')!), eventId)
    assert.ok(answer.event.signatures[nameA] && answer.event.signatures[nameB])
    assert.ok(bob.userId in (await alice.get(`/rooms/${enc(restricted)}/joined_members`)).body.joined)
  })

  it('answers M_UNABLE_TO_AUTHORISE_JOIN for a restricted room whose allowed rooms it is not in', async () => {
    const restricted = await alice.createRoom({
      preset: 'private_chat',
      initial_state: [{ type: 'm.room.join_rules', state_key: '', content: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: '!elsewhere:example.org' }] } }],
    })
    await refusedBy(make('join', restricted, carl.userId, { ver: ['12'] }), 400, 'M_UNABLE_TO_AUTHORISE_JOIN')
  })
})

describe('make_leave and send_leave v2', () => {
  it("appends B's user's leave; A's user sees it", async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await sendSigned('join', await make('join', roomId, bob.userId, { ver: ['12'] }))
    const since = (await alice.sync()).next_batch
    const made = await make('leave', roomId, bob.userId)
    assert.deepEqual(made.event.content, { membership: 'leave' })
    const { eventId, answer } = await sendSigned('leave', made)
    assert.deepEqual(answer, {})
    const sync = await alice.sync({ since, timeout: 0 })
    assert.deepEqual(ids(sync.rooms.join[roomId].timeline.events), [eventId])
    assert.ok(!(bob.userId in (await alice.get(`/rooms/${enc(roomId)}/joined_members`)).body.joined))
  })
})

describe('make_knock and send_knock', () => {
  it('needs the ver parameter, then appends the knock and shows the knocker the room', async () => {
    const roomId = await alice.createRoom({ preset: 'private_chat', name: 'Knock here', initial_state: [{ type: 'm.room.join_rules', state_key: '', content: { join_rule: 'knock' } }] })
    await refusedBy(make('knock', roomId, bob.userId), 400, 'M_MISSING_PARAM')
    const since = (await alice.sync()).next_batch
    const { eventId, answer } = await sendSigned('knock', await make('knock', roomId, bob.userId, { ver: ['12'] }))
    const shown = (answer.knock_room_state as Array<{ type: string; content: JsonObject }>).map((e) => e.type).sort()
    assert.deepEqual(shown, ['m.room.create', 'm.room.join_rules', 'm.room.name'])
    const sync = await alice.sync({ since, timeout: 0 })
    const knock = (sync.rooms.join[roomId].timeline.events as Array<{ event_id: string; content: JsonObject }>).find((e) => e.event_id === eventId)
    assert.equal(knock?.content.membership, 'knock')
  })
})
