// Signed key material for E2EE tests, made with node:crypto ed25519 the way a client makes it: device
// keys signed by the device, signed one-time keys, and cross-signing keys signed by the master key.
import { randomBytes } from 'node:crypto'
import { encodeBase64 } from '../../src/protocol/base64.ts'
import { signJson, signingKeyFromSeed, type SigningKey } from '../../src/protocol/signing.ts'
import { CS, RoomClient } from './rooms.ts'
import type { Api } from './server.ts'

export type Json = Record<string, any>

export function ed25519Key(keyIdFor: (publicKey: string) => string): SigningKey {
  const probe = signingKeyFromSeed('ed25519:probe', randomBytes(32))
  // The key ID depends on the public key (cross-signing keys) or not (devices): build it twice.
  return { ...probe, keyId: keyIdFor(probe.publicKeyBase64) }
}

/** A client device: identity keys and the signing of its own key objects. */
export class TestDevice {
  readonly userId: string
  readonly deviceId: string
  readonly signing: SigningKey
  readonly curve25519 = encodeBase64(randomBytes(32))
  private otkCounter = 0

  constructor(userId: string, deviceId: string) {
    this.userId = userId
    this.deviceId = deviceId
    this.signing = ed25519Key(() => `ed25519:${deviceId}`)
  }

  get ed25519(): string {
    return this.signing.publicKeyBase64
  }

  deviceKeys(extra: Json = {}): Json {
    return this.sign({
      user_id: this.userId,
      device_id: this.deviceId,
      algorithms: ['m.olm.v1.curve25519-aes-sha2', 'm.megolm.v1.aes-sha2'],
      keys: { [`curve25519:${this.deviceId}`]: this.curve25519, [`ed25519:${this.deviceId}`]: this.ed25519 },
      ...extra,
    })
  }

  /** `n` signed curve25519 one-time keys, keyed "signed_curve25519:<id>". */
  oneTimeKeys(n: number, fallback = false): Json {
    const keys: Json = {}
    for (let i = 0; i < n; i++) {
      const id = `AAAA${++this.otkCounter}`
      keys[`signed_curve25519:${id}`] = this.sign({ key: encodeBase64(randomBytes(32)), ...(fallback ? { fallback: true } : {}) })
    }
    return keys
  }

  sign<T extends Json>(object: T): T {
    return signJson(object, this.userId, this.signing)
  }
}

export interface CrossSigningSet {
  master: SigningKey
  selfSigning: SigningKey
  userSigning: SigningKey
  body: { master_key: Json; self_signing_key: Json; user_signing_key: Json }
}

/** A fresh set of cross-signing keys for a user, signed as the spec requires. */
export function crossSigningKeys(userId: string): CrossSigningSet {
  const master = ed25519Key((pk) => `ed25519:${pk}`)
  const selfSigning = ed25519Key((pk) => `ed25519:${pk}`)
  const userSigning = ed25519Key((pk) => `ed25519:${pk}`)
  const keyObject = (key: SigningKey, usage: string) => ({ user_id: userId, usage: [usage], keys: { [key.keyId]: key.publicKeyBase64 } })
  return {
    master,
    selfSigning,
    userSigning,
    body: {
      master_key: keyObject(master, 'master'),
      self_signing_key: signJson(keyObject(selfSigning, 'self_signing'), userId, master),
      user_signing_key: signJson(keyObject(userSigning, 'user_signing'), userId, master),
    },
  }
}

/** A registered user with one device whose keys are uploaded. */
export async function userWithKeys(api: Api, otks = 0): Promise<{ client: RoomClient; device: TestDevice }> {
  const client = await RoomClient.register(api)
  const device = new TestDevice(client.userId, client.deviceId)
  const res = await client.post('/keys/upload', { device_keys: device.deviceKeys(), one_time_keys: device.oneTimeKeys(otks) })
  if (res.status !== 200) throw new Error(`key upload failed: ${res.status} ${JSON.stringify(res.body)}`)
  return { client, device }
}

/** Logs the user in on another device (a new device ID). */
export async function loginAgain(api: Api, client: RoomClient, password = 'correct horse battery staple'): Promise<RoomClient> {
  const res = await api.post(`${CS}/login`, { type: 'm.login.password', identifier: { type: 'm.id.user', user: client.userId }, password })
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`)
  return new RoomClient(api, res.body)
}
