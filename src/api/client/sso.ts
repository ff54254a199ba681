// GET /_matrix/client/v3/login/sso/redirect, /login/sso/redirect/{idpId}, /login/cas/redirect,
// /login/cas/ticket and /auth/m.login.sso/fallback/web
// Spec: client-server-api, "Client login via SSO" and "Single Sign-On" (UIA, fallback); CAS: the
// ticket comes back to /login/cas/ticket, as Synapse serves it.
import { Type } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'
import { defineRoute } from '../route.ts'
import { cs } from '../paths.ts'
import { SsoError } from '../../users/index.ts'
import { confirmLoginPage, errorPage, uiaDonePage, uiaStartPage, uiaWrongUserPage } from '../pages/sso-pages.ts'

const RedirectQuery = Type.Object({ redirectUrl: Type.String({ minLength: 1, maxLength: 4096 }) })

function redirect(reply: FastifyReply, location: string): FastifyReply {
  return reply.code(302).header('location', location).header('cache-control', 'no-store').send()
}

/** An SsoError becomes a page for the browser; anything else goes to the usual error handler. */
async function page(reply: FastifyReply, render: () => Promise<FastifyReply>): Promise<FastifyReply> {
  try {
    return await render()
  } catch (err) {
    if (err instanceof SsoError) return errorPage(reply, err.status, err.title, err.message)
    throw err
  }
}

export const ssoRedirect = defineRoute({
  method: 'GET',
  // m.login.cas's own path, which older clients still use, does the same.
  url: [...cs('/login/sso/redirect'), ...cs('/login/cas/redirect')],
  auth: 'none',
  query: RedirectQuery,
  async handler(ctx, { query, reply }) {
    return redirect(reply, ctx.sso.loginRedirect(query.redirectUrl) as string)
  },
})

export const ssoRedirectIdp = defineRoute({
  method: 'GET',
  url: cs('/login/sso/redirect/:idpId'),
  auth: 'none',
  params: Type.Object({ idpId: Type.String({ minLength: 1, maxLength: 255 }) }),
  query: RedirectQuery,
  async handler(ctx, { params, query, reply }) {
    const location = ctx.sso.loginRedirect(query.redirectUrl, params.idpId)
    if (location === null) return errorPage(reply, 404, 'Unknown sign-in provider', 'This server does not offer that way of signing in.')
    return redirect(reply, location)
  },
})

export const casTicket = defineRoute({
  method: 'GET',
  url: cs('/login/cas/ticket'),
  auth: 'none',
  query: Type.Object({
    ticket: Type.String({ minLength: 1, maxLength: 4096 }),
    redirectUrl: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    session: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  }),
  async handler(ctx, { query, reply }) {
    return page(reply, async () => {
      const outcome = await ctx.sso.handleTicket(query)
      if (outcome.kind === 'uia') return outcome.matched ? uiaDonePage(reply) : uiaWrongUserPage(reply, outcome.expectedUser)
      if (!outcome.confirm) return redirect(reply, outcome.location)
      return confirmLoginPage(reply, ctx.config.server_name, outcome.userId, outcome.location)
    })
  },
})

export const ssoFallback = defineRoute({
  method: 'GET',
  url: cs('/auth/m.login.sso/fallback/web'),
  auth: 'none',
  query: Type.Object({ session: Type.String({ minLength: 1, maxLength: 255 }) }),
  async handler(ctx, { query, reply }) {
    return page(reply, async () => uiaStartPage(reply, ctx.config.sso.cas.idp_name, await ctx.sso.uiaRedirect(query.session)))
  },
})
