// Room aliases (client-server API, "Room aliases"): this server's #alias:server → room ID mappings.
import type { Rooms } from '../rooms/rooms.ts'
import type { JsonObject } from '../protocol/events/types.ts'
import type { Clock } from '../shared/clock.ts'
import { MatrixError, forbidden, invalidParam, notFound } from '../shared/errors.ts'
import { isRoomId, isValidServerName } from '../shared/ids.ts'
import type { Storage } from '../storage/index.ts'
import type { Requester } from '../users/index.ts'
import { authView, canSendState } from './power.ts'
import { FederationError, type FederationClient } from '../federation/client.ts'

/** At most this many servers of a remote alias's answer are kept (they are tried for a join). */
const MAX_ALIAS_SERVERS = 20
/** An alias's answer is a room ID and a few server names: asked with a short timeout and a small size bound. */
const REMOTE_ALIAS_TIMEOUT_MS = 15_000
const REMOTE_ALIAS_MAX_BYTES = 64 * 1024

/**
 * The server name of a valid room alias (appendices, "Room Aliases"): '#', a localpart of any Unicode
 * except ':' and NUL, ':', a server name; at most 255 bytes. Null for anything else.
 */
export function aliasServer(alias: string): string | null {
  const colon = alias.indexOf(':')
  if (!alias.startsWith('#') || colon < 2 || Buffer.byteLength(alias) > 255 || !alias.isWellFormed()) return null
  if (alias.slice(1, colon).includes('\u0000')) return null
  const server = alias.slice(colon + 1)
  return isValidServerName(server) ? server : null
}

export class Aliases {
  private readonly storage: Storage
  private readonly rooms: Rooms
  private readonly clock: Clock
  private readonly serverName: string

  /** Asks an alias's own server (federation's /query/directory); absent: other servers' aliases are unknown. */
  private readonly federation: FederationClient | null

  constructor(deps: { storage: Storage; rooms: Rooms; clock: Clock; serverName: string; federation?: FederationClient }) {
    this.storage = deps.storage
    this.rooms = deps.rooms
    this.clock = deps.clock
    this.serverName = deps.serverName
    this.federation = deps.federation ?? null
  }

  private local(alias: string): void {
    const server = aliasServer(alias)
    if (server === null) throw invalidParam('Room alias invalid')
    if (server !== this.serverName) throw invalidParam(`Room aliases can only be managed on their own server (${server})`)
  }

  /** PUT /directory/room/{roomAlias}: members of the room (or server admins) may add this server's aliases. */
  async create(requester: Requester, alias: string, roomId: string): Promise<void> {
    this.local(alias)
    if (!isRoomId(roomId)) throw invalidParam('room_id is not a room ID')
    const view = await authView(this.storage.repos, roomId, requester.userId)
    if (!view) throw notFound('Room not found')
    if (view.membership !== 'join' && !requester.isAdmin) throw forbidden('You are not in the room')
    if (!(await this.storage.repos.aliases.insert(alias, roomId, requester.userId, this.clock.now()))) {
      throw new MatrixError('M_ROOM_IN_USE', `Room alias ${alias} already exists`, 409)
    }
  }

  /** GET /directory/room/{roomAlias}: ours from the directory, another server's asked of that server. */
  async resolve(alias: string): Promise<{ room_id: string; servers: string[] }> {
    const server = aliasServer(alias)
    if (server === null) throw invalidParam('Room alias invalid')
    if (server !== this.serverName) return this.resolveRemote(server, alias)
    const roomId = await this.storage.repos.aliases.resolve(alias)
    if (!roomId) throw notFound(`Room alias ${alias} not found`)
    return { room_id: roomId, servers: [this.serverName] }
  }

