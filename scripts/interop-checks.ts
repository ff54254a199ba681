// Interop checks between two federating homeservers, run by scripts/test-synapse.sh after the anchor's smoke test,
// once with each side hosting. Side A hosts the rooms, side B joins them; either may be Homestead or Synapse.
// Client API only (plain fetch), each check independent of the others' outcome:
//   - joins of rooms of versions 10, 11 and 12 (explicit room_version);
//   - in each of them, messages, edits (m.replace) and redactions sent by each side, seen as such by the other;
//   - history backfilled: 60 messages sent before B joins, all paged back by B's /messages to m.room.create;
//   - E2EE at the server level: device keys and one-time keys uploaded on each side, queried and claimed by the
//     other, a to-device message each way, a new device of each side's user in the other's device_lists.changed;
//   - a restricted room (version 10) allowing the members of a space: B's user in the space joins, B's users
//     outside it are refused, before and after B's server is in the room.
// Environment (X = A or B): FED_X_URL (client API), FED_X_SERVER_NAME, FED_X_SECRET (registration through the
// shared-secret admin API; without it open registration with m.login.dummy); INTEROP_JSON (results file),
// INTEROP_TIMEOUT_MS (each wait, default 30 s), INTEROP_HISTORY (messages sent before the join, default 60).
import { createHmac, randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { encodeBase64 } from '../src/protocol/base64.ts'
import { signJson, signingKeyFromSeed, verifyJsonSignature, type SigningKey } from '../src/protocol/signing.ts'

type Json = Record<string, any>

interface Side {
  label: string
  url: string
  serverName: string
  secret: string | undefined
}

function side(label: string, prefix: string): Side {
  const url = process.env[`${prefix}_URL`]
  const serverName = process.env[`${prefix}_SERVER_NAME`]
  if (!url || !serverName) throw new Error(`${prefix}_URL and ${prefix}_SERVER_NAME are required (scripts/test-synapse.sh sets them)`)
  return { label, url: url.replace(/\/$/, ''), serverName, secret: process.env[`${prefix}_SECRET`] || undefined }
}

const A = side('A', 'FED_A')
const B = side('B', 'FED_B')
const TIMEOUT = Number(process.env.INTEROP_TIMEOUT_MS || 30_000)
const HISTORY = Number(process.env.INTEROP_HISTORY || 60)
const RUN = `${Date.now() % 1_000_000_000}`
const PASSWORD = `interop-${randomBytes(6).toString('hex')}`
const CS = '/_matrix/client/v3'

class CheckFailure extends Error {}
function fail(message: string): never {
  throw new CheckFailure(message)
}
function expect(condition: unknown, message: string): asserts condition {
  if (!condition) fail(message)
}

interface Answer {
  status: number
  body: Json
}

async function request(base: string, method: string, path: string, token?: string, body?: unknown): Promise<Answer> {
  const res = await fetch(base + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(TIMEOUT + 15_000),
  })
  const text = await res.text()
  let parsed: Json = {}
  try {
    parsed = text ? JSON.parse(text) : {}
  } catch {
    parsed = { raw: text.slice(0, 200) }
  }
  return { status: res.status, body: parsed }
}

const q = encodeURIComponent
let txnCounter = 0
const txn = () => `interop-${RUN}-${++txnCounter}`

class User {
  readonly side: Side
  readonly userId: string
  readonly deviceId: string
  readonly token: string

  constructor(side: Side, login: Json) {
    this.side = side
    this.userId = login.user_id
    this.deviceId = login.device_id
    this.token = login.access_token
  }

  call(method: string, path: string, body?: unknown): Promise<Answer> {
    return request(this.side.url, method, path.startsWith('/_matrix') ? path : CS + path, this.token, body)
  }

  /** The answer's body, or a failure naming the request when the status is not `ok`. */
  async ok(method: string, path: string, body?: unknown, ok = 200): Promise<Json> {
    const res = await this.call(method, path, body)
    if (res.status !== ok) fail(`${this.side.label} ${method} ${path.split('?')[0]}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`)
    return res.body
  }

  async send(roomId: string, content: Json, type = 'm.room.message'): Promise<string> {
    return (await this.ok('PUT', `/rooms/${q(roomId)}/send/${q(type)}/${txn()}`, content)).event_id
  }

  async join(roomIdOrAlias: string, via: string): Promise<Answer> {
    return this.call('POST', `/join/${q(roomIdOrAlias)}?server_name=${q(via)}&via=${q(via)}`, {})
  }

