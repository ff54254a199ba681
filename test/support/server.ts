// Starts a real Homestead (the production start-up path) on a random loopback port over a fresh test
// database, and gives tests a small HTTP client for it.
import { after } from 'node:test'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config/load.ts'
import type { Config } from '../../src/config/schema.ts'
import { startServer, type RunningServer } from '../../src/server.ts'
import { createLogger, type Logger } from '../../src/shared/logger.ts'
import { cleanupTestDatabases, createTestDatabase, type TestDatabase } from './database.ts'

export interface TestServer {
  server: RunningServer
  config: Config
  database: TestDatabase
  url: string
  api: Api
  close(): Promise<void>
}

export interface ApiResponse<T = any> {
  status: number
  body: T
  headers: Headers
}

export class Api {
  readonly baseUrl: string
  constructor(baseUrl: string) {
    this.baseUrl = baseUrl
  }

  /** Sends a request; `body` objects are JSON-encoded, strings and Buffers are sent as they are. */
  async request<T = any>(
    method: string,
    path: string,
    options: { body?: unknown; token?: string | null; headers?: Record<string, string> } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...options.headers }
    if (options.token) headers.Authorization = `Bearer ${options.token}`
    let body: string | Buffer | undefined
    if (typeof options.body === 'string' || Buffer.isBuffer(options.body)) body = options.body
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body)
      headers['Content-Type'] ??= 'application/json'
    }
    const res = await fetch(this.baseUrl + path, { method, headers, body: body as RequestInit['body'] })
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {}
    return { status: res.status, body: parsed as T, headers: res.headers }
  }

  get<T = any>(path: string, token?: string | null) {
    return this.request<T>('GET', path, { token })
  }
  post<T = any>(path: string, body?: unknown, token?: string | null) {
    return this.request<T>('POST', path, { body: body ?? {}, token })
  }
  put<T = any>(path: string, body?: unknown, token?: string | null) {
    return this.request<T>('PUT', path, { body: body ?? {}, token })
  }
  delete<T = any>(path: string, body?: unknown, token?: string | null) {
    return this.request<T>('DELETE', path, { body, token })
  }
}

/** Settings every test server uses unless a test overrides them. */
export const TEST_DEFAULTS: Record<string, unknown> = {
  server_name: 'test.localhost',
  'listen.host': '127.0.0.1',
  'listen.port': 0,
  'registration.enabled': true,
  'rate_limits.enabled': false,
  'log.level': 'silent',
  'database.pool_size': 5,
}

let openServers = 0

/**
 * Starts a server for this test file; it is closed (and its database dropped) when the file's tests end.
 * Call it at the top level of the test file (top-level await), so the clean-up attaches to the file.
 * `overrides` are config keys in dotted form, e.g. { 'registration.requires_token': true }; `logger` replaces
 * the one the config's log level would make (to read what the server logs).
 */
export async function startTestServer(overrides: Record<string, unknown> = {}, options: { logger?: Logger } = {}): Promise<TestServer> {
  const database = await createTestDatabase()
  const dataDir = await mkdtemp(join(tmpdir(), 'hs-data-'))
  await chmod(dataDir, 0o755)
  const config = loadConfig({
    env: {},
    overrides: { data_dir: dataDir, ...TEST_DEFAULTS, 'database.url': database.url, ...overrides },
  })
  const server = await startServer(config, { logger: options.logger ?? createLogger(config.log.level) })
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await server.close()
    await database.drop()
    await rm(dataDir, { recursive: true, force: true })
  }
  openServers++
  after(async () => {
    await close()
    // A file may start several servers; the embedded PostgreSQL they share stops after the last one.
    if (--openServers === 0) await cleanupTestDatabases()
  })
  return { server, config, database, url: server.url, api: new Api(server.url), close }
}

/** A second instance on a test server's database, as behind a load balancer or after a restart. */
export interface TestInstance {
  server: RunningServer
  url: string
  api: Api
  close(): Promise<void>
}

/**
 * Starts another instance on `database` (a test server's). Its clean-up is the caller's (close()): tied to
 * the file's end like startTestServer's, it would stop the shared embedded PostgreSQL under the first server.
 */
export async function startInstanceOn(database: TestDatabase, overrides: Record<string, unknown> = {}): Promise<TestInstance> {
  const dataDir = await mkdtemp(join(tmpdir(), 'hs-data-'))
  const config = loadConfig({ env: {}, overrides: { data_dir: dataDir, ...TEST_DEFAULTS, 'database.url': database.url, ...overrides } })
  const server = await startServer(config, { logger: createLogger('silent') })
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await server.close()
    await rm(dataDir, { recursive: true, force: true })
  }
  return { server, url: server.url, api: new Api(server.url), close }
}

let userCounter = 0

/** A registered user's session, as registerUser returns it. */
export type Session = Awaited<ReturnType<typeof registerUser>>

/** Registers a user through the Client-Server API (open registration) and returns its session. */
export async function registerUser(
  api: Api,
  options: { username?: string; password?: string; deviceId?: string } = {},
): Promise<{ user_id: string; access_token: string; device_id: string; password: string; username: string }> {
  const username = options.username ?? `user${process.pid}x${++userCounter}`
  const password = options.password ?? 'correct horse battery staple'
  const body: Record<string, unknown> = { username, password, auth: { type: 'm.login.dummy' } }
  if (options.deviceId) body.device_id = options.deviceId
  const res = await api.post('/_matrix/client/v3/register', body)
  if (res.status !== 200) throw new Error(`registration failed: ${res.status} ${JSON.stringify(res.body)}`)
  return { ...res.body, password, username }
}

let adminCounter = 0

/** A server admin's access token (admin accounts come from the operator, not from /register). */
export async function adminToken(t: TestServer): Promise<string> {
  const username = `admin${process.pid}x${++adminCounter}`
  const account = await t.server.ctx.accounts.createAccount({ username, password: 'a long enough password', admin: true, login: {} })
  return account.access_token as string
}
