// matrix-js-sdk clients with the SDK's Rust crypto (the matrix-sdk-crypto WASM build) against a test server:
// in-memory crypto stores (Node has no IndexedDB), a UIA driver for password auth, and waits for the
// SDK's asynchronous work (sync, key queries, decryption) driven by the events it emits.
import http from 'node:http'
import {
  ClientEvent,
  MatrixEventEvent,
  RoomEvent,
  createClient,
  type MatrixClient,
  type MatrixEvent,
} from 'matrix-js-sdk'
import type { AuthDict } from 'matrix-js-sdk/lib/interactive-auth.js'
import type { CryptoApi } from 'matrix-js-sdk/lib/crypto-api/index.js'
import type { SlidingSync } from 'matrix-js-sdk/lib/sliding-sync.js'
import { logger as sdkLogger, type Logger } from 'matrix-js-sdk/lib/logger.js'

// The SDK logs every request, sync and crypto step. Each client gets a silent logger (its sync and crypto
// log through children of it); code that logs through children of the SDK's global logger (a loglevel
// logger at runtime, whose children copy its methodFactory) is silenced there.
const ignore = () => {}
const globalLogger = sdkLogger as unknown as { methodFactory: () => typeof ignore; rebuild(): void }
globalLogger.methodFactory = () => ignore
globalLogger.rebuild()
const silent: Logger = { trace: ignore, debug: ignore, info: ignore, warn: ignore, error: ignore, getChild: () => silent }

// matrix-js-sdk's timeoutSignal (lib/http-api/utils.js) never clears its timer, so each /sync long-poll leaves
// a 110 s timer behind. Long timers created by the SDK are unref'd so they do not keep the process alive
// once every client has stopped.
const nodeSetTimeout = globalThis.setTimeout
globalThis.setTimeout = ((callback: (...args: unknown[]) => void, delay?: number, ...rest: unknown[]) => {
  const handle = nodeSetTimeout(callback, delay, ...rest)
  const fromSdk = (delay ?? 0) >= 10_000 && (new Error().stack ?? '').includes('/matrix-js-sdk/')
  if (fromSdk) handle.unref()
  return handle
}) as typeof setTimeout

/** Guards against hangs only: a wait that never ends fails with what it waited for. */
const WAIT_MS = 30_000

export interface Session {
  user_id: string
  access_token: string
  device_id: string
}

// The clients' requests go through a keep-alive agent of their own, closed when they stop. With the global
// fetch, stopClient aborting a /sync that is still connecting leaves a socket on which the server never sees
// a request; closing the server reaps only idle connections, so it would wait for that one until its
// keep-alive timeout (72 s).
const agent = new http.Agent({ keepAlive: true })
const inFlight = new Set<Promise<Response>>()

function requestBody(body: BodyInit | null | undefined): string | Uint8Array | undefined {
  if (body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array) return body ?? undefined
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  throw new Error(`agentFetch: unsupported request body ${Object.prototype.toString.call(body)}`)
}

/** One request a client made and the answer it got, for tests that must show the order of an exchange. */
export interface Exchange {
  method: string
  path: string
  request: string | undefined
  status: number
  response: string
  /** Milliseconds since the process started, when the request was sent and when its answer had arrived. */
  sent: number
  answered: number
}

/** The subset of fetch the SDK uses, over node:http with `agent`; resolves once the whole body has arrived. */
function agentFetch(input: RequestInfo | URL, init: RequestInit = {}, trace?: (exchange: Exchange) => void): Promise<Response> {
  const url = input instanceof Request ? input.url : String(input)
  const headers = Object.fromEntries(new Headers(init.headers).entries())
  const sent = performance.now()
  const response = new Promise<Response>((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? 'GET', headers, agent, signal: init.signal ?? undefined }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        const status = res.statusCode ?? 0
        const responseHeaders = new Headers()
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of Array.isArray(value) ? value : [value ?? '']) responseHeaders.append(name, v)
        }
        const body = status === 204 || status === 304 ? null : Buffer.concat(chunks)
        if (trace) {
          const request = requestBody(init.body)
          const { pathname, search } = new URL(url)
          trace({
            method: init.method ?? 'GET',
            path: pathname + search,
            request: request === undefined || typeof request === 'string' ? request : Buffer.from(request).toString(),
            status,
            response: body ? body.toString() : '',
            sent,
            answered: performance.now(),
          })
        }
        resolve(new Response(body, { status, statusText: res.statusMessage, headers: responseHeaders }))
      })
    })
    req.on('error', reject)
    req.end(requestBody(init.body))
  })
  inFlight.add(response)
  const forget = () => inFlight.delete(response)
  response.then(forget, forget)
  return response
}

/** Stops the clients, lets the requests they still have in flight finish, and closes their connections. */
export async function stopClients(clients: MatrixClient[]): Promise<void> {
  for (const client of clients) client.stopClient()
  while (inFlight.size > 0) await Promise.allSettled([...inFlight])
  agent.destroy()
}

/**
 * A client with Rust crypto in an in-memory store: `useIndexedDB: false` needs no IndexedDB at all.
 * `trace` is told of each request the client makes, once its answer has arrived.
 */
