// GET /pushrules/, GET /pushrules/global/, GET /pushrules/global/{kind}/, GET/PUT/DELETE
// /pushrules/global/{kind}/{ruleId}, GET/PUT /pushrules/global/{kind}/{ruleId}/enabled and /actions
// Spec: client-server-api, "Push Rules: API" (data/api/client-server/pushrules.yaml). The trailing slash of
// a listing is significant, as in Synapse (the router ignores it, so the handlers look): /pushrules without
// it is unknown (404), a scope or kind without it, an unknown scope, kind or attribute is refused (400
// M_UNRECOGNIZED).
import { Type } from '@sinclair/typebox'
import type { FastifyRequest } from 'fastify'
import { MatrixError } from '../../shared/errors.ts'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'

const KINDS = ['override', 'underride', 'sender', 'room', 'content'] as const
const unrecognized = (what: string) => new MatrixError('M_UNRECOGNIZED', what, 400)
/** Whether the request's path (without its query) ends with a slash. */
const slashed = (request: FastifyRequest) => (request.url.split('?')[0] ?? '').endsWith('/')

const Kind = Type.Union([Type.Literal('override'), Type.Literal('underride'), Type.Literal('sender'), Type.Literal('room'), Type.Literal('content')])
const RuleParams = Type.Object({ kind: Kind, ruleId: Type.String({ minLength: 1, maxLength: 1000 }) })

export const getPushRules = defineRoute({
  method: 'GET',
  url: cs('/pushrules/'),
  auth: 'user',
  async handler(ctx, { requester, request }) {
    if (!slashed(request)) throw new MatrixError('M_UNRECOGNIZED', 'Unrecognized request: the push rules are at /pushrules/', 404)
    return { global: await ctx.push.ruleset(requester.userId) }
  },
})

export const getGlobalPushRules = defineRoute({
  method: 'GET',
  url: cs('/pushrules/global/'),
  auth: 'user',
  async handler(ctx, { requester, request }) {
    if (!slashed(request)) throw unrecognized('A scope is listed with a trailing slash: /pushrules/global/')
    return ctx.push.ruleset(requester.userId)
  },
})

export const getPushRulesOfKind = defineRoute({
  method: 'GET',
  url: cs('/pushrules/global/:kind'),
  auth: 'user',
  params: Type.Object({ kind: Type.String({ maxLength: 255 }) }),
  async handler(ctx, { requester, params, request }) {
    const kind = KINDS.find((k) => k === params.kind)
    if (kind === undefined) throw unrecognized('Unknown push rule kind')
    if (!slashed(request)) throw unrecognized(`A kind is listed with a trailing slash: /pushrules/global/${kind}/`)
    return (await ctx.push.ruleset(requester.userId))[kind]
  },
})

/** Anything else under /pushrules: another scope, an unknown attribute, a missing kind or rule ID (400). */
function otherPushRulePaths(method: 'GET' | 'PUT' | 'DELETE') {
  return defineRoute({
    method,
    url: [...(method === 'GET' ? [] : cs('/pushrules/')), ...cs('/pushrules/:scope'), ...cs('/pushrules/:scope/*'), ...cs('/pushrules/global/:kind/:ruleId/:attribute')],
    auth: 'user',
    async handler() {
      throw unrecognized('Unrecognized push rules request')
    },
  })
}
export const otherPushRuleGets = otherPushRulePaths('GET')
export const otherPushRulePuts = otherPushRulePaths('PUT')
export const otherPushRuleDeletes = otherPushRulePaths('DELETE')

export const getPushRule = defineRoute({
  method: 'GET',
  url: cs('/pushrules/global/:kind/:ruleId'),
  auth: 'user',
  params: RuleParams,
  async handler(ctx, { requester, params }) {
    return ctx.push.getRule(requester.userId, params.kind, params.ruleId)
  },
})

export const putPushRule = defineRoute({
  method: 'PUT',
  url: cs('/pushrules/global/:kind/:ruleId'),
  auth: 'user',
  params: RuleParams,
  query: Type.Object({ before: Type.Optional(Type.String({ minLength: 1 })), after: Type.Optional(Type.String({ minLength: 1 })) }),
  body: Type.Object({
    actions: Type.Array(Type.Unknown()),
    conditions: Type.Optional(Type.Array(Type.Unknown())),
    pattern: Type.Optional(Type.String()),
  }),
  async handler(ctx, { requester, params, query, body }) {
    await ctx.push.putRule(requester.userId, params.kind, params.ruleId, body, {
      ...(query.before !== undefined ? { before: query.before } : {}),
      ...(query.after !== undefined ? { after: query.after } : {}),
    })
    return {}
  },
})

export const deletePushRule = defineRoute({
  method: 'DELETE',
  url: cs('/pushrules/global/:kind/:ruleId'),
  auth: 'user',
  params: RuleParams,
  async handler(ctx, { requester, params }) {
    await ctx.push.deleteRule(requester.userId, params.kind, params.ruleId)
    return {}
  },
})

export const getPushRuleEnabled = defineRoute({
  method: 'GET',
  url: cs('/pushrules/global/:kind/:ruleId/enabled'),
  auth: 'user',
  params: RuleParams,
  async handler(ctx, { requester, params }) {
    return { enabled: await ctx.push.isEnabled(requester.userId, params.kind, params.ruleId) }
  },
})

export const putPushRuleEnabled = defineRoute({
  method: 'PUT',
  url: cs('/pushrules/global/:kind/:ruleId/enabled'),
  auth: 'user',
  params: RuleParams,
  body: Type.Object({ enabled: Type.Boolean() }),
  async handler(ctx, { requester, params, body }) {
    await ctx.push.setEnabled(requester.userId, params.kind, params.ruleId, body.enabled)
    return {}
  },
})

export const getPushRuleActions = defineRoute({
  method: 'GET',
  url: cs('/pushrules/global/:kind/:ruleId/actions'),
  auth: 'user',
  params: RuleParams,
  async handler(ctx, { requester, params }) {
    return { actions: await ctx.push.actions(requester.userId, params.kind, params.ruleId) }
  },
})

export const putPushRuleActions = defineRoute({
  method: 'PUT',
  url: cs('/pushrules/global/:kind/:ruleId/actions'),
  auth: 'user',
  params: RuleParams,
  body: Type.Object({ actions: Type.Array(Type.Unknown()) }),
  async handler(ctx, { requester, params, body }) {
    await ctx.push.setActions(requester.userId, params.kind, params.ruleId, body.actions)
    return {}
  },
})