  async syncToken(): Promise<string> {
    // A filter that keeps the answer small; a fresh one per call (a server may cache identical /sync requests).
    const filter = JSON.stringify({ room: { timeline: { limit: 1 } }, presence: { types: [] }, account_data: { types: [] }, event_fields: [`n${txn()}`] })
    return (await this.ok('GET', `/sync?timeout=0&filter=${q(filter)}`)).next_batch
  }

  /** Long-polls /sync from `since` until `found` picks something out of an answer (or the time is up). */
  async syncUntil<T>(since: string, what: string, found: (sync: Json) => T | undefined): Promise<T> {
    const deadline = Date.now() + TIMEOUT
    let token = since
    const filter = JSON.stringify({ presence: { types: [] } })
    while (Date.now() < deadline) {
      const wait = Math.max(0, Math.min(10_000, deadline - Date.now()))
      const sync = await this.ok('GET', `/sync?since=${q(token)}&timeout=${wait}&filter=${q(filter)}`)
      const hit = found(sync)
      if (hit !== undefined) return hit
      token = sync.next_batch
    }
    fail(`${this.side.label} ${this.userId}: ${what} not seen in /sync within ${TIMEOUT} ms`)
  }
}

async function register(side: Side, localpart: string): Promise<User> {
  if (side.secret) {
    const { body: nonce } = await request(side.url, 'GET', '/_synapse/admin/v1/register')
    const mac = createHmac('sha1', side.secret).update([nonce.nonce, localpart, PASSWORD, 'notadmin'].join('\0')).digest('hex')
    const res = await request(side.url, 'POST', '/_synapse/admin/v1/register', undefined, { nonce: nonce.nonce, username: localpart, password: PASSWORD, admin: false, mac })
    if (res.status !== 200) fail(`${side.label} shared-secret registration: ${res.status} ${JSON.stringify(res.body)}`)
    return new User(side, res.body)
  }
  const body: Json = { username: localpart, password: PASSWORD, initial_device_display_name: 'interop' }
  let res = await request(side.url, 'POST', `${CS}/register`, undefined, body)
  if (res.status === 401) res = await request(side.url, 'POST', `${CS}/register`, undefined, { ...body, auth: { type: 'm.login.dummy', session: res.body.session } })
  if (res.status !== 200) fail(`${side.label} registration: ${res.status} ${JSON.stringify(res.body)}`)
  return new User(side, res.body)
}

async function loginAgain(user: User): Promise<User> {
  const res = await request(user.side.url, 'POST', `${CS}/login`, undefined, {
    type: 'm.login.password',
    identifier: { type: 'm.id.user', user: user.userId },
    password: PASSWORD,
  })
  if (res.status !== 200) fail(`${user.side.label} login: ${res.status} ${JSON.stringify(res.body)}`)
  return new User(user.side, res.body)
}

