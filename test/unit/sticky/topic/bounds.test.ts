/*
 * Memory bounds (issue 14, item 13): what a subscription remembers, the verified-record cache, the
 * per-topic replica sets and stored-id sets stay bounded however long a node runs or however many
 * topics and records peers throw at it. (The rate limiter's bound is in sticky-renewal-hostile.)
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { MemoryDatastore } from 'datastore-core'
import { StickySubscription } from '../../../../src/sticky/topic/subscription.js'
import { StickyStore } from '../../../../src/sticky/replica/store.js'
import { BLOB_CACHE_BYTES } from '../../../../src/sticky/replica/blob-cache.js'
import { MAX_REPLICA_SETS } from '../../../../src/sticky/replica/replica-sets.js'
import { silentLogger } from '../../../../src/logger.js'
import { STICKY_DEFAULTS } from '../../../../src/sticky/options.js'
import type { Entry, MessageRecord } from '../../../../src/sticky/core/records.js'
import { DB, message, newSigner, page, TOPIC } from '../../../fixtures/sticky-forge.js'
import { VerifiedSignatures } from '../../../../src/sticky/core/signing.js'

afterEach(() => { vi.useRealTimers() })

const fakeMsg = (i: number, expiresAt: number): MessageRecord => ({ t: 'msg', db: DB, topic: TOPIC, publisher: 'P', seq: i, data: i, publishedAt: 1, expiresAt, sig: 's' })

describe('memory bounds', () => {
  it('a subscription forgets delivered ids and read pages once their messages expired', () => {
    vi.useFakeTimers({ now: 1_000_000 })
    const sub = new StickySubscription({
      store: {} as any,
      loader: { idOf: (m: MessageRecord) => `id${m.seq}` } as any,
      topic: TOPIC,
      onMessage: () => {},
      logger: silentLogger,
      onClose: async () => {},
      renew: async () => ({ expiresAt: 0 })
    }, { receiveHistory: true, lastSeenVersion: null, pollIntervalMs: 1e9, ttlMs: 1e9, expiresAt: 1e12, autoRenew: false, renewAtFraction: 0.8 })
    ;(sub as any).pollNow = () => {} // no coordinator here
    for (let round = 0; round < 20; round++) {
      const now = Date.now()
      const entries: Entry[] = Array.from({ length: 1_000 }, (_, i) => ({ m: fakeMsg(round * 1_000 + i + 1, now + 60_000), v: 1 }))
      sub.receivePush(1, entries)
      vi.setSystemTime(now + 120_000) // they all expired
    }
    expect(sub.stats.delivered).toBe(20_000)
    expect(sub.memory.deliveredIds).toBeLessThanOrEqual(1_000)
  })

  it('the verified-record cache is bounded by bytes, the per-topic sets by count', async () => {
    const w = newSigner()
    const net = { closestPeers: async () => [], put: async () => {}, get: async () => undefined, isConnected: () => false, knownPeers: () => undefined }
    const store = new StickyStore({ net, datastore: new MemoryDatastore(), selfPeerId: 'me', policy: { servesDatabase: () => true, isAuthorized: () => true }, logger: silentLogger }, DB, STICKY_DEFAULTS)
    const big = await message(w, 1, 'x'.repeat(60_000))
    for (let i = 0; i < 1_400; i++) store.prepareBlob(`topic-${i}`, page([{ m: big, v: 1 }], { expiresAt: Date.now() + 3_600_000 + i }).record)
    expect(store.memory.cacheBytes).toBeLessThanOrEqual(BLOB_CACHE_BYTES)
    expect(store.memory.cachedRecords).toBeLessThan(1_400)
    for (let i = 0; i < MAX_REPLICA_SETS + 500; i++) await store.replicas(`t${i}`)
    expect(store.memory.replicaSets).toBeLessThanOrEqual(MAX_REPLICA_SETS)
  })

  it('the verified-signature cache forgets keys unused for two generations: under steady load its size levels off', () => {
    let now = 0
    const verified = new VerifiedSignatures(100_000, 5 * 60_000, () => now)
    verified.add('kept')
    verified.add('unused')
    const sizes: number[] = []
    for (let minute = 1; minute <= 60; minute++) {
      now = minute * 60_000
      for (let i = 0; i < 1_000; i++) verified.add(`m${minute}-${i}`) // 1,000 new records a minute, each seen once
      expect(verified.has('kept')).toBe(true) // a key in use stays
      sizes.push(verified.size)
    }
    expect(verified.has('unused')).toBe(false)
    expect(Math.max(...sizes.slice(10))).toBeLessThanOrEqual(10_002) // two 5-minute generations ('kept' in both)
    expect(sizes.at(-1)).toBeLessThanOrEqual(sizes[14]!)
    for (let i = 0; i < 300_000; i++) verified.add(`burst-${i}`) // a burst within one generation
    expect(verified.size).toBeLessThanOrEqual(100_000)
  })
})
