// Membership endpoints between two Homesteads over HTTPS (test CA), as older servers and hostile ones use
// them: the v1 forms of send_join, send_leave and invite answered in their v1 shape ([200, body]); the
// outbound fallback to v1 when a server answers v2 with a bare 404 (A behind a proxy that hides its v2
// routes, as a server predating them); the error codes of events that are not JSON of their room version
// (M_BAD_JSON) or not signed (M_FORBIDDEN); the room's server ACL before any other check; and an invite
// rejected here alone when the inviting server refuses or is down.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after } from 'node:test'
import { federatedServers, type FederatedServer } from '../support/federation-rig.ts'
import { refusedBy } from '../support/federation.ts'
import { RoomClient, enc } from '../support/rooms.ts'
import { eventIdOf, hashAndSignEvent, type JsonObject } from '../../src/protocol/events/index.ts'
import { roomVersion } from '../../src/protocol/room-versions.ts'
import { signingKeyFromSeed } from '../../src/protocol/signing.ts'
import { randomBytes } from 'node:crypto'

const { servers } = await federatedServers(2)
const [a, b] = servers as [FederatedServer, FederatedServer]
const alice = await RoomClient.register(a.api)
const bob = await RoomClient.register(b.api)

/**
 * A plain-HTTP proxy between A's TLS front and A: while `hideV2` is set, the v2 send_join, send_leave and
 * invite answer 404 with no body, as from a server that predates them; everything else reaches A.
 */
const upstream = a.front.target
const proxy = { hideV2: false }
const proxyServer = createServer((req: IncomingMessage, res: ServerResponse) => {
  if (proxy.hideV2 && /^\/_matrix\/federation\/v2\/(send_join|send_leave|invite)\//.test(req.url ?? '')) {
    res.writeHead(404, { 'content-length': '0' })
    return res.end()
  }
  const forward = request({ host: '127.0.0.1', port: upstream, method: req.method, path: req.url, headers: req.headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers)
    answer.pipe(res)
  })
  forward.on('error', () => res.destroy())
  req.pipe(forward)
})
await new Promise<void>((resolve) => proxyServer.listen(0, '127.0.0.1', resolve))
a.front.target = (proxyServer.address() as AddressInfo).port
after(() => new Promise<void>((resolve) => proxyServer.close(() => resolve())))

const fed = b.ctx.federation.client
const path = (v: string, what: string, ...ids: string[]) => `/_matrix/federation/${v}/${what}/${ids.map(enc).join('/')}`
/** The v1 requests A received for `what` in a room (seen by its TLS front). */
const v1Requests = (what: string, roomId: string) => a.front.requests.filter((r) => r.startsWith(`PUT ${path('v1', what, roomId)}/`))

/** B's signed event from A's make_join / make_leave template for Bob. */
async function signedFromTemplate(kind: 'join' | 'leave', roomId: string, key = b.ctx.serverKeys.signingKey): Promise<{ pdu: JsonObject; eventId: string; versionId: string }> {
  const made = await fed.get<{ room_version: string; event: JsonObject }>(a.name, path('v1', `make_${kind}`, roomId, bob.userId), kind === 'join' ? { ver: ['1', '6', '10', '12'] } : undefined)
  const version = roomVersion(made.room_version)!
  const template: JsonObject = { ...made.event, origin_server_ts: Date.now() }
  if (version.eventFormat === 1) template.event_id = `$${randomBytes(8).toString('hex')}:${b.name}`
  const pdu = hashAndSignEvent(template, version, b.name, key)
  return { pdu, eventId: eventIdOf(pdu, version), versionId: made.room_version }
}

describe('the v1 membership endpoints, inbound', () => {
  it('answer PUT v1/send_join with [200, {origin, auth_chain, state}] and v1/send_leave with [200, {}]', async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat', room_version: '1' })
    const join = await signedFromTemplate('join', roomId)
    const answer = await fed.put<[number, { origin: string; auth_chain: JsonObject[]; state: JsonObject[] }]>(a.name, path('v1', 'send_join', roomId, join.eventId), join.pdu)
    assert.equal(answer[0], 200)
    assert.equal(answer[1].origin, a.name)
    assert.ok(answer[1].state.some((e) => e.type === 'm.room.create') && answer[1].auth_chain.length > 0)
    assert.equal((await alice.getState(roomId, 'm.room.member', bob.userId)).membership, 'join')

    const leave = await signedFromTemplate('leave', roomId)
    assert.deepEqual(await fed.put(a.name, path('v1', 'send_leave', roomId, leave.eventId), leave.pdu), [200, {}])
    assert.equal((await alice.getState(roomId, 'm.room.member', bob.userId)).membership, 'leave')
  })
})

