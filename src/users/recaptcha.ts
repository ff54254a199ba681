// The m.login.recaptcha stage of registration (client-server API, "Google ReCaptcha"): the client shows the
// site key's challenge, and the answer it sends is checked with the reCAPTCHA service's siteverify API
// (a form POST of the secret key and the answer, through the outbound guard), as Synapse checks it.
import type { Config } from '../config/schema.ts'
import type { OutboundGuard } from '../outbound/index.ts'
import { MatrixError } from '../shared/errors.ts'
import type { StageHandler } from './uia.ts'

/** The largest siteverify answer read (a few fields). */
const MAX_RESPONSE_BYTES = 16 * 1024

export const RECAPTCHA = 'm.login.recaptcha'

export class Recaptcha {
  private readonly config: Config['registration']['recaptcha']
  private readonly guard: OutboundGuard

  constructor(config: Config['registration']['recaptcha'], guard: OutboundGuard) {
    this.config = config
    this.guard = guard
  }

  /** Whether answers can be checked (a secret key is set). */
  get enabled(): boolean {
    return this.config.private_key !== null
  }

  /** What the stage's params tell clients. */
  params(): Record<string, unknown> {
    return this.config.public_key !== null ? { [RECAPTCHA]: { public_key: this.config.public_key } } : {}
  }

  readonly stage: StageHandler = async ({ auth }) => {
    const answer = auth.response
    if (typeof answer !== 'string' || answer === '' || answer.length > 8192) throw new MatrixError('M_UNAUTHORIZED', 'No reCAPTCHA answer given', 401)
    let verdict: unknown
    try {
      const res = await this.guard.fetch(this.config.siteverify_api, {
        method: 'POST',
        form: { secret: this.config.private_key ?? '', response: answer },
        maxBytes: MAX_RESPONSE_BYTES,
        timeoutMs: this.config.timeout_ms,
      })
      const chunks: Buffer[] = []
      for await (const chunk of res.body) chunks.push(chunk as Buffer)
      if (res.status !== 200) throw new Error(`siteverify answered ${res.status}`)
      verdict = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      throw new MatrixError('M_UNKNOWN', 'The reCAPTCHA answer could not be checked; try again', 500)
    }
    if (typeof verdict !== 'object' || verdict === null || (verdict as { success?: unknown }).success !== true) {
      throw new MatrixError('M_UNAUTHORIZED', 'The reCAPTCHA answer was not accepted', 401)
    }
    return {}
  }
}
