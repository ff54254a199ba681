// The push rules API (client-server API, "Push Rules: API") and its m.push_rules account data
// ("Push Rules: Events"), over HTTP against a real server.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { registerUser, startTestServer, type Session, type TestServer } from '../support/server.ts'

const t: TestServer = await startTestServer()
const G = '/_matrix/client/v3/pushrules/global'
const enc = encodeURIComponent


/** The server-default content rule (the legacy .m.rule.contains_user_name), after the user's own. */
const DEFAULT_CONTENT = '.m.rule.contains_user_name'

async function ids(user: Session, kind: string): Promise<string[]> {
  const res = await t.api.get(`${G}/`, user.access_token)
  assert.equal(res.status, 200)
  return res.body[kind].map((r: { rule_id: string }) => r.rule_id)
}

async function put(user: Session, path: string, body: unknown) {
  return t.api.put(`${G}/${path}`, body, user.access_token)
}

function assertError(res: { status: number; body: { errcode?: string } }, status: number, errcode: string) {
  assert.equal(res.status, status, JSON.stringify(res.body))
  assert.equal(res.body.errcode, errcode)
}

describe('GET /pushrules/', () => {
  it("returns the global ruleset with the server-default rules for a new user", async () => {
    const alice = await registerUser(t.api)
    const res = await t.api.get('/_matrix/client/v3/pushrules/', alice.access_token)
    assert.equal(res.status, 200)
    const global = res.body.global
    assert.deepEqual(Object.keys(global).sort(), ['content', 'override', 'room', 'sender', 'underride'])
    assert.deepEqual(global.override[0], { rule_id: '.m.rule.master', default: true, enabled: false, conditions: [], actions: [] })
    const mention = global.override.find((r: { rule_id: string }) => r.rule_id === '.m.rule.is_user_mention')
    assert.equal(mention.conditions[0].value, alice.user_id)
    assert.deepEqual(global.underride.map((r: { rule_id: string }) => r.rule_id), [
      '.m.rule.call', '.m.rule.encrypted_room_one_to_one', '.m.rule.room_one_to_one', '.m.rule.message', '.m.rule.encrypted',
    ])
    assert.deepEqual(global.content, [
      { rule_id: '.m.rule.contains_user_name', default: true, enabled: true, pattern: alice.username, actions: ['notify', { set_tweak: 'sound', value: 'default' }, { set_tweak: 'highlight' }] },
    ])
    assert.deepEqual([global.room, global.sender], [[], []])
  })

  it('answers on the r0 path too, and not without the trailing slash (404, as Synapse)', async () => {
    const alice = await registerUser(t.api)
    assertError(await t.api.get('/_matrix/client/v3/pushrules', alice.access_token), 404, 'M_UNRECOGNIZED')
    assert.ok((await t.api.get('/_matrix/client/r0/pushrules/', alice.access_token)).body.global)
  })

  it('refuses a request without an access token with 401 M_MISSING_TOKEN', async () => {
    assertError(await t.api.get('/_matrix/client/v3/pushrules/'), 401, 'M_MISSING_TOKEN')
  })
})

describe('GET /pushrules/global/', () => {
  it('returns the ruleset itself', async () => {
    const alice = await registerUser(t.api)
    const all = await t.api.get('/_matrix/client/v3/pushrules/', alice.access_token)
    const global = await t.api.get(`${G}/`, alice.access_token)
    assert.equal(global.status, 200)
    assert.deepEqual(global.body, all.body.global)
  })
})

