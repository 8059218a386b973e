/*
 * Real-time delivery with many peers on one IP (issue: GossipSub's default IP-colocation penalty
 * graylisted every peer past 14 on 127.0.0.1, and publishes "succeeded" while reaching almost
 * nobody). 20 nodes on loopback in one process, full mesh, four publishers at once: every event must
 * reach every other subscriber exactly once, and no honest peer's score may fall to GossipSub's
 * publish threshold (where the colocation penalty used to push every peer).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, waitFor, type Cluster } from '../../support/cluster.js'
import { defaultPeerScoreThresholds } from '@chainsafe/libp2p-gossipsub/score'
import type { Event } from '../../src/index.js'

const SIZE = 20
const PUBLISHERS = 4
const PER_PUBLISHER = 15

describe(`${SIZE} nodes on one IP`, () => {
  let cluster: Cluster
  beforeAll(async () => {
    // bootstrap over QUIC and TCP, dialled as production dials (TCP first): QUIC-only, 19 nodes dialling
    // one bootstrap at once did not converge within minutes on a slow day of this 2-core machine
    cluster = await startCluster(SIZE, { extra: { publishTimeoutMs: 10_000 } })
    // node 0 (everyone's bootstrap) well past GossipSub's default colocation threshold (10 peers per
    // IP; graylisted from 15), every other node with several peers
    await waitFor(() => cluster.nodes[0]!.connectedPeers().length >= 16 && cluster.nodes.every((n) => n.connectedPeers().length >= 4), 120_000, 'peers')
      .catch((err) => { throw new Error(`${(err as Error).message}: ${cluster.nodes.map((n) => n.connectedPeers().length).join(',')}`) })
  }, 200_000)
  afterAll(async () => { await cluster?.stop() }, 60_000)

  it('delivers every event from several publishers to every subscriber exactly once', async () => {
    const received = cluster.nodes.map(() => [] as Event[])
    await Promise.all(cluster.nodes.map(async (n, i) => { await n.subscribe('rt', (e) => { received[i]!.push(e) }) }))
    await waitFor(() => cluster.nodes.every((n) => n.libp2p.services.pubsub.getSubscribers('testdb_rt').length >= Math.min(n.connectedPeers().length, 4)) && cluster.nodes[0]!.libp2p.services.pubsub.getSubscribers('testdb_rt').length >= 16, 30_000, 'subscribers')
      .catch((err) => { throw new Error(`${(err as Error).message}: subscribers/peers/connections ${cluster.nodes.map((n) => `${n.libp2p.services.pubsub.getSubscribers('testdb_rt').length}/${n.connectedPeers().length}/${n.libp2p.getConnections().length}`).join(' ')}`) })
    const publishers = cluster.nodes.slice(1, 1 + PUBLISHERS)
    const sent: Event[] = []
    await Promise.all(publishers.map(async (p, pi) => {
      for (let k = 0; k < PER_PUBLISHER; k++) sent.push(await p.publish('rt', { pi, k }))
    }))
    expect(sent.length).toBe(PUBLISHERS * PER_PUBLISHER)
    const expectedFor = (i: number): Event[] => sent.filter((e) => e.fromPeerId !== cluster.nodes[i]!.peerId)
    await waitFor(() => received.every((r, i) => r.length >= expectedFor(i).length), 30_000, 'every event at every node')
      .catch((err) => {
        throw new Error(`${(err as Error).message}: received ${received.map((r) => r.length).join(',')}`)
      })
    await new Promise((resolve) => setTimeout(resolve, 500)) // any duplicate would arrive by now
    for (const [i] of cluster.nodes.entries()) {
      const expected = expectedFor(i)
      expect(received[i]!.length).toBe(expected.length)
      expect(new Set(received[i]!.map((e) => e.id))).toEqual(new Set(expected.map((e) => e.id)))
    }
    // Not ">= 0": an honest peer starved of CPU can break an IHAVE promise (no answer to IWANT within
    // 3 s), and P7 (behaviour penalty, kept on: weight -10, squared, decaying by 80 % per second) then
    // dips its score slightly below zero for a few seconds (-0.4 in one CI run on 2 loaded cores).
    // What must never happen is what the colocation penalty did: honest peers past the publish threshold.
    const scores = cluster.nodes.flatMap((n) => n.libp2p.services.pubsub.getPeers().map((p) => n.libp2p.services.pubsub.getScore(p.toString())))
    expect(Math.min(...scores)).toBeGreaterThan(defaultPeerScoreThresholds.publishThreshold)
  }, 120_000)
})
