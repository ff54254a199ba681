// The pages single sign-on shows in the browser: self-contained HTML (no external assets), readable
// without CSS or script, with a content security policy that allows nothing but their own inline style
// and, where there is one, their own inline script (by hash).
import { createHash } from 'node:crypto'
import type { FastifyReply } from 'fastify'

const STYLE = [
  'body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b;background:#fff}',
  'a.button{display:inline-block;margin-top:1rem;padding:.6rem 1.2rem;background:#0b5cad;color:#fff;border-radius:.3rem;text-decoration:none;font-weight:600}',
  'a.button:hover{background:#084a8c}a:focus-visible{outline:3px solid #b35900;outline-offset:2px}',
  '.where{word-break:break-all;font-family:ui-monospace,monospace}',
  '@media (prefers-color-scheme:dark){body{background:#121212;color:#eee}a.button{background:#4d9be6;color:#0b1b2b}}',
].join('')

/** Tells the page that opened the fallback (or the client hosting it) that the stage is done, as the spec asks. */
const AUTH_DONE_SCRIPT =
  'if (window.onAuthDone) { window.onAuthDone(); } else if (window.opener && window.opener.postMessage) { window.opener.postMessage("authDone", "*"); }'
const AUTH_DONE_HASH = `'sha256-${createHash('sha256').update(AUTH_DONE_SCRIPT).digest('base64')}'`

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string)
}

function send(reply: FastifyReply, status: number, title: string, body: string, script?: { source: string; hash: string }): FastifyReply {
  const html = [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta name="referrer" content="no-referrer"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>`,
    `<body><main><h1>${escapeHtml(title)}</h1>${body}</main>${script ? `<script>${script.source}</script>` : ''}</body>`,
    '</html>',
  ].join('\n')
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header(
      'content-security-policy',
      `default-src 'none'; style-src 'unsafe-inline'; script-src ${script ? script.hash : "'none'"}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    )
    .send(html)
}

/** A failed sign-on, in words for the person at the browser. */
export function errorPage(reply: FastifyReply, status: number, title: string, message: string): FastifyReply {
  return send(reply, status, title, `<p role="alert">${escapeHtml(message)}</p>`)
}

/**
 * After a sign-on, before the browser takes the loginToken to a client that is not whitelisted: names
 * where it goes, so a link someone else sent cannot collect the user's token unnoticed.
 */
export function confirmLoginPage(reply: FastifyReply, serverName: string, userId: string, location: string): FastifyReply {
  let host = location
  try {
    host = new URL(location).host || new URL(location).protocol
  } catch {
    // The link still works; only its host cannot be shown apart.
  }
  return send(
    reply,
    200,
    'Continue to your account',
    `<p>You have signed in to <strong>${escapeHtml(serverName)}</strong> as <strong>${escapeHtml(userId)}</strong>.</p>` +
      `<p>Continue only if you started this sign-in from an app at <span class="where">${escapeHtml(host)}</span>; it will get access to your account.</p>` +
      `<p><a class="button" href="${escapeHtml(location)}">Continue to ${escapeHtml(host)}</a></p>`,
  )
}

/** The m.login.sso fallback page: the user signs in again with the identity provider. */
export function uiaStartPage(reply: FastifyReply, idpName: string, location: string): FastifyReply {
  return send(
    reply,
    200,
    'Confirm your identity',
    `<p>To continue, sign in again with ${escapeHtml(idpName)} to confirm it is you.</p>` +
      `<p><a class="button" href="${escapeHtml(location)}">Continue with ${escapeHtml(idpName)}</a></p>`,
  )
}

export function uiaDonePage(reply: FastifyReply): FastifyReply {
  return send(reply, 200, 'Identity confirmed', '<p>Thank you. You may now close this window and return to your app.</p>', {
    source: AUTH_DONE_SCRIPT,
    hash: AUTH_DONE_HASH,
  })
}

export function uiaWrongUserPage(reply: FastifyReply, expectedUser: string): FastifyReply {
  return send(
    reply,
    200,
    'Wrong account',
    `<p role="alert">You signed in as another user than <strong>${escapeHtml(expectedUser)}</strong>, so this request cannot go ahead.</p>` +
      '<p>Close this window and start again from your app, signing in with the same account.</p>',
  )
}