describe('GET /pushrules/global/:kind/, and paths that name no rule', () => {
  it("lists one kind's rules, the user's before the server-default ones", async () => {
    const alice = await registerUser(t.api)
    assert.equal((await put(alice, 'override/mine', { actions: ['notify'], conditions: [] })).status, 200)
    const override = await t.api.get(`${G}/override/`, alice.access_token)
    assert.equal(override.status, 200)
    assert.deepEqual(override.body.map((r: { rule_id: string }) => r.rule_id).slice(0, 2), ['.m.rule.master', 'mine'])
    assert.deepEqual((await t.api.get(`${G}/room/`, alice.access_token)).body, [])
  })

  it('refuses a scope or kind without its trailing slash, unknown scopes, kinds and attributes with 400 M_UNRECOGNIZED', async () => {
    const alice = await registerUser(t.api)
    for (const path of ['/global', '/global/room', '/not_a_scope/', '/global/not_a_template/', '/global/override/.m.rule.master/not_an_attr']) {
      assertError(await t.api.get(`/_matrix/client/v3/pushrules${path}`, alice.access_token), 400, 'M_UNRECOGNIZED')
    }
    assertError(await t.api.get(`${G}/override/not_a_rule_id`, alice.access_token), 404, 'M_NOT_FOUND')
  })

  it('refuses to put a rule where the path names none, with 400', async () => {
    const alice = await registerUser(t.api)
    for (const path of ['/', '/not_a_scope/room/%23spam:example.com', '/global', '/global/room', '/global/room/', '/global/override/.m.rule.master/not_an_attr']) {
      const res = await t.api.put(`/_matrix/client/v3/pushrules${path}`, { actions: ['notify'], enabled: true }, alice.access_token)
      assert.equal(res.status, 400, `${path}: ${JSON.stringify(res.body)}`)
    }
    const invalid = await t.api.put(`${G}/not_a_template/foo`, { actions: ['notify'] }, alice.access_token)
    assert.equal(invalid.status, 400, JSON.stringify(invalid.body))
  })
})

