// Renders the JSON of `npm run bench` / `npm run bench:compare` / `npm run bench:federation` as the Markdown tables of docs/benchmarks.md.
//   node bench/report.ts result.json
import { readFileSync } from 'node:fs'

const file = process.argv[2]
if (!file) {
  process.stderr.write('usage: node bench/report.ts result.json\n')
  process.exit(2)
}
const d = JSON.parse(readFileSync(file, 'utf8'))
const out: string[] = []
const row = (cells: unknown[]) => out.push(`| ${cells.join(' | ')} |`)
const ms = (n: number | undefined | null) => (n === undefined || n === null ? '–' : `${n.toFixed(n < 10 ? 1 : 0)} ms`)
const x = (n: number) => `${n.toFixed(n >= 10 ? 0 : 1)}×`

/** `npm run bench:federation`'s document (bench/federation.ts). */
function federation(): void {
  const versions = [...new Set(Object.values(d.servers).map((s: any) => s.version))].join(', ')
  out.push(`Run ${d.timestamp}, ${d.cpu.count} × ${d.cpu.model}, ${d.platform}, Node ${d.node}; ${versions}; load average ` +
    `${d.load_average_1m.start} → ${d.load_average_1m.end}; ${Math.round(d.total_duration_ms / 60000)} min.`, '')
  row(['target (Homestead ÷ Synapse)', 'Homestead', 'Synapse', 'ratio', 'target', 'met?'])
  row(['---', '---:', '---:', '---:', '---', '---'])
  for (const t of d.targets) row([t.metric, ms(t.homestead), ms(t.synapse), t.ratio, t.target, t.met ? 'yes' : '**no**'])
  out.push('')
  row(['delivery to a long-poll on the other server', 'p50', 'p95', 'p99', 'min / max', "the sender's own request, p50"])
  row(['---', '---:', '---:', '---:', '---:', '---:'])
  for (const [pair, r] of Object.entries(d.delivery) as Array<[string, any]>) {
    row([`${pair} (${r.from} → ${r.to}, ${r.samples})`, ms(r.p50_ms), ms(r.p95_ms), ms(r.p99_ms), `${ms(r.min_ms)} / ${ms(r.max_ms)}`, ms(r.send_p50_ms)])
  }
  out.push('')
  row(['joining a small remote room (host → joiner)', 'p50', 'min / max', 'joins'])
  row(['---', '---:', '---:', '---:'])
  for (const [pair, r] of Object.entries(d.join_small) as Array<[string, any]>) row([`${pair} (${r.host} → ${r.joiner})`, ms(r.p50_ms), `${ms(r.min_ms)} / ${ms(r.max_ms)}`, r.joins])
  out.push('')
  if (d.join_big) {
    const mem = (m: any) => (m ? `${m.rss_mb} MB (peak ${m.peak_rss_mb})` : '–')
    const b = d.join_big
    const first = b.homestead ?? b.synapse
    row([`joining a room of ${first.members} members, ${first.events} events`, 'Homestead', 'Synapse'])
    row(['---', '---:', '---:'])
    const both = (label: string, f: (r: any) => string) => row([label, f(b.homestead), f(b.synapse)])
    both('POST /join', (r) => ms(r.join_ms))
    both('until the joining server lists every member', (r) => ms(r.complete_ms))
    both('CPU until then: joining server / resident server', (r) => `${r.cpu_ms_until_complete.joiner} / ${r.cpu_ms_until_complete.host} ms`)
    both('joining server RSS before → after', (r) => `${mem(r.memory.before.joiner)} → ${mem(r.memory.after_complete.joiner)}`)
    both('resident server RSS before → after', (r) => `${mem(r.memory.before.host)} → ${mem(r.memory.after_complete.host)}`)
    both('building the room: members / messages', (r) => `${Math.round(r.setup_ms.members / 1000)} s / ${Math.round(r.setup_ms.messages / 1000)} s${r.built_by_an_earlier_run ? ' (an earlier run)' : ''}`)
    out.push('')
  }
}

if (d.benchmark === 'homestead-federation') {
  federation()
  process.stdout.write(`${out.join('\n')}\n`)
  process.exit(0)
}

out.push(`Run ${d.timestamp}, ${d.cpu.count} × ${d.cpu.model}, ${d.platform}, Node ${d.node}, ` +
  `Homestead on PostgreSQL ${d.database.postgres_version} (${d.database.kind}); load average ${d.load_average_1m?.start} → ${d.load_average_1m?.end}.`, '')

