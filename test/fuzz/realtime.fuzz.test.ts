/*
 * Fuzz surface: real-time events. An authorized node (B) publishes generated raw GossipSub messages
 * to a real node's (A's) topic (hostile JSON, wrong types, boundary values, spoofed from_peer, random
 * bytes, oversize bodies) while an honest node (C) publishes in between. GossipSub's peer scoring
 * makes A ignore B after about nine recent rejections (checked below); that defence would keep
 * all but the first few generated messages away from A's validation, which is the surface under
 * test, so between messages the test forgives B's rejections at A (resets B's invalid-message count
 * in A's scoring). Honest events come from a third node. Checked: nothing malformed or forged reaches the
 * handler, every honest event arrives, no crash or unhandled rejection, heap growth bounded, and the
 * node still delivers an honest publish afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { startCluster, waitFor, waitForSubscribers, type Cluster } from '../../support/cluster.js'
import type { Event } from '../../src/index.js'
import { CrashWatch, edgeJson, edgeNumber, edgeString, fuzzParams, fuzzRuns, settledHeapBytes } from './harness.js'

const RUNS = fuzzRuns(300)
const HONEST_EVERY = 100
const MAX_RAW = 60_000
const enc = new TextEncoder()

describe('fuzz: real-time events', () => {
  let cluster: Cluster
  beforeAll(async () => { cluster = await startCluster(3, { extra: { maxMessageBytes: 4096 } }) })
  afterAll(async () => { await cluster?.stop() })

  it(`${RUNS} hostile messages: none reaches the handler malformed or forged, no honest event lost`, async () => {
    const [a, b, c] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0], typeof cluster.nodes[0]]
    const delivered: Event[] = []
    await a.subscribe('fuzz', (e) => { delivered.push(e) })
    await waitForSubscribers([b, c], 'testdb_fuzz', 1)
    await waitFor(() => (b.libp2p.services.pubsub as any).streamsOutbound.has(a.peerId), 5_000, 'stream')
    const watch = new CrashWatch().start()
    const heapBefore = await settledHeapBytes()
    const honestSent: string[] = []

    const fromPeer = fc.oneof(fc.constant(b.peerId), fc.constant(a.peerId), fc.constant(''), edgeString(), edgeNumber(), fc.constant(null))
    const event = fc.record({
      id: fc.oneof(edgeString(), edgeNumber(), fc.constant(null), fc.uuid()),
      from_peer: fromPeer,
      message: edgeJson(),
      timestamp: fc.oneof(edgeNumber(), edgeString(), fc.constant(null))
    }, { requiredKeys: [] })
    const payload = fc.oneof(
      { weight: 6, arbitrary: event.map((o) => enc.encode(JSON.stringify(o))) },
      { weight: 2, arbitrary: edgeJson().map((v) => enc.encode(JSON.stringify(v) ?? 'undefined')) },
      { weight: 2, arbitrary: fc.uint8Array({ maxLength: 5_000 }) },
      { weight: 1, arbitrary: fc.integer({ min: 4_000, max: 60_000 }).map((n) => enc.encode(JSON.stringify({ id: 'big', message: 'y'.repeat(n), timestamp: 1 }))) }
    )

    // test-only reach-in: GossipSub keeps per-peer, per-topic counters of rejected messages in its score
    const score = (a.libp2p.services.pubsub as any).score
    const forgiveB = (): void => {
      const t = score.peerStats.get(b.peerId)?.topics?.testdb_fuzz
      if (t != null && t.invalidMessageDeliveries > 2) { t.invalidMessageDeliveries = 0; score.scoreCache.delete(b.peerId) }
    }
    let n = 0
    const stats = a.realtimeStats
    const processed = (): number => Object.values(stats.dropped).reduce((x, y) => x + y, 0) + stats.received - honestSent.length
    await fc.assert(fc.asyncProperty(payload, async (generated) => {
      // GossipSub itself drops a whole RPC stream over its frame limit (maxMessageBytes + 64 KiB),
      // which would only silence B: keep every message under it so each one reaches A's validation
      const bytes = generated.length > MAX_RAW ? generated.subarray(0, MAX_RAW) : generated
      forgiveB()
      await b.libp2p.services.pubsub.publish('testdb_fuzz', bytes)
      if (++n % HONEST_EVERY === 0) honestSent.push((await c.publish('fuzz', { honest: n })).id)
      // all nodes share this process: let A keep up (and every node answer its pings) instead of
      // queueing thousands of messages, so each generated message really reaches A's validation
      if (n - processed() > 3) await waitFor(() => { forgiveB(); return n - processed() <= 1 }, 30_000, 'A validating the backlog')
    }), fuzzParams(RUNS))

    if (process.env.FUZZ_DEBUG != null) {
      const ps = a.libp2p.services.pubsub as any
      console.log('score of B at A', ps.score.score(b.peerId), 'inbound from B', ps.streamsInbound.has(b.peerId), 'outbound B->A', (b.libp2p.services.pubsub as any).streamsOutbound.has(a.peerId), 'peers', ps.peers.has(b.peerId))
    }
    // the defence itself: unforgiven, a burst of rejected messages graylists B at A
    for (let i = 0; i < 20; i++) await b.libp2p.services.pubsub.publish('testdb_fuzz', enc.encode('not json'))
    await waitFor(() => score.score(b.peerId) < -80, 10_000, "B's score below the graylist threshold at A")
    const last = await c.publish('fuzz', { honest: 'after' })
    honestSent.push(last.id)
    await waitFor(() => honestSent.every((id) => delivered.some((e) => e.id === id)), 30_000, 'every honest event')
    watch.stop()
    const heapGrowth = await settledHeapBytes() - heapBefore

    for (const e of delivered) {
      expect(e.fromPeerId).toBe(honestSent.includes(e.id) ? c.peerId : b.peerId)
      expect(typeof e.id === 'string' && e.id !== '').toBe(true)
      expect(Number.isInteger(e.timestamp)).toBe(true)
    }
    expect(watch.problems).toEqual([])
    expect(heapGrowth).toBeLessThan(256 * 1024 * 1024)
    const dropped = Object.values(a.realtimeStats.dropped).reduce((x, y) => x + y, 0)
    console.log(`fuzz realtime: ${n} generated messages, ${delivered.length - honestSent.length} hostile ones delivered as valid events, ${dropped} dropped (${JSON.stringify(a.realtimeStats.dropped)}), ${honestSent.length} honest all delivered, heap growth ${(heapGrowth / 1e6).toFixed(1)} MB${typeof (globalThis as { gc?: unknown }).gc === 'function' ? ' (after gc)' : ''}`)
  }, 30 * 60_000)
})
