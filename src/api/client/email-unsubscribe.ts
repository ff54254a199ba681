// The page behind the unsubscribe link of digest mails (GET: what it will do, and a button), and its
// confirmation (POST, form-encoded: the page's form, or a mail client's RFC 8058 one-click POST to the link
// with its token in the query), which removes that e-mail pusher. A mail scanner that opens the link only
// sees the page. Under /_synapse/client/, as the other pages behind mailed links.
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AppContext } from '../../context.ts'
import { PAGE_HEADERS, renderPage, type PageContent } from '../../email/pages.ts'
import { UNSUBSCRIBE_PATH } from '../../push/sender.ts'
import { defineRoute } from '../route.ts'

function sendPage(ctx: AppContext, reply: FastifyReply, status: number, content: PageContent): FastifyReply {
  return reply.code(status).headers(PAGE_HEADERS).send(renderPage(ctx.config.email.app_name, content))
}

const TokenQuery = Type.Object({ token: Type.Optional(Type.String({ maxLength: 512 })) })

const INVALID: PageContent = {
  title: 'This link cannot be used',
  paragraphs: ['This unsubscribe link is not valid, or these e-mail notifications are already off.', 'You can turn e-mail notifications on or off in your app’s notification settings.'],
  error: true,
}

export const unsubscribePage = defineRoute({
  method: 'GET',
  url: UNSUBSCRIBE_PATH,
  auth: 'none',
  query: TokenQuery,
  async handler(ctx, { query, reply }) {
    const token = query.token ?? ''
    const target = await ctx.pushers.unsubscribeTarget(token)
    if (target === null) return sendPage(ctx, reply, 400, INVALID)
    return sendPage(ctx, reply, 200, {
      title: 'Stop e-mail notifications',
      paragraphs: [`Messages you have not read will no longer be mailed to ${target.address}.`, 'Confirm to stop these e-mails.'],
      form: { action: UNSUBSCRIBE_PATH, fields: { token }, button: 'Stop e-mail notifications' },
    })
  },
})

export const unsubscribeConfirm = defineRoute({
  method: 'POST',
  url: UNSUBSCRIBE_PATH,
  auth: 'none',
  bodyLimit: 4 * 1024,
  query: TokenQuery,
  async handler(ctx, { request, query, reply }) {
    const raw = (request as FastifyRequest).body as Buffer | undefined
    const form = new URLSearchParams(raw?.toString('utf8') ?? '')
    if (!(await ctx.pushers.unsubscribe(form.get('token') ?? query.token ?? ''))) return sendPage(ctx, reply, 400, INVALID)
    return sendPage(ctx, reply, 200, {
      title: 'E-mail notifications stopped',
      paragraphs: ['You will get no more e-mails about messages you have not read at this address.', 'You can turn them on again in your app’s notification settings.'],
    })
  },
})
