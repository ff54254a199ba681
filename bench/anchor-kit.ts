// The Synapse anchor kit (../shared/anchors/synapse) as the side-by-side benchmarks use it: its scripts, run
// for one instance; an instance's pid and registration shared secret; a Synapse admin by shared secret.
// Used by bench/federation.ts, bench/push.ts and bench/sliding-sync.ts (all need root and the kit's chroot).
import { execFile } from 'node:child_process'
import { createHmac, randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { promisify } from 'node:util'
import pg from 'pg'
import { HttpClient, expectOk, progress, type Cleanups } from './lib.ts'
import { processCpuMs, type Target, type User } from './targets.ts'

const execFileAsync = promisify(execFile)

/** The kit's scripts (BENCH_ANCHOR_DIR, default ../shared/anchors/synapse beside the repository). */
export const ANCHOR_DIR = resolve(process.env.BENCH_ANCHOR_DIR?.trim() || new URL('../../shared/anchors/synapse', import.meta.url).pathname)
/** The kit's working area (ANCHOR_ROOT, the kit's default). */
export const ANCHOR_ROOT = process.env.ANCHOR_ROOT?.trim() || '/var/tmp/synapse-anchor'
/** The kit's PostgreSQL: the Synapses' databases and, for the same database server, the Homesteads'. */
export const ANCHOR_PG_URL = 'postgres://postgres@127.0.0.1:5433/postgres'

/** Runs one of the kit's scripts for `instance`; its stdout, or an error carrying its output. */
export async function kit(script: string, instance: string, extraEnv: Record<string, string> = {}): Promise<string> {
  const env = { ...process.env, ANCHOR_ROOT, ANCHOR_INSTANCE: instance, ...extraEnv }
  try {
    const { stdout } = await execFileAsync(join(ANCHOR_DIR, script), [], { env, maxBuffer: 16 << 20 })
    return stdout
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string }
    throw new Error(`${script} (${instance}) failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`)
  }
}

/** Our instances only (never --all); PostgreSQL and the mounts are left for stop.sh's own judgement unless `keepShared`. */
export async function stopSynapse(id: string, keepShared: boolean): Promise<void> {
  await kit('stop.sh', id, keepShared ? { ANCHOR_KEEP_PG: '1', ANCHOR_KEEP_MOUNTS: '1' } : {})
}

export function synapsePid(id: string): number | null {
  const file = join(ANCHOR_ROOT, 'run', `synapse-${id}.pid`)
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) || null : null
}

export function synapseSecret(id: string): string {
  const text = readFileSync(join(ANCHOR_ROOT, 'sid', 'srv', id, 'secrets.env'), 'utf8')
  const secret = /^REGISTRATION_SHARED_SECRET=(.*)$/m.exec(text)?.[1]
  if (!secret) throw new Error(`no registration shared secret for ${id}`)
  return secret
}

/** Shared-secret registration of an admin (/_synapse/admin/v1/register: nonce, then HMAC-SHA1). */
export async function registerAdmin(target: Target, secret: string, username: string): Promise<User> {
  const path = '/_synapse/admin/v1/register'
  const nonce = expectOk('register nonce', await target.http.request('GET', path)).nonce as string
  const password = randomBytes(12).toString('hex')
  const mac = createHmac('sha1', secret).update(`${nonce}\0${username}\0${password}\0admin`).digest('hex')
  const body = expectOk(`admin register on ${target.name}`, await target.http.request('POST', path, { nonce, username, password, admin: true, mac }))
  return { username, user_id: body.user_id, access_token: body.access_token }
}

/** One of the kit's instances as a benchmark runs it: its id, server name and ports (no TLS listener without `federationPort`). */
export interface KitInstance {
  id: string
  serverName: string
  clientPort: number
  federationPort?: number
}

/**
 * Sets up the kit's instance `instance`, gives it a fresh database and starts it; `cleanups` stops it (stop.sh,
 * never --all). Its client API as a target with `maxSockets` keep-alive sockets.
 */
export async function startKitSynapse(cleanups: Cleanups, instance: KitInstance, maxSockets: number): Promise<Target> {
  const setupEnv: Record<string, string> = { ANCHOR_SERVER_NAME: instance.serverName, ANCHOR_HTTP_PORT: String(instance.clientPort) }
  if (instance.federationPort !== undefined) setupEnv.ANCHOR_FED_PORT = String(instance.federationPort)
  await stopSynapse(instance.id, true)
  progress(`setting up Synapse ${instance.id}`)
  await kit('setup.sh', instance.id, setupEnv)
  // setup.sh leaves PostgreSQL as it found it: start.sh starts it (and Synapse, on the old database: dropped next).
  await kit('start.sh', instance.id)
  await stopSynapse(instance.id, true)
  const admin = new pg.Client({ connectionString: ANCHOR_PG_URL })
  await admin.connect()
  try {
    await admin.query(`DROP DATABASE IF EXISTS "synapse_${instance.id}" WITH (FORCE)`)
  } finally {
    await admin.end()
  }
  await kit('setup.sh', instance.id, setupEnv)
  const t0 = performance.now()
  cleanups.push(() => stopSynapse(instance.id, false))
  await kit('start.sh', instance.id)
  progress(`Synapse ${instance.id} ready in ${Math.round(performance.now() - t0)} ms (pid ${synapsePid(instance.id)})`)
  const url = `http://127.0.0.1:${instance.clientPort}`
  const http = new HttpClient(url, maxSockets)
  cleanups.push(async () => http.close())
  const version = await http.request('GET', '/_matrix/federation/v1/version')
  return {
    name: 'synapse',
    url,
    http,
    cpuMs: async () => {
      const pid = synapsePid(instance.id)
      return pid ? processCpuMs(pid) : null
    },
    info: { server_name: instance.serverName, version: `${version.body?.server?.name ?? 'Synapse'} ${version.body?.server?.version ?? ''}`.trim() },
  }
}
