// Two matrix-js-sdk clients chatting through a real Homestead, each with its own /sync loop
// (startClient): create, invite, join, messages both ways, edit, reaction, redaction, thread reply,
// typing, read receipts and bundled aggregations; then the server restarts on the same database and a
// fresh client paginates the whole history back.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  ClientEvent,
  Direction,
  EventType,
  MsgType,
  RelationType,
  RoomEvent,
  RoomMemberEvent,
  createClient,
  type MatrixClient,
  type MatrixEvent,
  type Room,
} from 'matrix-js-sdk'
import type { RoomMessageEventContent } from 'matrix-js-sdk/lib/@types/events.js'
import { logger as sdkLogger } from 'matrix-js-sdk/lib/logger.js'
import { registerUser, startInstanceOn, startTestServer, type TestInstance, type TestServer } from '../support/server.ts'

const t: TestServer = await startTestServer()
;(sdkLogger as unknown as { disableAll(): void }).disableAll()

// matrix-js-sdk's timeoutSignal ponyfill (lib/http-api/utils.js) never clears its timer, so every /sync
// long-poll leaves a 110 s timer behind that would keep this test process alive long after the last test.
// Timers the SDK creates are unref'd: they still fire while the process runs, but do not hold it open.
const realSetTimeout = globalThis.setTimeout
globalThis.setTimeout = ((fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
  const timer = realSetTimeout(fn, ms, ...args)
  if ((ms ?? 0) >= 10_000 && new Error().stack?.includes('matrix-js-sdk')) timer.unref()
  return timer
}) as typeof setTimeout

/** Guards against hangs only: an awaited event that never comes fails the test with `what`. */
const HANG_GUARD_MS = 20_000

type Session = { user_id: string; access_token: string; device_id: string }

function sdkClient(baseUrl: string, session: Session): MatrixClient {
  return createClient({ baseUrl, userId: session.user_id, accessToken: session.access_token, deviceId: session.device_id })
}

/** Starts the client's sync loop and waits for its first sync to be processed. */
async function start(client: MatrixClient, initialSyncLimit = 20): Promise<void> {
  const ready = new Promise<void>((resolve, reject) => {
    const onSync = (state: string) => {
      if (state === 'PREPARED' || state === 'SYNCING') {
        client.off(ClientEvent.Sync, onSync)
        resolve()
      } else if (state === 'ERROR') reject(new Error('the first sync failed'))
    }
    client.on(ClientEvent.Sync, onSync)
  })
  await client.startClient({ initialSyncLimit })
  await ready
}

/** Resolves when `check` returns a value, re-checking on every event the client emits of `events`. */
function waitFor<T>(client: MatrixClient, events: string[], check: () => T | undefined | null | false, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const emitter = client as unknown as { on(e: string, fn: () => void): void; off(e: string, fn: () => void): void }
    const done = (value: T) => {
      clearTimeout(timer)
      for (const e of events) emitter.off(e, test)
      resolve(value)
    }
    const test = () => {
      const value = check()
      if (value) done(value)
    }
    const timer = setTimeout(() => {
      for (const e of events) emitter.off(e, test)
      reject(new Error(`timed out waiting for ${what}`))
    }, HANG_GUARD_MS)
    for (const e of events) emitter.on(e, test)
    test()
  })
}

const timelineEvents = (room: Room | null) => room?.getLiveTimeline().getEvents() ?? []

/** The event with this ID (or matching `match`) once the client's sync loop put it in the room's live timeline. */
function waitForTimelineEvent(client: MatrixClient, roomId: string, match: (e: MatrixEvent) => boolean, what: string): Promise<MatrixEvent> {
  return waitFor(client, [RoomEvent.Timeline, RoomEvent.Redaction, ClientEvent.Room, ClientEvent.Sync], () => timelineEvents(client.getRoom(roomId)).find(match), what)
}

const byId = (id: string) => (e: MatrixEvent) => e.getId() === id

const alice = await registerUser(t.api)
const bob = await registerUser(t.api)
const aliceClient = sdkClient(t.url, alice)
const bobClient = sdkClient(t.url, bob)
let secondServer: TestInstance | null = null
after(async () => {
  aliceClient.stopClient()
  bobClient.stopClient()
  await secondServer?.close()
})

