// Outgoing mail over SMTP (email.* settings): implicit TLS or STARTTLS, optional authentication.
import nodemailer, { type Transporter } from 'nodemailer'
import type { Config } from '../config/schema.ts'

export interface Mail {
  to: string
  subject: string
  text: string
  html: string
  /** More header fields (List-Unsubscribe…). */
  headers?: Record<string, string>
}

export class Mailer {
  private readonly transport: Transporter
  readonly from: string

  constructor(config: Config['email'] & { smtp_host: string }, serverName: string) {
    this.transport = nodemailer.createTransport({
      host: config.smtp_host,
      port: config.smtp_port,
      secure: config.force_tls,
      requireTLS: config.require_transport_security,
      ignoreTLS: !config.enable_tls && !config.require_transport_security,
      ...(config.smtp_user !== null ? { auth: { user: config.smtp_user, pass: config.smtp_pass ?? '' } } : {}),
      tls: { rejectUnauthorized: config.tls_verify },
      connectionTimeout: config.timeout_ms,
      greetingTimeout: config.timeout_ms,
      socketTimeout: config.timeout_ms,
    })
    const host = serverName.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')
    this.from = (config.notif_from ?? `%(app)s <noreply@${host}>`).replaceAll('%(app)s', config.app_name)
  }

  async send(mail: Mail): Promise<void> {
    await this.transport.sendMail({ from: this.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, ...(mail.headers ? { headers: mail.headers } : {}) })
  }

  close(): void {
    this.transport.close()
  }
}
