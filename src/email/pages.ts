// The pages behind the links in validation and password-reset mails, and the mails themselves: plain
// server-rendered HTML with inline styles, nothing loaded from anywhere else.

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string)
}

/** Headers for every page: no caching (the URL holds a token), no referrer, nothing from elsewhere. */
export const PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}

const STYLE = `
  body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: #f4f5f7; color: #1b1d22; margin: 0; }
  main { max-width: 32rem; margin: 3rem auto; padding: 2rem; background: #fff; border-radius: 12px; box-shadow: 0 1px 4px rgba(0,0,0,.12); }
  h1 { font-size: 1.4rem; margin-top: 0; }
  p { line-height: 1.5; }
  button { font: inherit; padding: .6rem 1.2rem; border: 0; border-radius: 8px; background: #0b5cad; color: #fff; cursor: pointer; }
  button:focus-visible { outline: 3px solid #f4b400; outline-offset: 2px; }
  .error { color: #a4000f; }
  @media (prefers-color-scheme: dark) {
    body { background: #15171b; color: #e8e9ec; }
    main { background: #22252b; }
    .error { color: #ff8a8a; }
  }
`

export interface PageContent {
  title: string
  paragraphs: string[]
  /** A form that POSTs `fields` to `action` (this same page) with one button. */
  form?: { action: string; fields: Record<string, string>; button: string }
  error?: boolean
}

export function renderPage(appName: string, content: PageContent): string {
  const form = content.form
    ? `<form method="post" action="${escapeHtml(content.form.action)}">${Object.entries(content.form.fields)
        .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
        .join('')}<button type="submit">${escapeHtml(content.form.button)}</button></form>`
    : ''
  const cls = content.error ? ' class="error"' : ''
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(content.title)} · ${escapeHtml(appName)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1${cls}>${escapeHtml(content.title)}</h1>
${content.paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n')}
${form}
</main>
</body>
</html>
`
}

export type MailPurpose = 'add_threepid' | 'registration' | 'password_reset'

const MAIL_TEXT: Record<MailPurpose, { subject: string; intro: string; action: string }> = {
  add_threepid: {
    subject: 'Validate your e-mail address',
    intro: 'You asked to add this e-mail address to your %(app)s account.',
    action: 'Validate the address',
  },
  registration: {
    subject: 'Validate your e-mail address',
    intro: 'You asked to create a %(app)s account with this e-mail address.',
    action: 'Validate the address',
  },
  password_reset: {
    subject: 'Password reset',
    intro: 'A password reset was asked for the %(app)s account with this e-mail address.',
    action: 'Reset the password',
  },
}

/**
 * A validation mail. The link is the first URL of the plain-text part (clients and test suites look for it
 * there); the token follows for clients that ask for it to be typed in (submit_url).
 */
export function validationMail(appName: string, purpose: MailPurpose, link: string, token: string): { subject: string; text: string; html: string } {
  const t = MAIL_TEXT[purpose]
  const intro = t.intro.replaceAll('%(app)s', appName)
  const ignore = purpose === 'password_reset'
    ? 'If you did not ask for this, ignore this mail: your password stays as it is.'
    : 'If you did not ask for this, ignore this mail.'
  const text = `${intro}\n\n${t.action}: follow this link:\n\n${link}\n\nOr, if your app asks for a code, enter: ${token}\n\n${ignore}\n`
  const html = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(t.subject)}</title></head>
<body style="font-family: sans-serif; line-height: 1.5">
<p>${escapeHtml(intro)}</p>
<p><a href="${escapeHtml(link)}">${escapeHtml(t.action)}</a></p>
<p>Or, if your app asks for a code, enter: <code>${escapeHtml(token)}</code></p>
<p>${escapeHtml(ignore)}</p>
</body></html>`
  return { subject: `[${appName}] ${t.subject}`, text, html }
}
