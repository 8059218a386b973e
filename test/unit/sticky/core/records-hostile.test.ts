/*
 * Records other than messages and heads from a hostile peer (issue 14, item 4): roots, subscriber
 * collections and snapshots must be signed by an authorized writer, carry no unknown fields and a
 * capped expiry; and a replica holds at most a configured number of bytes per peer and in total.
 */
import { describe, expect, it } from 'vitest'
import { blobKey } from '../../../../src/sticky/core/keys.js'
import { recordDatastoreKey } from '../../../../src/host/internals.js'
import { blob, DB, message, newSigner, page, root, subs, TestReplica, TOPIC } from '../../../fixtures/sticky-forge.js'

describe('root, subscriber and snapshot records', () => {
  it('must be signed by an authorized writer, without unknown fields', async () => {
    const w = newSigner()
    const outsider = newSigner()
    const replica = new TestReplica([w.wallet])
    const now = Date.now()
    const put = async (b: { id: string, bytes: Uint8Array }): Promise<string | null> => await replica.put(blobKey(DB, b.id), b.bytes)
    expect(await put(await root(w, [], 0))).toBeNull()
    expect(await put(blob({ t: 'root', db: DB, topic: TOPIC, pages: [], count: 0, expiresAt: now + 60_000 }))).toMatch(/unsigned|invalid/)
    expect(await put(await root(outsider, [], 0))).toMatch(/not authorized/)
    expect(await put(await root(w, [], 0, { pad: 'x'.repeat(100_000) }))).toMatch(/unknown field/)
    const forged = await root(w, [], 0)
    expect(await put(blob({ ...forged.record, count: 5 }))).toMatch(/signature/)
    expect(await put(await subs(w, [{ client: w.wallet, subscribedAt: now, expiresAt: now + 60_000, updatedAt: now }]))).toBeNull()
    expect(await put(await subs(w, [{ client: w.wallet, subscribedAt: now, expiresAt: now + 60_000, updatedAt: now, extra: 1 } as any]))).toMatch(/unknown field/)
    expect(await put(blob({ t: 'snap', db: DB, topic: TOPIC, messageHistory: [], subscriberHistory: [], previous: null, createdAt: now, expiresAt: now + 60_000 }))).toMatch(/unsigned|invalid/)
    const m = await message(w, 1)
    expect(await put(page([{ m, v: 1 }]))).toBeNull()
    expect(await put(page([{ m, v: 1, x: 1 } as any]))).toMatch(/unknown field/)
    expect(await put(page([{ m: { ...m, note: 'x' } as any, v: 1 }]))).toMatch(/unknown field/)
    expect(await put(page([{ m, v: 1 }], { junk: true }))).toMatch(/unknown field/)
    expect(await put(await root(w, [], 0, { expiresAt: now + 400 * 24 * 3_600_000 }))).toMatch(/expiry/)
  })
})

describe('storage quota', () => {
  it('refuses records over the per-peer quota or the total, counts refusals, and releases bytes on delete', async () => {
    const w = newSigner()
    const replica = new TestReplica([w.wallet])
    replica.ds.setQuota({ totalBytes: 50_000, perPeerBytes: 25_000 })
    const big = async (i: number): Promise<{ id: string, bytes: Uint8Array }> => page([{ m: await message(w, i, 'x'.repeat(9_000)), v: 1 }])
    const a = await Promise.all([1, 2, 3].map(big))
    expect(await replica.put(blobKey(DB, a[0]!.id), a[0]!.bytes, 'A')).toBeNull()
    expect(await replica.put(blobKey(DB, a[1]!.id), a[1]!.bytes, 'A')).toBeNull()
    expect(await replica.put(blobKey(DB, a[2]!.id), a[2]!.bytes, 'A')).toMatch(/quota/)
    // the same record again costs nothing
    expect(await replica.put(blobKey(DB, a[0]!.id), a[0]!.bytes, 'A')).toBeNull()
    const b = await Promise.all([4, 5, 6, 7].map(big))
    expect(await replica.put(blobKey(DB, b[0]!.id), b[0]!.bytes, 'B')).toBeNull()
    expect(await replica.put(blobKey(DB, b[1]!.id), b[1]!.bytes, 'B')).toBeNull()
    expect(await replica.put(blobKey(DB, b[2]!.id), b[2]!.bytes, 'C')).toBeNull()
    expect(await replica.put(blobKey(DB, b[3]!.id), b[3]!.bytes, 'D')).toMatch(/quota/) // the total
    expect(replica.ds.quotaStats).toMatchObject({ refused: 2 })
    expect(replica.ds.quotaStats.totalBytes).toBeLessThanOrEqual(50_000)
    await replica.ds.delete(recordKey(a[0]!.id))
    expect(await replica.put(blobKey(DB, b[3]!.id), b[3]!.bytes, 'D')).toBeNull()
  })
})

function recordKey (id: string): ReturnType<typeof recordDatastoreKey> { return recordDatastoreKey(blobKey(DB, id)) }
