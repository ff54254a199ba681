// GET /health: for load balancers; 200 when this instance can reach the database, 503 otherwise.
import { defineRoute } from './route.ts'

export const health = defineRoute({
  method: 'GET',
  url: '/health',
  auth: 'none',
  async handler(ctx, { reply }) {
    const ok = await ctx.storage.db.healthy()
    return reply.code(ok ? 200 : 503).type('text/plain').send(ok ? 'OK' : 'database unavailable')
  },
})
