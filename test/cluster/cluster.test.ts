// Three Homestead processes on one PostgreSQL behind HAProxy (`npm run test:cluster`): any instance serves
// any request, instances wake each other through PostgreSQL, and losing an instance (SIGKILL), the database
// (a long outage, a crash: instances stay alive, only not ready) or draining one (SIGTERM) loses no
// acknowledged event. Latencies are printed as JSON lines, never asserted (timings depend on the machine).
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import { after, afterEach, before, describe, it } from 'node:test'
import { ephemeralOf, syncUntil, typingIn } from '../support/ephemeral.ts'
import { CS, enc } from '../support/rooms.ts'
import { registerUser, type Api } from '../support/server.ts'
import { allMessages, assertNoLoss, retried, Sender, type Session } from './load.ts'
import { Cluster, health, sleep, until, type Instance } from './rig.ts'

let cluster: Cluster

before(async () => {
  cluster = await Cluster.start(3)
})

after(async () => {
  await cluster?.close()
})

/** The load of the scenario running now, stopped after it even when it fails. */
const running = new Set<Sender>()

function startSenders(users: Session[], roomId: string, tag: string): Sender[] {
  const senders = users.map((u, i) => new Sender(cluster.lb, u, roomId, `${tag}${i}`).start())
  for (const s of senders) running.add(s)
  return senders
}

afterEach(async () => {
  await Promise.all([...running].map((s) => s.stop()))
  running.clear()
  // A scenario that failed half-way may have left an instance or PostgreSQL down.
  await cluster?.heal()
})

/**
 * Polls every instance's /health/live every 250 ms until stop(). A supervisor acts only on failures that last
 * (the instances' liveness timer: 5 minutes in a row), so what counts is each instance's longest run of
 * failed checks; a check may miss while a starting instance is busy compiling its routes. An instance
 * paused while a scenario restarts it on purpose is skipped.
 */
function watchLiveness(instances: Instance[]): { pause(i: Instance): void; resume(i: Instance): void; stop(): { checks: number; failed: number; longestRun: Record<string, number> } } {
  const paused = new Set<Instance>()
  const run = new Map<Instance, number>()
  const longestRun: Record<string, number> = Object.fromEntries(instances.map((i) => [i.name, 0]))
  let checks = 0
  let failed = 0
  let stopped = false
  void (async () => {
    while (!stopped) {
      await Promise.all(
        instances.map(async (i) => {
          if (paused.has(i)) return
          const live = (await health(i.url, '/health/live')) === 200
          if (paused.has(i)) return
          checks++
          if (live) return void run.set(i, 0)
          failed++
          run.set(i, (run.get(i) ?? 0) + 1)
          longestRun[i.name] = Math.max(longestRun[i.name] ?? 0, run.get(i) ?? 0)
        }),
      )
      await sleep(250)
    }
  })()
  return {
    pause: (i) => void paused.add(i),
    resume: (i) => void paused.delete(i),
    stop: () => {
      stopped = true
      return { checks, failed, longestRun }
    },
  }
}

/** Prints one measurement as a JSON line (the rig's output, read by people and CI logs). */
function report(fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ cluster: true, ...fields }))
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((x, y) => x - y)
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
  return Math.round((sorted[Math.max(0, index)] as number) * 10) / 10
}