describe('the outbound fallback to v1 when a server does not know v2', () => {
  it('joins through v1/send_join, invites through v1/invite and rejects an invite through v1/send_leave', async () => {
    proxy.hideV2 = true
    try {
      // Bob (B) joins Alice's room on A.
      const joined = await alice.createRoom({ preset: 'public_chat', room_version: '2' })
      const res = await bob.post(`/join/${enc(joined)}`, {})
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal((await alice.getState(joined, 'm.room.member', bob.userId)).membership, 'join')
      assert.equal(v1Requests('send_join', joined).length, 1)

      // Bob invites Alice to a room of version 2 on B: A signs it through v1, and Alice sees it.
      const bobsRoom = await bob.createRoom({ preset: 'private_chat', room_version: '2', name: 'Old style' })
      const invited = await bob.post(`/rooms/${enc(bobsRoom)}/invite`, { user_id: alice.userId })
      assert.equal(invited.status, 200, JSON.stringify(invited.body))
      assert.equal(v1Requests('invite', bobsRoom).length, 1)
      assert.ok((await alice.sync()).rooms?.invite?.[bobsRoom], 'the v1 invite reaches the invitee')

      // Alice (A) invites Bob; Bob rejects through v1/send_leave.
      const rejected = await alice.createRoom({ preset: 'private_chat', room_version: '1' })
      await alice.invite(rejected, bob.userId)
      await bob.leave(rejected)
      assert.equal((await alice.getState(rejected, 'm.room.member', bob.userId)).membership, 'leave')
      assert.equal(v1Requests('send_leave', rejected).length, 1)
    } finally {
      proxy.hideV2 = false
    }
  })
})

describe('membership events that are not valid JSON of their room version, or not signed', () => {
  it('refuses a float in a room of version 6 with M_BAD_JSON, on send_join, send_leave and invite', async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat', room_version: '6' })
    const join = await signedFromTemplate('join', roomId)
    const withFloat = { ...join.pdu, content: { ...(join.pdu.content as JsonObject), bad_val: 1.1 } }
    await refusedBy(fed.put(a.name, path('v2', 'send_join', roomId, join.eventId), withFloat), 400, 'M_BAD_JSON')
    // Whatever the path says the event ID is.
    await refusedBy(fed.put(a.name, path('v2', 'send_leave', roomId, 'xxx'), withFloat), 400, 'M_BAD_JSON')
    const invite = { ...withFloat, state_key: alice.userId, content: { membership: 'invite', bad_val: 1.1 } }
    await refusedBy(fed.put(a.name, path('v2', 'invite', roomId, join.eventId), { room_version: '6', event: invite, invite_room_state: [] }), 400, 'M_BAD_JSON')
  })

  it('refuses with 403 M_FORBIDDEN a join sent unsigned, signed with a key that is not the server’s, or of another server’s user', async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat', room_version: '10' })
    const made = await fed.get<{ room_version: string; event: JsonObject }>(a.name, path('v1', 'make_join', roomId, bob.userId), { ver: ['10'] })
    const unsigned = { ...made.event, origin_server_ts: Date.now() }
    await refusedBy(fed.put(a.name, path('v1', 'send_join', roomId, '$unsigned'), unsigned), 403, 'M_FORBIDDEN')
    const forged = await signedFromTemplate('join', roomId, signingKeyFromSeed('ed25519:forged', randomBytes(32)))
    await refusedBy(fed.put(a.name, path('v1', 'send_join', roomId, forged.eventId), forged.pdu), 403, 'M_FORBIDDEN')
    // Carol (A's) joins; B replays her join as its own.
    const carol = await RoomClient.register(a.api)
    await carol.join(roomId)
    const { rows } = await a.ctx.storage.db.query<{ event_id: string; json: string }>(`SELECT event_id, json FROM events WHERE room_id = $1 AND type = 'm.room.member' AND state_key = $2`, [roomId, carol.userId])
    const { unsigned: _unsigned, ...replayed } = JSON.parse(rows[0]!.json) as JsonObject
    await refusedBy(fed.put(a.name, path('v1', 'send_join', roomId, rows[0]!.event_id), replayed), 403, 'M_FORBIDDEN')
  })

  it('refuses an invite through v1 that its sender’s server did not sign with 403 M_FORBIDDEN', async () => {
    const roomId = `!v1room:${b.name}`
    const invite = { type: 'm.room.member', room_id: roomId, sender: bob.userId, state_key: alice.userId, content: { membership: 'invite' }, event_id: `$v1invite:${b.name}`, origin_server_ts: Date.now(), depth: 5, prev_events: [], auth_events: [] }
    await refusedBy(fed.put(a.name, path('v1', 'invite', roomId, invite.event_id), invite), 403, 'M_FORBIDDEN')
  })
})

