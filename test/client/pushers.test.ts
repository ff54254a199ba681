// matrix-js-sdk's pusher and push-rule calls against a real Homestead (what Element's settings do): set a
// pusher, list it, get a message pushed to a gateway written in the tests, switch a rule off, remove the pusher.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createClient, PushRuleKind, type MatrixClient } from 'matrix-js-sdk'
import { logger as sdkLogger } from 'matrix-js-sdk/lib/logger.js'
import { registerUser, startTestServer, type TestServer } from '../support/server.ts'
import { startPushGateway, type PushGateway } from '../support/push-gateway.ts'

;(sdkLogger as unknown as { disableAll(): void }).disableAll()
const gateway: PushGateway = await startPushGateway()
after(() => gateway.close())
after(() => assert.deepEqual(gateway.invalid, [], 'every request matched the push gateway API'))
const t: TestServer = await startTestServer({ 'outbound.ip_range_allowlist': ['127.0.0.0/8'] })

async function client(): Promise<MatrixClient> {
  const session = await registerUser(t.api)
  return createClient({ baseUrl: t.url, userId: session.user_id, accessToken: session.access_token, deviceId: session.device_id })
}

describe("matrix-js-sdk's pusher calls", () => {
  it('set, list and remove a pusher, which a message reaches meanwhile, and change a push rule', async () => {
    const alice = await client()
    const bob = await client()
    const pushkey = `sdk-${process.pid}`
    await alice.setPusher({
      kind: 'http',
      app_id: 'org.example.sdk',
      pushkey,
      app_display_name: 'SDK test',
      device_display_name: 'Laptop',
      lang: 'en',
      data: { url: gateway.url, format: 'event_id_only' },
      append: false,
    })
    const { pushers } = await alice.getPushers()
    assert.deepEqual(pushers.map((p) => [p.pushkey, p.app_id, p.data.url]), [[pushkey, 'org.example.sdk', gateway.url]])

    const { room_id: roomId } = await alice.createRoom({ invite: [bob.getUserId() as string] })
    await bob.joinRoom(roomId)
    const { event_id: eventId } = await bob.sendTextMessage(roomId, 'ping')
    const pushed = await gateway.waitFor((n) => n.event_id === eventId && n.devices.some((d) => d.pushkey === pushkey), 'the push')
    assert.equal(pushed.room_id, roomId)

    const rules = await alice.getPushRules()
    assert.ok(rules.global.underride?.some((r) => r.rule_id === '.m.rule.room_one_to_one'))
    await alice.setPushRuleEnabled('global', PushRuleKind.Underride, '.m.rule.room_one_to_one', false)
    const after = await alice.getPushRules()
    assert.equal(after.global.underride?.find((r) => r.rule_id === '.m.rule.room_one_to_one')?.enabled, false)

    await alice.removePusher(pushkey, 'org.example.sdk')
    assert.deepEqual((await alice.getPushers()).pushers, [])
  })
})
