/*
 * Sweeper race (issue 14, item 7): a live head written while a sweep runs must survive. The sweep
 * decides from what it read; the write lands between that read and the sweep's delete.
 */
import { describe, expect, it } from 'vitest'
import { Libp2pRecord } from '@libp2p/record'
import { Sweeper } from '../../../../src/sticky/replica/sweeper.js'
import { headKey } from '../../../../src/sticky/core/keys.js'
import { recordDatastoreKey } from '../../../../src/host/internals.js'
import { silentLogger } from '../../../../src/logger.js'
import { DB, head, newSigner, TestReplica, TOPIC } from '../../../fixtures/sticky-forge.js'

describe('sweeper', () => {
  it('does not delete a live head written after it read the key', async () => {
    const w = newSigner()
    const replica = new TestReplica([w.wallet])
    const t0 = Date.now()
    const old = await head(w, { version: 1, expiresAt: t0 + 3_600_000 })
    const fresh = await head(w, { version: 2, expiresAt: t0 + 3 * 3_600_000 }) // a sibling (no parents)
    expect(await replica.putHead(old.bytes)).toBeNull()
    const k = headKey(DB, TOPIC)
    // the live head arrives right after the sweep's scan read the key (before it acts)
    const ds = replica.ds
    const query = ds.query.bind(ds)
    ds.query = ((q: any, o: any) => (async function * () {
      for await (const pair of query(q, o)) yield pair
      await ds.put(recordDatastoreKey(k), new Libp2pRecord(k, fresh.bytes, new Date()).serialize())
    })()) as any
    const republished: Uint8Array[] = []
    const sweeper = new Sweeper({ datastore: ds, store: { republish: async (_t: string, _k: Uint8Array, v: Uint8Array) => { republished.push(v) }, forget: () => {} } as any, db: DB, selfPeerId: 'me', logger: silentLogger }, { republishAfterMs: 24 * 3_600_000 })
    await sweeper.sweep(t0 + 2 * 3_600_000) // the old head expired, the fresh one lives
    expect(await replica.headIds()).toEqual([fresh.id])
  })
})
