/*
 * Garbage collection, retirement, republishing and coordinator snapshots on real nodes: expired
 * messages are never delivered and their records leave every node's datastore after the sweep; a
 * retired topic starts again cleanly; old live records are republished; the coordinator stays under
 * 1 KB across 500 writes while loadFullHistory still reaches the first collections.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, waitFor, type Cluster } from '../../support/cluster.js'
import type { Database, StickyMessage } from '../../src/index.js'
import { storedRecords } from '../fixtures/sticky-records.js'

describe('sticky garbage collection on a 4-node cluster', () => {
  let cluster: Cluster
  let nodes: Database[]
  beforeAll(async () => {
    cluster = await startCluster(4, { fullMesh: true, extra: { sticky: { pollIntervalMs: 1_000, gcGraceMs: 500, sweepIntervalMs: 3_600_000 } } })
    nodes = cluster.nodes
  })
  afterAll(async () => { await cluster?.stop() })

  it('expired messages are never delivered and are gone from every node\'s datastore after the sweep', async () => {
    const [pub, , , late] = nodes
    for (let i = 0; i < 5; i++) await pub!.sticky.publish('short', { i }, { ttlMs: 1_500 })
    const kept = await pub!.sticky.publish('long', { keep: true }, { ttlMs: 3 * 3_600_000 })
    const holders = await Promise.all(nodes.map(async (n) => (await storedRecords(n, 'short')).length))
    expect(holders.filter((n) => n > 0).length).toBeGreaterThanOrEqual(3) // replicated before expiry
    await new Promise((resolve) => setTimeout(resolve, 2_500)) // message TTL + grace
    const got: StickyMessage[] = []
    const sub = await late!.sticky.subscribe('short', { onMessage: (m) => { got.push(m) } })
    await new Promise((resolve) => setTimeout(resolve, 1_500)) // a poll round
    expect(got).toEqual([])
    await sub.unsubscribe()
    await new Promise((resolve) => setTimeout(resolve, 700)) // the unsubscribe tombstone's grace
    // sweep every node 40 minutes ahead: the subscriber collection written when `late` subscribed
    // (30 min default TTL) has expired by then too; the 3 h message on 'long' has not
    const swept = await Promise.all(nodes.map(async (n) => await n.sticky.sweep(Date.now() + 40 * 60_000)))
    expect(swept.reduce((a, r) => a + r.deleted, 0)).toBeGreaterThan(0)
    for (const n of nodes) expect(await storedRecords(n, 'short')).toEqual([])
    const longRecords = await Promise.all(nodes.map(async (n) => (await storedRecords(n, 'long')).length))
    expect(longRecords.some((n) => n > 0)).toBe(true)
    const again: StickyMessage[] = []
    const subLong = await late!.sticky.subscribe('long', { onMessage: (m) => { again.push(m) } })
    await waitFor(() => again.length === 1, 10_000, 'the live message')
    expect(again[0]!.messageId).toBe(kept.messageId)
    await subLong.unsubscribe()
  }, 60_000)

  it('a topic with no live messages and no subscribers is retired, and a later publish starts it again', async () => {
    const [a, b] = nodes
    const sub = await a!.sticky.subscribe('lonely', { onMessage: () => {} })
    expect((await b!.sticky.topicInfo('lonely')).retired).toBe(false)
    await sub.unsubscribe() // last subscriber leaves, no messages: the coordinator is written retired
    await expect.poll(async () => (await b!.sticky.topicInfo('lonely')).retired, { timeout: 10_000 }).toBe(true)
    const before = (await b!.sticky.topicInfo('lonely')).version
    const r = await b!.sticky.publish('lonely', 'back')
    expect(r.version).toBeGreaterThan(before) // versions continue while the retired head exists
    const info = await a!.sticky.topicInfo('lonely')
    expect(info).toMatchObject({ retired: false, messageCount: 1 })
  }, 60_000)

  it('live records whose stored copy is old are republished to the replicas', async () => {
    const [a, b] = nodes
    await a!.sticky.publish('aging', 'still here', { ttlMs: 72 * 3_600_000 })
    const before = Math.max(...(await storedRecords(b!, 'aging')).map((r) => r.timeReceived), 0)
    // a sweep 30 hours from now finds every copy past republishAfterMs (24 h, +-20 %)
    const result = await a!.sticky.sweep(Date.now() + 30 * 3_600_000)
    expect(result.republished).toBeGreaterThan(0)
    expect((await storedRecords(a!, 'aging')).length).toBeGreaterThan(0) // live (72 h TTL): kept, not deleted
    const after = await Promise.all(nodes.filter((n) => n !== a).map(async (n) => await storedRecords(n, 'aging')))
    // the replicas' copies were refreshed by the republish
    expect(after.flat().some((r) => r.timeReceived > before)).toBe(true)
  }, 60_000)

  it('the coordinator stays under 1 KB across 500 writes; loadFullHistory still reaches the first collections', async () => {
    const [a, b] = nodes
    let firstRoot: string | undefined
    let maxHeadBytes = 0
    for (let i = 0; i < 500; i++) {
      await a!.sticky.publish('busy', i)
      const heads = await a!.sticky.loadCoordinator('busy')
      for (const h of heads) maxHeadBytes = Math.max(maxHeadBytes, JSON.stringify(h.head).length)
      if (i === 0) firstRoot = heads[0]!.head.messages!
    }
    expect(maxHeadBytes).toBeLessThan(1_024)
    const [head] = await b!.sticky.loadCoordinator('busy')
    expect(head!.head.messageHistory.length).toBeLessThanOrEqual(50)
    expect(head!.head.previous).not.toBeNull()
    const shallow = await b!.sticky.loadFullHistory(head!.head, 1)
    expect(shallow).not.toContain(firstRoot)
    const full = await b!.sticky.loadFullHistory(head!.head, 100)
    expect(full).toContain(firstRoot)
    expect(full.length).toBeGreaterThanOrEqual(500)
    expect(a!.sticky.stats().snapshots).toBeGreaterThan(0)
  }, 300_000)
})
