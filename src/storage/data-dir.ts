/*
 * A node's data directory (the `dataDir` option): one per wallet host.
 *
 *   <dataDir>/FORMAT      {"format":"depin-p2p-data","version":N,"wallet":"..."}: what wrote it
 *   <dataDir>/records/    LevelDB (DiskDatastore): sticky heads and content, kad-dht records
 *
 * Opening takes LevelDB's lock first (a second process gets DataDirLockedError), then reads FORMAT:
 * a directory written by another wallet is refused (its records would be served under the wrong
 * identity's history); a newer version is refused with a message naming both versions; an older
 * one runs the MIGRATIONS from its version up, then FORMAT is rewritten. DATA_FORMAT_VERSION must be
 * raised by any change to the layout or to the rules a stored record is read with (record shapes,
 * validation, merge), together with a migration (or none, which refuses the old directory with a
 * clear message): stored data is never misread.
 */
import { mkdir, readFile, rename, writeFile, open } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { DiskDatastore } from './disk-datastore.js'
import { DataDirError } from '../errors.js'

export const DATA_FORMAT = 'depin-p2p-data'
/** Version of the on-disk layout and record rules (see the header). */
export const DATA_FORMAT_VERSION = 1

/** Upgrades a store written at `from` to `from + 1`. None yet: version 1 is the first. */
export type Migration = (store: DiskDatastore) => Promise<void>
export const MIGRATIONS: Record<number, Migration> = {}

interface FormatFile { format: string, version: number, wallet: string }

export interface OpenDataDir {
  dir: string
  store: DiskDatastore
  /** the version found on disk before any migration (undefined for a new directory) */
  foundVersion?: number
}

export async function openDataDir (dir: string, wallet: string, migrations: Record<number, Migration> = MIGRATIONS, version = DATA_FORMAT_VERSION): Promise<OpenDataDir> {
  const path = resolve(dir)
  try {
    await mkdir(join(path, 'records'), { recursive: true })
  } catch (err) {
    throw new DataDirError(path, `cannot create it: ${(err as Error).message}`)
  }
  const store = new DiskDatastore(join(path, 'records'), path)
  await store.open() // takes the lock
  try {
    const found = await readFormat(path)
    if (found != null) {
      if (found.wallet !== wallet) throw new DataDirError(path, `it belongs to wallet ${found.wallet}, not ${wallet}; give each node its own dataDir`)
      if (found.version > version) {
        throw new DataDirError(path, `written in data format ${found.version}, newer than this version reads (${version}); upgrade depin-p2p, or move the directory away to start empty (history is replicated on the other nodes)`)
      }
      for (let v = found.version; v < version; v++) {
        const migrate = migrations[v]
        if (migrate == null) {
          throw new DataDirError(path, `written in data format ${found.version}, which this version (${version}) cannot migrate; move the directory away to start empty (history is replicated on the other nodes)`)
        }
        await migrate(store)
      }
    }
    if (found?.version !== version) await writeFormat(path, { format: DATA_FORMAT, version, wallet })
    return { dir: path, store, foundVersion: found?.version }
  } catch (err) {
    await store.close().catch(() => {})
    throw err
  }
}

async function readFormat (dir: string): Promise<FormatFile | undefined> {
  let text: string
  try {
    text = await readFile(join(dir, 'FORMAT'), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new DataDirError(dir, `cannot read FORMAT: ${(err as Error).message}`)
  }
  let parsed: Partial<FormatFile>
  try { parsed = JSON.parse(text) } catch { throw new DataDirError(dir, 'FORMAT is not JSON: not a depin-p2p data dir, or damaged') }
  if (parsed.format !== DATA_FORMAT || !Number.isSafeInteger(parsed.version) || (parsed.version ?? 0) < 1 || typeof parsed.wallet !== 'string') {
    throw new DataDirError(dir, `FORMAT is not a ${DATA_FORMAT} format file`)
  }
  return parsed as FormatFile
}

/** Written to a temporary file, fsynced and renamed: FORMAT is never half-written. */
async function writeFormat (dir: string, f: FormatFile): Promise<void> {
  const tmp = join(dir, 'FORMAT.tmp')
  await writeFile(tmp, JSON.stringify(f) + '\n')
  const fh = await open(tmp, 'r')
  try { await fh.sync() } finally { await fh.close() }
  await rename(tmp, join(dir, 'FORMAT'))
  const d = await open(dir, 'r')
  try { await d.sync() } finally { await d.close() }
}