if (d.compare) {
  const syn = d.compare.synapse
  out.push(`Synapse: ${syn.info.version}, room version ${syn.rooms.room_version}; Homestead room version ${d.rooms.room_version}.`, '')
  row(['metric', 'Homestead', 'Synapse', 'Homestead ÷ Synapse', 'target', 'met?', 'Homestead / PG ceiling', 'Synapse / PG ceiling'])
  row(['---', '---:', '---:', '---:', '---', '---', '---:', '---:'])
  for (const t of d.compare.targets) {
    const fmt = (v: number) => (t.unit === 'ms' ? ms(v) : `${v} ${t.unit}`)
    row([t.metric, fmt(t.homestead), fmt(t.synapse), t.ratio, t.target, t.met ? 'yes' : '**no**', `${(t.homestead_fraction_of_pg * 100).toFixed(1)} %`, `${(t.synapse_fraction_of_pg * 100).toFixed(1)} %`])
  }
  out.push('')
  row(['pgbench, one-row INSERT per transaction', '1 client', '20 clients'])
  row(['---', '---:', '---:'])
  for (const [name, results] of Object.entries(d.compare.pgbench) as Array<[string, Array<{ clients: number; inserts_per_s: number }>]>) {
    const at = (c: number) => `${results.find((r) => r.clients === c)?.inserts_per_s ?? '–'}/s`
    row([name.replace('_', ' '), at(1), at(20)])
  }
  out.push('')
  row(['detail', 'Homestead', 'Synapse'])
  row(['---', '---:', '---:'])
  const a = d.rooms
  const b = syn.rooms
  const both = (label: string, f: (r: any) => string) => row([label, f(a), f(b)])
  both('createRoom p50 / p99', (r) => `${ms(r.create_room.p50_ms)} / ${ms(r.create_room.p99_ms)}`)
  both('sequential send p50 / p99', (r) => `${ms(r.send_sequential.p50_ms)} / ${ms(r.send_sequential.p99_ms)}`)
  both('delivery p50 / p99 (send p50 meanwhile)', (r) => `${ms(r.delivery.p50_ms)} / ${ms(r.delivery.p99_ms)} (${ms(r.delivery.send_p50_ms)})`)
  both('20 senders: events/s (latency p50 / p99)', (r) => `${r.send_concurrent.events_per_s} (${ms(r.send_concurrent.loaded_p50_ms)} / ${ms(r.send_concurrent.loaded_p99_ms)})`)
  both('CPU per event: server / PostgreSQL / load generator', (r) =>
    [r.send_concurrent.server_cpu_ms_per_event, r.send_concurrent.postgres_cpu_ms_per_event, r.send_concurrent.client_cpu_ms_per_event].map((v) => (v === null ? '–' : `${v}`)).join(' / ') + ' ms')
  both('initial /sync p50 / p99, full state', (r) => `${ms(r.initial_sync.full.p50_ms)} / ${ms(r.initial_sync.full.p99_ms)} (${r.initial_sync.full.response_kb} KB)`)
  both('initial /sync p50 / p99, lazy members', (r) => `${ms(r.initial_sync.lazy_load_members.p50_ms)} / ${ms(r.initial_sync.lazy_load_members.p99_ms)} (${r.initial_sync.lazy_load_members.response_kb} KB)`)
  out.push('')
} else if (d.rooms) {
  const r = d.rooms
  row(['metric (Homestead)', 'p50', 'p99'])
  row(['---', '---:', '---:'])
  row(['createRoom', ms(r.create_room.p50_ms), ms(r.create_room.p99_ms)])
  row(['sequential send', ms(r.send_sequential.p50_ms), ms(r.send_sequential.p99_ms)])
  row(['delivery to a long-poll', ms(r.delivery.p50_ms), ms(r.delivery.p99_ms)])
  row(['initial /sync, full state', ms(r.initial_sync.full.p50_ms), ms(r.initial_sync.full.p99_ms)])
  row(['initial /sync, lazy members', ms(r.initial_sync.lazy_load_members.p50_ms), ms(r.initial_sync.lazy_load_members.p99_ms)])
  out.push('', `20 concurrent senders: ${r.send_concurrent.events_per_s} events/s.`, '')
}

if (d.scale) {
  const s = d.scale
  const base = s.baseline
  const vs = (v: number, b: number) => `${ms(v)} (${x(v / b)})`
  row(['p50 (× baseline)', 'baseline: 1 room, 2 members', `user in ${s.many_rooms.rooms} rooms`, `room of ${s.big_room.members} members`])
  row(['---', '---:', '---:', '---:'])
  row(['send', ms(base.send.p50_ms), vs(s.many_rooms.send.p50_ms, base.send.p50_ms), vs(s.big_room.send.p50_ms, base.send.p50_ms)])
  row(['delivery to a long-poll', ms(base.delivery.p50_ms), vs(s.many_rooms.delivery.p50_ms, base.delivery.p50_ms), vs(s.big_room.delivery.p50_ms, base.delivery.p50_ms)])
  row(['incremental /sync after 1 message', ms(base.incremental_sync.p50_ms), vs(s.many_rooms.incremental_sync.p50_ms, base.incremental_sync.p50_ms), vs(s.big_room.incremental_sync.p50_ms, base.incremental_sync.p50_ms)])
  // Older result files have no reads.
  const readNames: Record<string, string> = {
    state_event: 'GET one state event (power levels)',
    member_event: "GET the sender's member event",
    event: 'GET /event',
    context_lazy: 'GET /context, lazy members',
    receipt: 'POST a read receipt',
  }
  for (const [key, label] of Object.entries(readNames)) {
    if (base.reads?.[key] === undefined) continue
    row([label, ms(base.reads[key]), vs(s.many_rooms.reads[key], base.reads[key]), vs(s.big_room.reads[key], base.reads[key])])
  }
  const init = (c: any, v: 'full' | 'lazy_load_members') => (c.initial_sync ? `${ms(c.initial_sync[v].p50_ms)} (${c.initial_sync[v].response_kb} KB)` : '–')
  row(['initial /sync, full state', '–', init(s.many_rooms, 'full'), init(s.big_room, 'full')])
  row(['initial /sync, lazy members', '–', init(s.many_rooms, 'lazy_load_members'), init(s.big_room, 'lazy_load_members')])
  out.push('', `Set-up: ${Math.round(s.many_rooms.setup_ms / 1000)} s for the rooms, ${Math.round(s.big_room.setup_ms / 1000)} s for the members.`)
}
process.stdout.write(`${out.join('\n')}\n`)