describe('PUT /pushrules/global/:kind/:ruleId', () => {
  it('creates a content rule that GET returns, enabled and not default', async () => {
    const alice = await registerUser(t.api)
    const res = await put(alice, 'content/nocake', { pattern: 'cake*lie', actions: ['notify'] })
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, {})
    const got = await t.api.get(`${G}/content/nocake`, alice.access_token)
    assert.equal(got.status, 200)
    assert.deepEqual(got.body, { rule_id: 'nocake', default: false, enabled: true, pattern: 'cake*lie', actions: ['notify'] })
  })

  it('stores override rules with their conditions (none given: an empty list)', async () => {
    const alice = await registerUser(t.api)
    const conditions = [
      { kind: 'event_match', key: 'content.body', pattern: 'beer' },
      { kind: 'room_member_count', is: '<=10' },
      { kind: 'org.example.custom', anything: 1 },
    ]
    assert.equal((await put(alice, 'override/beer', { conditions, actions: ['notify', { set_tweak: 'sound', value: 'beeroclock.wav' }] })).status, 200)
    const got = await t.api.get(`${G}/override/beer`, alice.access_token)
    assert.deepEqual(got.body.conditions, conditions)
    assert.equal((await put(alice, 'underride/bare', { actions: [] })).status, 200)
    assert.deepEqual((await t.api.get(`${G}/underride/bare`, alice.access_token)).body.conditions, [])
    const overrides = await ids(alice, 'override')
    assert.deepEqual(overrides.slice(0, 3), ['.m.rule.master', 'beer', '.m.rule.suppress_notices'], 'user overrides sit after master and before the other defaults')
  })

  it('creates room and sender rules keyed by room ID and user ID, and keeps the historical dont_notify action', async () => {
    const alice = await registerUser(t.api)
    assert.equal((await put(alice, `room/${enc('!foo:example.com')}`, { actions: ['notify'] })).status, 200)
    assert.equal((await put(alice, `sender/${enc('@spambot:matrix.org')}`, { actions: ['dont_notify'] })).status, 200)
    const global = (await t.api.get('/_matrix/client/v3/pushrules/', alice.access_token)).body.global
    assert.deepEqual(global.room, [{ rule_id: '!foo:example.com', default: false, enabled: true, actions: ['notify'] }])
    assert.deepEqual(global.sender[0].actions, ['dont_notify'])
  })

  it('puts a new rule first, and before/after place it next to a user rule', async () => {
    const alice = await registerUser(t.api)
    await put(alice, 'content/a', { pattern: 'a', actions: [] })
    await put(alice, 'content/b', { pattern: 'b', actions: [] })
    // The user's rules come before the server-default ones.
    assert.deepEqual(await ids(alice, 'content'), ['b', 'a', DEFAULT_CONTENT])
    assert.equal((await t.api.put(`${G}/content/c?before=a`, { pattern: 'c', actions: [] }, alice.access_token)).status, 200)
    assert.deepEqual(await ids(alice, 'content'), ['b', 'c', 'a', DEFAULT_CONTENT])
    assert.equal((await t.api.put(`${G}/content/d?after=b`, { pattern: 'd', actions: [] }, alice.access_token)).status, 200)
    assert.deepEqual(await ids(alice, 'content'), ['b', 'd', 'c', 'a', DEFAULT_CONTENT])
    assert.equal((await t.api.put(`${G}/content/e?after=a&before=b`, { pattern: 'e', actions: [] }, alice.access_token)).status, 200)
    assert.deepEqual(await ids(alice, 'content'), ['e', 'b', 'd', 'c', 'a', DEFAULT_CONTENT], 'before wins when both are given')
  })

  it('updates an existing rule in place, keeping its position and enabled flag unless moved', async () => {
    const alice = await registerUser(t.api)
    await put(alice, 'content/a', { pattern: 'a', actions: [] })
    await put(alice, 'content/b', { pattern: 'b', actions: [] })
    await put(alice, 'content/a/enabled', { enabled: false })
    assert.equal((await put(alice, 'content/a', { pattern: 'aa', actions: ['notify'] })).status, 200)
    assert.deepEqual(await ids(alice, 'content'), ['b', 'a', DEFAULT_CONTENT])
    const a = (await t.api.get(`${G}/content/a`, alice.access_token)).body
    assert.deepEqual(a, { rule_id: 'a', default: false, enabled: false, pattern: 'aa', actions: ['notify'] })
    await t.api.put(`${G}/content/a?before=b`, { pattern: 'aa', actions: [] }, alice.access_token)
    assert.deepEqual(await ids(alice, 'content'), ['a', 'b', DEFAULT_CONTENT])
  })

  it('refuses before/after naming an unknown or server-default rule with 400 M_UNKNOWN', async () => {
    const alice = await registerUser(t.api)
    assertError(await t.api.put(`${G}/content/x?before=nope`, { pattern: 'x', actions: [] }, alice.access_token), 400, 'M_UNKNOWN')
    assertError(await t.api.put(`${G}/override/x?after=.m.rule.master`, { actions: [] }, alice.access_token), 400, 'M_UNKNOWN')
    assert.deepEqual(await ids(alice, 'content'), [DEFAULT_CONTENT], 'nothing was created')
  })

  it('refuses rule IDs reserved for server-default rules or holding slashes with 400 M_INVALID_PARAM', async () => {
    const alice = await registerUser(t.api)
    assertError(await put(alice, 'override/.m.rule.master', { actions: ['notify'] }), 400, 'M_INVALID_PARAM')
    assertError(await put(alice, 'override/.my.rule', { actions: [] }), 400, 'M_INVALID_PARAM')
    assertError(await put(alice, `override/${enc('a\\b')}`, { actions: [] }), 400, 'M_INVALID_PARAM')
    assertError(await put(alice, `override/${enc('a/b')}`, { actions: [] }), 400, 'M_INVALID_PARAM')
  })

  it('refuses room and sender rules whose rule ID is not a room or user ID (a room alias is taken, as Synapse takes it)', async () => {
    const alice = await registerUser(t.api)
    assert.equal((await put(alice, `room/${enc('#spam:example.com')}`, { actions: ['dont_notify'] })).status, 200)
    assertError(await put(alice, 'room/notaroom', { actions: [] }), 400, 'M_INVALID_PARAM')
    assertError(await put(alice, 'sender/notauser', { actions: [] }), 400, 'M_INVALID_PARAM')
  })

  it('refuses invalid bodies with the matching errcode', async () => {
    const alice = await registerUser(t.api)
    assertError(await put(alice, 'override/x', { conditions: [] }), 400, 'M_MISSING_PARAM')
    assertError(await put(alice, 'override/x', { actions: 'notify' }), 400, 'M_BAD_JSON')
    assertError(await put(alice, 'override/x', { actions: ['explode'] }), 400, 'M_INVALID_PARAM')
    assertError(await put(alice, 'override/x', { actions: [{ value: 1 }] }), 400, 'M_INVALID_PARAM')
    assertError(await put(alice, 'override/x', { actions: [], conditions: [{ key: 'type' }] }), 400, 'M_MISSING_PARAM')
    assertError(await put(alice, 'override/x', { actions: [], conditions: [{ kind: 'event_match', key: 'type' }] }), 400, 'M_MISSING_PARAM')
    assertError(await put(alice, 'override/x', { actions: [], conditions: [{ kind: 'room_member_count', is: 'lots' }] }), 400, 'M_INVALID_PARAM')
    assertError(await put(alice, 'override/x', { actions: [], conditions: [{ kind: 'event_property_is', key: 'k', value: { a: 1 } }] }), 400, 'M_INVALID_PARAM')
    assertError(await put(alice, 'content/x', { actions: [] }), 400, 'M_MISSING_PARAM')
    assertError(await put(alice, 'content/x', { actions: [], pattern: 5 }), 400, 'M_BAD_JSON')
    assertError(await t.api.request('PUT', `${G}/override/x`, { body: 'not json', token: alice.access_token }), 400, 'M_NOT_JSON')
    assertError(await put(alice, 'global/x', { actions: [] }), 400, 'M_INVALID_PARAM')
    assert.deepEqual(await ids(alice, 'override'), (await ids(await registerUser(t.api), 'override')), 'nothing was stored')
  })
})

