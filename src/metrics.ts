// Prometheus metrics, served on their own listener (never on the public port).
import { createServer, type Server } from 'node:http'
import client from 'prom-client'

export interface Metrics {
  registry: client.Registry
  httpDuration: client.Histogram<'method' | 'route' | 'status'>
  /** How room writers found their room: read, or reused from what the instance kept (RoomWriter.open). */
  roomWriteState: client.Counter<'outcome'>
  /** Parts of incremental /syncs answered from this instance's own commits, or read (SyncService, local delivery). */
  syncLocal: client.Counter<'part' | 'outcome'>
}

export function createMetrics(): Metrics {
  const registry = new client.Registry()
  client.collectDefaultMetrics({ register: registry, prefix: 'homestead_' })
  const httpDuration = new client.Histogram({
    name: 'homestead_http_request_duration_seconds',
    help: 'Client-Server API request durations by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30],
    registers: [registry],
  })
  const roomWriteState = new client.Counter({
    name: 'homestead_room_write_state_total',
    help: 'Room writes by how the room was found: read from the database, or reused from the previous send on this instance',
    labelNames: ['outcome'] as const,
    registers: [registry],
  })
  const syncLocal = new client.Counter({
    name: 'homestead_sync_local_total',
    help: '/sync parts (timeline, unread, keys) answered from this instance\'s own commits (local) or read from the database (read)',
    labelNames: ['part', 'outcome'] as const,
    registers: [registry],
  })
  return { registry, httpDuration, roomWriteState, syncLocal }
}

/** Serves GET /metrics from `collect` on host:port. */
export function serveMetrics(host: string, port: number, collect: () => Promise<{ body: string; contentType: string }>): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end()
      return
    }
    collect().then(
      ({ body, contentType }) => res.writeHead(200, { 'Content-Type': contentType }).end(body),
      (err: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String(err.message)),
    )
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve(server))
  })
}
