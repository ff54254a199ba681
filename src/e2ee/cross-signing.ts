// Cross-signing (client-server API, "Cross-signing"): POST /keys/device_signing/upload and
// POST /keys/signatures/upload. Every signature is verified before it is stored.
import { verifyKeyFromBase64 } from '../protocol/signing.ts'
import { MatrixError, badJson } from '../shared/errors.ts'
import { parseUserId } from '../shared/ids.ts'
import type { CrossSigningKeyRow, KeySignature, Repositories, Storage } from '../storage/index.ts'
import { UiaChallenge, type Requester, type Uia } from '../users/index.ts'
import { DeviceListUpdates } from './device-list-updates.ts'
import { markDeviceListsChangedFor } from './device-lists.ts'
import { isObject, parseCrossSigningKey, requireSignature, unsignedForm, type CrossSigningKey, type CrossSigningUsage, type Json } from './key-objects.ts'

const FIELDS: Array<[string, CrossSigningUsage]> = [
  ['master_key', 'master'],
  ['self_signing_key', 'self_signing'],
  ['user_signing_key', 'user_signing'],
]

type Failure = { errcode: string; error: string }

const UIA_PURPOSE = 'device_signing_upload'

/** Keys a device uploaded that wait for the password, kept in the UIA session. */
export interface Proposal {
  device_id: string
  /** The master public key they replace: once another upload replaced it, the proposal is void. */
  replacing: string
  keys: Partial<Record<CrossSigningUsage, Json>>
}

export class CrossSigning {
  private readonly storage: Storage
  private readonly uia: Uia
  private readonly deviceListUpdates: DeviceListUpdates

  constructor(options: { storage: Storage; uia: Uia; deviceListUpdates?: DeviceListUpdates }) {
    this.storage = options.storage
    this.uia = options.uia
    this.deviceListUpdates = options.deviceListUpdates ?? new DeviceListUpdates()
  }

  /**
   * POST /keys/device_signing/upload. Re-authentication is needed to replace keys, not to publish the
   * first ones or to repeat an upload that changes nothing (spec v1.11).
   */
  async uploadKeys(requester: Requester, body: Json): Promise<void> {
    const userId = requester.userId
    const provided = new Map<CrossSigningUsage, CrossSigningKey>()
    for (const [field, usage] of FIELDS) {
      if (body[field] !== undefined && body[field] !== null) provided.set(usage, parseCrossSigningKey(body[field], field, userId, usage))
    }
    if (provided.size === 0) throw new MatrixError('M_MISSING_PARAM', 'No cross-signing key was given')
    // Decided under the user's cross-signing lock, and a replacement that asks for the password leaves its
    // proposal in the session it opens, committed with it (see proposedBy). A query of the device's own
    // keys that reaches the database after this upload waits for the lock: it cannot answer the keys in
    // force once the device has made and sent new ones, which would make Rust crypto drop them.
    const flows = await this.uia.reauthFlows(userId)
    const plan = await this.storage.transaction(async (repos) => {
      await repos.e2eKeys.lockCrossSigning(userId, 'exclusive')
      const stored = new Map((await repos.e2eKeys.crossSigningKeys([userId])).map((r) => [r.key_type, r]))
      const plan = planUpload(userId, provided, stored)
      if (plan.replacing === null || (body.auth !== undefined && body.auth !== null)) return { ...plan, challenge: null }
      const proposal = proposalOf(requester, plan.replacing, provided)
      return { ...plan, challenge: await this.uia.open(repos, { purpose: UIA_PURPOSE, userId, flows }, { proposal }) }
    })
    if (plan.challenge) throw plan.challenge
    const { stored, changesSomething, replacing } = plan
    const uiaSession = replacing === null ? null : await this.reauthenticate(requester, body.auth, replacing, provided)
    await this.storage.streamTransaction(async (repos) => {
      const devices = new Set((await repos.devices.list(userId)).map((d) => d.device_id))
      for (const key of provided.values()) if (devices.has(key.publicKey)) throw new MatrixError('M_FORBIDDEN', 'Key ID in use by a device')
      if (!changesSomething) return
      const replaced: string[] = []
      for (const [usage, key] of provided) {
        const old = stored.get(usage)
        if (old && old.public_key !== key.publicKey) replaced.push(old.public_key)
        await repos.e2eKeys.putCrossSigningKey(userId, usage, key.publicKey, JSON.stringify(key.json))
      }
      // Signatures made by or over keys that are gone mean nothing any more.
      await repos.e2eKeys.deleteSignaturesInvolving(userId, replaced)
      // Others see master and self-signing keys; a user-signing key is its owner's alone, so a change of it
      // alone is told to its owner only (as Synapse does), here and over federation.
      const changedPublicly = [...provided].some(([usage, key]) => usage !== 'user_signing' && changed(stored.get(usage), key))
      if (changedPublicly) await this.deviceListUpdates.signingKeys(repos, userId)
      else await markDeviceListsChangedFor(repos, userId, [userId])
      // With the keys it proposed: a query reads the proposal before the keys (E2eKeys.query), so it sees
      // either the proposal over the keys it replaces or the new keys, never the old keys alone.
      if (uiaSession) await this.uia.finish(repos, uiaSession)
    })
  }

