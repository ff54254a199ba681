import type { Queryable } from '../db.ts'

export interface ThreepidBinding {
  medium: string
  address: string
  id_server: string
}

/** Owns threepid_bindings (migration 0048): which identity servers hold which of a user's 3PIDs. */
export class ThreepidBindingsRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async add(userId: string, binding: ThreepidBinding): Promise<void> {
    await this.db.query('INSERT INTO threepid_bindings (user_id, medium, address, id_server) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [
      userId,
      binding.medium,
      binding.address,
      binding.id_server,
    ])
  }

  async remove(userId: string, binding: ThreepidBinding): Promise<void> {
    await this.db.query('DELETE FROM threepid_bindings WHERE user_id = $1 AND medium = $2 AND address = $3 AND id_server = $4', [
      userId,
      binding.medium,
      binding.address,
      binding.id_server,
    ])
  }

  /** The user's bindings, of one 3PID when `medium` and `address` are given. */
  async of(userId: string, threepid?: { medium: string; address: string }): Promise<ThreepidBinding[]> {
    const { rows } = threepid
      ? await this.db.query<ThreepidBinding>('SELECT medium, address, id_server FROM threepid_bindings WHERE user_id = $1 AND medium = $2 AND address = $3 ORDER BY id_server', [
          userId,
          threepid.medium,
          threepid.address,
        ])
      : await this.db.query<ThreepidBinding>('SELECT medium, address, id_server FROM threepid_bindings WHERE user_id = $1 ORDER BY medium, address, id_server', [userId])
    return rows
  }
}