/** Polls `probe` until it returns something (or the time is up). */
async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + TIMEOUT
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) fail(`${what}: not within ${TIMEOUT} ms`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

async function waitJoined(viewer: User, roomId: string, userId: string): Promise<void> {
  await until(`${viewer.side.label} sees ${userId} joined ${roomId}`, async () => {
    const res = await viewer.call('GET', `/rooms/${q(roomId)}/joined_members`)
    return res.status === 200 && res.body.joined?.[userId] ? true : undefined
  })
}

/** The event as `viewer` gets it once it has arrived, or when `ready` holds of it. */
async function eventAt(viewer: User, roomId: string, eventId: string, ready: (event: Json) => boolean = () => true): Promise<Json> {
  let last: Answer | undefined
  try {
    return await until(`${viewer.side.label} gets ${eventId}`, async () => {
      last = await viewer.call('GET', `/rooms/${q(roomId)}/event/${q(eventId)}`)
      return last.status === 200 && ready(last.body) ? last.body : undefined
    })
  } catch (err) {
    if (err instanceof CheckFailure && last) fail(`${err.message} (last answer ${last.status} ${JSON.stringify(last.body).slice(0, 400)})`)
    throw err
  }
}

// ---- end-to-end encryption material: a device's identity keys, signed as a client signs them ----

class Device {
  readonly user: User
  readonly signing: SigningKey
  readonly curve25519 = encodeBase64(randomBytes(32))
  private counter = 0

  constructor(user: User) {
    this.user = user
    this.signing = signingKeyFromSeed(`ed25519:${user.deviceId}`, randomBytes(32))
  }

  deviceKeys(): Json {
    const { userId, deviceId } = this.user
    return signJson(
      {
        user_id: userId,
        device_id: deviceId,
        algorithms: ['m.olm.v1.curve25519-aes-sha2', 'm.megolm.v1.aes-sha2'],
        keys: { [`curve25519:${deviceId}`]: this.curve25519, [`ed25519:${deviceId}`]: this.signing.publicKeyBase64 },
      },
      userId,
      this.signing,
    )
  }

  oneTimeKeys(n: number): Json {
    const keys: Json = {}
    for (let i = 0; i < n; i++) keys[`signed_curve25519:AAAA${RUN}${++this.counter}`] = signJson({ key: encodeBase64(randomBytes(32)) }, this.user.userId, this.signing)
    return keys
  }

  /** Whether `object` carries this device's valid signature. */
  signed(object: Json): boolean {
    return verifyJsonSignature(object, this.user.userId, this.signing.keyId, this.signing.publicKey)
  }

  async upload(otks: number): Promise<void> {
    const res = await this.user.ok('POST', '/keys/upload', { device_keys: this.deviceKeys(), one_time_keys: this.oneTimeKeys(otks) })
    expect(res.one_time_key_counts?.signed_curve25519 >= otks, `${this.user.side.label} /keys/upload counted ${JSON.stringify(res.one_time_key_counts)}`)
  }
}

// ---- the checks ----

interface Outcome {
  name: string
  ok: boolean
  ms: number
  detail?: string
}
const outcomes: Outcome[] = []

async function check(name: string, body: () => Promise<string | void>): Promise<boolean> {
  const start = performance.now()
  try {
    const detail = await body()
    const ms = Math.round(performance.now() - start)
    outcomes.push({ name, ok: true, ms, ...(detail ? { detail } : {}) })
    console.log(`PASS ${name} (${ms} ms)${detail ? `: ${detail}` : ''}`)
    return true
  } catch (err) {
    const ms = Math.round(performance.now() - start)
    const detail = err instanceof CheckFailure ? err.message : String((err as Error)?.stack ?? err)
    outcomes.push({ name, ok: false, ms, detail })
    console.log(`FAIL ${name} (${ms} ms): ${detail}`)
    return false
  }
}

const host = await register(A, `ihost${RUN}`)
const guest = await register(B, `iguest${RUN}`)
const outsider = await register(B, `iout${RUN}`)
console.log(`A = ${A.serverName} (${host.userId}) hosts; B = ${B.serverName} (${guest.userId}, ${outsider.userId}) joins`)

/** A room created by the host (public unless `create` says otherwise) and joined by the guest; fails otherwise. */
async function hostedRoom(create: Json): Promise<string> {
  const { room_id: roomId } = await host.ok('POST', '/createRoom', { preset: 'public_chat', ...create })
  const joined = await guest.join(roomId, A.serverName)
  if (joined.status !== 200) fail(`B join ${roomId}: ${joined.status} ${JSON.stringify(joined.body)}`)
  await waitJoined(host, roomId, guest.userId)
  await waitJoined(guest, roomId, guest.userId)
  return roomId
}

// 1. Joins, per room version.
const rooms = new Map<string, string>()
for (const version of ['10', '11', '12']) {
  await check(`join: B joins A's room of version ${version}`, async () => {
    const roomId = await hostedRoom({ room_version: version, name: `interop v${version} ${RUN}` })
    const create = await guest.ok('GET', `/rooms/${q(roomId)}/state/m.room.create/`)
    expect(String(create.room_version) === version, `B's m.room.create says version ${create.room_version}`)
    rooms.set(version, roomId)
    return roomId
  })
}

// 2. Messages, edits and redactions both ways, in each room.
for (const [version, roomId] of rooms) {
  for (const [from, to] of [
    [host, guest],
    [guest, host],
  ] as const) {
    const way = `${from.side.label}→${to.side.label}`
    await check(`v${version} ${way}: message, edit, redaction`, async () => {
      const original = await from.send(roomId, { msgtype: 'm.text', body: `original ${way} ${RUN}` })
      const seen = await eventAt(to, roomId, original)
      expect(seen.content?.body === `original ${way} ${RUN}`, `the message arrived as ${JSON.stringify(seen.content)}`)
      const edit = await from.send(roomId, {
        msgtype: 'm.text',
        body: `* edited ${way}`,
        'm.new_content': { msgtype: 'm.text', body: `edited ${way}` },
        'm.relates_to': { rel_type: 'm.replace', event_id: original },
      })
      const editSeen = await eventAt(to, roomId, edit)
      expect(editSeen.content?.['m.new_content']?.body === `edited ${way}`, `the edit arrived as ${JSON.stringify(editSeen.content)}`)
      // The original, read on the other side, carries the edit as its replacement; /relations lists it.
      await eventAt(to, roomId, original, (e) => e.unsigned?.['m.relations']?.['m.replace']?.event_id === edit)
      const relations = await to.ok('GET', `/_matrix/client/v1/rooms/${q(roomId)}/relations/${q(original)}/m.replace`)
      expect(
        relations.chunk?.some((e: Json) => e.event_id === edit),
        `${to.side.label}'s /relations of the original lacks the edit: ${JSON.stringify(relations).slice(0, 300)}`,
      )
      const doomed = await from.send(roomId, { msgtype: 'm.text', body: `to be redacted ${way}` })
      await eventAt(to, roomId, doomed)
      const { event_id: redaction } = await from.ok('PUT', `/rooms/${q(roomId)}/redact/${q(doomed)}/${txn()}`, { reason: 'interop' })
      const redacted = await eventAt(to, roomId, doomed, (e) => Object.keys(e.content ?? {}).length === 0)
      const because = redacted.unsigned?.redacted_because
      expect(because?.event_id === redaction, `redacted_because is ${JSON.stringify(because)}, not ${redaction}`)
    })
  }
}

// 3. History sent before the join, paged back by the joiner (its server backfills it from the host).
await check(`backfill: B pages ${HISTORY} messages sent before its join back to m.room.create`, async () => {
  const { room_id: roomId } = await host.ok('POST', '/createRoom', { preset: 'public_chat', name: `interop history ${RUN}` })
  for (let i = 0; i < HISTORY; i++) await host.send(roomId, { msgtype: 'm.text', body: `history ${i}` })
  const joined = await guest.join(roomId, A.serverName)
  expect(joined.status === 200, `B join: ${joined.status} ${JSON.stringify(joined.body)}`)
  const events: Json[] = []
  let from: string | undefined
  let pages = 0
  for (; pages < 60; pages++) {
    const page: Json = await guest.ok('GET', `/rooms/${q(roomId)}/messages?dir=b&limit=20${from ? `&from=${q(from)}` : ''}`)
    events.push(...(page.chunk ?? []))
    if (!page.end || (page.chunk ?? []).length === 0 || events.some((e) => e.type === 'm.room.create')) break
    from = page.end
  }
  const bodies = events
    .filter((e) => e.type === 'm.room.message')
    .map((e) => e.content?.body)
    .reverse()
  const expected = Array.from({ length: HISTORY }, (_, i) => `history ${i}`)
  const got = bodies.filter((b) => typeof b === 'string' && b.startsWith('history '))
  expect(JSON.stringify(got) === JSON.stringify(expected), `B paged ${got.length} of ${HISTORY} messages (first ${got.slice(0, 3)}, last ${got.slice(-3)}; in order: ${isSorted(got)})`)
  expect(events.at(-1)?.type === 'm.room.create', `the oldest event paged is ${events.at(-1)?.type}, not m.room.create`)
  return `${events.length} events in ${pages + 1} pages of 20`
})

function isSorted(bodies: string[]): boolean {
  const n = bodies.map((b) => Number(b.split(' ')[1]))
  return n.every((x, i) => i === 0 || x > (n[i - 1] as number))
}

// 4. End-to-end encryption at the server level, in an encrypted room both users share.
const hostDevice = new Device(host)
const guestDevice = new Device(guest)
const e2eeReady = await check('e2ee: encrypted room joined, device keys and one-time keys uploaded on both sides', async () => {
  const roomId = await hostedRoom({
    name: `interop e2ee ${RUN}`,
    initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
  })
  await hostDevice.upload(5)
  await guestDevice.upload(5)
  return roomId
})
if (e2eeReady) {
  for (const [asker, device] of [
    [host, guestDevice],
    [guest, hostDevice],
  ] as const) {
    const way = `${asker.side.label} asks ${device.user.side.label}`
    await check(`e2ee ${way}: /keys/query returns the signed device keys`, async () => {
      const res = await asker.ok('POST', '/keys/query', { device_keys: { [device.user.userId]: [] } })
      const keys = res.device_keys?.[device.user.userId]?.[device.user.deviceId]
      expect(keys, `no device keys for ${device.user.userId}: ${JSON.stringify(res).slice(0, 300)}`)
      expect(keys.keys?.[`curve25519:${device.user.deviceId}`] === device.curve25519, 'the curve25519 key differs')
      expect(device.signed(keys), "the device keys don't carry the device's valid signature")
    })
    await check(`e2ee ${way}: /keys/claim returns a signed one-time key`, async () => {
      const res = await asker.ok('POST', '/keys/claim', { one_time_keys: { [device.user.userId]: { [device.user.deviceId]: 'signed_curve25519' } } })
      const claimed = res.one_time_keys?.[device.user.userId]?.[device.user.deviceId] ?? {}
      const [keyId, key] = Object.entries(claimed)[0] ?? []
      expect(keyId?.startsWith('signed_curve25519:'), `no key claimed: ${JSON.stringify(res).slice(0, 300)}`)
      expect(device.signed(key as Json), 'the one-time key lacks a valid device signature')
    })
  }
  for (const [from, to] of [
    [host, guest],
    [guest, host],
  ] as const) {
    const way = `${from.side.label}→${to.side.label}`
    await check(`e2ee ${way}: a to-device message arrives in /sync to_device`, async () => {
      const since = await to.syncToken()
      const nonce = `${way} ${randomBytes(4).toString('hex')}`
      await from.ok('PUT', `/sendToDevice/m.interop.ping/${txn()}`, { messages: { [to.userId]: { [to.deviceId]: { nonce } } } })
      await to.syncUntil(since, 'the to-device message', (sync) =>
        sync.to_device?.events?.find((e: Json) => e.type === 'm.interop.ping' && e.sender === from.userId && e.content?.nonce === nonce),
      )
    })
    await check(`e2ee ${way}: a new device shows in device_lists.changed and /keys/query`, async () => {
      const since = await to.syncToken()
      const second = new Device(await loginAgain(from))
      await second.upload(1)
      await to.syncUntil(since, `${from.userId} in device_lists.changed`, (sync) => (sync.device_lists?.changed?.includes(from.userId) ? true : undefined))
      await until(`${to.side.label}'s /keys/query lists the new device`, async () => {
        const res = await to.ok('POST', '/keys/query', { device_keys: { [from.userId]: [] } })
        return res.device_keys?.[from.userId]?.[second.user.deviceId] ? true : undefined
      })
    })
  }
}

// 5. A restricted room whose join rule allows the members of a space.
await check('restricted: B joins a v10 room restricted to a space once in the space; users outside it get 403', async () => {
  const { room_id: space } = await host.ok('POST', '/createRoom', { preset: 'public_chat', name: `interop space ${RUN}`, creation_content: { type: 'm.space' } })
  const { room_id: roomId } = await host.ok('POST', '/createRoom', {
    preset: 'private_chat',
    room_version: '10',
    name: `interop restricted ${RUN}`,
    initial_state: [{ type: 'm.room.join_rules', state_key: '', content: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: space }] } }],
  })
  await host.ok('PUT', `/rooms/${q(space)}/state/m.space.child/${q(roomId)}`, { via: [A.serverName] })
  const early = await outsider.join(roomId, A.serverName)
  expect(early.status === 403, `B's user outside the space (B not in the room) got ${early.status} ${JSON.stringify(early.body)}, not 403`)
  const inSpace = await guest.join(space, A.serverName)
  expect(inSpace.status === 200, `B join of the space: ${inSpace.status} ${JSON.stringify(inSpace.body)}`)
  await waitJoined(host, space, guest.userId)
  const joined = await guest.join(roomId, A.serverName)
  expect(joined.status === 200, `B join of the restricted room: ${joined.status} ${JSON.stringify(joined.body)}`)
  await waitJoined(host, roomId, guest.userId)
  const member = await host.ok('GET', `/rooms/${q(roomId)}/state/m.room.member/${q(guest.userId)}`)
  expect(typeof member.join_authorised_via_users_server === 'string', `the join names no authorising user: ${JSON.stringify(member)}`)
  const late = await outsider.join(roomId, A.serverName)
  expect(late.status === 403, `B's user outside the space (B in the room) got ${late.status} ${JSON.stringify(late.body)}, not 403`)
  const state = await host.call('GET', `/rooms/${q(roomId)}/state/m.room.member/${q(outsider.userId)}`)
  expect(state.status !== 200 || state.body.membership !== 'join', 'A lists the refused user as joined')
})

const failed = outcomes.filter((o) => !o.ok)
console.log(`${outcomes.length - failed.length} of ${outcomes.length} checks passed`)
if (process.env.INTEROP_JSON) writeFileSync(process.env.INTEROP_JSON, JSON.stringify({ host: A.serverName, joiner: B.serverName, run: RUN, outcomes }, null, 2))
process.exit(failed.length === 0 ? 0 : 1)
