// Erased users over federation (client-server API, "Account deactivation"; Synapse's behaviour): after a
// user of A deactivates with erase: true, A serves that user's events redacted to every other server, by
// /event, /backfill and /get_missing_events, whether or not the server saw them before; other users'
// events are untouched. Two Homesteads over HTTPS with a test CA; B's user joins A's room for real.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { federatedServers, eventually, type FederatedServer } from '../support/federation-rig.ts'
import { RoomClient, enc } from '../support/rooms.ts'

const { servers } = await federatedServers(2)
const [a, b] = servers as [FederatedServer, FederatedServer]
const F = '/_matrix/federation/v1'
/** B asks A, signed with X-Matrix by B's federation client. */
const ask = <T = any>(path: string, query?: Record<string, string | number | Array<string | number>>) => b.ctx.federation.client.get<T>(a.name, `${F}${path}`, query)
const askPost = <T = any>(path: string, body: unknown) => b.ctx.federation.client.post<T>(a.name, `${F}${path}`, body)

const alice = await RoomClient.register(a.api)
const amy = await RoomClient.register(a.api)
const bob = await RoomClient.register(b.api)
const roomId = await alice.createRoom({ preset: 'public_chat' })
await amy.join(roomId)
const join = await bob.post(`/join/${enc(roomId)}?via=${enc(a.name)}`, {})
assert.equal(join.status, 200, JSON.stringify(join.body))
const secret = await alice.send(roomId, 'erase me')
const stays = await amy.send(roomId, 'amy stays')
const stored = async (eventId: string) => JSON.parse((await a.ctx.storage.repos.events.get(roomId, eventId))?.json ?? 'null')

describe('events of an erased user over federation', () => {
  it('are served as stored before the erasure, and redacted after it by /event', async () => {
    assert.equal((await ask(`/event/${enc(secret)}`)).pdus[0].content.body, 'erase me')
    // B had it too, unredacted: erasure is not shared over federation.
    await eventually('B has the message', () => bob.event(roomId, secret), (e) => e.content.body === 'erase me')

    const first = await alice.post('/account/deactivate', { erase: true })
    const user = alice.userId.slice(1, alice.userId.indexOf(':'))
    const auth = { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password: 'correct horse battery staple', session: first.body.session }
    const res = await alice.post('/account/deactivate', { erase: true, auth })
    assert.equal(res.status, 200, JSON.stringify(res.body))

    const [pdu] = (await ask(`/event/${enc(secret)}`)).pdus
    const original = await stored(secret)
    assert.deepEqual(pdu.content, {})
    // The redacted form keeps what the redaction algorithm keeps: its hashes and signatures still verify.
    assert.deepEqual([pdu.sender, pdu.type, pdu.hashes, pdu.signatures, pdu.prev_events], [original.sender, original.type, original.hashes, original.signatures, original.prev_events])
    assert.deepEqual((await ask(`/event/${enc(stays)}`)).pdus, [await stored(stays)])
  })

  it('are redacted in /backfill and /get_missing_events answers', async () => {
    const user = alice.userId.slice(1, alice.userId.indexOf(':'))
    const back = await ask(`/backfill/${enc(roomId)}`, { v: stays, limit: 10 })
    const backSecret = back.pdus.find((p: any) => p.sender === alice.userId && p.type === 'm.room.message')
    assert.ok(backSecret, 'the erased message is in the backfill')
    assert.deepEqual(backSecret.content, {})
    assert.deepEqual(back.pdus.find((p: any) => p.event_id === stays || p.content.body === 'amy stays'), await stored(stays))
    // alice's membership event keeps what redaction keeps of it (membership), not her display name.
    const aliceJoin = back.pdus.find((p: any) => p.type === 'm.room.member' && p.state_key === alice.userId)
    const [storedJoin] = await a.ctx.storage.repos.state.currentEvents(roomId, [['m.room.member', alice.userId]])
    assert.equal(JSON.parse(storedJoin?.json ?? '{}').content.displayname, user)
    assert.deepEqual(aliceJoin.content, { membership: 'join' })

    const missing = await askPost(`/get_missing_events/${enc(roomId)}`, { earliest_events: [], latest_events: [stays], limit: 10 })
    const missingSecret = missing.events.find((p: any) => p.sender === alice.userId && p.type === 'm.room.message')
    assert.ok(missingSecret, 'the erased message is among the missing events')
    assert.deepEqual(missingSecret.content, {})
  })
})
