// Repairs events stored before Homestead refused lone UTF-16 surrogates in client JSON (shared/client-json.ts).
// JSON.stringify writes such a string as the escape "\ud800", which the events.json text column holds;
// PostgreSQL refuses it wherever that text is cast to jsonb, so one such event failed /sync, /messages,
// /event, /context, pushes and kicks for everyone in its room. events.json is the only client JSON kept as
// text and cast to jsonb: the jsonb columns (account data, profiles, filters, push rules, key backup) never
// accepted the escape, and the text columns of device keys and to-device messages are only parsed in
// JavaScript, which reads the escape, so a read of them cannot fail.
//
// The repair is the room version's redaction of the event, as stored. An event is referred to by its ID,
// the hash of its redacted form, and signed over that form: redaction keeps the ID and the signatures
// valid, and leaves what the auth rules and state resolution read (membership, join rules, power levels),
// so the room's state stays as it was; only the content hash no longer matches, which is what every
// redacted event looks like, and what any other server would have made of the event (a PDU whose content
// hash fails is redacted on receipt). Replacing the surrogates with U+FFFD instead would keep more text,
// but serve content that matches neither its hash nor what it said. The event has no redaction event, so it
// is served with pruned content and no redacted_because, and its full-text search row goes, as a
// redaction's does.
//
// Where the surrogate is in what redaction keeps (a key in power levels' `events`, v11+ create content),
// the redacted form cannot be stored either: the event keeps its content with each lone surrogate replaced
// by U+FFFD. Its reference hash then no longer matches its ID, but that event could never be encoded in
// canonical JSON (which is UTF-8), so no server could ever have checked it; it stays so that the room's DAG
// and state stay whole.
//
// Cheap on a big table: one pass with a regular expression over the JSON text selects the rows holding a
// \uD800–\uDFFF escape (rare: JSON.stringify writes every well-formed character unescaped); only those are
// parsed, through a cursor, a batch at a time.
import { redact } from '../../protocol/events/redaction.ts'
import type { JsonObject } from '../../protocol/events/types.ts'
import { roomVersion } from '../../protocol/room-versions.ts'
import { wellFormedJson } from '../../shared/client-json.ts'
import type { MigrationClient } from '../migrate.ts'

const BATCH = 500

export async function up(client: MigrationClient): Promise<void> {
  await client.query(String.raw`DECLARE lone_surrogate_candidates NO SCROLL CURSOR FOR
    SELECT e.room_id, e.event_id, e.json, r.room_version
      FROM events e LEFT JOIN rooms r ON r.room_id = e.room_id
     WHERE e.json ~* '\\ud[89a-f][0-9a-f]{2}'`)
  for (;;) {
    const { rows } = await client.query<{ room_id: string; event_id: string; json: string; room_version: string | null }>(
      `FETCH ${BATCH} FROM lone_surrogate_candidates`,
    )
    if (rows.length === 0) break
    const fixed = { roomIds: [] as string[], eventIds: [] as string[], json: [] as string[], redacted: [] as boolean[] }
    for (const row of rows) {
      const stored = JSON.parse(row.json) as JsonObject
      // A surrogate pair, escaped, is a well-formed character: nothing to repair.
      if (wellFormedJson(stored)) continue
      const version = row.room_version === null ? undefined : roomVersion(row.room_version)
      const redacted = version ? redact(stored, version) : null
      const keepRedacted = redacted !== null && wellFormedJson(redacted)
      fixed.roomIds.push(row.room_id)
      fixed.eventIds.push(row.event_id)
      fixed.json.push(JSON.stringify(keepRedacted ? redacted : toWellFormed(stored)))
      fixed.redacted.push(keepRedacted)
    }
    if (fixed.eventIds.length === 0) continue
    await client.query(
      `UPDATE events e SET json = u.json
         FROM unnest($1::text[], $2::text[], $3::text[]) AS u(room_id, event_id, json)
        WHERE e.room_id = u.room_id AND e.event_id = u.event_id`,
      [fixed.roomIds, fixed.eventIds, fixed.json],
    )
    await client.query(
      `DELETE FROM event_search s USING unnest($1::text[], $2::text[], $3::boolean[]) AS u(room_id, event_id, redacted)
        WHERE u.redacted AND s.room_id = u.room_id AND s.event_id = u.event_id`,
      [fixed.roomIds, fixed.eventIds, fixed.redacted],
    )
  }
  await client.query('CLOSE lone_surrogate_candidates')
}

/** The value with every lone surrogate, in strings and keys, replaced by U+FFFD. */
function toWellFormed(value: unknown): unknown {
  if (typeof value === 'string') return value.toWellFormed()
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return value.map(toWellFormed)
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key.toWellFormed(), toWellFormed(item)]))
}
