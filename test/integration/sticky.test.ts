/*
 * Sticky topics on real nodes (loopback cluster from the shared fixture): the seed's two
 * acceptance tests, history and deltas for late joiners, delivery by polling when pushes are lost,
 * and a replica holder stopped mid-test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, waitFor, type Cluster } from '../fixtures/cluster.js'
import type { Database } from '../../src/index.js'
import type { StickyMessage } from '../../src/sticky/subscription.js'
import { kadRequests } from '../fixtures/kad-requests.js'
import { blobKey } from '../../src/sticky/keys.js'

type Msg = StickyMessage

/** Publishes `count` messages from `db`, at most `inFlight` unacknowledged at a time. */
async function publishMany (db: Database, topic: string, count: number, make: (i: number) => unknown, inFlight = 50, onAck?: (i: number) => void): Promise<Array<{ messageId: string, version: number, publisherSequence: number }>> {
  const out: Array<{ messageId: string, version: number, publisherSequence: number }> = []
  for (let start = 0; start < count; start += inFlight) {
    const wave = await Promise.all(Array.from({ length: Math.min(inFlight, count - start) }, async (_, j) => {
      const r = await db.sticky.publish(topic, make(start + j))
      onAck?.(start + j)
      return r
    }))
    out.push(...wave)
  }
  return out
}

function expectExactlyOnce (got: Msg[], expectedIds: string[]): void {
  const ids = got.map((m) => m.messageId)
  expect(new Set(ids).size).toBe(ids.length) // no duplicates
  expect(new Set(ids)).toEqual(new Set(expectedIds)) // nothing missing, nothing extra
}

function expectCompleteSequences (got: Msg[], publishers: number): void {
  const byPublisher = new Map<string, number[]>()
  for (const m of got) byPublisher.set(m.publisher, [...(byPublisher.get(m.publisher) ?? []), m.publisherSequence])
  expect(byPublisher.size).toBe(publishers)
  for (const seqs of byPublisher.values()) {
    const sorted = [...seqs].sort((a, b) => a - b)
    expect(sorted).toEqual(Array.from({ length: sorted.length }, (_, i) => sorted[0]! + i))
  }
}

