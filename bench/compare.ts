// BENCH_COMPARE=1 (`npm run bench:compare`): the room benchmarks on the Synapse anchor too, in the same run,
// pgbench ceilings for both PostgreSQL servers, and the ratios against the targets of the issue.
//
//   BENCH_SYNAPSE_URL        the Synapse anchor (default http://127.0.0.1:8008, started with its start.sh)
//   BENCH_SYNAPSE_PG_URL     the anchor's PostgreSQL, for its pgbench ceiling (default postgres://postgres@127.0.0.1:5433/postgres)
//   BENCH_PGBENCH_SECONDS    length of each pgbench run (default 10)
import { envInt, progress } from './lib.ts'
import type { RoomResults } from './rooms.ts'
import { pgbench, type PgbenchResult } from './targets.ts'

export const compareSettings = {
  enabled: process.env.BENCH_COMPARE === '1',
  synapseUrl: process.env.BENCH_SYNAPSE_URL?.trim() || 'http://127.0.0.1:8008',
  synapsePgUrl: process.env.BENCH_SYNAPSE_PG_URL?.trim() || 'postgres://postgres@127.0.0.1:5433/postgres',
  pgbenchSeconds: envInt('BENCH_PGBENCH_SECONDS', 10),
}
/** The PostgreSQL Homestead is compared on: the machine's PostgreSQL 15, like the anchor's. */
export const COMPARE_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test'

interface Metric {
  metric: string
  unit: string
  /** Whether a higher value is better (throughput) or a lower one (latency). */
  higherIsBetter: boolean
  /** Homestead ÷ Synapse must be at least (throughput) or at most (latency) this. */
  target: number
  /** pgbench concurrency whose rate is this metric's ceiling. */
  pgClients: 1 | 20
  pick: (r: RoomResults) => number
}

const METRICS: Metric[] = [
  { metric: 'send_concurrent_events_per_s', unit: 'events/s', higherIsBetter: true, target: 10, pgClients: 20, pick: (r) => r.send_concurrent.events_per_s },
  { metric: 'send_sequential_p50_ms', unit: 'ms', higherIsBetter: false, target: 1 / 5, pgClients: 1, pick: (r) => r.send_sequential.p50_ms },
  { metric: 'delivery_p50_ms', unit: 'ms', higherIsBetter: false, target: 1 / 10, pgClients: 1, pick: (r) => r.delivery.p50_ms },
  { metric: 'initial_sync_p50_ms', unit: 'ms', higherIsBetter: false, target: 1 / 5, pgClients: 1, pick: (r) => r.initial_sync.full.p50_ms },
  { metric: 'initial_sync_lazy_p50_ms', unit: 'ms', higherIsBetter: false, target: 1 / 5, pgClients: 1, pick: (r) => r.initial_sync.lazy_load_members.p50_ms },
  { metric: 'create_room_p50_ms', unit: 'ms', higherIsBetter: false, target: 1 / 5, pgClients: 1, pick: (r) => r.create_room.p50_ms },
]

const r3 = (n: number) => Number(n.toFixed(3))
/** An operation rate: throughputs as they are, latencies as one client's operations per second. */
const rateOf = (m: Metric, value: number) => (m.higherIsBetter ? value : 1000 / value)

export interface Ceilings {
  homestead_postgres: PgbenchResult[]
  synapse_postgres: PgbenchResult[]
}

export function comparisonTable(homestead: RoomResults, synapse: RoomResults, ceilings: Ceilings) {
  const ceiling = (results: PgbenchResult[], clients: number) => results.find((r) => r.clients === clients)?.inserts_per_s ?? Number.NaN
  return METRICS.map((m) => {
    const hs = m.pick(homestead)
    const syn = m.pick(synapse)
    const ratio = hs / syn
    return {
      metric: m.metric,
      unit: m.unit,
      homestead: hs,
      synapse: syn,
      ratio: r3(ratio),
      target: `${m.higherIsBetter ? '>=' : '<='} ${r3(m.target)}`,
      met: m.higherIsBetter ? ratio >= m.target : ratio <= m.target,
      // The share of PostgreSQL's own single-row insert rate at the same concurrency (1 for latencies, as
      // one client waiting for each answer; 20 for the concurrent senders) that each server reaches.
      pgbench_clients: m.pgClients,
      homestead_fraction_of_pg: r3(rateOf(m, hs) / ceiling(ceilings.homestead_postgres, m.pgClients)),
      synapse_fraction_of_pg: r3(rateOf(m, syn) / ceiling(ceilings.synapse_postgres, m.pgClients)),
    }
  })
}

/** pgbench ceilings for both PostgreSQL servers, then the table; both results come from the same run. */
export async function runComparison(homestead: RoomResults, synapse: RoomResults, synapseInfo: Record<string, unknown>, homesteadPgUrl: string) {
  const ceilings: Ceilings = {
    homestead_postgres: await pgbench(homesteadPgUrl, [1, 20], compareSettings.pgbenchSeconds),
    synapse_postgres: await pgbench(compareSettings.synapsePgUrl, [1, 20], compareSettings.pgbenchSeconds),
  }
  const table = comparisonTable(homestead, synapse, ceilings)
  for (const row of table) progress(`compare ${row.metric}: ${row.homestead} vs ${row.synapse} → ${row.ratio} (target ${row.target}) ${row.met ? 'met' : 'MISSED'}`)
  return { synapse: { info: synapseInfo, rooms: synapse }, pgbench: ceilings, targets: table }
}