describe('two matrix-js-sdk clients chatting through Homestead', () => {
  let roomId = ''
  /** Every m.room.message event ID of the conversation, in sending order, for the history check. */
  const conversation: string[] = []
  let firstFromAlice = ''
  let threadRoot = ''
  let editId = ''
  let threadReply = ''

  it('starts both sync loops; alice creates a room and invites bob, who sees the invite and joins', async () => {
    await start(aliceClient)
    await start(bobClient)
    roomId = (await aliceClient.createRoom({ name: 'SDK chat', invite: [bob.user_id] })).room_id
    await waitFor(bobClient, [RoomEvent.MyMembership, ClientEvent.Room], () => bobClient.getRoom(roomId)?.getMyMembership() === 'invite', 'the invite to reach bob')
    assert.equal(bobClient.getRoom(roomId)?.name, 'SDK chat', 'the invite carries the stripped name')
    await bobClient.joinRoom(roomId)
    await waitForTimelineEvent(aliceClient, roomId, (e) => e.getType() === EventType.RoomMember && e.getStateKey() === bob.user_id && e.getContent().membership === 'join', "bob's join at alice")
    await waitFor(aliceClient, [ClientEvent.Sync], () => aliceClient.getRoom(roomId)?.getJoinedMemberCount() === 2, 'two joined members at alice')
  })

  it('delivers messages both ways as timeline events', async () => {
    firstFromAlice = (await aliceClient.sendTextMessage(roomId, 'Hello Bob')).event_id
    conversation.push(firstFromAlice)
    const atBob = await waitForTimelineEvent(bobClient, roomId, byId(firstFromAlice), "alice's message at bob")
    assert.equal(atBob.getSender(), alice.user_id)
    assert.equal(atBob.getContent().body, 'Hello Bob')
    const reply = (await bobClient.sendTextMessage(roomId, 'Hi Alice')).event_id
    conversation.push(reply)
    const atAlice = await waitForTimelineEvent(aliceClient, roomId, byId(reply), "bob's reply at alice")
    assert.equal(atAlice.getContent().body, 'Hi Alice')
    // Alice's own message is in her timeline once, as the remote echo of her local echo.
    assert.equal(timelineEvents(aliceClient.getRoom(roomId)).filter((e) => e.getContent().body === 'Hello Bob').length, 1)
  })

  it('carries an edit (m.replace) that the other client applies to the original', async () => {
    editId = (
      await aliceClient.sendMessage(roomId, {
        msgtype: MsgType.Text,
        body: '* Hello, Bob!',
        'm.new_content': { msgtype: MsgType.Text, body: 'Hello, Bob!' },
        'm.relates_to': { rel_type: RelationType.Replace, event_id: firstFromAlice },
      })
    ).event_id
    conversation.push(editId)
    const edit = await waitForTimelineEvent(bobClient, roomId, byId(editId), 'the edit at bob')
    assert.equal(edit.getRelation()?.rel_type, RelationType.Replace)
    const original = await waitFor(bobClient, [RoomEvent.Timeline], () => {
      const e = timelineEvents(bobClient.getRoom(roomId)).find(byId(firstFromAlice))
      return e?.replacingEventId() === editId ? e : undefined
    }, 'the edit to apply to the original')
    assert.equal(original.getContent().body, 'Hello, Bob!')
  })

  it('carries a reaction (m.annotation) that the other client aggregates', async () => {
    const reaction = await bobClient.sendEvent(roomId, EventType.Reaction, {
      'm.relates_to': { rel_type: RelationType.Annotation, event_id: firstFromAlice, key: '👍' },
    })
    await waitForTimelineEvent(aliceClient, roomId, byId(reaction.event_id), 'the reaction at alice')
    const annotations = aliceClient.getRoom(roomId)?.relations.getChildEventsForEvent(firstFromAlice, RelationType.Annotation, EventType.Reaction)
    const byKey = annotations?.getSortedAnnotationsByKey() ?? []
    assert.deepEqual(byKey.map(([key, events]) => [key, events.size]), [['👍', 1]])
  })

  it('redacts a message, which the other client then shows redacted', async () => {
    const oops = (await aliceClient.sendTextMessage(roomId, 'wrong chat, sorry')).event_id
    await waitForTimelineEvent(bobClient, roomId, byId(oops), 'the message to redact at bob')
    await aliceClient.redactEvent(roomId, oops, undefined, { reason: 'mistake' })
    const redacted = await waitFor(bobClient, [RoomEvent.Redaction, RoomEvent.Timeline], () => {
      const e = timelineEvents(bobClient.getRoom(roomId)).find(byId(oops))
      return e?.isRedacted() ? e : undefined
    }, 'the redaction at bob')
    assert.deepEqual(redacted.getContent(), {})
    assert.equal(redacted.getUnsigned().redacted_because?.content?.reason, 'mistake')
  })

  it('carries a thread reply (m.thread) to the other client', async () => {
    threadRoot = (await bobClient.sendTextMessage(roomId, 'Shall we plan the trip?')).event_id
    conversation.push(threadRoot)
    await waitForTimelineEvent(aliceClient, roomId, byId(threadRoot), 'the thread root at alice')
    // The spec's thread reply with its reply fallback; the SDK's content types have no is_falling_back.
    const reply = {
      msgtype: MsgType.Text,
      body: 'Yes, in the thread',
      'm.relates_to': { rel_type: RelationType.Thread, event_id: threadRoot, is_falling_back: true, 'm.in_reply_to': { event_id: threadRoot } },
    } as unknown as RoomMessageEventContent
    threadReply = (await aliceClient.sendEvent(roomId, EventType.RoomMessage, reply)).event_id
    conversation.push(threadReply)
    const atBob = await waitForTimelineEvent(bobClient, roomId, byId(threadReply), 'the thread reply at bob')
    assert.equal(atBob.getRelation()?.rel_type, RelationType.Thread)
    assert.equal(atBob.getRelation()?.event_id, threadRoot)
    assert.equal(atBob.threadRootId, threadRoot)
  })

  it('shows typing notifications to the other client', async () => {
    await aliceClient.sendTyping(roomId, true, 20_000)
    await waitFor(bobClient, [RoomMemberEvent.Typing], () => bobClient.getRoom(roomId)?.getMember(alice.user_id)?.typing === true, 'alice typing at bob')
    await aliceClient.sendTyping(roomId, false, 0)
    await waitFor(bobClient, [RoomMemberEvent.Typing], () => bobClient.getRoom(roomId)?.getMember(alice.user_id)?.typing === false, 'alice stopped typing at bob')
  })

  it('shows read receipts to the other client', async () => {
    const room = bobClient.getRoom(roomId) as Room
    const latest = timelineEvents(room).filter((e) => e.getId() === threadRoot)[0] as MatrixEvent
    await bobClient.sendReadReceipt(latest)
    await waitFor(aliceClient, [RoomEvent.Receipt], () => aliceClient.getRoom(roomId)?.getEventReadUpTo(bob.user_id) === threadRoot, "bob's receipt at alice")
  })

  it('bundles the edit and the thread summary into the events the server serves', async () => {
    const original = await aliceClient.fetchRoomEvent(roomId, firstFromAlice)
    const relations = (original.unsigned as Record<string, any> | undefined)?.['m.relations']
    assert.equal(relations?.['m.replace']?.event_id, editId, 'm.replace: the latest edit')
    const root = await aliceClient.fetchRoomEvent(roomId, threadRoot)
    const thread = (root.unsigned as Record<string, any> | undefined)?.['m.relations']?.['m.thread']
    assert.equal(thread?.count, 1)
    assert.equal(thread?.latest_event?.event_id, threadReply)
    assert.equal(thread?.current_user_participated, true, 'alice replied in the thread')
    const page = await bobClient.createMessagesRequest(roomId, null, 50, Direction.Backward)
    const rootInPage = page.chunk.find((e) => e.event_id === threadRoot)
    assert.equal((rootInPage?.unsigned as Record<string, any> | undefined)?.['m.relations']?.['m.thread']?.latest_event?.event_id, threadReply)
  })

  it('lets a fresh client paginate the whole history back after the server restarted on the same database', async () => {
    aliceClient.stopClient()
    bobClient.stopClient()
    // Stop serving: answer the long-polls, close the listener (the harness closes the rest at the end).
    t.server.ctx.sync.drain()
    await t.server.app.close()
    secondServer = await startInstanceOn(t.database)

    const fresh = sdkClient(secondServer.url, bob)
    let events: MatrixEvent[]
    try {
      await start(fresh, 1)
      const room = fresh.getRoom(roomId)
      assert.ok(room, 'the room is in the first sync after the restart')
      const timeline = room.getLiveTimeline()
      while (await fresh.paginateEventTimeline(timeline, { backwards: true, limit: 5 })) {
        // Keep going until the server has no more history.
      }
      events = timeline.getEvents()
    } finally {
      fresh.stopClient()
      await secondServer.close()
      secondServer = null
    }
    assert.equal(events[0]?.getType(), EventType.RoomCreate, 'paginated back to the create event')
    const seen = events.filter((e) => conversation.includes(e.getId() as string)).map((e) => e.getId())
    assert.deepEqual(seen, conversation, 'every message once, in order')
    const message = events.find(byId(firstFromAlice))
    assert.equal(message?.getContent().body, 'Hello, Bob!', 'shown with its edit applied')
  })
})
