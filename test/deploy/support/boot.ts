// The boot rehearsal's pieces: Terraform's templatefile for the user data, the configuration compute.tf
// writes (evaluated from its locals), a fake of the EC2 instance metadata service (IMDSv2) on loopback,
// and the isolated root (boot-root.sh) the user data runs in.
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'

/**
 * Terraform's templatefile for what the user data template uses: ${name} interpolations of plain variables,
 * $${ and %%{ escapes. Anything else (an expression, a directive) is refused rather than guessed.
 */
export function renderTemplate(template: string, vars: Record<string, string | number>): string {
  return template.replace(/\$\$\{|%%\{|%\{|\$\{([^}]*)\}/g, (match, name?: string) => {
    if (match === '$${') return '${'
    if (match === '%%{') return '%{'
    if (match === '%{') throw new Error('the rehearsal renders no template directives (%{…})')
    const key = (name ?? '').trim()
    if (!/^\w+$/.test(key)) throw new Error(`the rehearsal renders plain variables only, not \${${key}}`)
    if (!(key in vars)) throw new Error(`the template uses \${${key}}, which the rehearsal does not pass`)
    return String(vars[key])
  })
}

/** The variables a template interpolates. */
export function templateVariables(template: string): string[] {
  const names = new Set<string>()
  for (const match of template.replace(/\$\$\{/g, '').matchAll(/\$\{\s*(\w+)\s*\}/g)) names.add(match[1] as string)
  return [...names].sort()
}

export interface FakeImds {
  endpoint: string
  /** Paths asked for, with the status answered, in order. */
  requests: string[]
  close(): Promise<void>
}

/**
 * The instance metadata service as IMDSv2 answers it: a token from PUT /latest/api/token, then only requests
 * that carry it; the instance's ID and region, and its role's temporary credentials.
 */
export async function startFakeImds(options: { instanceId: string; region: string; role: string }): Promise<FakeImds> {
  const token = `imds-token-${process.pid}`
  const requests: string[] = []
  const now = new Date()
  const credentials = {
    Code: 'Success',
    LastUpdated: now.toISOString(),
    Type: 'AWS-HMAC',
    AccessKeyId: 'ASIAREHEARSAL0000001',
    SecretAccessKey: 'rehearsal-secret-access-key',
    Token: 'rehearsal-session-token',
    Expiration: new Date(now.getTime() + 6 * 3600_000).toISOString(),
  }
  const paths: Record<string, string> = {
    '/latest/meta-data/instance-id': options.instanceId,
    '/latest/meta-data/placement/region': options.region,
    '/latest/meta-data/iam/security-credentials/': options.role,
    [`/latest/meta-data/iam/security-credentials/${options.role}`]: JSON.stringify(credentials),
    '/latest/dynamic/instance-identity/document': JSON.stringify({ instanceId: options.instanceId, region: options.region, architecture: 'x86_64' }),
  }
  const server: Server = createServer((req, res) => {
    const answer = (status: number, body = '') => {
      requests.push(`${req.method} ${req.url} ${status}`)
      res.writeHead(status, { 'Content-Type': 'text/plain' }).end(body)
    }
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      return req.headers['x-aws-ec2-metadata-token-ttl-seconds'] ? answer(200, token) : answer(400)
    }
    if (req.headers['x-aws-ec2-metadata-token'] !== token) return answer(401)
    const body = paths[req.url ?? '']
    return body === undefined ? answer(404) : answer(200, body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as { port: number }
  return { endpoint: `http://127.0.0.1:${address.port}`, requests, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

const SUPPORT = import.meta.dirname

/** An instance's isolated root running the user data; `exec` runs a command inside it (as root). */
export class BootRoot {
  readonly root: string
  readonly seam: string
  private child: ChildProcess | null = null
  output = ''

  constructor(dir: string) {
    this.root = join(dir, 'root')
    this.seam = join(dir, 'seam')
  }

  /** Writes the seam (stand-ins and their endpoints) and the user data, then boots. */
  boot(userData: string, seamEnv: Record<string, string>): void {
    mkdirSync(join(this.root, 'var', 'lib', 'cloud', 'instance'), { recursive: true })
    writeFileSync(join(this.root, 'var', 'lib', 'cloud', 'instance', 'user-data.txt'), userData)
    cpSync(join(SUPPORT, 'boot-seam'), join(this.seam, 'bin'), { recursive: true })
    writeFileSync(join(this.seam, 'env'), Object.entries(seamEnv).map(([k, v]) => `${k}='${v}'\n`).join(''))
    this.child = spawn('unshare', ['--mount', '--pid', '--fork', '--kill-child', 'bash', join(SUPPORT, 'boot-root.sh'), this.root, this.seam], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child.stdout?.on('data', (d) => (this.output += d))
    this.child.stderr?.on('data', (d) => (this.output += d))
  }

  /** The user data's exit status once it has finished, else null. */
  get bootStatus(): number | null {
    const file = join(this.root, 'var', 'lib', 'cloud', 'instance', 'boot-finished')
    return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : null
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null
  }

  /** What the instance logged: cloud-init's output and Homestead's log. */
  logs(): string {
    const read = (path: string) => (existsSync(join(this.root, path)) ? readFileSync(join(this.root, path), 'utf8') : '(none)')
    return `--- cloud-init-output.log ---\n${read('var/log/cloud-init-output.log')}\n--- homestead.log ---\n${read('var/log/homestead/homestead.log')}\n--- root setup ---\n${this.output}`
  }

  /** PID (on this machine) of the namespaces' init, the process commands enter through. */
  private initPid(): number {
    const pid = this.child?.pid
    assert.ok(pid && this.running, 'the instance is not running')
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)
    return Number(children[0])
  }

  /** Runs a command in the instance (its mounts, its PIDs, chrooted), as root unless `user` is given. */
  exec(command: string[], options: { user?: string; env?: Record<string, string>; input?: string } = {}) {
    const env = Object.entries({ PATH: '/seam/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin', HOME: '/root', LANG: 'C.UTF-8', ...options.env }).map(([k, v]) => `${k}=${v}`)
    const as = options.user ? ['setpriv', `--reuid=${options.user}`, `--regid=${options.user}`, '--init-groups'] : []
    return spawnSync('nsenter', ['-t', String(this.initPid()), '--mount', '--pid', 'chroot', this.root, ...as, 'env', '-i', ...env, ...command], { encoding: 'utf8', input: options.input ?? '' })
  }

  /** Ends every process of the instance (the PID namespace goes with its init). */
  async stop(): Promise<void> {
    if (!this.child || !this.running) return
    const exited = new Promise((resolve) => this.child?.once('close', resolve))
    this.child.kill('SIGKILL')
    await exited
  }
}
