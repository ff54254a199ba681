// GET /devices, GET/PUT/DELETE /devices/{deviceId} and POST /delete_devices over real HTTP.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type Session, type TestServer } from '../support/server.ts'

const t: TestServer = await startTestServer()

const DEVICES = '/_matrix/client/v3/devices'
const WHOAMI = '/_matrix/client/v3/account/whoami'

interface Device {
  device_id: string
  display_name?: string
  last_seen_ip?: string
  last_seen_ts?: number
}

type User = Session

async function loginDevice(user: User, options: { deviceId?: string; displayName?: string } = {}) {
  const res = await t.api.post('/_matrix/client/v3/login', {
    type: 'm.login.password',
    identifier: { type: 'm.id.user', user: user.username },
    password: user.password,
    device_id: options.deviceId,
    initial_device_display_name: options.displayName,
  })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body as { access_token: string; device_id: string }
}

function passwordAuth(user: User, session: string | undefined) {
  return { type: 'm.login.password', identifier: { type: 'm.id.user', user: user.username }, password: user.password, session }
}

async function listDevices(token: string): Promise<Device[]> {
  const res = await t.api.get(DEVICES, token)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body.devices
}

/** Last-seen data is written in the background of a request, so read until it shows (bounded). */
async function deviceOnceSeen(token: string, deviceId: string): Promise<Device> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const device = (await listDevices(token)).find((d) => d.device_id === deviceId)
    if (device?.last_seen_ts !== undefined) return device
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  assert.fail(`device ${deviceId} never got last_seen_ts`)
}

/** DELETE /devices/{id} through both UIA steps; returns the final response. */
async function deleteDevice(user: User, token: string, deviceId: string) {
  const first = await t.api.delete(`${DEVICES}/${deviceId}`, {}, token)
  assert.equal(first.status, 401, JSON.stringify(first.body))
  return t.api.delete(`${DEVICES}/${deviceId}`, { auth: passwordAuth(user, first.body.session) }, token)
}

describe('GET /devices', () => {
  it('lists every device of the user with its display name', async () => {
    const user = await registerUser(t.api)
    const phone = await loginDevice(user, { displayName: 'Phone' })
    const laptop = await loginDevice(user, { displayName: 'Laptop' })
    const devices = await listDevices(user.access_token)
    assert.deepEqual(devices.map((d) => d.device_id).sort(), [user.device_id, phone.device_id, laptop.device_id].sort())
    assert.equal(devices.find((d) => d.device_id === phone.device_id)?.display_name, 'Phone')
    assert.equal(devices.find((d) => d.device_id === laptop.device_id)?.display_name, 'Laptop')
  })

  it('reports last_seen_ts and last_seen_ip once a device has used its token', async () => {
    const before = Date.now()
    const user = await registerUser(t.api)
    const tablet = await loginDevice(user, { displayName: 'Tablet' })
    assert.equal((await t.api.get(WHOAMI, tablet.access_token)).status, 200)
    const device = await deviceOnceSeen(user.access_token, tablet.device_id)
    assert.equal(device.last_seen_ip, '127.0.0.1')
    assert.ok(typeof device.last_seen_ts === 'number' && device.last_seen_ts >= before && device.last_seen_ts <= Date.now())
  })

  it('does not list the devices of other users', async () => {
    const user = await registerUser(t.api)
    const other = await registerUser(t.api)
    const devices = await listDevices(user.access_token)
    assert.ok(!devices.some((d) => d.device_id === other.device_id))
  })
})

describe('GET /devices/:deviceId', () => {
  it('returns the device with its display name', async () => {
    const user = await registerUser(t.api)
    const phone = await loginDevice(user, { displayName: 'Phone' })
    const res = await t.api.get(`${DEVICES}/${phone.device_id}`, user.access_token)
    assert.equal(res.status, 200)
    assert.equal(res.body.device_id, phone.device_id)
    assert.equal(res.body.display_name, 'Phone')
  })

  it('answers 404 M_NOT_FOUND for an unknown device', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.get(`${DEVICES}/NOSUCHDEVICE`, user.access_token)
    assert.equal(res.status, 404)
    assert.equal(res.body.errcode, 'M_NOT_FOUND')
  })

  it('answers 404 M_NOT_FOUND for another user\'s device', async () => {
    const user = await registerUser(t.api)
    const other = await registerUser(t.api)
    const res = await t.api.get(`${DEVICES}/${other.device_id}`, user.access_token)
    assert.equal(res.status, 404)
    assert.equal(res.body.errcode, 'M_NOT_FOUND')
  })
})

