/*
 * The data dir: lock (a second opener gets ERR_DATA_DIR_LOCKED), FORMAT version (newer refused,
 * older migrated or refused with a clear message), wallet binding, and records surviving a reopen.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Key } from 'interface-datastore'
import { DATA_FORMAT_VERSION, openDataDir, type OpenDataDir } from '../../../src/storage/data-dir.js'
import { RecordDatastore } from '../../../src/storage/record-datastore.js'

const open: OpenDataDir[] = []
afterEach(async () => { for (const d of open.splice(0)) await d.store.close().catch(() => {}) })
const fresh = (): string => mkdtempSync(join(tmpdir(), 'depin-datadir-'))
const W1 = 'wallet-one'
const W2 = 'wallet-two'

describe('data dir', () => {
  it('writes FORMAT, keeps records across a reopen, and refuses a second opener while open', async () => {
    const dir = fresh()
    const a = await openDataDir(dir, W1); open.push(a)
    expect(a.foundVersion).toBeUndefined()
    expect(JSON.parse(readFileSync(join(dir, 'FORMAT'), 'utf8'))).toEqual({ format: 'depin-p2p-data', version: DATA_FORMAT_VERSION, wallet: W1 })
    await a.store.put(new Key('/dht/record/abc'), new Uint8Array([1, 2, 3]))
    await expect(openDataDir(dir, W1)).rejects.toMatchObject({ code: 'ERR_DATA_DIR_LOCKED', dir })
    await a.store.close(); open.pop()
    const b = await openDataDir(dir, W1); open.push(b)
    expect(b.foundVersion).toBe(DATA_FORMAT_VERSION)
    expect([...await b.store.get(new Key('/dht/record/abc'))]).toEqual([1, 2, 3])
  })

  it('refuses another wallet\'s directory, a newer format and a malformed FORMAT file', async () => {
    const dir = fresh()
    await (await openDataDir(dir, W1)).store.close()
    await expect(openDataDir(dir, W2)).rejects.toMatchObject({ code: 'ERR_DATA_DIR', message: expect.stringContaining(`belongs to wallet ${W1}`) })
    writeFileSync(join(dir, 'FORMAT'), JSON.stringify({ format: 'depin-p2p-data', version: DATA_FORMAT_VERSION + 1, wallet: W1 }))
    await expect(openDataDir(dir, W1)).rejects.toMatchObject({ code: 'ERR_DATA_DIR', message: expect.stringMatching(/newer than this version reads/) })
    writeFileSync(join(dir, 'FORMAT'), 'garbage')
    await expect(openDataDir(dir, W1)).rejects.toMatchObject({ code: 'ERR_DATA_DIR', message: expect.stringMatching(/FORMAT is not JSON/) })
    // a refused directory is not left locked
    writeFileSync(join(dir, 'FORMAT'), JSON.stringify({ format: 'depin-p2p-data', version: DATA_FORMAT_VERSION, wallet: W1 }))
    open.push(await openDataDir(dir, W1))
  })

  it('an older format runs its migrations in order and is rewritten; without a migration it is refused', async () => {
    const dir = fresh()
    await (await openDataDir(dir, W1, {}, 1)).store.close()
    const ran: number[] = []
    const migrated = await openDataDir(dir, W1, {
      1: async (store) => { ran.push(1); await store.put(new Key('/dht/record/m'), new Uint8Array([9])) },
      2: async () => { ran.push(2) }
    }, 3)
    open.push(migrated)
    expect(ran).toEqual([1, 2])
    expect(migrated.foundVersion).toBe(1)
    expect(JSON.parse(readFileSync(join(dir, 'FORMAT'), 'utf8')).version).toBe(3)
    await migrated.store.close(); open.pop()
    await expect(openDataDir(dir, W1, {}, 4)).rejects.toMatchObject({ code: 'ERR_DATA_DIR', message: expect.stringMatching(/format 3, which this version \(4\) cannot migrate/) })
  })

  it('the record datastore puts records on disk and everything else in memory', async () => {
    const d = await openDataDir(fresh(), W1); open.push(d)
    const ds = new RecordDatastore(d.store)
    await ds.put(new Key('/dht/record/r1'), new Uint8Array([1]))
    await ds.put(new Key('/dht-lan/record/r2'), new Uint8Array([2]))
    await ds.put(new Key('/peers/p1'), new Uint8Array([3]))
    await ds.put(new Key('/dht/provider/x'), new Uint8Array([4]))
    expect(await d.store.has(new Key('/dht/record/r1'))).toBe(true)
    expect(await d.store.has(new Key('/dht-lan/record/r2'))).toBe(true)
    expect(await d.store.has(new Key('/peers/p1'))).toBe(false)
    expect(await ds.has(new Key('/peers/p1'))).toBe(true)
    const keys = async (prefix: string): Promise<string[]> => { const out: string[] = []; for await (const p of ds.query({ prefix })) out.push(p.key.toString()); return out.sort() }
    expect(await keys('/dht/record/')).toEqual(['/dht/record/r1'])
    expect(await keys('/dht/')).toEqual(['/dht/provider/x', '/dht/record/r1'])
    expect(await keys('/')).toEqual(['/dht-lan/record/r2', '/dht/provider/x', '/dht/record/r1', '/peers/p1'])
  })
})