async function send(api: Api, user: Session, roomId: string, body: string, txnId: string): Promise<string> {
  const res = await api.put(`${CS}/rooms/${enc(roomId)}/send/m.room.message/${enc(txnId)}`, { msgtype: 'm.text', body }, user.access_token)
  assert.equal(res.status, 200, `send via ${api.baseUrl}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.event_id
}

async function roomWith(api: Api, owner: Session, members: Session[]): Promise<string> {
  const created = await api.post(`${CS}/createRoom`, { preset: 'public_chat' }, owner.access_token)
  assert.equal(created.status, 200, JSON.stringify(created.body))
  for (const m of members) {
    const joined = await api.post(`${CS}/join/${enc(created.body.room_id)}`, {}, m.access_token)
    assert.equal(joined.status, 200, JSON.stringify(joined.body))
  }
  return created.body.room_id
}

/** A /sync position after everything so far (an initial sync, then one more to absorb presence changes). */
async function syncToken(api: Api, user: Session): Promise<string> {
  const first = await api.get(`${CS}/sync`, user.access_token)
  assert.equal(first.status, 200, JSON.stringify(first.body))
  const second = await api.get(`${CS}/sync?since=${first.body.next_batch}&timeout=0`, user.access_token)
  assert.equal(second.status, 200, JSON.stringify(second.body))
  return second.body.next_batch
}

const timelineBodies = (body: any, roomId: string): string[] =>
  (body.rooms?.join?.[roomId]?.timeline?.events ?? []).map((e: { content: { body?: string } }) => e.content.body)

/** Long-polls from `since` until a response has `text` in the room's timeline; returns when it arrived. */
async function pollFor(api: Api, user: Session, since: string, roomId: string, text: string): Promise<{ at: number; next: string }> {
  let token = since
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const res = await api.get(`${CS}/sync?since=${token}&timeout=20000`, user.access_token)
    const at = performance.now()
    assert.equal(res.status, 200, `sync via ${api.baseUrl}: ${res.status} ${JSON.stringify(res.body)}`)
    token = res.body.next_batch
    if (timelineBodies(res.body, roomId).includes(text)) return { at, next: token }
  }
  throw new Error(`"${text}" did not reach the long-poll on ${api.baseUrl}`)
}

/**
 * Sends `count` messages, each while a long-poll waits for it on another side; returns the wake latencies
 * (PUT issued → long-poll answered, so the send itself is included) in ms.
 */
async function wakeLatencies(pairs: Array<[Api, Api]>, count: number, roomId: string, alice: Session, bob: Session, tag: string): Promise<{ fromPut: number[]; fromAck: number[] }> {
  const fromPut: number[] = []
  const fromAck: number[] = []
  let since = await syncToken(pairs[0]?.[1] as Api, bob)
  for (let i = 0; i < count; i++) {
    const [sender, receiver] = pairs[i % pairs.length] as [Api, Api]
    const text = `${tag} ${i}`
    const polling = pollFor(receiver, bob, since, roomId, text)
    // Let the long-poll reach the instance and park (an empty incremental sync takes a few ms).
    await sleep(40)
    const issued = performance.now()
    await send(sender, alice, roomId, text, `${tag}-${i}`)
    const acked = performance.now()
    const woke = await polling
    fromPut.push(woke.at - issued)
    // The long-poll may answer before the PUT's own response arrives: then 0.
    fromAck.push(Math.max(0, woke.at - acked))
    since = woke.next
  }
  return { fromPut, fromAck }
}

function summary(samples: { fromPut: number[]; fromAck: number[] }): Record<string, number> {
  const { fromPut, fromAck } = samples
  return {
    samples: fromPut.length,
    p50_ms: percentile(fromPut, 50),
    p99_ms: percentile(fromPut, 99),
    max_ms: percentile(fromPut, 100),
    after_200_p50_ms: percentile(fromAck, 50),
    after_200_p99_ms: percentile(fromAck, 99),
  }
}

describe('Homestead cluster (3 instances, one PostgreSQL, HAProxy)', () => {
  it('wakes a long-poll held by one instance when a message is sent through another', async () => {
    const [a, b, c] = cluster.instances as [Instance, Instance, Instance]
    const alice = await registerUser(a.api)
    const bob = await registerUser(b.api)
    const roomId = await roomWith(c.api, alice, [bob])
    // Every ordered pair of distinct instances, talking to each instance by its own port.
    const pairs: Array<[Api, Api]> = [
      [a.api, b.api],
      [b.api, c.api],
      [c.api, a.api],
      [a.api, c.api],
      [c.api, b.api],
      [b.api, a.api],
    ]
    const direct = await wakeLatencies(pairs, 120, roomId, alice, bob, 'direct')
    // The target is a p99 under 100 ms; printed, not asserted (the project has no timing assertions).
    report({ scenario: 'cross-instance wake, direct (PUT issued on one instance → long-poll answered on another)', ...summary(direct), target_p99_ms: 100 })
    const balanced = await wakeLatencies([[cluster.lb, cluster.lb]], 30, roomId, alice, bob, 'balanced')
    report({ scenario: 'wake through the balancer (send and long-poll both via HAProxy)', ...summary(balanced) })
  })

  it('serves a sliding sync connection whose every request lands on another instance, woken by sends through a third', async () => {
    const [a, b, c] = cluster.instances as [Instance, Instance, Instance]
    const alice = await registerUser(a.api)
    const bob = await registerUser(b.api)
    const roomId = await roomWith(c.api, alice, [bob])
    const SSS = '/_matrix/client/unstable/org.matrix.simplified_msc3575/sync'
    const body = { conn_id: 'main', lists: { all: { ranges: [[0, 9]], timeline_limit: 5, required_state: [['m.room.member', '$LAZY']] } }, extensions: { to_device: { enabled: true } } }
    const first = await a.api.post(SSS, body, bob.access_token)
    assert.equal(first.status, 200, JSON.stringify(first.body))
    assert.ok(first.body.rooms[roomId], 'the room, whole')
    let pos: string = first.body.pos
    // Each round: the long-poll on one instance, the message sent through another.
    const rounds: Array<[Instance, Instance]> = [[b, c], [c, a], [a, b], [b, a], [c, b], [a, c]]
    const woken: number[] = []
    for (const [poller, sender] of rounds) {
      const issued = performance.now()
      const polling = poller.api.post(`${SSS}?pos=${pos}&timeout=20000`, body, bob.access_token)
      await sleep(100)
      const sentAt = performance.now()
      const eventId = await send(sender.api, alice, roomId, `via ${sender.name}`, `sss-${poller.name}-${sender.name}`)
      const res = await polling
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.ok(performance.now() - issued < 19000, 'woken before the timeout')
      woken.push(performance.now() - sentAt)
      assert.deepEqual(res.body.rooms[roomId]?.timeline.map((e: { event_id: string }) => e.event_id), [eventId], `on ${poller.name}: only the new message`)
      pos = res.body.pos
    }
    report({ scenario: 'sliding sync long-poll woken across instances (send start → response)', samples: woken.length, p50_ms: percentile(woken, 50), max_ms: percentile(woken, 100) })
  })

  it('returns the same event_id when a txnId is retried on another instance, even concurrently', async () => {
    const [a, b, c] = cluster.instances as [Instance, Instance, Instance]
    const alice = await registerUser(a.api)
    const roomId = await roomWith(b.api, alice, [])
    const first = await send(a.api, alice, roomId, 'once', 'retry-1')
    assert.equal(await send(b.api, alice, roomId, 'once', 'retry-1'), first)
    assert.equal(await send(c.api, alice, roomId, 'once', 'retry-1'), first)
    // The same txnId reaching all three instances at the same moment (a client retrying a timed-out request).
    const raced = await Promise.all([a, b, c, a, b, c].map((i) => send(i.api, alice, roomId, 'raced', 'retry-2')))
    assert.equal(new Set(raced).size, 1, `different event_ids for one txnId: ${raced.join(', ')}`)
    const stored = await allMessages(c.api, alice.access_token, roomId)
    assert.deepEqual(stored.map((e) => e.body), ['once', 'raced'])

    // To-device messages too: the retry on another instance is not delivered a second time.
    const bob = await registerUser(c.api)
    const since = await syncToken(cluster.lb, bob)
    const messages = { [bob.user_id]: { [bob.device_id]: { n: 1 } } }
    for (const i of [a, b, c]) assert.equal((await i.api.put(`${CS}/sendToDevice/m.test/td-1`, { messages }, alice.access_token)).status, 200)
    const delivered = await cluster.lb.get(`${CS}/sync?since=${since}&timeout=0`, bob.access_token)
    assert.equal(delivered.status, 200)
    assert.deepEqual(delivered.body.to_device?.events?.map((e: { type: string }) => e.type), ['m.test'])
  })

  it('shows typing, receipts and presence set on one instance in /sync on another', async () => {
    const [a, b, c] = cluster.instances as [Instance, Instance, Instance]
    const alice = await registerUser(a.api)
    const bob = await registerUser(b.api)
    const roomId = await roomWith(a.api, alice, [bob])
    const eventId = await send(a.api, alice, roomId, 'read me', 'typing-1')
    const bobSince = await syncToken(b.api, bob)
    const aliceSince = await syncToken(c.api, alice)

    // Alice types on A; Bob, long-polling on B, sees it.
    const seeing = syncUntil(b.api, bob, bobSince, (body) => typingIn(body, roomId)?.includes(alice.user_id) === true)
    await sleep(40)
    const typed = await a.api.put(`${CS}/rooms/${enc(roomId)}/typing/${enc(alice.user_id)}`, { typing: true, timeout: 30000 }, alice.access_token)
    assert.equal(typed.status, 200)
    const seen = await seeing
    // She stops on C; Bob, now long-polling on A, sees the typing list empty.
    const stopping = syncUntil(a.api, bob, seen.next, (body) => typingIn(body, roomId)?.length === 0)
    await sleep(40)
    const stopped = await c.api.put(`${CS}/rooms/${enc(roomId)}/typing/${enc(alice.user_id)}`, { typing: false }, alice.access_token)
    assert.equal(stopped.status, 200)
    await stopping

    // Bob reads on B; Alice, long-polling on C, gets his receipt.
    const receiving = syncUntil(c.api, alice, aliceSince, (body) =>
      ephemeralOf(body, roomId, 'm.receipt').some((e) => e.content?.[eventId]?.['m.read']?.[bob.user_id] !== undefined),
    )
    await sleep(40)
    const read = await b.api.post(`${CS}/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, {}, bob.access_token)
    assert.equal(read.status, 200)
    await receiving

    // Alice sets her presence on B; Bob, long-polling on C, sees it.
    const bobNow = await syncToken(c.api, bob)
    const presenceSeen = syncUntil(c.api, bob, bobNow, (body) =>
      (body.presence?.events ?? []).some((e: any) => e.sender === alice.user_id && e.content?.status_msg === 'in the cluster'),
    )
    await sleep(40)
    const set = await b.api.put(`${CS}/presence/${enc(alice.user_id)}/status`, { presence: 'unavailable', status_msg: 'in the cluster' }, alice.access_token)
    assert.equal(set.status, 200)
    await presenceSeen
  })

  it('counts failed logins in PostgreSQL, so the limit holds across instances', async () => {
    const user = await registerUser(cluster.lb)
    const login = (i: Instance) =>
      i.api.post(`${CS}/login`, { type: 'm.login.password', identifier: { type: 'm.id.user', user: user.user_id }, password: 'wrong password' })
    // login_failed_attempts: burst 3. One failure on each instance, then the fourth anywhere is refused.
    for (const instance of cluster.instances) assert.equal((await login(instance)).status, 403)
    const fourth = await login(cluster.instances[0] as Instance)
    assert.equal(fourth.status, 429, JSON.stringify(fourth.body))
    assert.equal(fourth.body.errcode, 'M_LIMIT_EXCEEDED')
  })

  it('loses no acknowledged event when an instance is killed (SIGKILL) under load, and clients carry on', async () => {
    const b = cluster.instances[1] as Instance
    const users = await Promise.all([0, 1, 2, 3].map(() => registerUser(cluster.lb)))
    const [owner, ...others] = users as unknown as [Session, ...Session[]]
    const roomId = await roomWith(cluster.lb, owner, others)
    // The owner starts typing on B, whose timer would have announced the expiry: now the sweepers of the
    // survivors must, exactly once between them.
    const typed = await b.api.put(`${CS}/rooms/${enc(roomId)}/typing/${enc(owner.user_id)}`, { typing: true, timeout: 3000 }, owner.access_token)
    assert.equal(typed.status, 200)
    const senders = startSenders(users, roomId, 'kill')
    await sleep(1500)
    const killedAt = Date.now()
    b.kill('SIGKILL')
    const exit = await b.exited
    assert.equal(exit.signal, 'SIGKILL')
    await sleep(2500)
    await Promise.all(senders.map((s) => s.stop()))
    for (const s of senders) assert.ok(s.ackedAfter(killedAt) > 0, 'a client made no progress after the kill')
    const result = await assertNoLoss(cluster.lb, owner.access_token, roomId, senders)

    // Straight from the rig's database: once the typing row is gone (claimed and announced in one
    // transaction), the stream log holds one typing position for the start and one for the expiry.
    const sql = await cluster.sql()
    try {
      const count = async (query: string) => (await sql.query(query, [roomId])).rows[0].n as number
      await until(async () => (await count('SELECT count(*)::int AS n FROM typing WHERE room_id = $1')) === 0, 20_000, () => 'no survivor announced the expired typing')
      assert.equal(await count("SELECT count(*)::int AS n FROM stream_log WHERE room_id = $1 AND kind = 'typing'"), 2, 'the expiry was announced more than once')
    } finally {
      await sql.end()
    }
    report({ scenario: 'SIGKILL one instance under load', ...result, retried_requests: retried(senders) })
  })

  it("delivers every notification once an instance dies holding a pusher: a survivor takes the lease over", async () => {
    // A push gateway of the test's own: it leaves its first request unanswered (the delivering instance is
    // killed while it waits), and answers every later one.
    const received: Array<{ eventId: string; answered: boolean }> = []
    let holdNext = true
    const gateway = createServer((req, res) => {
      let body = ''
      req.on('data', (chunk) => (body += chunk))
      req.on('end', () => {
        const eventId = String((JSON.parse(body) as { notification?: { event_id?: string } }).notification?.event_id ?? '')
        if (holdNext) {
          holdNext = false
          received.push({ eventId, answered: false })
          return
        }
        received.push({ eventId, answered: true })
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
    })
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/_matrix/push/v1/notify`
      const [alice, bob] = (await Promise.all([0, 1].map(() => registerUser(cluster.lb)))) as unknown as [Session, Session]
      const roomId = await roomWith(cluster.lb, alice, [bob])
      const set = await cluster.lb.post(
        `${CS}/pushers/set`,
        { kind: 'http', app_id: 'org.homestead.cluster', pushkey: 'phone', app_display_name: 'Rig', device_display_name: 'Phone', lang: 'en', data: { url } },
        alice.access_token,
      )
      assert.equal(set.status, 200, JSON.stringify(set.body))
      const first = await send(cluster.lb, bob, roomId, 'while the holder dies', 'push-1')
      await until(() => received.length === 1, 20_000, () => 'the gateway heard of nothing')
      // The instance holding the pusher's lease is the one waiting for the gateway: kill it.
      const sql = await cluster.sql()
      let holderPid: number
      try {
        const { rows } = await sql.query<{ lease_holder: string | null }>('SELECT lease_holder FROM pushers WHERE user_id = $1', [alice.user_id])
        holderPid = Number(String(rows[0]?.lease_holder).split('.')[0])
      } finally {
        await sql.end()
      }
      const holder = cluster.instances.find((i) => i.child?.pid === holderPid)
      assert.ok(holder, `no rig instance has the lease holder's pid ${holderPid}`)
      holder.kill('SIGKILL')
      await holder.exited
      const second = await send(cluster.lb, bob, roomId, 'after the holder died', 'push-2')
      await until(() => received.filter((r) => r.answered).length >= 2, 30_000, () => `the survivors delivered ${JSON.stringify(received)}`)
      // Nothing lost: both notifications were accepted, each once, in order; only the one the dead instance
      // was waiting for went out twice.
      assert.deepEqual(received.filter((r) => r.answered).map((r) => r.eventId), [first, second])
      assert.deepEqual(received.map((r) => r.eventId), [first, first, second])
    } finally {
      gateway.closeAllConnections()
      await new Promise((resolve) => gateway.close(resolve))
    }
  })

  it('keeps every instance alive but not ready while PostgreSQL is down (a 25 s outage, then a crash), starts one meanwhile, and all serve again without a restart, losing no acknowledged event', async () => {
    const [a, b, c] = cluster.instances as [Instance, Instance, Instance]
    const users = await Promise.all([0, 1, 2].map(() => registerUser(cluster.lb)))
    const [owner, ...others] = users as unknown as [Session, ...Session[]]
    const roomId = await roomWith(cluster.lb, owner, others)
    const senders = startSenders(users, roomId, 'pg')
    const ready = () => Promise.all(cluster.instances.map((i) => health(i.url, '/health/ready')))
    // Liveness, polled throughout: what the autoscaling group acts on must never fail for a database outage.
    const liveness = watchLiveness(cluster.instances)
    await sleep(1000)

    const timings: Record<string, number> = {}
    // A long outage (stop, 25 s, start), then one like a crash or failover (SIGQUIT: crash recovery at start).
    for (const [mode, outageMs] of [['fast', 25_000], ['immediate', 1000]] as const) {
      const stoppedAt = performance.now()
      await cluster.stopPostgres(mode)
      await until(async () => (await ready()).every((s) => s === 503), 15_000, () => `not every instance reported not ready while PostgreSQL was down (${mode})`)
      timings[`${mode}_all_503_after_ms`] = Math.round(performance.now() - stoppedAt)
      for (const i of cluster.instances) assert.equal(await health(i.url, '/health'), 503, `${i.name}: /health is readiness`)
      // Client requests meanwhile get a retryable 503 with a Matrix error, not a 500.
      const whoami = await a.api.get('/_matrix/client/v3/account/whoami', owner.access_token)
      assert.equal(whoami.status, 503, JSON.stringify(whoami.body))
      assert.equal(whoami.body?.errcode, 'M_UNKNOWN')
      if (mode === 'fast') {
        // An instance (re)started while the database is down waits for it instead of exiting.
        liveness.pause(c)
        c.kill('SIGTERM')
        assert.deepEqual(await c.exited, { code: 0, signal: null }, `${c.name} did not drain cleanly with PostgreSQL down:\n${c.logTail()}`)
        await c.start({ ready: false })
        liveness.resume(c)
        assert.equal(await health(c.url, '/health/ready'), 503)
      }
      await sleep(Math.max(0, outageMs - (performance.now() - stoppedAt)))
      assert.ok(cluster.instances.every((i) => i.running), 'an instance exited while PostgreSQL was down')
      const startedAt = performance.now()
      await cluster.startPostgres()
      await until(async () => (await ready()).every((s) => s === 200), 60_000, () => `an instance did not become ready after PostgreSQL came back (${mode})`)
      timings[`${mode}_all_ready_after_start_ms`] = Math.round(performance.now() - startedAt)
      await cluster.balancerSeesAll()
      const upAt = Date.now()
      await sleep(2000)
      for (const s of senders) assert.ok(s.ackedAfter(upAt) > 0, `a client made no progress after PostgreSQL came back (${mode})`)
    }
    const live = liveness.stop()
    // Never two failed checks in a row (a second or two), for any instance, across both outages.
    for (const [name, longest] of Object.entries(live.longestRun)) assert.ok(longest <= 1, `${name}: /health/live failed ${longest} times in a row during the outages`)
    await Promise.all(senders.map((s) => s.stop()))
    const result = await assertNoLoss(cluster.lb, owner.access_token, roomId, senders)

    // Long-polls wake across instances again, including on the instance that started during the outage (the
    // notifiers' LISTEN connections came back, or were first opened, by themselves).
    const [alice, bob] = [owner, others[0] as Session]
    const wake = await wakeLatencies([[a.api, b.api], [b.api, c.api], [c.api, a.api]], 6, roomId, alice, bob, 'after-restart')
    report({ scenario: 'PostgreSQL down 25 s, then crashed and restarted, under load', ...result, retried_requests: retried(senders), ...timings, live_checks: live.checks, live_checks_failed: live.failed, wake_after_restart: summary(wake) })
  })

  it('restarts every instance in turn (SIGTERM, exit 0, start) under load without losing an acknowledged event', async () => {
    const users = await Promise.all([0, 1, 2].map(() => registerUser(cluster.lb)))
    const [owner, ...others] = users as unknown as [Session, ...Session[]]
    const roomId = await roomWith(cluster.lb, owner, others)
    const senders = startSenders(users, roomId, 'roll')
    await sleep(500)
    for (const instance of cluster.instances) {
      instance.kill('SIGTERM')
      const exit = await instance.exited
      assert.deepEqual(exit, { code: 0, signal: null }, `${instance.name} did not drain cleanly:\n${instance.logTail()}`)
      await instance.start()
      await cluster.balancerSeesAll()
    }
    await Promise.all(senders.map((s) => s.stop()))
    const result = await assertNoLoss(cluster.lb, owner.access_token, roomId, senders)
    report({ scenario: 'rolling restart under load', ...result, retried_requests: retried(senders) })
  })

  it('answers a waiting long-poll early on SIGTERM, finishes the request in flight, and exits 0', async () => {
    const [a, , c] = cluster.instances as [Instance, Instance, Instance]
    const alice = await registerUser(a.api)
    const bob = await registerUser(a.api)
    const roomId = await roomWith(a.api, alice, [bob])
    const since = await syncToken(c.api, bob)
    const sql = await cluster.sql()
    try {
      // Hold the room's write lock (the room writer's advisory lock) so a send on C stays in flight.
      await sql.query('SELECT pg_advisory_lock(1, hashtext($1))', [roomId])
      const polling = c.api.get(`${CS}/sync?since=${since}&timeout=30000`, bob.access_token)
      let sendSettled = false
      const sending = c.api
        .put(`${CS}/rooms/${enc(roomId)}/send/m.room.message/drain-1`, { msgtype: 'm.text', body: 'in flight' }, alice.access_token)
        .finally(() => (sendSettled = true))
      await sleep(500)
      const signalled = performance.now()
      c.kill('SIGTERM')
      const poll = await polling
      const answeredAfter = performance.now() - signalled
      assert.equal(poll.status, 200, JSON.stringify(poll.body))
      assert.equal(sendSettled, false, 'the send finished before its lock was released')
      assert.equal(c.running, true, 'the instance exited with a request in flight')
      // Meanwhile the balancer sends new requests to the others.
      for (let i = 0; i < 6; i++) assert.equal((await cluster.lb.get(`${CS}/rooms/${enc(roomId)}/joined_members`, bob.access_token)).status, 200)
      await sleep(300)
      await sql.query('SELECT pg_advisory_unlock(1, hashtext($1))', [roomId])
      const sent = await sending
      assert.equal(sent.status, 200, JSON.stringify(sent.body))
      assert.deepEqual(await c.exited, { code: 0, signal: null }, c.logTail())
      const stored = await allMessages(a.api, alice.access_token, roomId)
      assert.deepEqual(stored.map((e) => e.event_id), [sent.body.event_id])
      report({ scenario: 'SIGTERM drain', long_poll_answered_after_ms: Math.round(answeredAfter) })
    } finally {
      await sql.end()
    }
  })
})
