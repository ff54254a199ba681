// The server's ed25519 signing keys: created on first start, stored in PostgreSQL so every instance
// signs with the same key, and published at /_matrix/key/v2/server.
import { randomBytes } from 'node:crypto'
import { signJson, signingKeyFromSeed, type SigningKey } from '../protocol/signing.ts'
import type { Clock } from '../shared/clock.ts'
import { randomString } from '../shared/random.ts'
import type { Storage } from '../storage/index.ts'

/** How long others may cache our keys (Synapse's default key_refresh_interval). */
const VALIDITY_MS = 24 * 60 * 60 * 1000

export interface ServerKeyResponse {
  server_name: string
  valid_until_ts: number
  verify_keys: Record<string, { key: string }>
  old_verify_keys: Record<string, { key: string; expired_ts: number }>
  signatures: Record<string, Record<string, string>>
}

export class ServerKeys {
  readonly serverName: string
  private readonly clock: Clock
  private current: SigningKey | null = null
  private old: Array<{ keyId: string; key: string; expiredTs: number }> = []

  constructor(serverName: string, clock: Clock) {
    this.serverName = serverName
    this.clock = clock
  }

  /** Loads the stored keys, creating the first one if none exists (safe when instances start together). */
  async load(storage: Storage): Promise<void> {
    let rows = await storage.repos.serverKeys.all()
    if (!rows.some((r) => r.expired_ts === null)) {
      await storage.transaction((repos) =>
        repos.serverKeys.insertIfNoCurrent({ key_id: `ed25519:a_${randomString(4)}`, seed: randomBytes(32), created_ts: this.clock.now() }),
      )
      rows = await storage.repos.serverKeys.all()
    }
    const currentRow = rows.filter((r) => r.expired_ts === null).at(-1)
    if (!currentRow) throw new Error('no current server signing key')
    this.current = signingKeyFromSeed(currentRow.key_id, currentRow.seed)
    this.old = rows
      .filter((r) => r.expired_ts !== null)
      .map((r) => ({ keyId: r.key_id, key: signingKeyFromSeed(r.key_id, r.seed).publicKeyBase64, expiredTs: r.expired_ts as number }))
  }

  get signingKey(): SigningKey {
    if (!this.current) throw new Error('server keys are not loaded')
    return this.current
  }

  /** Signs a JSON object as this server. */
  sign<T extends Record<string, unknown>>(object: T): T {
    return signJson(object, this.serverName, this.signingKey)
  }

  /** The self-signed key document served at GET /_matrix/key/v2/server. */
  keyResponse(): ServerKeyResponse {
    const key = this.signingKey
    const unsigned = {
      server_name: this.serverName,
      valid_until_ts: this.clock.now() + VALIDITY_MS,
      verify_keys: { [key.keyId]: { key: key.publicKeyBase64 } },
      old_verify_keys: Object.fromEntries(this.old.map((o) => [o.keyId, { key: o.key, expired_ts: o.expiredTs }])),
    }
    return this.sign(unsigned) as ServerKeyResponse
  }
}
