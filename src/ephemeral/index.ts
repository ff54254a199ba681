// Ephemeral room data: typing notifications, receipts and read markers (filled in by that work).
import type { JsonObject } from '../protocol/events/types.ts'
import type { Requester } from '../users/index.ts'

export class Ephemeral {
  /** Typing and receipt events for the requester's rooms in the stream range (since, upTo], by room. */
  async forSync(_requester: Requester, _since: number | null, _upTo: number): Promise<Map<string, JsonObject[]>> {
    return new Map()
  }
}
