// The Synapse anchor kit (../shared/anchors/synapse) as the side-by-side benchmarks use it: its scripts, run
// for one instance; an instance's pid and registration shared secret; a Synapse admin by shared secret.
// Used by bench/federation.ts and bench/push.ts (both need root and the kit's chroot).
import { execFile } from 'node:child_process'
import { createHmac, randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { expectOk } from './lib.ts'
import type { Target, User } from './targets.ts'

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