  /**
   * The password stage before keys are replaced, for an upload that brought `auth`. Should it answer
   * another 401, the session remembers the keys this device proposed, which its own key queries then show
   * (see `proposedBy`).
   */
  private async reauthenticate(requester: Requester, auth: unknown, replacing: string, provided: Map<CrossSigningUsage, CrossSigningKey>): Promise<string> {
    try {
      const flows = await this.uia.reauthFlows(requester.userId)
      return (await this.uia.authenticate({ purpose: UIA_PURPOSE, userId: requester.userId, flows, auth })).sessionId
    } catch (err) {
      if (!(err instanceof UiaChallenge)) throw err
      await this.uia.remember(err.sessionId, { proposal: proposalOf(requester, replacing, provided) })
      throw err
    }
  }

  /**
   * The newest cross-signing keys this device asked to publish that await the password.
   *
   * A client makes its new keys before it uploads them, and Rust crypto (matrix-sdk-crypto) drops its
   * private keys when a query of its own keys answers other public keys: a query answered while the
   * password is being asked for would undo the reset. The device that proposed the keys therefore sees
   * them in its own queries (E2eKeys.query); everyone else sees the keys in force.
   */
  async proposedBy(requester: Requester, repos?: Repositories): Promise<Proposal | null> {
    for (const data of await this.uia.pending(UIA_PURPOSE, requester.userId, repos)) {
      const proposal = data.proposal as Proposal | undefined
      if (proposal?.device_id === requester.deviceId) return proposal
    }
    return null
  }

