// Lazy-loaded members (client-server API, "Lazy-loading room members"): a server may leave out of an
// incremental sync the member events it already sent the device, unless the filter sets
// include_redundant_members. This instance remembers, per device, which it sent and in which response.
// It is a cache: a device it does not know (another instance served it, or it was evicted) gets the
// member events again, which is what include_redundant_members asks for anyway.

/** What one /sync request of a device reads and records. */
export interface SentMembers {
  /** The member events (by user) this device holds in a room, from responses it acknowledged. */
  known(roomId: string): Map<string, string> | undefined
  /** Member events (user, event ID) sent in this response; `reset`: the room was sent whole (forget the rest). */
  record(roomId: string, members: Array<[userId: string, eventId: string]>, reset: boolean): void
}

interface Sent {
  eventId: string
  /** The next_batch position of the response that carried it. */
  position: number
}

/**
 * Member events remembered in all (the least recently syncing devices are forgotten first; some tens of MB at
 * most), and per room and device.
 */
const ENTRIES_KEPT = 200_000
const MEMBERS_PER_ROOM = 1_000

export class SentMembersCache {
  private readonly devices = new Map<string, Map<string, Map<string, Sent>>>()
  private entries = 0

  private static sizeOf(rooms: Map<string, Map<string, Sent>>): number {
    let n = 0
    for (const sent of rooms.values()) n += sent.size
    return n
  }

  /**
   * The view of one request: since is the position the device's token says it has, upTo the position of the
   * response. A member event counts as held only once the device syncs from a token at or past the response
   * that carried it, so a response the client never received (a retry from the same token) is not trusted.
   */
  forRequest(userId: string, deviceId: string, since: number | null, upTo: number): SentMembers {
    const key = `${userId}\n${deviceId}`
    const rooms = () => {
      // Most recently used last: the first devices are the ones forgotten.
      const found = this.devices.get(key) ?? new Map<string, Map<string, Sent>>()
      this.devices.delete(key)
      this.devices.set(key, found)
      return found
    }
    return {
      known: (roomId) => {
        if (since === null) return undefined
        const sent = this.devices.get(key)?.get(roomId)
        if (!sent) return undefined
        const out = new Map<string, string>()
        for (const [userId, s] of sent) if (s.position <= since) out.set(userId, s.eventId)
        return out
      },
      record: (roomId, members, reset) => {
        if (members.length === 0 && !reset) return
        const byRoom = rooms()
        let sent = byRoom.get(roomId)
        this.entries -= sent?.size ?? 0
        if (!sent || reset) {
          sent = new Map()
          byRoom.set(roomId, sent)
        }
        for (const [member, eventId] of members) {
          // The same event sent again keeps its first response's position (the client may hold that one).
          const earlier = sent.get(member)
          sent.delete(member)
          sent.set(member, { eventId, position: earlier?.eventId === eventId ? Math.min(earlier.position, upTo) : upTo })
        }
        while (sent.size > MEMBERS_PER_ROOM) sent.delete(sent.keys().next().value as string)
        this.entries += sent.size
        for (const [oldest, old] of this.devices) {
          if (this.entries <= ENTRIES_KEPT || oldest === key) break
          this.entries -= SentMembersCache.sizeOf(old)
          this.devices.delete(oldest)
        }
      },
    }
  }
}
