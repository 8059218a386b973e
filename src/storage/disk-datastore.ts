/*
 * The on-disk datastore under the records (sticky heads and content, kad-dht values): LevelDB
 * through `datastore-level` (the store Helia and js-ipfs use), opened here so that:
 *   - every put and delete is a synchronous write (LevelDB appends to its log and fsyncs before the
 *     call resolves), so a record acknowledged to a writer survives a SIGKILL and a power cut
 *     (a caller may pass `sync: false` for a write the next synced one covers);
 *     LevelDB checksums each log entry and drops a torn one at the tail on reopen, so a half-written
 *     record is never read back (and every sticky record is validated again when read: content ids,
 *     signatures);
 *   - a second process opening the same directory gets LevelDB's lock error, turned into
 *     DataDirLockedError;
 *   - after a sweep deleted records the affected key range is compacted, so the bytes on disk go
 *     down instead of waiting for LevelDB's own compaction.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { LevelDatastore } from 'datastore-level'
import type { Key } from 'interface-datastore'
import type { AbortOptions } from '@libp2p/interface'
import { DataDirLockedError, DataDirError } from '../errors.js'

export class DiskDatastore extends LevelDatastore {
  /** `dataDir` is what errors name (the directory the operator configured) */
  constructor (readonly path: string, private readonly dataDir = path) {
    super(path)
  }

  override async open (): Promise<void> {
    try {
      await this.db.open({ createIfMissing: true, compression: false })
    } catch (err) {
      const cause = (err as { cause?: { code?: string, message?: string } }).cause
      if (cause?.code === 'LEVEL_LOCKED' || /lock/i.test(String(cause?.message ?? ''))) throw new DataDirLockedError(this.dataDir)
      throw new DataDirError(this.dataDir, `cannot open the record store: ${cause?.message ?? String(err)}`)
    }
  }

  /** `sync: false` skips the fsync: for a write that the next synced one makes durable (one log, in order) */
  override async put (key: Key, value: Uint8Array, options?: AbortOptions & { sync?: boolean }): Promise<Key> {
    await this.db.put(key.toString(), value, { sync: options?.sync !== false })
    return key
  }

  override async delete (key: Key, options?: AbortOptions & { sync?: boolean }): Promise<void> {
    await this.db.del(key.toString(), { sync: options?.sync !== false })
  }

  /** Compacts the keys under `prefix` so space freed by deletes is returned to the file system. */
  async compact (prefix: string): Promise<void> {
    await (this.db as unknown as { compactRange: (start: string, end: string) => Promise<void> }).compactRange(prefix, prefix + '\xff')
  }
}

/** Bytes of the files in a directory tree (the data dir's footprint on disk). */
export async function directoryBytes (dir: string): Promise<number> {
  let total = 0
  let entries
  try { entries = await readdir(dir, { withFileTypes: true }) } catch { return 0 }
  for (const e of entries) {
    const p = join(dir, e.name)
    if (e.isDirectory()) total += await directoryBytes(p)
    else total += await stat(p).then((s) => s.size, () => 0)
  }
  return total
}