  /** GET /_matrix/federation/v1/query/directory on the alias's server; its answer checked and bounded. */
  private async resolveRemote(server: string, alias: string): Promise<{ room_id: string; servers: string[] }> {
    if (!this.federation) throw notFound(`Room alias ${alias} not found`)
    let answer: unknown
    try {
      answer = await this.federation.request(server, {
        method: 'GET',
        path: '/_matrix/federation/v1/query/directory',
        query: { room_alias: alias },
        timeoutMs: REMOTE_ALIAS_TIMEOUT_MS,
        maxBytes: REMOTE_ALIAS_MAX_BYTES,
      })
    } catch (err) {
      if (err instanceof FederationError && err.status === 404) throw notFound(`Room alias ${alias} not found`)
      // The remote's own words are not passed on to our client.
      throw new MatrixError('M_UNKNOWN', `Could not ask ${server} about ${alias}`, 502)
    }
    const { room_id: roomId, servers } = (answer ?? {}) as { room_id?: unknown; servers?: unknown }
    if (typeof roomId !== 'string' || !isRoomId(roomId)) throw new MatrixError('M_UNKNOWN', `${server} answered ${alias} without a room ID`, 502)
    const named = Array.isArray(servers) ? servers.filter((s): s is string => typeof s === 'string' && isValidServerName(s)).slice(0, MAX_ALIAS_SERVERS) : []
    return { room_id: roomId, servers: named.includes(server) ? named : [server, ...named] }
  }

  /**
   * DELETE /directory/room/{roomAlias}: by the alias's creator, a server admin, or a member with the power to
   * send m.room.canonical_alias. The alias is then also taken out of the room's m.room.canonical_alias when
   * the requester may change it (the spec's recommendation: the delete succeeds either way).
   */
  async delete(requester: Requester, alias: string): Promise<void> {
    this.local(alias)
    const repos = this.storage.repos
    const mapping = await repos.aliases.get(alias)
    if (!mapping) throw notFound(`Room alias ${alias} not found`)
    const view = await authView(repos, mapping.room_id, requester.userId)
    const joined = view?.membership === 'join'
    const allowed =
      mapping.creator === requester.userId || requester.isAdmin || (view !== null && joined && canSendState(view, requester.userId, 'm.room.canonical_alias'))
    if (!allowed) throw forbidden('You may not delete this alias')
    if (!(await repos.aliases.delete(alias))) throw notFound(`Room alias ${alias} not found`)
    if (view && joined && canSendState(view, requester.userId, 'm.room.canonical_alias')) await this.dropFromCanonical(requester, mapping.room_id, alias)
  }

  private async dropFromCanonical(requester: Requester, roomId: string, alias: string): Promise<void> {
    const [row] = await this.storage.repos.state.currentEvents(roomId, [['m.room.canonical_alias', '']])
    if (!row) return
    const content = ((JSON.parse(row.json) as { content?: JsonObject }).content ?? {}) as JsonObject
    const next: JsonObject = { ...content }
    if (next.alias === alias) delete next.alias
    if (Array.isArray(next.alt_aliases)) next.alt_aliases = next.alt_aliases.filter((a) => a !== alias)
    if (JSON.stringify(next) === JSON.stringify(content)) return
    try {
      await this.rooms.sendState(requester, roomId, 'm.room.canonical_alias', '', next)
    } catch (err) {
      if (!(err instanceof MatrixError && err.errcode === 'M_FORBIDDEN')) throw err
    }
  }

  /** GET /rooms/{roomId}/aliases: for members, anyone when the room is world_readable, and server admins. */
  async forRoom(requester: Requester, roomId: string): Promise<string[]> {
    const repos = this.storage.repos
    if (!requester.isAdmin) {
      const [membership, visibility] = await Promise.all([
        repos.memberships.get(roomId, requester.userId),
        repos.state.currentEvents(roomId, [['m.room.history_visibility', '']]),
      ])
      const content = visibility[0] ? ((JSON.parse(visibility[0].json) as { content?: JsonObject }).content ?? {}) : {}
      if (membership?.membership !== 'join' && content.history_visibility !== 'world_readable') {
        throw forbidden('You are not a member of the room')
      }
    }
    return repos.aliases.forRoom(roomId)
  }
}
