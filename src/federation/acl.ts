// Server ACLs as the inbound federation applies them: which of some rooms a server may take part in, from
// each room's current m.room.server_acl (compiled once per ACL event and kept a while: ACLs rarely change,
// and a room's current ACL event ID is read every time, so a new one is never missed).
import { compileServerAcl, serverAllowedByAcl, type CompiledServerAcl } from '../protocol/server-acl.ts'
import type { Storage } from '../storage/index.ts'

const COMPILED_KEPT = 256

export class ServerAcls {
  private readonly storage: Storage
  private readonly compiled = new Map<string, CompiledServerAcl>()

  constructor(storage: Storage) {
    this.storage = storage
  }

  /** Of these rooms, those whose ACL denies `server` (one query for all of them). */
  async denied(server: string, roomIds: string[]): Promise<Set<string>> {
    const rows = await this.storage.repos.state.currentEventInRooms(roomIds, 'm.room.server_acl', '')
    const denied = new Set<string>()
    for (const row of rows) {
      if (!serverAllowedByAcl(server, this.compile(row.event_id, row.json))) denied.add(row.room_id)
    }
    return denied
  }

  private compile(eventId: string, json: string): CompiledServerAcl {
    let acl = this.compiled.get(eventId)
    if (!acl) {
      acl = compileServerAcl((JSON.parse(json) as { content?: unknown }).content)
      this.compiled.set(eventId, acl)
      if (this.compiled.size > COMPILED_KEPT) this.compiled.delete(this.compiled.keys().next().value as string)
    }
    return acl
  }
}
