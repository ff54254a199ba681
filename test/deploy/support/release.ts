// Release artifacts for the deploy tests: built by the real `npm run release` script into a temporary
// directory (npm's cache makes a second build cheap), unpacked where a test wants them, and the walk a
// person makes on a fresh server (an account, a room, a message) against whatever serves it.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Arch, Artifact } from '../../../scripts/release.ts'
import { Api } from '../../support/server.ts'
import { ROOT } from '../../support/cli.ts'

export interface BuiltArtifact extends Artifact {
  /** Seconds the build took. */
  seconds: number
}

/** Builds the release for each architecture into `outDir` with `node scripts/release.ts` (as npm run release does). */
export function buildArtifacts(arches: Arch[], outDir: string): BuiltArtifact[] {
  return arches.map((arch) => {
    const started = Date.now()
    const result = spawnSync(process.execPath, [join(ROOT, 'scripts', 'release.ts'), '--arch', arch, '--out', outDir], { cwd: ROOT, encoding: 'utf8' })
    assert.equal(result.status, 0, `npm run release (${arch}) failed:\n${result.stdout}\n${result.stderr}`)
    const file = readdirTarball(outDir, arch)
    const sha256 = readFileSync(`${file}.sha256`, 'utf8').split(' ')[0] as string
    return { arch, file, sha256, seconds: (Date.now() - started) / 1000 }
  })
}

function readdirTarball(outDir: string, arch: Arch): string {
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
  return join(outDir, `homestead-${version}-linux-${arch}.tar.gz`)
}

/** Unpacks a tarball into `dir` (created); returns the directory it unpacked to (homestead-<version>). */
export async function unpack(file: string, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true })
  const result = spawnSync('tar', ['-xzf', file, '-C', dir], { encoding: 'utf8' })
  assert.equal(result.status, 0, `tar -xzf ${file}: ${result.stderr}`)
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
  return join(dir, `homestead-${version}`)
}

/**
 * A PATH without any Node.js: a directory holding only the few tools bin/homestead itself uses, so a
 * launcher that fell back to a node on PATH would fail instead of quietly running the machine's.
 */
export function pathWithoutNode(): { path: string; cleanup: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'hs-path-'))
  for (const tool of ['sh', 'readlink', 'dirname']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim()
    assert.ok(found, `${tool} is not installed`)
    symlinkSync(found, join(dir, tool))
  }
  return { path: dir, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

/** Creates a room and sends a message in it as a logged-in user, and reads the message back. */
export async function roomAndMessage(api: Api, token: string): Promise<void> {
  const created = await api.post('/_matrix/client/v3/createRoom', { name: 'Family' }, token)
  assert.equal(created.status, 200, `createRoom: ${JSON.stringify(created.body)}`)
  const room = encodeURIComponent(created.body.room_id)
  const sent = await api.put(`/_matrix/client/v3/rooms/${room}/send/m.room.message/t1`, { msgtype: 'm.text', body: 'hello from a fresh server' }, token)
  assert.equal(sent.status, 200, `send: ${JSON.stringify(sent.body)}`)
  const messages = await api.get(`/_matrix/client/v3/rooms/${room}/messages?dir=b&limit=5`, token)
  assert.equal(messages.status, 200)
  assert.ok(
    messages.body.chunk.some((e: { event_id: string; content: { body?: string } }) => e.event_id === sent.body.event_id && e.content.body === 'hello from a fresh server'),
    'the message reads back',
  )
}
