// Room directory and room administration: aliases, the published room directory, room upgrades, the space
// hierarchy, content reports, room tags, ignored users and the rooms two users share.
import type { Rooms } from '../rooms/rooms.ts'
import type { Clock } from '../shared/clock.ts'
import type { Storage } from '../storage/index.ts'
import type { FederationClient } from '../federation/client.ts'
import { Aliases } from './aliases.ts'
import { SpaceHierarchy } from './hierarchy.ts'
import { MutualRooms } from './mutual-rooms.ts'
import { PublishedRooms } from './published.ts'
import { Reports } from './reports.ts'
import { RoomTags } from './tags.ts'
import { RoomUpgrades } from './upgrade.ts'
import type { RoomSuccession } from './succession.ts'

export { summaryHook, refreshRoomSummaries } from './summaries.ts'
export { RoomSuccession } from './succession.ts'
export { ignoredUsers, invitesBlocked, validateIgnoredUserList, withoutIgnored, withoutIgnoredInvites, IGNORED_USER_LIST } from './ignored.ts'
export type { Aliases, PublishedRooms, RoomUpgrades, SpaceHierarchy, Reports, RoomTags, MutualRooms }

export class Directory {
  readonly aliases: Aliases
  readonly published: PublishedRooms
  readonly upgrades: RoomUpgrades
  readonly hierarchy: SpaceHierarchy
  readonly reports: Reports
  readonly tags: RoomTags
  readonly mutualRooms: MutualRooms

  constructor(deps: {
    storage: Storage
    rooms: Rooms
    clock: Clock
    serverName: string
    limits: { publicRooms: number; hierarchy: number }
    federation?: FederationClient
    succession: RoomSuccession
  }) {
    this.aliases = new Aliases(deps)
    this.published = new PublishedRooms({ ...deps, maxLimit: deps.limits.publicRooms })
    this.upgrades = new RoomUpgrades(deps)
    this.hierarchy = new SpaceHierarchy({ ...deps, maxLimit: deps.limits.hierarchy })
    this.reports = new Reports(deps)
    this.tags = new RoomTags(deps)
    this.mutualRooms = new MutualRooms(deps)
  }
}
