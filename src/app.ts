// buildApp(ctx): the Fastify instance with plugins and every route; shared by main.ts and the tests.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify'
import { randomString } from './shared/random.ts'
import { redactUrl } from './shared/logger.ts'
import type { AppContext } from './context.ts'
import { registerRoutes, type RouteTable } from './api/route.ts'
import { CORS_HEADERS, installCors } from './api/plugins/cors.ts'
import { installErrorHandling } from './api/plugins/errors.ts'
import { routes, federationListenerRoutes } from './api/routes.ts'

export interface AppOptions {
  /**
   * Which listener this instance serves: 'client' (listen.port) serves every route, 'federation' (the
   * optional TLS listener, federation.listen) only the server-server, key and media routes.
   */
  listener?: 'client' | 'federation'
  /** TLS certificate and key (PEM): the instance serves HTTPS. */
  https?: { cert: Buffer; key: Buffer }
}

export async function buildApp(ctx: AppContext, options: AppOptions = {}): Promise<FastifyInstance> {
  // Request IDs for the logs: this instance's random prefix and a counter (unique across instances, and no
  // random draw per request).
  const requestIdPrefix = `${randomString(6)}-`
  let requests = 0
  const http = ctx.config.http
  // Fastify's types give an HTTPS instance another server type; the rest of Homestead only needs what both share.
  const app = Fastify({
    ...(options.https ? { https: options.https } : {}),
    loggerInstance: ctx.logger as FastifyBaseLogger,
    // One log line per request is written by the onResponse hook below, with the URL's token redacted.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    bodyLimit: ctx.config.http.max_body_bytes,
    trustProxy: ctx.config.http.trust_proxy,
    genReqId: () => requestIdPrefix + (++requests).toString(36),
    return503OnClosing: true,
    // Slow clients: headers and then the whole request (a body that trickles in) must arrive in bounded
    // time, else 408 and the connection is closed; a connection silent in both directions is closed, and so
    // is one idle between requests. A waiting /sync reads its request at once and sends before the idle
    // timeout (config checks it is above the longest long-poll).
    requestTimeout: http.request_timeout_ms,
    connectionTimeout: http.idle_timeout_ms,
    keepAliveTimeout: http.keep_alive_timeout_ms,
    http: {
      headersTimeout: Math.min(http.headers_timeout_ms, http.request_timeout_ms),
      requestTimeout: http.request_timeout_ms,
      // Node checks those deadlines on this period (30 s by default): a quarter of the shortest keeps each
      // within a quarter of its value.
      connectionsCheckingInterval: Math.min(30_000, Math.ceil(Math.min(http.headers_timeout_ms, http.request_timeout_ms) / 4)),
    },
    forceCloseConnections: 'idle',
    // Malformed URLs (bad percent-encoding) are refused before routing; answer them in Matrix form too.
    frameworkErrors: (err, _request, reply) => {
      void (reply as FastifyReply).code(400).headers(CORS_HEADERS).send({ errcode: 'M_UNRECOGNIZED', error: err.message })
    },
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 1000 },
  }) as unknown as FastifyInstance

  // Bodies are read raw and parsed per route, so a wrong Content-Type never hides a JSON body and a body
  // that is not JSON gets M_NOT_JSON.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))

  const table: RouteTable = { patterns: [] }
  installCors(app)
  installErrorHandling(app, table)

  // JSON answers say application/json and nothing more, as Synapse's do (some clients and SyTest compare it
  // exactly; JSON is UTF-8 by definition, RFC 8259).
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.getHeader('content-type') === 'application/json; charset=utf-8') reply.header('content-type', 'application/json')
    return payload
  })

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched'
    const elapsed = reply.elapsedTime
    ctx.metrics.httpDuration.observe({ method: request.method, route, status: String(reply.statusCode) }, elapsed / 1000)
    const requester = (request as { requester?: { userId: string } }).requester
    request.log.info(
      { method: request.method, url: redactUrl(request.url), status: reply.statusCode, ms: Math.round(elapsed * 10) / 10, user: requester?.userId },
      'request',
    )
  })

  const served = options.listener === 'federation' ? federationListenerRoutes(routes) : routes
  registerRoutes(app, ctx, served, table)
  await app.ready()
  return app
}
