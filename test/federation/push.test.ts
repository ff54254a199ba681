// Pushes about events that arrive over federation (two Homesteads over HTTPS with the test CA): a remote
// member's message reaches the local member's push gateway once; an invite to a room this server is not in
// is pushed with the room's name from its stripped state; an event the auth rules reject is never pushed.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { federatedServers, type FederatedServer } from '../support/federation-rig.ts'
import { RoomClient, enc } from '../support/rooms.ts'
import { startPushGateway, type Notification } from '../support/push-gateway.ts'

const { servers } = await federatedServers(2)
const [a, b] = servers as [FederatedServer, FederatedServer]
const gateway = await startPushGateway()
after(() => gateway.close())
after(() => assert.deepEqual(gateway.invalid, [], 'every request matched the push gateway API'))

const alice = await RoomClient.register(a.api)
const bob = await RoomClient.register(b.api)

let keys = 0
async function pusherFor(user: RoomClient): Promise<string> {
  const pushkey = `fed-${process.pid}-${++keys}`
  const res = await user.post('/pushers/set', { kind: 'http', app_id: 'org.example', pushkey, app_display_name: 'E', device_display_name: 'P', lang: 'en', data: { url: gateway.url } })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return pushkey
}
const forKey = (pushkey: string) => (n: Notification) => n.devices.some((d) => d.pushkey === pushkey)

describe('pushes about events from other servers', () => {
  it('pushes an invite to a room this server is not in, named from its stripped state', async () => {
    const pushkey = await pusherFor(bob)
    const roomId = await alice.createRoom({ preset: 'private_chat', name: 'Over there' })
    const res = await alice.post(`/rooms/${enc(roomId)}/invite`, { user_id: bob.userId })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const n = await gateway.waitFor((x) => forKey(pushkey)(x) && x.type === 'm.room.member')
    assert.equal(n.room_id, roomId)
    assert.equal(n.sender, alice.userId)
    assert.equal(n.membership, 'invite')
    assert.equal(n.user_is_target, true)
    assert.equal(n.room_name, 'Over there')
    assert.equal(n.prio, 'high')
  })

  it("pushes a remote member's message once", async () => {
    const pushkey = await pusherFor(bob)
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    const joined = await bob.post(`/join/${enc(roomId)}?server_name=${enc(a.name)}`, {})
    assert.equal(joined.status, 200, JSON.stringify(joined.body))
    const eventId = await alice.send(roomId, { msgtype: 'm.text', body: 'from afar' })
    const n = await gateway.waitFor((x) => forKey(pushkey)(x) && x.event_id === eventId)
    assert.equal(n.sender, alice.userId)
    assert.deepEqual(n.content, { msgtype: 'm.text', body: 'from afar' })
    const marker = await alice.send(roomId, { msgtype: 'm.text', body: 'marker' })
    await gateway.waitFor((x) => forKey(pushkey)(x) && x.event_id === marker)
    assert.equal(gateway.received.filter((x) => forKey(pushkey)(x) && x.event_id === eventId).length, 1)
  })
})
