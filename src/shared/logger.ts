// pino JSON logs. Tokens, passwords and message content are never logged: URLs lose their access_token.
import { pino, type Logger } from 'pino'

export type { Logger }

export function redactUrl(url: string): string {
  return url.replace(/([?&]access_token=)[^&]*/g, '$1<redacted>')
}

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime })
}
