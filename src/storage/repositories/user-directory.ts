import type { Queryable } from '../db.ts'

export interface DirectoryUser {
  user_id: string
  display_name: string | null
  avatar_url: string | null
}

/** Owns `user_directory_rooms` (migration 0006); searches `profiles` through its directory_vector column. */
export class UserDirectoryRepository {
  private readonly db: Queryable
  constructor(db: Queryable) {
    this.db = db
  }

  async setJoinRule(roomId: string, joinRule: string | null): Promise<void> {
    await this.db.query(
      `INSERT INTO user_directory_rooms (room_id, join_rule) VALUES ($1, $2)
       ON CONFLICT (room_id) DO UPDATE SET join_rule = EXCLUDED.join_rule`,
      [roomId, joinRule],
    )
  }

  async setHistoryVisibility(roomId: string, visibility: string | null): Promise<void> {
    await this.db.query(
      `INSERT INTO user_directory_rooms (room_id, history_visibility) VALUES ($1, $2)
       ON CONFLICT (room_id) DO UPDATE SET history_visibility = EXCLUDED.history_visibility`,
      [roomId, visibility],
    )
  }

  /**
   * Local users (not deactivated) whose user ID or display name has every lexeme as a word prefix, and who
   * share a joined room with `userId` or are joined to a public or world-readable room. The text index
   * narrows the candidates first; the room conditions are checked per candidate through the membership
   * indexes. Users sharing a room with the searcher rank first (as in Synapse), then text rank, then those
   * with a display name and avatar.
   */
  async search(userId: string, lexemes: string[], limit: number): Promise<DirectoryUser[]> {
    if (lexemes.length === 0) return []
    const { rows } = await this.db.query<DirectoryUser>(
      `SELECT user_id, display_name, avatar_url FROM (
         SELECT p.user_id,
                CASE WHEN jsonb_typeof(p.fields -> 'displayname') = 'string' THEN p.fields ->> 'displayname' END AS display_name,
                CASE WHEN jsonb_typeof(p.fields -> 'avatar_url') = 'string' AND p.fields ->> 'avatar_url' <> '' THEN p.fields ->> 'avatar_url' END AS avatar_url,
                ts_rank(p.directory_vector, prefix_tsquery($2::text[])) AS rank,
                (p.user_id <> $1 AND EXISTS (
                   SELECT 1 FROM room_memberships mine JOIN room_memberships theirs ON theirs.room_id = mine.room_id
                    WHERE mine.user_id = $1 AND mine.membership = 'join' AND theirs.user_id = p.user_id AND theirs.membership = 'join'
                )) AS shares_room
           FROM profiles p JOIN users u ON u.user_id = p.user_id
          WHERE p.directory_vector @@ prefix_tsquery($2::text[]) AND NOT u.deactivated
       ) c
       WHERE shares_room OR EXISTS (
         SELECT 1 FROM room_memberships m JOIN user_directory_rooms r ON r.room_id = m.room_id AND r.is_public
          WHERE m.user_id = c.user_id AND m.membership = 'join'
       )
       ORDER BY shares_room DESC, rank DESC, display_name IS NULL, avatar_url IS NULL, user_id
       LIMIT $3`,
      [userId, lexemes, limit],
    )
    return rows
  }
}
