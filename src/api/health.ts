// Health checks, split the way a load balancer and a supervisor need them:
// - GET /health/live: the process serves HTTP. It never touches the database, so an outage or failover of
//   PostgreSQL does not make a supervisor (the autoscaling group, systemd) replace instances that will
//   recover by themselves once the database is back.
// - GET /health/ready (and /health, its older name): this instance can reach the database, so a balancer
//   may route to it; 503 otherwise.
import { defineRoute } from './route.ts'

export const live = defineRoute({
  method: 'GET',
  url: '/health/live',
  auth: 'none',
  async handler(_ctx, { reply }) {
    return reply.code(200).type('text/plain').send('OK')
  },
})

const readiness = (url: string) =>
  defineRoute({
    method: 'GET',
    url,
    auth: 'none',
    async handler(ctx, { reply }) {
      const ok = await ctx.storage.db.healthy()
      return reply.code(ok ? 200 : 503).type('text/plain').send(ok ? 'OK' : 'database unavailable')
    },
  })

export const ready = readiness('/health/ready')
export const health = readiness('/health')
