/*
 * Fuzz surface: registry callback results. A real node's getAuthorizedWallets answers generated
 * values (strings, Maps, Sets, objects, numbers, lists mixing valid wallets with junk, over-long
 * and almost-valid base58, PublicKey look-alikes whose toBase58 throws, iterables that throw
 * midway, rejections with non-Error values); each hostile answer is followed by the honest
 * registry. Checked: the cache only ever holds valid addresses, the honest peers are never dropped
 * (garbage is an error, an empty or junk-only answer is held back until a second read), no crash or
 * unhandled rejection, bounded memory, and the honest peer's publish still arrives afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import bs58 from 'bs58'
import { startCluster, waitFor, waitForSubscribers, type Cluster } from '../../support/cluster.js'
import { normalizeWalletAddress } from '../../src/identity.js'
import type { Event } from '../../src/index.js'
import { CrashWatch, edgeJson, edgeString, fuzzParams, fuzzRuns, settledHeapBytes } from './harness.js'
import type { DatabaseImpl } from '../../src/database.js'

/** the implementation behind a Database (its registry cache is not public API) */
const impl = (db: unknown): DatabaseImpl => db as DatabaseImpl

const RUNS = fuzzRuns(300)

describe('fuzz: registry callback results', () => {
  let cluster: Cluster
  let answer: () => unknown
  beforeAll(async () => {
    cluster = await startCluster(2, { extra: { registryRefreshIntervalMs: 3_600_000 } })
    const a = cluster.nodes[0]!
    // from now on node A's registry answers whatever the fuzzer says
    answer = async () => await cluster.registry.fetch(new AbortController().signal)
    ;(impl(a).registry as unknown as { deps: { fetch: () => unknown } }).deps.fetch = () => answer()
  })
  afterAll(async () => { await cluster?.stop() })

  it(`${RUNS} hostile registry answers: only valid wallets kept, honest peers never dropped`, async () => {
    const [a, b] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0]]
    const honest = [...cluster.registry.wallets]
    const watch = new CrashWatch().start()
    const heapBefore = await settledHeapBytes()
    const validWallet = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => bs58.encode(b))
    const junkEntry = fc.oneof(
      edgeString(), edgeJson(), validWallet.map((w) => w + '1'), validWallet.map((w) => w.slice(1)), validWallet.map((w) => ` ${w}\n`),
      fc.integer({ min: 45, max: 200_000 }).map((n) => '2'.repeat(n)),
      fc.constant({ toBase58: () => { throw new Error('hostile toBase58') } }),
      fc.constant({ toBase58: () => 42 }),
      fc.constant(Object.create(null))
    )
    const list = fc.array(fc.oneof({ weight: 1, arbitrary: validWallet }, { weight: 3, arbitrary: junkEntry }), { maxLength: 50 })
    const hostile = fc.oneof(
      edgeJson(), edgeString(),
      list.map((l) => [...l, ...honest]), list, fc.constant([]),
      list.map((l) => new Map(l.map((x, i) => [i, x]))), list.map((l) => new Set([...l, ...honest])),
      list.map((l) => ({ wallets: l })), fc.constant(new Uint8Array(32)),
      list.map((l) => ({ * [Symbol.iterator] () { yield * l; throw new Error('iterator broke midway') } })),
      fc.constantFrom('reject-null', 'reject-string', 'reject-object', 'throw-sync').map((k) => ({ kind: k }))
    )

    let n = 0
    await fc.assert(fc.asyncProperty(hostile, async (value) => {
      n++
      answer = () => {
        const k = (value as { kind?: string } | null)?.kind
        if (k === 'reject-null') return Promise.reject(null) // eslint-disable-line prefer-promise-reject-errors
        if (k === 'reject-string') return Promise.reject('nope') // eslint-disable-line prefer-promise-reject-errors
        if (k === 'reject-object') return Promise.reject({ code: 42 }) // eslint-disable-line prefer-promise-reject-errors
        if (k === 'throw-sync') throw new Error('sync throw')
        return Promise.resolve(value)
      }
      await impl(a).registry.refresh('fuzz')
      for (const w of impl(a).registry.snapshot()) expect(normalizeWalletAddress(w)).toBe(w)
      for (const w of honest) expect(impl(a).registry.has(w)).toBe(true)
      answer = async () => honest
      await impl(a).registry.refresh('honest')
      expect(a.connectedPeers().map((p) => p.peerId)).toContain(b.peerId)
    }), fuzzParams(RUNS))

    // the honest registry still rules: B's publish reaches A
    const got: Event[] = []
    await a.subscribe('after-registry-fuzz', (e) => { got.push(e) })
    await waitForSubscribers([b], 'testdb_after-registry-fuzz', 1)
    const sent = await b.publish('after-registry-fuzz', 'still here')
    await waitFor(() => got.some((e) => e.id === sent.id), 30_000, 'honest publish after the fuzz').catch((err: unknown) => {
      console.log('after the fuzz:', JSON.stringify({ stats: a.realtimeStats, registry: impl(a).registry.stats, size: impl(a).registry.size, peers: a.connectedPeers().length, hasB: impl(a).registry.has(cluster.wallets[1]!.address) }))
      throw err
    })
    watch.stop()
    const heapGrowth = await settledHeapBytes() - heapBefore
    expect(watch.problems).toEqual([])
    expect(heapGrowth).toBeLessThan(128 * 1024 * 1024)
    console.log(`fuzz registry: ${n} generated answers; refreshes ${impl(a).registry.stats.refreshes}, errors ${impl(a).registry.stats.errors}, shrinks held ${impl(a).registry.stats.shrinksHeld}, invalid entries ${impl(a).registry.stats.invalidEntries}; wallets now ${impl(a).registry.size}; heap growth ${(heapGrowth / 1e6).toFixed(1)} MB`)
  }, 30 * 60_000)
})
