// Where a received PDU goes once it passed checkIncomingPdu (format, signatures, hashes): the room's DAG,
// through the ingest that authorizes it against its auth events, the state before it and the current state
// (steps 4–6 of "Checks performed on receipt of a PDU"). The /send transaction answers what it returns.
import type { RoomEvent } from '../protocol/events/index.ts'
import type { RoomVersion } from '../protocol/room-versions.ts'
import type { IngestResult } from '../rooms/ingest.ts'

export interface PduSink {
  /** Takes one checked event of a room of `version` sent by `origin`; `error` is the /send answer's for it. */
  receive(origin: string, event: RoomEvent, version: RoomVersion): Promise<{ error?: string }>
}

/**
 * The /send answer for an ingested PDU. Accepted, duplicate and soft-failed events are answered without an
 * error (a soft-failed event is stored, only not made current, as the spec has it; the sender has nothing
 * to retry); rejected ones and those whose missing events could not be had, with the reason.
 */
export function ingestAnswer(result: IngestResult): { error?: string } {
  switch (result.outcome) {
    case 'accepted':
    case 'duplicate':
    case 'soft-failed':
      return {}
    case 'rejected':
      return { error: result.reason ?? 'rejected by the authorization rules' }
    case 'missing':
      return { error: result.reason ?? `missing events: ${(result.missing ?? []).slice(0, 10).join(', ')}` }
  }
}