export async function cryptoClient(baseUrl: string, session: Session, trace?: (exchange: Exchange) => void): Promise<MatrixClient> {
  const fetchFn = trace ? (input: RequestInfo | URL, init?: RequestInit) => agentFetch(input, init, trace) : agentFetch
  const client = createClient({ baseUrl, userId: session.user_id, accessToken: session.access_token, deviceId: session.device_id, logger: silent, fetchFn })
  await client.initRustCrypto({ useIndexedDB: false })
  return client
}

export function cryptoOf(client: MatrixClient): CryptoApi {
  const crypto = client.getCrypto()
  if (!crypto) throw new Error(`${client.getUserId()} has no crypto`)
  return crypto
}

/** Starts the sync loop (/sync, or simplified sliding sync with `slidingSync`) and resolves once the first sync has been processed. */
export async function startSyncing(client: MatrixClient, initialSyncLimit = 20, slidingSync?: SlidingSync): Promise<void> {
  const firstSync = new Promise<void>((resolve, reject) => {
    const onSync = (state: string) => {
      if (state === 'ERROR') reject(new Error(`the first sync of ${client.getDeviceId()} failed`))
      if (state !== 'PREPARED' && state !== 'SYNCING') return
      client.off(ClientEvent.Sync, onSync)
      resolve()
    }
    client.on(ClientEvent.Sync, onSync)
  })
  await client.startClient({ initialSyncLimit, ...(slidingSync ? { slidingSync } : {}) })
  await firstSync
}

/** Logs in again with the password: a new device of the same user. */
export async function loginNewDevice(baseUrl: string, user: { username: string; password: string }, displayName: string): Promise<Session> {
  return createClient({ baseUrl, logger: silent }).loginRequest({
    type: 'm.login.password',
    identifier: { type: 'm.id.user', user: user.username },
    password: user.password,
    initial_device_display_name: displayName,
  })
}

/**
 * A UIA callback for key uploads that need the account password: tries without auth first (the first
 * cross-signing upload needs none), and on a 401 answers the m.login.password stage in the session the
 * server opened. `log` records what each attempt sent and how the server answered.
 */
export function passwordAuth(user: { user_id: string; password: string }, log: string[] = []) {
  return async <T>(makeRequest: (auth: AuthDict | null) => Promise<T>): Promise<T> => {
    try {
      const result = await makeRequest(null)
      log.push('no auth: 200')
      return result
    } catch (e) {
      const err = e as { httpStatus?: number; data?: { session?: string; flows?: Array<{ stages: string[] }> } }
      if (err.httpStatus !== 401 || !err.data?.flows) throw e
      log.push(`no auth: 401 offering ${JSON.stringify(err.data.flows.map((f) => f.stages))}`)
      const result = await makeRequest({
        type: 'm.login.password',
        identifier: { type: 'm.id.user', user: user.user_id },
        password: user.password,
        session: err.data.session,
      })
      log.push('m.login.password: 200')
      return result
    }
  }
}

type Emitter = { on(event: string, fn: () => void): void; off(event: string, fn: () => void): void }

/**
 * Resolves with the first truthy result of `check`, which runs now and again after each of `events` that
 * `client` emits (one run at a time; events during a run trigger one more).
 */
export function waitUntil<T>(client: MatrixClient, events: string[], check: () => T | undefined | null | false | Promise<T | undefined | null | false>, what: string | (() => string)): Promise<T> {
  const emitter = client as unknown as Emitter
  return new Promise<T>((resolve, reject) => {
    let running = false
    let again = false
    let settled = false
    const finish = (outcome: () => void) => {
      settled = true
      clearTimeout(timer)
      for (const e of events) emitter.off(e, run)
      outcome()
    }
    async function run(): Promise<void> {
      if (settled) return
      if (running) {
        again = true
        return
      }
      running = true
      try {
        do {
          again = false
          const value = await check()
          if (value) return finish(() => resolve(value))
        } while (again && !settled)
      } catch (e) {
        finish(() => reject(e))
      } finally {
        running = false
      }
    }
    const timer = setTimeout(() => finish(() => reject(new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`))), WAIT_MS)
    for (const e of events) emitter.on(e, run)
    void run()
  })
}

/** The event once the client has it in the room (from its sync loop, or pagination). */
export function timelineEvent(client: MatrixClient, roomId: string, eventId: string): Promise<MatrixEvent> {
  return waitUntil(client, [RoomEvent.Timeline, ClientEvent.Room, ClientEvent.Sync], () => client.getRoom(roomId)?.findEventById(eventId), `${eventId} in the timeline of ${client.getDeviceId()}`)
}

/** Resolves once the client has decrypted `event` (retrying as keys arrive); fails with the last failure code. */
export function decryption(client: MatrixClient, event: MatrixEvent): Promise<MatrixEvent> {
  return waitUntil(
    client,
    [MatrixEventEvent.Decrypted, ClientEvent.Sync],
    () => !event.isBeingDecrypted() && !event.isDecryptionFailure() && event.getClearContent() !== null && event,
    () => `${client.getDeviceId()} to decrypt ${event.getId()} (last failure: ${event.decryptionFailureReason ?? 'none'})`,
  )
}

/** Resolves once the client's attempt to decrypt `event` has failed (no key). */
export function decryptionFailure(client: MatrixClient, event: MatrixEvent): Promise<MatrixEvent> {
  return waitUntil(client, [MatrixEventEvent.Decrypted], () => !event.isBeingDecrypted() && event.isDecryptionFailure() && event, `${client.getDeviceId()} to fail to decrypt ${event.getId()}`)
}