describe("the room's server ACL", () => {
  it('is checked before anything else: an invite of a user who does not exist from a denied server is 403', async () => {
    const roomId = await alice.createRoom({ preset: 'public_chat', room_version: '10' })
    await bob.join(roomId)
    const nobody = `@nobody:${a.name}`
    const template = { type: 'm.room.member', room_id: roomId, sender: bob.userId, state_key: nobody, content: { membership: 'invite' }, origin_server_ts: Date.now(), depth: 9, prev_events: [], auth_events: [] }
    const invite = hashAndSignEvent(template, roomVersion('10')!, b.name, b.ctx.serverKeys.signingKey)
    const body = { room_version: '10', event: invite, invite_room_state: [] }
    const eventId = eventIdOf(invite, roomVersion('10')!)
    // Allowed, the invite of a user who does not exist is signed like any (nothing refuses it).
    const signed = await fed.put<{ event: JsonObject }>(a.name, path('v2', 'invite', roomId, eventId), body)
    assert.ok((signed.event.signatures as Record<string, unknown>)[a.name])
    // get_missing_events asks for nothing with no lists.
    assert.deepEqual(await fed.post(a.name, path('v1', 'get_missing_events', roomId), {}), { events: [] })

    await alice.putState(roomId, 'm.room.server_acl', '', { allow: ['*'], deny: [b.name.split(':')[0]!, b.name], allow_ip_literals: true })
    await refusedBy(fed.put(a.name, path('v2', 'invite', roomId, eventId), body), 403, 'M_FORBIDDEN')
    await refusedBy(fed.put(a.name, path('v1', 'invite', roomId, eventId), invite), 403, 'M_FORBIDDEN')
    await refusedBy(fed.post(a.name, path('v1', 'get_missing_events', roomId), {}), 403, 'M_FORBIDDEN')
    await refusedBy(fed.put(a.name, path('v1', 'send_join', roomId, eventId), invite), 403, 'M_FORBIDDEN')
    await refusedBy(fed.put(a.name, path('v1', 'send_leave', roomId, eventId), invite), 403, 'M_FORBIDDEN')
  })
})

describe('rejecting an invite the inviting server will not take back', () => {
  /** Bob's /sync shows the room left, not invited; his membership is his own leave, signed by B. */
  async function assertRejected(roomId: string, since: string) {
    const synced = await bob.sync({ since })
    assert.equal(synced.rooms?.invite?.[roomId], undefined)
    assert.ok(synced.rooms?.leave?.[roomId], JSON.stringify(synced.rooms))
    const own = await b.ctx.storage.repos.memberships.get(roomId, bob.userId)
    assert.equal(own?.membership, 'leave')
    const [row] = await b.ctx.storage.repos.events.pdus(roomId, [own!.event_id])
    const leave = JSON.parse(row!.json)
    assert.deepEqual([leave.type, leave.state_key, leave.sender, leave.content.membership], ['m.room.member', bob.userId, bob.userId, 'leave'])
    assert.ok(leave.signatures[b.name])
  }

  it('succeeds here when the inviting server refuses make_leave (403): the invite is gone for the user', async () => {
    const roomId = await alice.createRoom({ preset: 'private_chat', room_version: '10' })
    await alice.invite(roomId, bob.userId)
    // A's ACL now denies B: its make_leave answers 403.
    await alice.putState(roomId, 'm.room.server_acl', '', { allow: ['*'], deny: [b.name.split(':')[0]!, b.name], allow_ip_literals: true })
    const since = (await bob.sync()).next_batch
    await bob.leave(roomId)
    await assertRejected(roomId, since)
    assert.equal((await alice.getState(roomId, 'm.room.member', bob.userId)).membership, 'invite', 'A never heard of it')
  })

  it('succeeds here when the inviting server is down (last: A stays down)', async () => {
    const roomId = await alice.createRoom({ preset: 'private_chat', room_version: '1' })
    await alice.invite(roomId, bob.userId)
    const since = (await bob.sync()).next_batch
    await a.stop()
    await bob.leave(roomId)
    await assertRejected(roomId, since)
  })
})
