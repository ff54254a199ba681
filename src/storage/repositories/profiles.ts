import type { Queryable } from '../db.ts'

export type ProfileFields = Record<string, unknown>

export class ProfilesRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async get(userId: string): Promise<ProfileFields | null> {
    const { rows } = await this.db.query<{ fields: ProfileFields }>('SELECT fields FROM profiles WHERE user_id = $1', [userId])
    return rows[0]?.fields ?? null
  }

  /** The profiles of several users at once (users without one are left out). */
  async getMany(userIds: string[]): Promise<Map<string, ProfileFields>> {
    if (userIds.length === 0) return new Map()
    const { rows } = await this.db.query<{ user_id: string; fields: ProfileFields }>('SELECT user_id, fields FROM profiles WHERE user_id = ANY($1::text[])', [userIds])
    return new Map(rows.map((r) => [r.user_id, r.fields]))
  }

  async create(userId: string, fields: ProfileFields): Promise<void> {
    await this.db.query('INSERT INTO profiles (user_id, fields) VALUES ($1, $2) ON CONFLICT DO NOTHING', [userId, fields])
  }

  /** Sets one field; returns the resulting profile size in bytes so callers can enforce the 64 KiB limit in the same transaction. */
  async setField(userId: string, key: string, value: unknown): Promise<number> {
    const { rows } = await this.db.query<{ size: number }>(
      `INSERT INTO profiles (user_id, fields) VALUES ($1, jsonb_build_object($2::text, $3::jsonb))
       ON CONFLICT (user_id) DO UPDATE SET fields = profiles.fields || jsonb_build_object($2::text, $3::jsonb)
       RETURNING octet_length(fields::text) AS size`,
      [userId, key, JSON.stringify(value)],
    )
    return (rows[0] as { size: number }).size
  }

  async deleteField(userId: string, key: string): Promise<void> {
    await this.db.query('UPDATE profiles SET fields = fields - $2::text WHERE user_id = $1', [userId, key])
  }

  async clear(userId: string): Promise<void> {
    await this.db.query(`UPDATE profiles SET fields = '{}'::jsonb WHERE user_id = $1`, [userId])
  }
}