describe('PUT /devices/:deviceId', () => {
  it('renames the device', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.put(`${DEVICES}/${user.device_id}`, { display_name: 'Renamed' }, user.access_token)
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, {})
    const device = await t.api.get(`${DEVICES}/${user.device_id}`, user.access_token)
    assert.equal(device.body.display_name, 'Renamed')
  })

  it('leaves the display name unchanged when display_name is absent', async () => {
    const user = await registerUser(t.api)
    const phone = await loginDevice(user, { displayName: 'Phone' })
    const res = await t.api.put(`${DEVICES}/${phone.device_id}`, {}, user.access_token)
    assert.equal(res.status, 200)
    assert.equal((await t.api.get(`${DEVICES}/${phone.device_id}`, user.access_token)).body.display_name, 'Phone')
  })

  it('answers 404 M_NOT_FOUND for an unknown device and does not create it', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.put(`${DEVICES}/NOSUCHDEVICE`, { display_name: 'Ghost' }, user.access_token)
    assert.equal(res.status, 404)
    assert.equal(res.body.errcode, 'M_NOT_FOUND')
    assert.equal((await t.api.get(`${DEVICES}/NOSUCHDEVICE`, user.access_token)).status, 404)
  })

  it('cannot rename another user\'s device', async () => {
    const user = await registerUser(t.api)
    const other = await registerUser(t.api)
    const res = await t.api.put(`${DEVICES}/${other.device_id}`, { display_name: 'Mine now' }, user.access_token)
    assert.equal(res.status, 404)
    assert.equal(res.body.errcode, 'M_NOT_FOUND')
    const device = await t.api.get(`${DEVICES}/${other.device_id}`, other.access_token)
    assert.notEqual(device.body.display_name, 'Mine now')
  })
})

describe('DELETE /devices/:deviceId', () => {
  it('answers without auth with 401 and the m.login.password flow, keeping the device', async () => {
    const user = await registerUser(t.api)
    const phone = await loginDevice(user)
    const res = await t.api.delete(`${DEVICES}/${phone.device_id}`, {}, user.access_token)
    assert.equal(res.status, 401)
    assert.deepEqual(res.body.flows, [{ stages: ['m.login.password'] }])
    assert.equal(typeof res.body.session, 'string')
    assert.equal((await t.api.get(WHOAMI, phone.access_token)).status, 200)
  })

  it('deletes the device after UIA, and its access token stops working', async () => {
    const user = await registerUser(t.api)
    const phone = await loginDevice(user)
    const res = await deleteDevice(user, user.access_token, phone.device_id)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.deepEqual(res.body, {})
    const who = await t.api.get(WHOAMI, phone.access_token)
    assert.equal(who.status, 401)
    assert.equal(who.body.errcode, 'M_UNKNOWN_TOKEN')
    assert.equal((await t.api.get(`${DEVICES}/${phone.device_id}`, user.access_token)).status, 404)
    assert.equal((await t.api.get(WHOAMI, user.access_token)).status, 200)
  })

  it('keeps the device when the UIA password is wrong', async () => {
    const user = await registerUser(t.api)
    const phone = await loginDevice(user)
    const first = await t.api.delete(`${DEVICES}/${phone.device_id}`, {}, user.access_token)
    const res = await t.api.delete(`${DEVICES}/${phone.device_id}`, { auth: { ...passwordAuth(user, first.body.session), password: 'wrong password' } }, user.access_token)
    assert.equal(res.status, 401)
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
    assert.equal((await t.api.get(WHOAMI, phone.access_token)).status, 200)
  })

  it('refuses with 403 the password of another user given with this user\'s access token, keeping the device', async () => {
    const alice = await registerUser(t.api)
    const eve = await registerUser(t.api)
    const phone = await loginDevice(alice)
    const res = await t.api.delete(`${DEVICES}/${phone.device_id}`, { auth: passwordAuth(eve, undefined) }, alice.access_token)
    assert.equal(res.status, 403, JSON.stringify(res.body))
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
    assert.equal((await t.api.get(WHOAMI, phone.access_token)).status, 200)
    const own = await t.api.delete(`${DEVICES}/${phone.device_id}`, { auth: passwordAuth(alice, undefined) }, alice.access_token)
    assert.equal(own.status, 200, JSON.stringify(own.body))
  })

  it('refuses with 403 a session started to delete one device and continued to delete another', async () => {
    const user = await registerUser(t.api)
    const phone = await loginDevice(user)
    const laptop = await loginDevice(user)
    const first = await t.api.delete(`${DEVICES}/${phone.device_id}`, {}, user.access_token)
    assert.equal(first.status, 401)
    const res = await t.api.delete(`${DEVICES}/${laptop.device_id}`, { auth: passwordAuth(user, first.body.session) }, user.access_token)
    assert.equal(res.status, 403, JSON.stringify(res.body))
    assert.equal(res.body.errcode, 'M_FORBIDDEN')
    assert.equal((await t.api.get(WHOAMI, laptop.access_token)).status, 200)
    const batch = await t.api.post('/_matrix/client/v3/delete_devices', { devices: [laptop.device_id, phone.device_id], auth: passwordAuth(user, first.body.session) }, user.access_token)
    assert.equal(batch.status, 403, JSON.stringify(batch.body))
    // The session still authorises what it was started for.
    const right = await t.api.delete(`${DEVICES}/${phone.device_id}`, { auth: passwordAuth(user, first.body.session) }, user.access_token)
    assert.equal(right.status, 200, JSON.stringify(right.body))
  })

  it('can delete the device making the request', async () => {
    const user = await registerUser(t.api)
    const res = await deleteDevice(user, user.access_token, user.device_id)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal((await t.api.get(WHOAMI, user.access_token)).status, 401)
  })

  it('answers 200 for a device that does not exist (deletion is idempotent, as the spec says)', async () => {
    const user = await registerUser(t.api)
    const res = await deleteDevice(user, user.access_token, 'NEVEREXISTED')
    assert.equal(res.status, 200, JSON.stringify(res.body))
  })

  it('cannot delete another user\'s device, even one with the same device ID', async () => {
    const user = await registerUser(t.api, { deviceId: 'SHAREDID' })
    const other = await registerUser(t.api, { deviceId: 'SHAREDID' })
    const mine = await loginDevice(user)
    const res = await deleteDevice(user, mine.access_token, 'SHAREDID')
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal((await t.api.get(WHOAMI, user.access_token)).status, 401)
    const theirs = await t.api.get(WHOAMI, other.access_token)
    assert.equal(theirs.status, 200)
    assert.equal(theirs.body.device_id, 'SHAREDID')
  })
})

