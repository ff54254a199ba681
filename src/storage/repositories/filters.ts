import type { Queryable } from '../db.ts'

export class FiltersRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async insert(userId: string, filter: Record<string, unknown>): Promise<string> {
    const { rows } = await this.db.query<{ filter_id: number }>('INSERT INTO user_filters (user_id, filter) VALUES ($1, $2) RETURNING filter_id', [
      userId,
      filter,
    ])
    return String((rows[0] as { filter_id: number }).filter_id)
  }

  async get(userId: string, filterId: string): Promise<Record<string, unknown> | null> {
    if (!/^\d{1,15}$/.test(filterId)) return null
    const { rows } = await this.db.query<{ filter: Record<string, unknown> }>(
      'SELECT filter FROM user_filters WHERE user_id = $1 AND filter_id = $2',
      [userId, Number(filterId)],
    )
    return rows[0]?.filter ?? null
  }
}