describe('DELETE /pushrules/global/:kind/:ruleId', () => {
  it('deletes a user rule, which then answers 404', async () => {
    const alice = await registerUser(t.api)
    await put(alice, 'content/gone', { pattern: 'x', actions: [] })
    const res = await t.api.delete(`${G}/content/gone`, undefined, alice.access_token)
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, {})
    assertError(await t.api.get(`${G}/content/gone`, alice.access_token), 404, 'M_NOT_FOUND')
  })

  it('answers 404 M_NOT_FOUND for an unknown rule, and for a rule of the wrong kind', async () => {
    const alice = await registerUser(t.api)
    await put(alice, 'content/mine', { pattern: 'x', actions: [] })
    assertError(await t.api.delete(`${G}/content/nope`, undefined, alice.access_token), 404, 'M_NOT_FOUND')
    assertError(await t.api.delete(`${G}/override/mine`, undefined, alice.access_token), 404, 'M_NOT_FOUND')
  })

  it('refuses to delete a server-default rule with 400 M_INVALID_PARAM', async () => {
    const alice = await registerUser(t.api)
    assertError(await t.api.delete(`${G}/override/.m.rule.master`, undefined, alice.access_token), 400, 'M_INVALID_PARAM')
    assert.equal((await ids(alice, 'override'))[0], '.m.rule.master')
  })

  it("cannot touch another user's rules", async () => {
    const alice = await registerUser(t.api)
    const bob = await registerUser(t.api)
    await put(alice, 'content/private', { pattern: 'x', actions: [] })
    assertError(await t.api.delete(`${G}/content/private`, undefined, bob.access_token), 404, 'M_NOT_FOUND')
    assert.equal((await t.api.get(`${G}/content/private`, alice.access_token)).status, 200)
  })
})

describe('GET/PUT /pushrules/global/:kind/:ruleId/enabled', () => {
  it('reads and changes whether a server-default rule is enabled', async () => {
    const alice = await registerUser(t.api)
    assert.deepEqual((await t.api.get(`${G}/override/.m.rule.master/enabled`, alice.access_token)).body, { enabled: false })
    assert.equal((await put(alice, 'override/.m.rule.master/enabled', { enabled: true })).status, 200)
    assert.deepEqual((await t.api.get(`${G}/override/.m.rule.master/enabled`, alice.access_token)).body, { enabled: true })
    const master = (await t.api.get(`${G}/override/.m.rule.master`, alice.access_token)).body
    assert.deepEqual(master, { rule_id: '.m.rule.master', default: true, enabled: true, conditions: [], actions: [] })
  })

  it('disables and re-enables a user rule', async () => {
    const alice = await registerUser(t.api)
    await put(alice, `room/${enc('!r:example.com')}`, { actions: [] })
    await put(alice, `room/${enc('!r:example.com')}/enabled`, { enabled: false })
    assert.deepEqual((await t.api.get(`${G}/room/${enc('!r:example.com')}/enabled`, alice.access_token)).body, { enabled: false })
    await put(alice, `room/${enc('!r:example.com')}/enabled`, { enabled: true })
    assert.deepEqual((await t.api.get(`${G}/room/${enc('!r:example.com')}/enabled`, alice.access_token)).body, { enabled: true })
  })

  it('answers 404 M_NOT_FOUND for unknown rules and 400 for a body without a boolean', async () => {
    const alice = await registerUser(t.api)
    assertError(await t.api.get(`${G}/override/nope/enabled`, alice.access_token), 404, 'M_NOT_FOUND')
    assertError(await put(alice, 'override/nope/enabled', { enabled: true }), 404, 'M_NOT_FOUND')
    assertError(await put(alice, 'underride/.m.rule.master/enabled', { enabled: true }), 404, 'M_NOT_FOUND')
    assertError(await put(alice, 'override/.m.rule.master/enabled', {}), 400, 'M_MISSING_PARAM')
    assertError(await put(alice, 'override/.m.rule.master/enabled', { enabled: 'yes' }), 400, 'M_BAD_JSON')
  })
})