describe('sticky topics on a 6-node cluster', () => {
  let cluster: Cluster
  beforeAll(async () => { cluster = await startCluster(6, { fullMesh: true }) })
  afterAll(async () => { await cluster?.stop() })

  it('seed test 1: one publisher, 1000 messages; a subscriber joining after ~100 gets all 1000, no gaps, no duplicates', async () => {
    const [pub, , , sub] = cluster.nodes as Database[]
    const got: Msg[] = []
    let subscribed: Promise<unknown> | undefined
    const acks = await publishMany(pub!, 'seed1', 1000, (i) => ({ i }), 50, (i) => {
      if (i === 99) subscribed = sub!.sticky.subscribe('seed1', { onMessage: (m) => { got.push(m) } })
    })
    await subscribed
    await waitFor(() => got.length >= 1000, 30_000, `all 1000 (got ${got.length})`)
    await new Promise((resolve) => setTimeout(resolve, 1_500)) // a poll round: duplicates would show
    expectExactlyOnce(got, acks.map((a) => a.messageId))
    expectCompleteSequences(got, 1)
    expect(got.map((m) => (m.data as { i: number }).i).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i))
  })

  it('a late joiner after 500 messages gets the full history oldest first; lastSeenVersion gives only the delta', async () => {
    const [pub, , late, late2] = cluster.nodes as Database[]
    const acks = await publishMany(pub!, 'history', 500, (i) => ({ i }))
    const got: Msg[] = []
    const sub = await late!.sticky.subscribe('history', { onMessage: (m) => { got.push(m) } })
    expect(got).toHaveLength(500) // history is delivered before subscribe() resolves
    expectExactlyOnce(got, acks.map((a) => a.messageId))
    const order = got.map((m) => [m.publishedAt, m.publisher, m.publisherSequence] as const)
    const sorted = [...order].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) || a[2] - b[2])
    expect(order).toEqual(sorted)
    const seen = sub.lastSeenVersion
    expect(seen).toBeGreaterThanOrEqual(Math.max(...acks.map((a) => a.version)))

    const more = await publishMany(pub!, 'history', 20, (i) => ({ more: i }))
    const delta: Msg[] = []
    await late2!.sticky.subscribe('history', { onMessage: (m) => { delta.push(m) }, lastSeenVersion: seen })
    expectExactlyOnce(delta, more.map((a) => a.messageId))
    expect(delta.every((m) => m.addedInVersion > seen)).toBe(true)
    await waitFor(() => got.length === 520, 10_000, 'live delivery of the 20 to the first subscriber')
    await sub.unsubscribe()
  })

  it('a subscriber whose pushes are dropped still gets everything by polling', async () => {
    const [pub, , , , deaf] = cluster.nodes as Database[]
    const sticky = deaf!.sticky as unknown as { deliver: (...args: unknown[]) => void }
    const original = sticky.deliver
    let dropped = 0
    sticky.deliver = () => { dropped++ } // every push arriving at this node is lost
    try {
      const got: Msg[] = []
      await deaf!.sticky.subscribe('deaf', { onMessage: (m) => { got.push(m) } })
      const acks = await publishMany(pub!, 'deaf', 100, (i) => ({ i }), 10)
      await waitFor(() => got.length >= 100, 15_000, `poll delivery (got ${got.length})`)
      expectExactlyOnce(got, acks.map((a) => a.messageId))
      expect(dropped).toBeGreaterThan(0)
    } finally {
      sticky.deliver = original
    }
  })

  it('refuses bad data and a second subscription; an aborted signal ends a subscription', async () => {
    const [pub, sub] = cluster.nodes as Database[]
    await expect(pub!.sticky.publish('api', () => 1)).rejects.toMatchObject({ code: 'ERR_INVALID_MESSAGE' })
    await expect(pub!.sticky.publish('', 1)).rejects.toMatchObject({ code: 'ERR_INVALID_TOPIC' })
    const aborted = new AbortController(); aborted.abort()
    await expect(pub!.sticky.publish('api', 1, { signal: aborted.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' })
    const controller = new AbortController()
    const got: Msg[] = []
    await sub!.sticky.subscribe('api', { onMessage: (m) => { got.push(m) }, signal: controller.signal })
    await expect(sub!.sticky.subscribe('api', { onMessage: () => {} })).rejects.toMatchObject({ code: 'ERR_ALREADY_SUBSCRIBED' })
    await pub!.sticky.publish('api', 'one')
    await waitFor(() => got.length === 1, 10_000, 'first')
    controller.abort()
    await new Promise((resolve) => setTimeout(resolve, 300)) // unsubscribe runs on the abort event
    await pub!.sticky.publish('api', 'two')
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(got.map((m) => m.data)).toEqual(['one'])
    // subscribing again after the abort works
    await sub!.sticky.subscribe('api', { onMessage: () => {}, receiveHistory: false })
  })

  it('handler errors are logged and the subscription continues', async () => {
    const [pub, , , , , other] = cluster.nodes as Database[]
    const seen: unknown[] = []
    await other!.sticky.subscribe('flaky', { onMessage: (m) => { seen.push(m.data); throw new Error('boom') } })
    await pub!.sticky.publish('flaky', 1)
    await pub!.sticky.publish('flaky', 2)
    await waitFor(() => seen.length === 2, 10_000, 'both')
    expect(seen).toEqual([1, 2])
  })
})

describe('sticky replication', () => {
  let cluster: Cluster
  // 8 nodes: 5 of the 7 others are a topic's replicas, so losing one brings a new member in
  beforeAll(async () => { cluster = await startCluster(8, { fullMesh: true }) })
  afterAll(async () => { await cluster?.stop() })

  it('a node holding a coordinator replica is stopped mid-test and nothing is lost', async () => {
    const [pub] = cluster.nodes as Database[]
    const first = await publishMany(pub!, 'durable', 100, (i) => ({ i }))
    const replicas = (await pub!.sticky.store.replicas('durable')).map(String)
    const victimIndex = cluster.nodes.findIndex((n, i) => i > 1 && replicas.includes(n.peerId))
    expect(victimIndex).toBeGreaterThan(1)
    const victim = cluster.nodes[victimIndex]!
    const [second] = await Promise.all([
      publishMany(pub!, 'durable', 100, (i) => ({ j: i })),
      (async () => { await new Promise((resolve) => setTimeout(resolve, 50)); await victim.disconnect() })()
    ])
    const reader = cluster.nodes.find((n, i) => i !== 0 && i !== victimIndex)!
    const got: Msg[] = []
    await reader.sticky.subscribe('durable', { onMessage: (m) => { got.push(m) } })
    expectExactlyOnce(got, [...first, ...second].map((a) => a.messageId))
    const info = await reader.sticky.topicInfo('durable')
    expect(info.messageCount).toBe(200)
    // a later write restores the replica count: the new replica set holds the coordinator again
    await pub!.sticky.publish('durable', 'after')
    const replicasAfter = await pub!.sticky.store.replicas('durable')
    expect(replicasAfter.map(String)).not.toContain(victim.peerId)
    const holders = (await pub!.sticky.store.readHeads('durable')).length
    expect(holders).toBe(replicasAfter.length + 1)
    // and every replica, the new member included, holds every page of the current message collection
    const [current] = await pub!.sticky.loadCoordinator('durable')
    const root = await pub!.sticky.store.getBlob('durable', current!.head.messages!)
    const net = kadRequests(pub!.libp2p.services.dht)
    expect(root?.t).toBe('root')
    for (const replica of replicasAfter) {
      for (const pageId of (root as { pages: string[] }).pages) {
        expect(await net.get(replica, blobKey('testdb', pageId)), `page ${pageId} on ${replica.toString()}`).toBeDefined()
      }
    }
  })
})
