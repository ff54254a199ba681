// Ignoring users (client-server API, "Ignoring Users"): the m.ignored_user_list account data, and the
// filters that keep an ignored user's events and invites from the ignoring user. State events are kept:
// the room must not look different because its sender is ignored. Also invite blocking ("Invite
// permission", v1.18): m.invite_permission_config with default_action "block" refuses every invite.
import { MatrixError, badJson } from '../shared/errors.ts'
import { isUserId } from '../shared/ids.ts'
import type { Repositories } from '../storage/index.ts'

export const IGNORED_USER_LIST = 'm.ignored_user_list'
export const INVITE_PERMISSION_CONFIG = 'm.invite_permission_config'

/** Whether the user blocks all invites (a missing, invalid or unknown default_action does not). One query. */
export async function invitesBlocked(repos: Repositories, userId: string): Promise<boolean> {
  return (await usersBlockingInvites(repos, [userId])).has(userId)
}

/** Those of the users who block all invites, in one query. */
export async function usersBlockingInvites(repos: Repositories, userIds: string[]): Promise<Set<string>> {
  const configs = await repos.accountData.globalOf(userIds, INVITE_PERMISSION_CONFIG)
  return new Set([...configs].filter(([, content]) => content.default_action === 'block').map(([userId]) => userId))
}

/** M_INVITE_BLOCKED (403) when `userId` blocks invites. */
export async function refuseBlockedInvite(repos: Repositories, userId: string): Promise<void> {
  if (await invitesBlocked(repos, userId)) throw new MatrixError('M_INVITE_BLOCKED', `${userId} does not accept invites`)
}

/**
 * Validates m.ignored_user_list content before it is stored: `ignored_users` must be an object whose keys
 * are user IDs and whose values are objects; ignoring oneself is refused (as Synapse does).
 */
export function validateIgnoredUserList(userId: string, content: Record<string, unknown>): void {
  const ignored = content.ignored_users
  if (typeof ignored !== 'object' || ignored === null || Array.isArray(ignored)) {
    throw badJson('ignored_users must be an object mapping user IDs to objects')
  }
  for (const [user, value] of Object.entries(ignored)) {
    if (!isUserId(user)) throw badJson(`ignored_users: ${user} is not a user ID`)
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badJson(`ignored_users.${user} must be an object`)
  }
  if (Object.hasOwn(ignored, userId)) throw new MatrixError('M_INVALID_PARAM', 'You cannot ignore yourself')
}

/** The users `userId` ignores (empty when the list is missing or unreadable). One query. */
export async function ignoredUsers(repos: Repositories, userId: string): Promise<Set<string>> {
  const content = await repos.accountData.get(userId, '', IGNORED_USER_LIST)
  const ignored = content?.ignored_users
  if (typeof ignored !== 'object' || ignored === null || Array.isArray(ignored)) return new Set()
  return new Set(Object.keys(ignored).filter((u) => u !== userId))
}

/** Drops the non-state events sent by ignored users (for timelines, /messages and /context). */
export function withoutIgnored<T extends { sender: string; state_key: string | null }>(rows: T[], ignored: Set<string>): T[] {
  if (ignored.size === 0) return rows
  return rows.filter((r) => r.state_key !== null || !ignored.has(r.sender))
}

/**
 * Drops invites sent by ignored users (membership rows of the ignoring user: `sender` is the inviter), and
 * every invite while the user blocks invites (they come back if blocking is turned off).
 */
export function withoutIgnoredInvites<T extends { membership: string; sender: string }>(memberships: T[], ignored: Set<string>, blocked = false): T[] {
  if (ignored.size === 0 && !blocked) return memberships
  return memberships.filter((m) => m.membership !== 'invite' || (!blocked && !ignored.has(m.sender)))
}
