// Guest access (client-server API, "Guest Access", server behaviour): when a room's m.room.guest_access
// stops being can_join, whether the change was sent here or arrived over federation, this server's guests
// joined to the room leave it (each one's own leave event, as Synapse writes it).
import type { AppendedEvent } from './writer.ts'
import type { Logger } from '../shared/logger.ts'
import type { Repositories, Storage } from '../storage/index.ts'
import { actingAs, type Rooms } from './rooms.ts'
import { currentStateValue } from './visibility.ts'

export class GuestEviction {
  private readonly storage: Storage
  private readonly rooms: Rooms
  private readonly logger: Logger

  constructor(options: { storage: Storage; rooms: Rooms; logger: Logger }) {
    this.storage = options.storage
    this.rooms = options.rooms
    this.logger = options.logger
  }

  /** The append hook: a guest_access change that may shut guests out is acted on once it committed. */
  readonly hook = async (repos: Repositories, { event, replaced }: AppendedEvent): Promise<void> => {
    if (event.type !== 'm.room.guest_access' || event.state_key !== '' || event.content.guest_access === 'can_join') return
    // Nothing to do when guests were already kept out before it (when what it replaced is unknown, the room is checked).
    if (replaced !== undefined && replaced.content.guest_access !== 'can_join') return
    repos.stream.onCommitted.push(() => {
      this.evict(event.room_id).catch((err: unknown) => this.logger.warn({ err, roomId: event.room_id }, 'guests could not be removed from the room'))
    })
  }

  /** Makes the room's local guests leave unless its current m.room.guest_access is can_join. */
  async evict(roomId: string): Promise<void> {
    const repos = this.storage.repos
    if ((await currentStateValue(repos, roomId, 'm.room.guest_access', 'guest_access')) === 'can_join') return
    for (const guest of await repos.memberships.joinedGuests(roomId)) {
      await this.rooms.leave({ ...actingAs(guest), isGuest: true }, roomId)
    }
  }
}
