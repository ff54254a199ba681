// BlobStore on a local directory: <root>/ab/cd/<sha256>. Uploads are staged in <root>/tmp (same
// filesystem) and hard-linked into place, so a reader never sees half a blob, two identical uploads settle
// on one file, and the staged copy survives until discarded (commit can be repeated).
import { createReadStream } from 'node:fs'
import { link, mkdir, rm, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Readable } from 'node:stream'
import { SHA256_HEX, stageToFile, type BlobStore, type StagedBlob } from './blob-store.ts'

export class FsBlobStore implements BlobStore {
  private readonly root: string
  constructor(root: string) {
    this.root = root
  }

  private pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new Error(`not a blob name: ${sha256}`)
    return join(this.root, sha256.slice(0, 2), sha256.slice(2, 4), sha256)
  }

  stage(source: Readable, maxBytes: number): Promise<StagedBlob> {
    return stageToFile(source, join(this.root, 'tmp'), maxBytes)
  }

  async commit(staged: StagedBlob): Promise<void> {
    const target = this.pathOf(staged.sha256)
    await mkdir(dirname(target), { recursive: true })
    try {
      await link(staged.path, target)
    } catch (err) {
      // Identical content already stored: keep that copy.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }

  async discard(staged: StagedBlob): Promise<void> {
    await rm(staged.path, { force: true })
  }

  async has(sha256: string): Promise<boolean> {
    try {
      await stat(this.pathOf(sha256))
      return true
    } catch {
      return false
    }
  }

  async get(sha256: string): Promise<Readable | null> {
    if (!(await this.has(sha256))) return null
    return createReadStream(this.pathOf(sha256))
  }

  async delete(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true })
  }

  async close(): Promise<void> {}
}
