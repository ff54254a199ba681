// CORS as the client-server API requires for browser clients (spec: "Web Browser Clients").
import type { FastifyInstance } from 'fastify'

export const CORS_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE, OPTIONS',
  'Access-Control-Allow-Headers': 'X-Requested-With, Content-Type, Authorization',
}

export function installCors(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    void reply.headers(CORS_HEADERS)
    if (request.method === 'OPTIONS') return reply.code(204).send()
  })
}
