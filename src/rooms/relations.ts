// Relations (client-server API, "Forming relationships between events"): bundled aggregations added to
// the events clients receive.
import type { EventRow, Repositories } from '../storage/index.ts'
import type { ClientEvent, Viewer } from './client-events.ts'

/** Adds unsigned["m.relations"] (m.replace, m.thread, m.reference) to the formatted events, in place. */
export async function addBundledAggregations(_repos: Repositories, _rows: EventRow[], _events: ClientEvent[], _viewer: Viewer): Promise<void> {
  // Filled in with the relations work; events are returned without aggregations until then.
}
