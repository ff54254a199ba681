// defineRoute: one endpoint = method, path(s), auth, schemas and a handler that calls one domain method.
// Validation is TypeBox, compiled once per route; errors become the spec's M_NOT_JSON / M_BAD_JSON /
// M_MISSING_PARAM / M_INVALID_PARAM before the handler runs.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import type { Static, TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { Value } from '@sinclair/typebox/value'
import type { AppContext } from '../context.ts'
import { parseClientJsonBytes } from '../shared/client-json.ts'
import { MatrixError } from '../shared/errors.ts'
import type { Requester } from '../users/index.ts'
import { authenticateRequest } from './plugins/auth.ts'

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE'
/** 'server': the X-Matrix request signature of another homeserver (server-server API); the handler gets its `origin`. */
type Auth = 'none' | 'user' | 'optional' | 'admin' | 'server'

type Infer<S> = S extends TSchema ? Static<S> : undefined
type RequesterFor<A extends Auth> = A extends 'none' | 'server' ? null : A extends 'optional' ? Requester | null : Requester
type OriginFor<A extends Auth> = A extends 'server' ? string : null

export interface RouteInput<A extends Auth, P, Q, B> {
  requester: RequesterFor<A>
  /** The authenticated origin server of an `auth: 'server'` request. */
  origin: OriginFor<A>
  params: Infer<P>
  query: Infer<Q>
  body: Infer<B>
  ip: string
  request: FastifyRequest
  reply: FastifyReply
}

export interface RouteDefinition<A extends Auth = Auth, P = unknown, Q = unknown, B = unknown> {
  method: Method
  /** One path, or several aliases (e.g. r0 and v3) served by the same handler. */
  url: string | string[]
  auth: A
  /**
   * Guest accounts may call it (client-server API, "Guest Access" lists these endpoints); any other route
   * answers a guest 403 M_GUEST_ACCESS_FORBIDDEN.
   */
  guest?: true
  params?: P
  query?: Q
  body?: B
  /**
   * The request body reaches the handler unread, as a stream (`request.body`, or undefined when there is
   * none), for uploads that must not be buffered; http.max_body_bytes does not apply, the handler limits it.
   */
  rawBody?: true
  /** A smaller body limit than http.max_body_bytes, for bodies whose use is bounded (an event's content, a login). */
  bodyLimit?: number
  handler: (ctx: AppContext, input: RouteInput<A, P, Q, B>) => Promise<unknown>
}

export function defineRoute<A extends Auth, P extends TSchema | undefined = undefined, Q extends TSchema | undefined = undefined, B extends TSchema | undefined = undefined>(
  route: RouteDefinition<A, P, Q, B>,
): RouteDefinition<A, P, Q, B> {
  return route
}

