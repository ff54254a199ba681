// moto's standalone server (moto_server), a maintained mock of the AWS APIs, on a free loopback port: S3
// for the media tests, Secrets Manager for the database password tests. Tests that need it skip, saying
// why, when it is not installed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'

/** Why moto_server cannot run here, or null when it is available. */
export function motoUnavailable(what: string): string | null {
  const probe = spawnSync('moto_server', ['--help'], { stdio: 'ignore' })
  return probe.error || probe.status !== 0 ? `moto_server is not installed (pip package moto[server]); ${what} need it` : null
}

/** Starts moto_server; stop() ends it (and so does the end of this process). */
export async function startMoto(): Promise<{ endpoint: string; stop(): void }> {
  // The SDK reads credentials from the standard chain; moto accepts any.
  process.env.AWS_ACCESS_KEY_ID ??= 'testing'
  process.env.AWS_SECRET_ACCESS_KEY ??= 'testing'
  const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const endpoint = await new Promise<string>((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => reject(new Error(`moto_server did not start: ${output}`)), 20_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /Running on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(match[1] as string)
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.on('exit', (code) => reject(new Error(`moto_server exited (${code}): ${output}`)))
  })
  let stopped = false
  const stop = () => {
    if (stopped) return
    stopped = true
    child.kill('SIGTERM')
  }
  process.once('exit', stop)
  return { endpoint, stop }
}
