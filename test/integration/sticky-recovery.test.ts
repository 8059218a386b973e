/*
 * Channel recovery on real nodes. The damage is made the way a lost replica set looks from outside:
 * every replica's copy of the topic is wiped and replaced by a newer, validly signed coordinator
 * version whose message collection exists nowhere. With one replica still holding the previous good
 * version the topic recovers from it (nothing acknowledged before the damage is lost); with none the
 * channel goes FAILED, publishes are refused with ERR_CHANNEL_FAILED and subscribers are told.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Libp2pRecord } from '@libp2p/record'
import { Key } from 'interface-datastore'
import { toString as uint8ToString } from 'uint8arrays/to-string'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { startCluster, waitFor, type Cluster, type Wallet } from '../../support/cluster.js'
import type { Database, StickyMessage } from '../../src/index.js'
import { datastoreOf, stickyOf, storedRecords } from '../fixtures/sticky-records.js'
import { headKey } from '../../src/sticky/core/keys.js'
import { headId, signHead } from '../../src/sticky/core/signing.js'
import type { HeadRecord } from '../../src/sticky/core/records.js'

/** Deletes every stored record of `topic` on `db` and empties its in-memory caches for them. */
async function wipeTopic (db: Database, topic: string): Promise<void> {
  for (const { key } of await storedRecords(db, topic)) await datastoreOf(db).delete(key)
  ;(stickyOf(db).store as any).cache.clear()
  ;(stickyOf(db).loader as any).loaded.clear()
}

/** Stores a validly signed coordinator version above `base` whose message collection does not exist. */
async function plantUnloadableHead (dbs: Database[], base: HeadRecord, writer: Wallet): Promise<string> {
  const key = await generateKeyPairFromSeed('Ed25519', writer.secretKey.subarray(0, 32))
  const { sig: _sig, ...unsignedBase } = base
  const head = await signHead({
    ...unsignedBase,
    version: base.version + 1,
    messages: 'AAAAAAAAAAAAAAAAAAAAAA', // no such record anywhere
    parents: [headId(base)],
    lastModified: Date.now(),
    writer: writer.address
  }, { wallet: writer.address, sign: async (d) => await key.sign(d) })
  const k = headKey('testdb', base.topic)
  const bytes = new TextEncoder().encode(JSON.stringify({ t: 'heads', heads: [head] }))
  for (const db of dbs) await datastoreOf(db).put(new Key(`/dht/record/${uint8ToString(k, 'base32')}`, false), new Libp2pRecord(k, bytes, new Date()).serialize())
  return headId(head)
}

describe('sticky channel recovery on a 4-node cluster', () => {
  let cluster: Cluster
  let nodes: Database[]
  beforeAll(async () => {
    cluster = await startCluster(4, { fullMesh: true, extra: { sticky: { pollIntervalMs: 1_000, commitDeadlineMs: 20_000, recoveryAfterMs: 1_500 } } })
    nodes = cluster.nodes
  })
  afterAll(async () => { await cluster?.stop() })

  it('recovers from the one replica that still holds a valid version; nothing acknowledged is lost', async () => {
    const [pub, survivor, x, y] = nodes
    const acks = await Promise.all(Array.from({ length: 10 }, async (_, i) => await pub!.sticky.publish('fragile', { i })))
    const [good] = await survivor!.sticky.loadCoordinator('fragile')
    // every node but the survivor loses the topic and ends up with an unloadable newer version
    for (const n of [pub!, x!, y!]) await wipeTopic(n, 'fragile')
    await plantUnloadableHead([pub!, x!, y!], good!.head, cluster.wallets[2]!)
    await new Promise((resolve) => setTimeout(resolve, 1_100)) // past the committer's reuse of its last read-back
    const states: string[] = []
    pub!.sticky.on('channel-state', (e) => { if (e.topic === 'fragile') states.push(e.state) })
    // the next publish cannot merge the current version, recovers and commits on top of the good one
    const after = await pub!.sticky.publish('fragile', { i: 10 })
    expect(after.version).toBeGreaterThan(good!.head.version + 1)
    // the planted head lists the good one as a parent but cannot prove it holds its content (its
    // collection loads nowhere), so readers keep the good version as a sibling and the publish
    // merges it directly; a recovery may run or not, the channel never fails
    expect(states).not.toContain('FAILED')
    const got: StickyMessage[] = []
    const sub = await y!.sticky.subscribe('fragile', { onMessage: (m) => { got.push(m) } })
    await waitFor(() => got.length >= 11, 15_000, `all 11 messages (got ${got.length})`)
    expect(new Set(got.map((m) => m.messageId))).toEqual(new Set([...acks, after].map((a) => a.messageId)))
    expect((await x!.sticky.topicInfo('fragile')).state).toBe('ACTIVE')
    await sub.unsubscribe()
  }, 90_000)

  it('goes FAILED when no replica holds a loadable version: publishes are refused and subscribers are told', async () => {
    const [pub, a, b, c] = nodes
    await pub!.sticky.publish('doomed', 'before')
    const subStates: string[] = []
    const sub = await c!.sticky.subscribe('doomed', { onMessage: () => {} })
    sub.on('state', (s: string) => { subStates.push(s) })
    const [good] = await a!.sticky.loadCoordinator('doomed')
    for (const n of nodes) await wipeTopic(n, 'doomed')
    await plantUnloadableHead(nodes, good!.head, cluster.wallets[1]!)
    await expect(pub!.sticky.publish('doomed', 'after')).rejects.toMatchObject({ code: 'ERR_CHANNEL_FAILED' })
    // refused at once while FAILED
    await expect(pub!.sticky.publish('doomed', 'again')).rejects.toMatchObject({ code: 'ERR_CHANNEL_FAILED' })
    expect((await pub!.sticky.topicInfo('doomed')).state).toBe('FAILED')
    // the subscriber's node learns it on its own next write (its renewal or, here, an explicit recover)
    await expect(c!.sticky.recover('doomed')).rejects.toMatchObject({ code: 'ERR_CHANNEL_FAILED' })
    expect(subStates).toContain('FAILED')
    expect(sub.channelState).toBe('FAILED')
    await expect(b!.sticky.recover('doomed')).rejects.toMatchObject({ code: 'ERR_CHANNEL_FAILED' })
    await sub.unsubscribe().catch(() => {})
  }, 90_000)
})
