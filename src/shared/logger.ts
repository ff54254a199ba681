// pino JSON logs. Tokens, passwords and message content are never logged: URLs lose their access_token.
import { pino, type Logger } from 'pino'

export type { Logger }

export function redactUrl(url: string): string {
  return url.replace(/([?&]access_token=)[^&]*/g, '$1<redacted>')
}

/** `toStderr`: for one-shot CLI commands, whose stdout is their result (e.g. JSON lines) and must stay parseable. */
export function createLogger(level: string, bindings: Record<string, unknown> = {}, toStderr = false): Logger {
  const options = { level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime }
  return toStderr ? pino(options, pino.destination({ fd: 2, sync: true })) : pino(options)
}
