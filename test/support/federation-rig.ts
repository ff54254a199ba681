// Several Homesteads federating over real HTTPS on loopback: a test CA, one TLS front per server (its server
// name is the front's 127.0.0.1:<port>), each server on its own database. A server can be stopped and started
// again on the same database and name, for the "one server down, then it catches up" tests.
import assert from 'node:assert/strict'
import { after } from 'node:test'
import type { AppContext } from '../../src/context.ts'
import { makeTestCa, startTlsFront, type TlsFront } from './federation.ts'
import { Api, startInstanceOn, startTestServer, type TestInstance, type TestServer } from './server.ts'

export interface FederatedServer {
  /** The server name: 127.0.0.1:<front port>. */
  readonly name: string
  readonly front: TlsFront
  /** The client API of the running instance (it changes after restart()). */
  api: Api
  ctx: AppContext
  /** Stops the running instance: its front then refuses connections, as a server that is down. */
  stop(): Promise<void>
  /** Starts an instance again on the same database and name. */
  restart(): Promise<void>
}

export interface FederationRig {
  servers: FederatedServer[]
  caFile: string
  /** A certificate of the test CA, which every server trusts (for other HTTPS servers of a test: an identity server). */
  issue(names: string[]): { key: string; cert: string }
}

/**
 * Starts `count` Homesteads that trust the test CA, may reach loopback and ask no notary, with `overrides`
 * on each. Everything is closed when the test file ends.
 */
export async function federatedServers(count: number, overrides: Record<string, unknown> = {}): Promise<FederationRig> {
  const ca = makeTestCa()
  const leaf = ca.issue(['127.0.0.1'])
  const fronts = await Promise.all(Array.from({ length: count }, () => startTlsFront(leaf)))
  // Fresh objects per server: the config loader freezes what it is given.
  const common = () => ({ 'federation.ca_file': ca.caFile, 'outbound.ip_range_allowlist': ['127.0.0.0/8'], 'federation.trusted_key_servers': [], ...structuredClone(overrides) })
  const servers = await Promise.all(
    fronts.map(async (front): Promise<FederatedServer> => {
      const name = `127.0.0.1:${front.port}`
      const settings = () => ({ ...common(), server_name: name })
      const first: TestServer = await startTestServer(settings())
      let current: TestServer | TestInstance | null = first
      const route = (url: string) => {
        front.target = Number(new URL(url).port)
      }
      route(first.url)
      const server: FederatedServer = {
        name,
        front,
        api: first.api,
        ctx: first.server.ctx,
        async stop() {
          if (!current) return
          const running = current
          current = null
          // The first instance's own clean-up drops the database at the file's end; only its server stops here.
          await (running === first ? first.server.close() : running.close())
        },
        async restart() {
          await server.stop()
          const instance = await startInstanceOn(first.database, settings())
          current = instance
          extra.push(instance)
          server.api = instance.api
          server.ctx = instance.server.ctx
          route(instance.url)
        },
      }
      const extra: TestInstance[] = []
      after(async () => {
        for (const instance of extra) await instance.close()
      })
      return server
    }),
  )
  after(async () => {
    for (const front of fronts) await front.close()
    ca.remove()
  })
  return { servers, caFile: ca.caFile, issue: (names) => ca.issue(names) }
}

/** Waits (polling) until `check` holds of what `read` gives (a read that throws: not yet); fails with `what` after 20 s. */
export async function eventually<T>(what: string, read: () => Promise<T>, check: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 20_000
  let last: unknown
  do {
    try {
      const value = await read()
      if (check(value)) return value
      last = value
    } catch (err) {
      // Not there yet (a 404 for an event still on its way).
      last = err instanceof Error ? err.message : err
    }
    await new Promise((r) => setTimeout(r, 100))
  } while (Date.now() < deadline)
  assert.fail(`${what}: still ${JSON.stringify(last).slice(0, 500)}`)
}
