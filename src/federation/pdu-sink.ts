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
 * The /send answer for an ingested PDU. Accepted, duplicate, soft-failed and rejected events are answered
 * without an error: each was handled (a soft-failed event is stored, only not made current; a rejected
 * one is stored as rejected, as the spec has it), and the sender has nothing to retry. Only an event whose
 * missing events could not be had is answered with the reason.
 */
export function ingestAnswer(result: IngestResult): { error?: string } {
  switch (result.outcome) {
    case 'accepted':
    case 'duplicate':
    case 'soft-failed':
    case 'rejected':
      return {}
    case 'missing':
      return { error: result.reason ?? `missing events: ${(result.missing ?? []).slice(0, 10).join(', ')}` }
  }
}
