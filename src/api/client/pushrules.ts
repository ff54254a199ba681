// GET /pushrules/, GET /pushrules/global/, GET/PUT/DELETE /pushrules/global/{kind}/{ruleId},
// GET/PUT /pushrules/global/{kind}/{ruleId}/enabled, GET/PUT /pushrules/global/{kind}/{ruleId}/actions
// Spec: client-server-api, "Push Rules: API" (data/api/client-server/pushrules.yaml)
import { Type } from '@sinclair/typebox'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'

const Kind = Type.Union([Type.Literal('override'), Type.Literal('underride'), Type.Literal('sender'), Type.Literal('room'), Type.Literal('content')])
const RuleParams = Type.Object({ kind: Kind, ruleId: Type.String({ minLength: 1, maxLength: 1000 }) })

export const getPushRules = defineRoute({
  method: 'GET',
  url: cs('/pushrules/'),
  auth: 'user',
  async handler(ctx, { requester }) {
    return { global: await ctx.push.ruleset(requester.userId) }
  },
})

export const getGlobalPushRules = defineRoute({
  method: 'GET',
  url: cs('/pushrules/global/'),
  auth: 'user',
  async handler(ctx, { requester }) {
    return ctx.push.ruleset(requester.userId)
  },
})

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