/** Describes the first validation failure in the words a client developer would want. */
function describe(check: TypeCheck<TSchema>, value: unknown, part: 'body' | 'query' | 'path'): MatrixError {
  const first = check.Errors(value).First()
  const field = first?.path.replace(/^\//, '').replaceAll('/', '.') ?? ''
  if (first && first.value === undefined && field) {
    return new MatrixError('M_MISSING_PARAM', `Missing ${part === 'body' ? '' : `${part} parameter `}'${field}'`)
  }
  const where = field ? `'${field}'` : part === 'body' ? 'The body' : `The ${part}`
  const message = `${where}: ${first?.message ?? 'is invalid'}`
  return new MatrixError(part === 'body' ? 'M_BAD_JSON' : 'M_INVALID_PARAM', message)
}

/**
 * An empty body reads as {} for POST and DELETE (logout, a first UIA attempt); a PUT must send its JSON.
 * Bodies that are not UTF-8, hold lone surrogates or nest too deep are refused (shared/client-json.ts).
 */
function parseJsonBody(raw: unknown, method: Method, maxValues: number): unknown {
  const buffer = raw as Buffer | undefined | null
  if (!buffer || buffer.length === 0) {
    if (method === 'PUT') throw new MatrixError('M_NOT_JSON', 'Content not JSON.')
    return {}
  }
  return parseClientJsonBytes(buffer, { maxValues })
}

/** The JSON body of a server's request, or undefined when it sent none (a GET): what its signature covers. */
function parseSignedBody(raw: unknown, maxValues: number): unknown {
  const buffer = raw as Buffer | undefined | null
  if (!buffer || buffer.length === 0) return undefined
  return parseClientJsonBytes(buffer, { maxValues })
}

/** The X-Matrix check (federation/auth.ts) over the request target exactly as received. */
async function authenticateServer(ctx: AppContext, request: FastifyRequest, content: unknown): Promise<string> {
  const { origin } = await ctx.federation.auth.authenticate({
    method: request.method,
    uri: request.raw.url ?? request.url,
    authorization: request.headers.authorization,
    ...(content !== undefined ? { content } : {}),
  })
  return origin
}

export interface RouteTable {
  /** Path patterns served, to tell 405 (known path) from 404. */
  patterns: RegExp[]
}

export function registerRoutes(app: FastifyInstance, ctx: AppContext, routes: RouteDefinition<any, any, any, any>[], table: RouteTable): void {
  const raw: RouteOptions[] = []
  for (const route of routes) {
    const params = route.params ? TypeCompiler.Compile(route.params as TSchema) : null
    const query = route.query ? TypeCompiler.Compile(route.query as TSchema) : null
    const body = route.body ? TypeCompiler.Compile(route.body as TSchema) : null
    const urls = Array.isArray(route.url) ? route.url : [route.url]
    for (const url of urls) {
      table.patterns.push(new RegExp(`^${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z]+/g, '[^/]+')}$`))
      // Content-type parsers belong to an encapsulation context: a raw-body route gets one of its own that
      // hands the body stream over unread.
      const options: RouteOptions = {
        method: route.method,
        url,
        // A route's own limit only ever lowers http.max_body_bytes.
        ...(route.bodyLimit ? { bodyLimit: Math.min(route.bodyLimit, ctx.config.http.max_body_bytes) } : {}),
        handler: async (request, reply) => {
          // A server's signature covers the body, so a signed request's body is parsed before it is checked.
          const signedBody = route.auth === 'server' && !route.rawBody ? parseSignedBody(request.body, ctx.config.http.max_json_values) : undefined
          const origin = route.auth === 'server' ? await authenticateServer(ctx, request, signedBody) : null
          const requester = route.auth === 'none' || route.auth === 'server' ? null : await authenticateRequest(ctx, request, route.auth, route.guest === true)
          let paramsValue: unknown = request.params
          if (params) {
            if (!params.Check(paramsValue)) throw describe(params, paramsValue, 'path')
          }
          let queryValue: unknown
          if (query) {
            queryValue = Value.Convert(route.query as TSchema, { ...(request.query as object) })
            if (!query.Check(queryValue)) throw describe(query, queryValue, 'query')
          }
          let bodyValue: unknown
          if (body) {
            bodyValue = signedBody ?? parseJsonBody(request.body, route.method, ctx.config.http.max_json_values)
            if (!body.Check(bodyValue)) throw describe(body, bodyValue, 'body')
          }
          const result = await route.handler(ctx, {
            requester,
            origin,
            params: paramsValue,
            query: queryValue,
            body: bodyValue,
            ip: request.ip,
            request,
            reply,
          })
          if (reply.sent) return reply
          return reply.send(result ?? {})
        },
      }
      if (route.rawBody) raw.push(options)
      else app.route(options)
    }
  }
  // Content-type parsers belong to an encapsulation context: raw-body routes get one of their own whose
  // parser hands the body stream over unread.
  if (raw.length > 0) {
    void app.register(async (instance) => {
      instance.removeAllContentTypeParsers()
      instance.addContentTypeParser('*', (_request, payload, done) => done(null, payload))
      for (const options of raw) instance.route(options)
    })
  }
}

