// Guests and federation (client-server API, "Guest Access"): a guest of B leaves a room when a user of A
// revokes guest access there (the change arrives over federation), and a guest may not join a room B is not
// in (B knows none of its state to check guest access against).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { federatedServers } from '../support/federation-rig.ts'
import { CS, RoomClient, assertError, enc } from '../support/rooms.ts'

const { servers } = await federatedServers(2, { 'registration.allow_guest_access': true })
const [a, b] = servers as [(typeof servers)[0], (typeof servers)[0]]

async function guestOf(api: typeof b.api): Promise<RoomClient> {
  const res = await api.post(`${CS}/register?kind=guest`, {})
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return new RoomClient(api, res.body)
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return
    await sleep(100)
  }
  assert.fail(`timed out waiting for ${what}`)
}

describe('guests over federation', () => {
  it("leaves a room whose guest access a remote user revoked", async () => {
    const alice = await RoomClient.register(a.api)
    const bob = await RoomClient.register(b.api)
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await alice.putState(roomId, 'm.room.guest_access', '', { guest_access: 'can_join' })
    assert.equal((await bob.post(`/join/${enc(roomId)}?via=${enc(a.name)}`)).status, 200)
    await until(async () => (await bob.get(`/rooms/${enc(roomId)}/state/m.room.guest_access`)).body.guest_access === 'can_join', 'B to see can_join')
    const guest = await guestOf(b.api)
    await guest.join(roomId)
    await until(async () => (await alice.get(`/rooms/${enc(roomId)}/state/m.room.member/${enc(guest.userId)}`)).body.membership === 'join', "A to see the guest's join")
    await alice.putState(roomId, 'm.room.guest_access', '', { guest_access: 'forbidden' })
    await until(async () => (await alice.get(`/rooms/${enc(roomId)}/state/m.room.member/${enc(guest.userId)}`)).body.membership === 'leave', "the guest's leave, on A")
    assert.equal((await bob.getState(roomId, 'm.room.member', bob.userId)).membership, 'join')
  })

  it('refuses a guest a room its server is not in', async () => {
    const alice = await RoomClient.register(a.api)
    const roomId = await alice.createRoom({ preset: 'public_chat' })
    await alice.putState(roomId, 'm.room.guest_access', '', { guest_access: 'can_join' })
    const guest = await guestOf(b.api)
    assertError(await guest.post(`/join/${enc(roomId)}?via=${enc(a.name)}`), 403, 'M_FORBIDDEN')
  })
})
