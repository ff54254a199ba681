// A push gateway for tests: real HTTP on loopback, serving POST /_matrix/push/v1/notify. Every request body
// is checked against the push gateway API's schema (transcribed below from the spec's push_notifier.yaml);
// a request that does not match is recorded in `invalid`, and the tests assert there are none.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

const Device = Type.Object({
  app_id: Type.String(),
  pushkey: Type.String(),
  pushkey_ts: Type.Optional(Type.Integer()),
  data: Type.Optional(Type.Object({ format: Type.Optional(Type.String()) })),
  tweaks: Type.Optional(Type.Object({})),
})

/** The notify request body (push gateway API, POST /_matrix/push/v1/notify). */
export const NotifyBody = Type.Object({
  notification: Type.Object({
    event_id: Type.Optional(Type.String()),
    room_id: Type.Optional(Type.String()),
    type: Type.Optional(Type.String()),
    sender: Type.Optional(Type.String()),
    sender_display_name: Type.Optional(Type.String()),
    room_name: Type.Optional(Type.String()),
    room_alias: Type.Optional(Type.String()),
    user_is_target: Type.Optional(Type.Boolean()),
    prio: Type.Optional(Type.Union([Type.Literal('high'), Type.Literal('low')])),
    content: Type.Optional(Type.Object({})),
    counts: Type.Optional(Type.Object({ unread: Type.Optional(Type.Integer()), missed_calls: Type.Optional(Type.Integer()) })),
    devices: Type.Array(Device),
  }),
})

export type Notification = Static<typeof NotifyBody>['notification'] & Record<string, any>

export const NOTIFY_PATH = '/_matrix/push/v1/notify'

/** What the gateway answers one request: a status and a JSON body, or `hang` (never answer). */
export type GatewayAnswer = { status: number; body: unknown } | 'hang'

export interface PushGateway {
  /** The pusher URL (data.url). */
  url: string
  /** Requests received, in order (valid or not). */
  received: Notification[]
  /** Why requests did not match the schema. */
  invalid: string[]
  /** Decides each answer (default: 200 {"rejected": []}). */
  answer: (n: Notification) => GatewayAnswer
  /** Resolves with the first received notification (already or later) that matches. */
  waitFor(match: (n: Notification) => boolean, what?: string): Promise<Notification>
  close(): Promise<void>
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

export async function startPushGateway(): Promise<PushGateway> {
  const waiters: Array<{ match: (n: Notification) => boolean; resolve: (n: Notification) => void }> = []
  const hung: Array<() => void> = []
  const gateway: PushGateway = {
    url: '',
    received: [],
    invalid: [],
    answer: () => ({ status: 200, body: { rejected: [] } }),
    waitFor(match, what = 'a notification') {
      const found = gateway.received.find(match)
      if (found) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        // A safety net so that a missing notification fails the test instead of hanging it; not a timing assertion.
        const timer = setTimeout(() => reject(new Error(`the gateway never received ${what}`)), 60_000)
        waiters.push({ match, resolve: (n) => (clearTimeout(timer), resolve(n)) })
      })
    },
    close: async () => {
      for (const release of hung) release()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  const server: Server = createServer(async (req, res) => {
    const text = await readBody(req)
    if (req.method !== 'POST' || req.url !== NOTIFY_PATH) {
      gateway.invalid.push(`${req.method} ${req.url}`)
      res.writeHead(404).end()
      return
    }
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      gateway.invalid.push(`not JSON: ${text.slice(0, 200)}`)
      res.writeHead(400).end()
      return
    }
    if (req.headers['content-type'] !== 'application/json') gateway.invalid.push(`content-type ${req.headers['content-type']}`)
    if (!Value.Check(NotifyBody, body)) {
      const first = Value.Errors(NotifyBody, body).First()
      gateway.invalid.push(`${first?.path}: ${first?.message} in ${text.slice(0, 500)}`)
    }
    const notification = (body as { notification: Notification }).notification
    gateway.received.push(notification)
    const answer = gateway.answer(notification)
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i] as (typeof waiters)[number]
      if (w.match(notification)) {
        waiters.splice(i, 1)
        w.resolve(notification)
      }
    }
    if (answer === 'hang') {
      hung.push(() => res.destroy())
      return
    }
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  gateway.url = `http://127.0.0.1:${address.port}${NOTIFY_PATH}`
  return gateway
}