describe('GET/PUT /pushrules/global/:kind/:ruleId/actions', () => {
  it("changes a server-default rule's actions", async () => {
    const alice = await registerUser(t.api)
    assert.deepEqual((await t.api.get(`${G}/underride/.m.rule.message/actions`, alice.access_token)).body, { actions: ['notify'] })
    const actions = ['notify', { set_tweak: 'highlight' }]
    assert.equal((await put(alice, 'underride/.m.rule.message/actions', { actions })).status, 200)
    assert.deepEqual((await t.api.get(`${G}/underride/.m.rule.message/actions`, alice.access_token)).body, { actions })
    const rule = (await t.api.get(`${G}/underride/.m.rule.message`, alice.access_token)).body
    assert.equal(rule.default, true)
    assert.equal(rule.enabled, true, 'changing actions keeps enabled')
  })

  it("changes a user rule's actions", async () => {
    const alice = await registerUser(t.api)
    await put(alice, 'content/x', { pattern: 'x', actions: [] })
    await put(alice, 'content/x/actions', { actions: ['notify', { set_tweak: 'sound', value: 'bing' }] })
    assert.deepEqual((await t.api.get(`${G}/content/x/actions`, alice.access_token)).body, { actions: ['notify', { set_tweak: 'sound', value: 'bing' }] })
  })

  it('answers 404 M_NOT_FOUND for unknown rules and 400 for invalid actions', async () => {
    const alice = await registerUser(t.api)
    assertError(await t.api.get(`${G}/content/nope/actions`, alice.access_token), 404, 'M_NOT_FOUND')
    assertError(await put(alice, 'content/nope/actions', { actions: [] }), 404, 'M_NOT_FOUND')
    assertError(await put(alice, 'underride/.m.rule.message/actions', { actions: ['boom'] }), 400, 'M_INVALID_PARAM')
    assertError(await put(alice, 'underride/.m.rule.message/actions', {}), 400, 'M_MISSING_PARAM')
  })
})

describe('m.push_rules account data', () => {
  it('comes down in an initial /sync before any rule was changed', async () => {
    const alice = await registerUser(t.api)
    const initial = await t.api.get('/_matrix/client/v3/sync', alice.access_token)
    const event = initial.body.account_data.events.find((e: { type: string }) => e.type === 'm.push_rules')
    assert.ok(event, 'm.push_rules is in the initial sync')
    const served = await t.api.get('/_matrix/client/v3/pushrules/', alice.access_token)
    assert.deepEqual(event.content, served.body)
    const filtered = await t.api.get(`/_matrix/client/v3/sync?filter=${enc(JSON.stringify({ account_data: { not_types: ['m.push_rules'] } }))}`, alice.access_token)
    assert.equal(filtered.body.account_data.events.some((e: { type: string }) => e.type === 'm.push_rules'), false)
  })

  it('delivers the new ruleset through /sync after each change, waking a long-poll', async () => {
    const alice = await registerUser(t.api)
    const initial = await t.api.get('/_matrix/client/v3/sync', alice.access_token)
    const poll = t.api.get(`/_matrix/client/v3/sync?since=${initial.body.next_batch}&timeout=20000`, alice.access_token)
    await put(alice, `room/${enc('!foo:example.com')}`, { actions: ['notify'] })
    const woken = await poll
    const event = woken.body.account_data.events.find((e: { type: string }) => e.type === 'm.push_rules')
    assert.ok(event, 'm.push_rules is in the incremental sync')
    assert.equal(event.content.global.room[0].rule_id, '!foo:example.com')

    await put(alice, `room/${enc('!foo:example.com')}/enabled`, { enabled: false })
    const next = await t.api.get(`/_matrix/client/v3/sync?since=${woken.body.next_batch}`, alice.access_token)
    const changed = next.body.account_data.events.find((e: { type: string }) => e.type === 'm.push_rules')
    assert.equal(changed.content.global.room[0].enabled, false)
    const stored = await t.api.get(`/_matrix/client/v3/user/${enc(alice.user_id)}/account_data/m.push_rules`, alice.access_token)
    assert.deepEqual(stored.body, changed.content)
  })
})