  /** POST /keys/signatures/upload: returns the signatures that were refused, by user and key ID. */
  async uploadSignatures(requester: Requester, body: Json): Promise<{ failures: Record<string, Record<string, Failure>> }> {
    const signer = requester.userId
    const failures: Record<string, Record<string, Failure>> = {}
    const fail = (user: string, keyId: string, errcode: string, error: string) => ((failures[user] ??= {})[keyId] = { errcode, error })
    const targets = Object.keys(body)
    for (const user of targets) {
      if (!parseUserId(user)) throw new MatrixError('M_INVALID_PARAM', `'${user}' is not a user ID`)
      if (!isObject(body[user])) throw badJson(`'${user}' must map key IDs to signed keys`)
    }
    const repos = this.storage.repos
    const crossSigning = await repos.e2eKeys.crossSigningKeys([...new Set([signer, ...targets])])
    const keyOf = (user: string, type: CrossSigningKeyRow['key_type']) => crossSigning.find((k) => k.user_id === user && k.key_type === type)
    const ownDevices = new Map((await repos.e2eKeys.queryDeviceKeys([signer], [''])).map((r) => [r.device_id, JSON.parse(r.key_json) as Json]))
    const accepted: KeySignature[] = []

    for (const targetUser of targets) {
      for (const [keyId, signed] of Object.entries(body[targetUser] as Json)) {
        if (!isObject(signed)) {
          fail(targetUser, keyId, 'M_BAD_JSON', 'A signed key must be an object')
          continue
        }
        const master = keyOf(targetUser, 'master')
        let signingKey: { keyId: string; publicKey: string } | null = null
        let storedJson: Json | null = null
        if (targetUser === signer && ownDevices.has(keyId)) {
          // One of the signer's own devices, signed with their self-signing key.
          storedJson = ownDevices.get(keyId) as Json
          const selfSigning = keyOf(signer, 'self_signing')
          if (selfSigning) signingKey = { keyId: `ed25519:${selfSigning.public_key}`, publicKey: selfSigning.public_key }
        } else if (master && master.public_key === keyId) {
          storedJson = JSON.parse(master.key_json) as Json
          if (targetUser === signer) {
            // The signer's own master key, signed by one of their devices: the device key that signed it.
            const sigs = (isObject(signed.signatures) && isObject(signed.signatures[signer]) ? signed.signatures[signer] : {}) as Json
            const deviceKeyId = Object.keys(sigs).find((id) => id.startsWith('ed25519:') && ownDevices.has(id.slice(8)))
            const device = deviceKeyId ? (ownDevices.get(deviceKeyId.slice(8)) as { keys: Record<string, string> }) : undefined
            const publicKey = deviceKeyId && device ? device.keys[deviceKeyId] : undefined
            if (deviceKeyId && publicKey) signingKey = { keyId: deviceKeyId, publicKey }
          } else {
            // Another user's master key, signed with the signer's user-signing key.
            const userSigning = keyOf(signer, 'user_signing')
            if (userSigning) signingKey = { keyId: `ed25519:${userSigning.public_key}`, publicKey: userSigning.public_key }
          }
        } else {
          fail(targetUser, keyId, 'M_NOT_FOUND', 'No such key')
          continue
        }
        if (unsignedForm(storedJson) !== unsignedForm(signed)) {
          fail(targetUser, keyId, 'M_INVALID_PARAM', 'The signed object does not match the stored key')
          continue
        }
        const verifyKey = signingKey ? verifyKeyFromBase64(signingKey.publicKey) : null
        if (!signingKey || !verifyKey) {
          fail(targetUser, keyId, 'M_INVALID_SIGNATURE', 'No key of yours that could make this signature is known')
          continue
        }
        try {
          requireSignature(signed, signer, { keyId: signingKey.keyId, verifyKey }, 'The key')
        } catch (err) {
          fail(targetUser, keyId, 'M_INVALID_SIGNATURE', (err as Error).message)
          continue
        }
        const signature = ((signed.signatures as Record<string, Record<string, string>>)[signer] as Record<string, string>)[signingKey.keyId] as string
        accepted.push({ target_user_id: targetUser, target_key_id: keyId, signer_user_id: signer, signer_key_id: signingKey.keyId, signature })
      }
    }
    if (accepted.length > 0) {
      // Other servers hear of the signer's own devices and master key signed anew (their owner's signatures);
      // signatures over other users' keys are the signer's business, shown to the signer only.
      const own = accepted.filter((s) => s.target_user_id === signer)
      const ownMaster = keyOf(signer, 'master')?.public_key
      const ownDevices = [...new Set(own.map((s) => s.target_key_id).filter((id) => id !== ownMaster))]
      const others = accepted.map((s) => s.target_user_id).filter((u) => u !== signer)
      await this.storage.streamTransaction(async (tx) => {
        await tx.e2eKeys.addSignatures(accepted)
        await markDeviceListsChangedFor(tx, signer, others)
        if (ownDevices.length > 0) await this.deviceListUpdates.devices(tx, signer, ownDevices, false)
        if (own.some((s) => s.target_key_id === ownMaster)) await this.deviceListUpdates.signingKeys(tx, signer)
      })
    }
    return { failures }
  }
}

/**
 * What an upload changes, checked before anyone is asked for a password (so that no one types it for an
 * upload that cannot succeed): `replacing` is the master key in force when the upload changes keys that
 * exist, and so needs the password.
 */
/** Whether an uploaded key differs from the stored one (signatures aside). */
function changed(old: CrossSigningKeyRow | undefined, key: CrossSigningKey): boolean {
  return !old || unsignedForm(JSON.parse(old.key_json) as Json) !== unsignedForm(key.json)
}

function planUpload(userId: string, provided: Map<CrossSigningUsage, CrossSigningKey>, stored: Map<CrossSigningUsage, CrossSigningKeyRow>) {
  const changesSomething = [...provided].some(([usage, key]) => changed(stored.get(usage), key))
  const master = provided.get('master') ?? masterFrom(stored.get('master'))
  if (!master) throw new MatrixError('M_MISSING_PARAM', 'No master key is available to sign the other keys')
  for (const usage of ['self_signing', 'user_signing'] as const) {
    const key = provided.get(usage)
    if (key) requireSignature(key.json, userId, { keyId: `ed25519:${master.publicKey}`, verifyKey: master.verifyKey }, `The ${usage} key`)
  }
  const current = stored.get('master')
  return { stored, changesSomething, replacing: current && changesSomething ? current.public_key : null }
}

function proposalOf(requester: Requester, replacing: string, provided: Map<CrossSigningUsage, CrossSigningKey>): Proposal {
  return { device_id: requester.deviceId, replacing, keys: Object.fromEntries([...provided].map(([usage, key]) => [usage, key.json])) }
}

function masterFrom(row: CrossSigningKeyRow | undefined): CrossSigningKey | null {
  if (!row) return null
  const verifyKey = verifyKeyFromBase64(row.public_key)
  return verifyKey ? { json: JSON.parse(row.key_json) as Json, usage: 'master', publicKey: row.public_key, verifyKey } : null
}