describe('POST /delete_devices', () => {
  it('answers without auth with 401 and the m.login.password flow, keeping the devices', async () => {
    const user = await registerUser(t.api)
    const phone = await loginDevice(user)
    const res = await t.api.post('/_matrix/client/v3/delete_devices', { devices: [phone.device_id] }, user.access_token)
    assert.equal(res.status, 401)
    assert.deepEqual(res.body.flows, [{ stages: ['m.login.password'] }])
    assert.equal((await t.api.get(WHOAMI, phone.access_token)).status, 200)
  })

  it('deletes the listed devices after UIA and keeps the others', async () => {
    const user = await registerUser(t.api)
    const phone = await loginDevice(user)
    const laptop = await loginDevice(user)
    const tablet = await loginDevice(user)
    const body = { devices: [phone.device_id, laptop.device_id, 'NEVEREXISTED'] }
    const first = await t.api.post('/_matrix/client/v3/delete_devices', body, user.access_token)
    assert.equal(first.status, 401)
    const res = await t.api.post('/_matrix/client/v3/delete_devices', { ...body, auth: passwordAuth(user, first.body.session) }, user.access_token)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    for (const gone of [phone, laptop]) assert.equal((await t.api.get(WHOAMI, gone.access_token)).status, 401)
    assert.equal((await t.api.get(WHOAMI, tablet.access_token)).status, 200)
    const remaining = (await listDevices(user.access_token)).map((d) => d.device_id).sort()
    assert.deepEqual(remaining, [user.device_id, tablet.device_id].sort())
  })

  it('does not delete another user\'s devices listed in the request', async () => {
    const user = await registerUser(t.api)
    const other = await registerUser(t.api)
    const first = await t.api.post('/_matrix/client/v3/delete_devices', { devices: [other.device_id] }, user.access_token)
    const res = await t.api.post(
      '/_matrix/client/v3/delete_devices',
      { devices: [other.device_id], auth: passwordAuth(user, first.body.session) },
      user.access_token,
    )
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal((await t.api.get(WHOAMI, other.access_token)).status, 200)
  })

  it('answers a body without devices with 400 M_MISSING_PARAM', async () => {
    const user = await registerUser(t.api)
    const res = await t.api.post('/_matrix/client/v3/delete_devices', {}, user.access_token)
    assert.equal(res.status, 400)
    assert.equal(res.body.errcode, 'M_MISSING_PARAM')
  })
})

describe('GET /admin/whois/{userId}', () => {
  const whois = (token: string, userId: string) => t.api.get(`/_matrix/client/v3/admin/whois/${encodeURIComponent(userId)}`, token)

  it("gives a user their own devices' last connection (ip, last_seen, user_agent), one session each", async () => {
    const user = await registerUser(t.api)
    const phone = await loginDevice(user, { displayName: 'Phone' })
    assert.equal((await t.api.get(WHOAMI, phone.access_token)).status, 200)
    await deviceOnceSeen(user.access_token, phone.device_id)
    const res = await whois(user.access_token, user.user_id)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.user_id, user.user_id)
    assert.deepEqual(Object.keys(res.body.devices).sort(), [user.device_id, phone.device_id].sort())
    const [connection] = res.body.devices[phone.device_id].sessions[0].connections
    assert.equal(connection.ip, '127.0.0.1')
    assert.equal(typeof connection.last_seen, 'number')
    assert.equal(typeof connection.user_agent, 'string')
  })

  it("refuses another user's lookup unless the caller is a server admin, and users of other servers", async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    const refused = await whois(bob.access_token, alice.user_id)
    assert.deepEqual([refused.status, refused.body.errcode], [403, 'M_FORBIDDEN'])
    const admin = await t.server.ctx.accounts.createAccount({ username: `boss${Date.now()}`, password: 'a long enough password', admin: true, login: {} })
    const seen = await whois(admin.access_token as string, alice.user_id)
    assert.equal(seen.status, 200, JSON.stringify(seen.body))
    assert.ok(alice.device_id in seen.body.devices)
    const remote = await whois(admin.access_token as string, '@someone:elsewhere.example')
    assert.deepEqual([remote.status, remote.body.errcode], [400, 'M_INVALID_PARAM'])
  })
})
