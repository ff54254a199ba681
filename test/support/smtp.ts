// A real SMTP server on loopback for the e-mail tests (smtp-server): STARTTLS with a certificate of the test
// CA, and AUTH required (only after STARTTLS), so a mail arriving proves the sender used both.
import { createServer, type AddressInfo } from 'node:net'
import { after } from 'node:test'
import { SMTPServer } from 'smtp-server'
import { makeTestCa } from './federation.ts'
import { startTestServer, type TestServer } from './server.ts'

export interface ReceivedMail {
  from: string
  to: string[]
  raw: string
  subject: string
  /** The decoded text/plain part. */
  text: string
  /** The decoded text/html part. */
  html: string
}

export interface TestSmtp {
  port: number
  user: string
  pass: string
  mails: ReceivedMail[]
  /** The next mail to `address` not yet taken (waits up to 10 s). */
  next(address: string): Promise<ReceivedMail>
  close(): Promise<void>
}

function decodePart(raw: string, type: string): string {
  const match = new RegExp(`Content-Type: ${type}[^\\r\\n]*\\r\\n(?:[^\\r\\n]+\\r\\n)*?Content-Transfer-Encoding: (\\S+)\\r\\n(?:[^\\r\\n]+\\r\\n)*\\r\\n([\\s\\S]*?)\\r\\n--`, 'i').exec(raw)
  if (!match) return ''
  const [, encoding, body] = match as unknown as [string, string, string]
  if (/base64/i.test(encoding)) return Buffer.from(body, 'base64').toString('utf8')
  if (/quoted-printable/i.test(encoding)) {
    const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
    return Buffer.from(bytes, 'latin1').toString('utf8')
  }
  return body
}

export async function startTestSmtp(): Promise<TestSmtp> {
  const ca = makeTestCa()
  const { key, cert } = ca.issue(['localhost', '127.0.0.1'])
  const user = 'homestead'
  const pass = 'smtp password'
  const mails: ReceivedMail[] = []
  const waiters: Array<() => void> = []
  const server = new SMTPServer({
    key,
    cert,
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: false,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === user && auth.password === pass) callback(null, { user })
      else callback(new Error('Invalid username or password'))
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        if (!session.secure) return callback(new Error('STARTTLS was not used'))
        const subject = /^Subject: (.*)$/im.exec(raw)?.[1] ?? ''
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          subject,
          text: decodePart(raw, 'text/plain'),
          html: decodePart(raw, 'text/html'),
        })
        for (const w of waiters.splice(0)) w()
        callback()
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.server.address() as AddressInfo).port
  const taken = new Set<ReceivedMail>()
  const close = async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()))
    ca.remove()
  }
  after(close)
  return {
    port,
    user,
    pass,
    mails,
    async next(address) {
      const deadline = Date.now() + 10_000
      for (;;) {
        const mail = mails.find((m) => !taken.has(m) && m.to.includes(address))
        if (mail) {
          taken.add(mail)
          return mail
        }
        if (Date.now() > deadline) throw new Error(`no mail to ${address}`)
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          setTimeout(resolve, 200)
        })
      }
    },
    close,
  }
}

/** The first URL of a mail's plain-text part: the link to follow. */
export function linkOf(mail: ReceivedMail): string {
  const match = /(https?:\/\/\S+)/.exec(mail.text)
  if (!match) throw new Error(`no link in mail: ${mail.text}`)
  return match[1] as string
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/**
 * A test server that mails through `smtp` (STARTTLS required, AUTH). public_baseurl is where the links point,
 * so the server listens on a port chosen in advance. `settings` are its e-mail settings, for more instances.
 */
export async function startMailingServer(smtp: TestSmtp, more: Record<string, unknown> = {}): Promise<{ t: TestServer; port: number; settings: Record<string, unknown> }> {
  const port = await freePort()
  const settings: Record<string, unknown> = {
    public_baseurl: `http://127.0.0.1:${port}/`,
    'email.smtp_host': '127.0.0.1',
    'email.smtp_port': smtp.port,
    'email.smtp_user': smtp.user,
    'email.smtp_pass': smtp.pass,
    'email.require_transport_security': true,
    // The test CA is not among the system CAs.
    'email.tls_verify': false,
    'email.notif_from': '%(app)s <noreply@test.localhost>',
    'email.app_name': 'Family Chat',
    ...more,
  }
  const t = await startTestServer({ 'listen.port': port, ...settings })
  return { t, port, settings }
}
