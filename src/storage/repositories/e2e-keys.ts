import { lockName, type Queryable } from '../db.ts'

export interface DeviceKeysRow {
  user_id: string
  device_id: string
  key_json: string
  display_name: string | null
}

export interface OneTimeKeyInsert {
  algorithm: string
  key_id: string
  key_json: string
}

export interface ClaimTarget {
  user_id: string
  device_id: string
  algorithm: string
}

export interface ClaimedKey extends ClaimTarget {
  key_id: string
  key_json: string
}

export interface CrossSigningKeyRow {
  user_id: string
  key_type: 'master' | 'self_signing' | 'user_signing'
  public_key: string
  key_json: string
}

export interface KeySignature {
  target_user_id: string
  target_key_id: string
  signer_user_id: string
  signer_key_id: string
  signature: string
}

/** Device keys, one-time and fallback keys, cross-signing keys and the signatures over them. */
export class E2eKeysRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async deviceKeys(userId: string, deviceId: string): Promise<string | null> {
    const { rows } = await this.db.query<{ key_json: string }>('SELECT key_json FROM e2e_device_keys WHERE user_id = $1 AND device_id = $2', [userId, deviceId])
    return rows[0]?.key_json ?? null
  }

  /** Stores a device's keys, in place of any it had (the caller compared them). */
  async putDeviceKeys(userId: string, deviceId: string, keyJson: string): Promise<void> {
    await this.db.query(
      'INSERT INTO e2e_device_keys (user_id, device_id, key_json) VALUES ($1, $2, $3) ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = EXCLUDED.key_json',
      [userId, deviceId, keyJson],
    )
  }

  /**
   * The stored keys of the given users' devices (all of a user's devices when `deviceIds` for that user is
   * empty), in one query: pairs (user, device) with device '' meaning every device.
   */
  async queryDeviceKeys(userIds: string[], deviceIds: string[]): Promise<DeviceKeysRow[]> {
    if (userIds.length === 0) return []
    const { rows } = await this.db.query<DeviceKeysRow>(
      `SELECT k.user_id, k.device_id, k.key_json, d.display_name
         FROM unnest($1::text[], $2::text[]) AS q(user_id, device_id)
         JOIN e2e_device_keys k ON k.user_id = q.user_id AND (q.device_id = '' OR k.device_id = q.device_id)
         JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
        ORDER BY k.user_id, k.device_id`,
      [userIds, deviceIds],
    )
    return rows
  }

  /** The stored JSON of the given one-time key IDs of a device (to tell a repeat from a conflict). */
  async existingOneTimeKeys(userId: string, deviceId: string, keys: OneTimeKeyInsert[]): Promise<Map<string, string>> {
    if (keys.length === 0) return new Map()
    const { rows } = await this.db.query<{ algorithm: string; key_id: string; key_json: string }>(
      `SELECT algorithm, key_id, key_json FROM e2e_one_time_keys
        WHERE user_id = $1 AND device_id = $2 AND (algorithm, key_id) IN (SELECT * FROM unnest($3::text[], $4::text[]))`,
      [userId, deviceId, keys.map((k) => k.algorithm), keys.map((k) => k.key_id)],
    )
    return new Map(rows.map((r) => [`${r.algorithm}:${r.key_id}`, r.key_json]))
  }

  async addOneTimeKeys(userId: string, deviceId: string, keys: OneTimeKeyInsert[]): Promise<void> {
    if (keys.length === 0) return
    await this.db.query(
      `INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json, upload)
       SELECT $1, $2, k.*, (SELECT nextval('e2e_one_time_key_uploads')) FROM unnest($3::text[], $4::text[], $5::text[]) AS k
       ON CONFLICT DO NOTHING`,
      [userId, deviceId, keys.map((k) => k.algorithm), keys.map((k) => k.key_id), keys.map((k) => k.key_json)],
    )
  }

  /** Replaces the device's fallback key for each algorithm; an identical key keeps its used flag. */
  async putFallbackKeys(userId: string, deviceId: string, keys: OneTimeKeyInsert[]): Promise<void> {
    if (keys.length === 0) return
    await this.db.query(
      `INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json)
       SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[])
       ON CONFLICT (user_id, device_id, algorithm) DO UPDATE
         SET key_id = EXCLUDED.key_id, key_json = EXCLUDED.key_json, used = false
       WHERE e2e_fallback_keys.key_id <> EXCLUDED.key_id OR e2e_fallback_keys.key_json <> EXCLUDED.key_json`,
      [userId, deviceId, keys.map((k) => k.algorithm), keys.map((k) => k.key_id), keys.map((k) => k.key_json)],
    )
  }

  /** One-time key counts by algorithm and the algorithms with an unused fallback key, in one query. */
  async keyCounts(userId: string, deviceId: string): Promise<{ counts: Record<string, number>; unusedFallback: string[] }> {
    const { rows } = await this.db.query<{ algorithm: string; n: number; fallback: boolean }>(
      `SELECT algorithm, count(*)::int AS n, false AS fallback FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm
       UNION ALL
       SELECT algorithm, 0, true FROM e2e_fallback_keys WHERE user_id = $1 AND device_id = $2 AND NOT used`,
      [userId, deviceId],
    )
    const counts: Record<string, number> = {}
    const unusedFallback: string[] = []
    for (const r of rows) {
      if (r.fallback) unusedFallback.push(r.algorithm)
      else counts[r.algorithm] = r.n
    }
    return { counts, unusedFallback: unusedFallback.sort() }
  }

  /**
   * Claims one one-time key per target, the earliest uploaded first (migration 0021), atomically: each key
   * is deleted as it is handed out, and rows a
   * concurrent claim holds are skipped, so two claims never receive the same key. Targets left without
   * a one-time key get the device's fallback key (marked used, not deleted).
   */
  async claim(targets: ClaimTarget[]): Promise<ClaimedKey[]> {
    if (targets.length === 0) return []
    const { rows } = await this.db.query<ClaimedKey & { fallback: boolean }>(
      `WITH wanted AS (
         SELECT DISTINCT * FROM unnest($1::text[], $2::text[], $3::text[]) AS w(user_id, device_id, algorithm)
       ), picked AS (
         SELECT k.user_id, k.device_id, k.algorithm, k.key_id
           FROM wanted w
           CROSS JOIN LATERAL (
             SELECT o.user_id, o.device_id, o.algorithm, o.key_id FROM e2e_one_time_keys o
              WHERE o.user_id = w.user_id AND o.device_id = w.device_id AND o.algorithm = w.algorithm
              ORDER BY o.upload, o.key_id LIMIT 1 FOR UPDATE SKIP LOCKED
           ) k
       ), claimed AS (
         DELETE FROM e2e_one_time_keys o USING picked p
          WHERE o.user_id = p.user_id AND o.device_id = p.device_id AND o.algorithm = p.algorithm AND o.key_id = p.key_id
         RETURNING o.user_id, o.device_id, o.algorithm, o.key_id, o.key_json
       ), fell_back AS (
         UPDATE e2e_fallback_keys f SET used = true
           FROM wanted w
          WHERE f.user_id = w.user_id AND f.device_id = w.device_id AND f.algorithm = w.algorithm
            AND NOT EXISTS (SELECT 1 FROM picked p WHERE p.user_id = w.user_id AND p.device_id = w.device_id AND p.algorithm = w.algorithm)
         RETURNING f.user_id, f.device_id, f.algorithm, f.key_id, f.key_json
       )
       SELECT *, false AS fallback FROM claimed UNION ALL SELECT *, true FROM fell_back`,
      [targets.map((t) => t.user_id), targets.map((t) => t.device_id), targets.map((t) => t.algorithm)],
    )
    return rows
  }

  /**
   * Holds, until the transaction ends, the lock under which a user's cross-signing upload is decided
   * (exclusive) and under which that user's own key queries read (shared): a query that reaches the
   * database after an upload began waits for what the upload records.
   */
  async lockCrossSigning(userId: string, mode: 'exclusive' | 'shared'): Promise<void> {
    await lockName(this.db, 'cross_signing', userId, mode)
  }

  async crossSigningKeys(userIds: string[]): Promise<CrossSigningKeyRow[]> {
    if (userIds.length === 0) return []
    const { rows } = await this.db.query<CrossSigningKeyRow>(
      'SELECT user_id, key_type, public_key, key_json FROM e2e_cross_signing_keys WHERE user_id = ANY($1::text[])',
      [userIds],
    )
    return rows
  }

  async putCrossSigningKey(userId: string, keyType: CrossSigningKeyRow['key_type'], publicKey: string, keyJson: string): Promise<void> {
    await this.db.query(
      `INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json) VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id, key_type) DO UPDATE SET public_key = EXCLUDED.public_key, key_json = EXCLUDED.key_json`,
      [userId, keyType, publicKey, keyJson],
    )
  }

  async addSignatures(signatures: KeySignature[]): Promise<void> {
    if (signatures.length === 0) return
    await this.db.query(
      `INSERT INTO e2e_key_signatures (target_user_id, target_key_id, signer_user_id, signer_key_id, signature)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
       ON CONFLICT (target_user_id, target_key_id, signer_user_id, signer_key_id) DO UPDATE SET signature = EXCLUDED.signature`,
      [
        signatures.map((s) => s.target_user_id),
        signatures.map((s) => s.target_key_id),
        signatures.map((s) => s.signer_user_id),
        signatures.map((s) => s.signer_key_id),
        signatures.map((s) => s.signature),
      ],
    )
  }

  /** Signatures over the given users' keys that `viewer` may see: the owners' own, and the viewer's (if a user). */
  async signaturesFor(targetUserIds: string[], viewer: string | null): Promise<KeySignature[]> {
    if (targetUserIds.length === 0) return []
    const { rows } = await this.db.query<KeySignature>(
      `SELECT target_user_id, target_key_id, signer_user_id, signer_key_id, signature FROM e2e_key_signatures
        WHERE target_user_id = ANY($1::text[]) AND (signer_user_id = target_user_id OR signer_user_id = $2::text)`,
      [targetUserIds, viewer],
    )
    return rows
  }

  /** Drops signatures made over, or by, a user's replaced cross-signing keys. */
  async deleteSignaturesInvolving(userId: string, keyIds: string[]): Promise<void> {
    if (keyIds.length === 0) return
    await this.db.query(
      `DELETE FROM e2e_key_signatures
        WHERE (target_user_id = $1 AND target_key_id = ANY($2::text[]))
           OR (signer_user_id = $1 AND signer_key_id = ANY(SELECT 'ed25519:' || k FROM unnest($2::text[]) k))`,
      [userId, keyIds],
    )
  }

  /** Everything a deactivated account had published. */
  async deleteAllForUser(userId: string): Promise<void> {
    await this.db.query(
      `WITH a AS (DELETE FROM e2e_cross_signing_keys WHERE user_id = $1),
            b AS (DELETE FROM e2e_key_signatures WHERE target_user_id = $1 OR signer_user_id = $1)
       SELECT 1`,
      [userId],
    )
  }
}
