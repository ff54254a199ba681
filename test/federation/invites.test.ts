// Invites across two Homesteads over HTTPS (test CA): A's user invites B's user (PUT v2/invite: B signs the
// invite, A appends it co-signed); B's user sees the invite in /sync with the room's stripped state, though
// B is not in the room, and joins through the inviter's server without being told any server.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { eventually, federatedServers, type FederatedServer } from '../support/federation-rig.ts'
import { RoomClient, assertError, enc } from '../support/rooms.ts'
import { roomVersion } from '../../src/protocol/room-versions.ts'
import { parseStored } from '../../src/rooms/writer.ts'

/** The ID of the invite of Bob that B kept for a room it is not in. */
async function inviteOf(roomId: string): Promise<string> {
  const { rows } = await b.ctx.storage.db.query<{ event_id: string }>(
    `SELECT event_id FROM events WHERE room_id = $1 AND type = 'm.room.member' AND state_key = $2 AND json::jsonb->'content'->>'membership' = 'invite'`,
    [roomId, bob.userId],
  )
  return rows[0]!.event_id
}

const { servers } = await federatedServers(2)
const [a, b] = servers as [FederatedServer, FederatedServer]

const alice = await RoomClient.register(a.api)
const bob = await RoomClient.register(b.api)

describe('invites to users of other servers', () => {
  it("reach the invitee's /sync with the room's stripped state, and the invitee joins through the inviter's server", async () => {
    const roomId = await alice.createRoom({ preset: 'private_chat', name: 'Family', topic: 'Sunday lunch' })
    const since = (await bob.sync()).next_batch
    const res = await alice.post(`/rooms/${enc(roomId)}/invite`, { user_id: bob.userId })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    // A appended the invite, co-signed by B.
    const member = await alice.getState(roomId, 'm.room.member', bob.userId)
    assert.equal(member.membership, 'invite')

    const synced = await bob.sync({ since })
    const invite = synced.rooms?.invite?.[roomId]
    assert.ok(invite, JSON.stringify(synced.rooms))
    const byType = new Map(invite.invite_state.events.map((e: { type: string; state_key: string; content: unknown }) => [`${e.type}|${e.state_key}`, e.content]))
    assert.deepEqual(byType.get('m.room.name|'), { name: 'Family' })
    assert.equal((byType.get('m.room.topic|') as { topic: string }).topic, 'Sunday lunch')
    assert.equal((byType.get(`m.room.member|${bob.userId}`) as { membership: string }).membership, 'invite')
    assert.ok(byType.has(`m.room.member|${alice.userId}`), "the inviter's member event names who invites")

    // No via: the inviter's server is asked.
    const joined = await bob.post(`/join/${enc(roomId)}`, {})
    assert.equal(joined.status, 200, JSON.stringify(joined.body))
    assert.equal((await alice.getState(roomId, 'm.room.member', bob.userId)).membership, 'join')
    assert.equal((await bob.getState(roomId, 'm.room.name')).name, 'Family')
  })

  it('go out from createRoom: a direct chat with a user of another server, which they join', async () => {
    const since = (await bob.sync()).next_batch
    const res = await alice.post('/createRoom', { preset: 'trusted_private_chat', is_direct: true, invite: [bob.userId] })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const roomId = res.body.room_id as string
    assert.equal((await alice.getState(roomId, 'm.room.member', bob.userId)).is_direct, true)
    const synced = await bob.sync({ since })
    const invite = synced.rooms?.invite?.[roomId]
    assert.ok(invite, JSON.stringify(synced.rooms))
    const own = invite.invite_state.events.find((e: { type: string; state_key: string }) => e.type === 'm.room.member' && e.state_key === bob.userId)
    assert.equal(own?.content?.is_direct, true)
    assert.equal((await bob.post(`/join/${enc(roomId)}`, {})).status, 200)
    // trusted_private_chat: invitees get the creator's power (room version 12: as additional creators).
    assert.deepEqual((await alice.getState(roomId, 'm.room.create')).additional_creators, [bob.userId])
  })

  it("reach the invitee of a server that left the room, who rejoins the invite-only room though its server's state there is stale", async () => {
    const roomId = await alice.createRoom({ preset: 'private_chat', invite: [bob.userId] })
    assert.equal((await bob.post(`/join/${enc(roomId)}`, {})).status, 200)
    assert.equal((await bob.post(`/rooms/${enc(roomId)}/leave`, {})).status, 200)
    // Alice renames the room meanwhile: B, no longer in it, does not hear of it.
    await alice.putState(roomId, 'm.room.name', '', { name: 'Renamed' })
    const since = (await bob.sync()).next_batch
    await eventually('the leave on A', async () => (await alice.getState(roomId, 'm.room.member', bob.userId)).membership, (m) => m === 'leave')
    assert.equal((await alice.post(`/rooms/${enc(roomId)}/invite`, { user_id: bob.userId })).status, 200)
    // No transaction of the room reaches B any more: the invite itself is kept, and shows in /sync.
    const synced = await bob.sync({ since })
    assert.ok(synced.rooms?.invite?.[roomId], JSON.stringify(synced.rooms))
    // The join is checked against the state send_join gives (which has the invite), not B's from before.
    const joined = await bob.post(`/join/${enc(roomId)}`, {})
    assert.equal(joined.status, 200, JSON.stringify(joined.body))
    assert.equal((await bob.getState(roomId, 'm.room.name')).name, 'Renamed')
    assert.equal((await bob.getState(roomId, 'm.room.member', bob.userId)).membership, 'join')
    // B's events build on the room as it is now: Alice gets them.
    const eventId = await bob.send(roomId, 'back again')
    await eventually('the message on A', () => alice.event(roomId, eventId), (e) => e.content.body === 'back again')
  })

  it('refuses an invite the invitee has blocked (M_INVITE_BLOCKED); one of an unknown user is signed like any', async () => {
    const roomId = await alice.createRoom({ preset: 'private_chat' })
    const carl = await RoomClient.register(b.api)
    assert.equal((await carl.put(`/user/${enc(carl.userId)}/account_data/m.invite_permission_config`, { default_action: 'block' })).status, 200)
    const blocked = await alice.post(`/rooms/${enc(roomId)}/invite`, { user_id: carl.userId })
    assertError(blocked, 403, 'M_INVITE_BLOCKED')
    // Nothing in the protocol refuses it: B signs it and keeps nothing of it (nobody would see it).
    assert.equal((await alice.post(`/rooms/${enc(roomId)}/invite`, { user_id: `@nobody:${b.name}` })).status, 200)
    assert.equal(await b.ctx.storage.repos.memberships.get(roomId, `@nobody:${b.name}`), null)
    const members = (await alice.get(`/rooms/${enc(roomId)}/joined_members`)).body.joined
    assert.deepEqual(Object.keys(members), [alice.userId])
  })

  it("lets the invitee reject an invite to a room their server is not in (make_leave/send_leave through the inviter's server)", async () => {
    const roomId = await alice.createRoom({ preset: 'private_chat' })
    assert.equal((await alice.post(`/rooms/${enc(roomId)}/invite`, { user_id: bob.userId })).status, 200)
    const since = (await bob.sync()).next_batch
    const res = await bob.post(`/rooms/${enc(roomId)}/leave`, { reason: 'not now' })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const member = await alice.getState(roomId, 'm.room.member', bob.userId)
    assert.deepEqual([member.membership, member.reason], ['leave', 'not now'])
    const synced = await bob.sync({ since })
    assert.equal(synced.rooms?.invite?.[roomId], undefined)
    assert.ok(synced.rooms?.leave?.[roomId], 'the rejected invite is a left room in /sync')
    const left = synced.rooms.leave[roomId].timeline.events as Array<{ type: string; state_key: string; content: { membership: string } }>
    assert.deepEqual(left.map((e) => [e.type, e.state_key, e.content.membership]), [['m.room.member', bob.userId, 'leave']], 'with the leave as its timeline')

    // The invite replayed (kept again, as a second PUT v2/invite of it would) does not undo the rejection.
    const invite = (await b.ctx.storage.repos.events.pdus(roomId, [await inviteOf(roomId)]))[0]!
    const version = roomVersion((await alice.getState(roomId, 'm.room.create')).room_version ?? '1')!
    await b.ctx.remoteEvents.keepMembershipOutside(parseStored(invite.json, version, invite.event_id), version, {})
    assert.equal((await b.ctx.storage.repos.memberships.get(roomId, bob.userId))?.membership, 'leave')
  })

  it('knocks on a room of another server, and the knock shows in /sync; an invite-only room refuses the knock', async () => {
    const roomId = await alice.createRoom({ preset: 'private_chat', room_version: '12', name: 'Knockable' })
    await alice.putState(roomId, 'm.room.join_rules', '', { join_rule: 'knock' })
    const res = await bob.post(`/knock/${enc(roomId)}?via=${enc(a.name)}`, { reason: 'let me in' })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal((await alice.getState(roomId, 'm.room.member', bob.userId)).membership, 'knock')
    const synced = await bob.sync()
    const knock = synced.rooms?.knock?.[roomId]
    assert.ok(knock, JSON.stringify(synced.rooms))
    assert.ok(knock.knock_state.events.some((e: { type: string; content: { name?: string } }) => e.type === 'm.room.name' && e.content.name === 'Knockable'))

    const closed = await alice.createRoom({ preset: 'private_chat' })
    assertError(await bob.post(`/knock/${enc(closed)}?via=${enc(a.name)}`, {}), 403, 'M_FORBIDDEN')
  })
})
