// The pages behind the links in validation mails (GET), their confirmation form (POST, form-encoded), and
// submit_url (POST, JSON {sid, client_secret, token}, as the identity service API's submitToken).
// Paths as Synapse serves them, so a reverse proxy set up for Synapse forwards them.
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AppContext } from '../../context.ts'
import { LINK_PATHS, type ValidationPurpose } from '../../email/threepids.ts'
import { PAGE_HEADERS, renderPage, type PageContent } from '../../email/pages.ts'
import { parseClientJsonBytes } from '../../shared/client-json.ts'
import { MatrixError } from '../../shared/errors.ts'
import { defineRoute } from '../route.ts'

interface LinkParams {
  token?: string | undefined
  client_secret?: string | undefined
  sid?: string | undefined
}

const Param = Type.Optional(Type.String({ maxLength: 512 }))
const LinkQuery = Type.Object({ token: Param, client_secret: Param, sid: Param })

const DONE: Record<ValidationPurpose, PageContent> = {
  add_threepid: { title: 'E-mail address validated', paragraphs: ['Your e-mail address has been validated. Go back to your app to finish adding it to your account.'] },
  registration: { title: 'E-mail address validated', paragraphs: ['Your e-mail address has been validated. Go back to your app to finish creating your account.'] },
  password_reset: {
    title: 'Password reset confirmed',
    paragraphs: ['Your e-mail address has been confirmed. Go back to your app and continue: your new password takes effect there.'],
  },
}

function sendPage(ctx: AppContext, reply: FastifyReply, status: number, content: PageContent): FastifyReply {
  return reply.code(status).headers(PAGE_HEADERS).send(renderPage(ctx.config.email.app_name, content))
}

function errorPage(ctx: AppContext, reply: FastifyReply, err: unknown): FastifyReply {
  if (!(err instanceof MatrixError)) throw err
  const status = err.status === 429 ? 429 : 400
  return sendPage(ctx, reply, status, { title: 'This link cannot be used', paragraphs: [err.message, 'Ask your app to send a new mail if you still need one.'], error: true })
}

function complete(params: LinkParams): { sid: string; clientSecret: string; token: string } {
  const { sid, client_secret: clientSecret, token } = params
  if (!sid || !clientSecret || !token) throw new MatrixError('M_MISSING_PARAM', 'This link is incomplete: copy the whole link from the mail')
  return { sid, clientSecret, token }
}

/** The session is validated, then the browser goes to the client's next_link or sees that it is done. */
async function validateAndAnswer(ctx: AppContext, reply: FastifyReply, purpose: ValidationPurpose, params: LinkParams): Promise<FastifyReply> {
  try {
    const { sid, clientSecret, token } = complete(params)
    const session = await ctx.threepids.validate(purpose, sid, clientSecret, token)
    if (session.next_link) return reply.code(302).header('cache-control', 'no-store').header('location', session.next_link).send()
    return sendPage(ctx, reply, 200, DONE[purpose])
  } catch (err) {
    return errorPage(ctx, reply, err)
  }
}

const linkRoutes = (purpose: ValidationPurpose) => {
  const url = LINK_PATHS[purpose]
  const get = defineRoute({
    method: 'GET',
    url,
    auth: 'none',
    query: LinkQuery,
    async handler(ctx, { query, reply }) {
      if (!ctx.threepids.enabled) return errorPage(ctx, reply, new MatrixError('M_UNRECOGNIZED', 'This server does not send e-mail'))
      if (purpose !== 'password_reset') return validateAndAnswer(ctx, reply, purpose, query)
      // A password reset is confirmed by a button, so a mail scanner that fetches links confirms nothing.
      try {
        const { sid, clientSecret, token } = complete(query)
        await ctx.threepids.peek(purpose, sid, clientSecret, token)
        return sendPage(ctx, reply, 200, {
          title: 'Reset your password',
          paragraphs: ['Someone, hopefully you, asked to reset the password of the account with this e-mail address.', 'Confirm only if that was you.'],
          form: { action: url, fields: { sid, client_secret: clientSecret, token }, button: 'Confirm the password reset' },
        })
      } catch (err) {
        return errorPage(ctx, reply, err)
      }
    },
  })
  const post = defineRoute({
    method: 'POST',
    url,
    auth: 'none',
    bodyLimit: 16 * 1024,
    async handler(ctx, { request, reply }) {
      const raw = (request as FastifyRequest).body as Buffer | undefined
      const type = String(request.headers['content-type'] ?? '')
      if (type.startsWith('application/x-www-form-urlencoded')) {
        if (!ctx.threepids.enabled) return errorPage(ctx, reply, new MatrixError('M_UNRECOGNIZED', 'This server does not send e-mail'))
        const form = new URLSearchParams(raw?.toString('utf8') ?? '')
        const params: LinkParams = { sid: form.get('sid') ?? undefined, client_secret: form.get('client_secret') ?? undefined, token: form.get('token') ?? undefined }
        return validateAndAnswer(ctx, reply, purpose, params)
      }
      // submit_url: the token the user typed into their app.
      const body = raw && raw.length > 0 ? parseClientJsonBytes(raw, { maxValues: 100 }) : {}
      const fields = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {}
      const { sid, client_secret: clientSecret, token } = fields
      if (typeof sid !== 'string' || typeof clientSecret !== 'string' || typeof token !== 'string') {
        throw new MatrixError('M_MISSING_PARAM', 'sid, client_secret and token are required strings')
      }
      await ctx.threepids.validate(purpose, sid, clientSecret, token)
      return { success: true }
    },
  })
  return [get, post]
}

export const [addThreepidLink, addThreepidSubmit] = linkRoutes('add_threepid')
export const [registrationLink, registrationSubmit] = linkRoutes('registration')
export const [passwordResetLink, passwordResetSubmit] = linkRoutes('password_reset')
