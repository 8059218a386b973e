import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, waitFor, waitForSubscribers, type Cluster } from '../../support/cluster.js'
import type { Event } from '../../src/index.js'

for (const transport of ['quic', 'tcp'] as const) {
  describe(`5-node cluster over ${transport}`, () => {
    let cluster: Cluster
    beforeAll(async () => { cluster = await startCluster(5, { transport, fullMesh: true }) })
    afterAll(async () => { await cluster?.stop() })

    it('every node publishes and every other node receives each event exactly once, content intact', async () => {
      const received = cluster.nodes.map(() => [] as Event[])
      await Promise.all(cluster.nodes.map(async (n, i) => { await n.subscribe('chat', (e) => { received[i]!.push(e) }) }))
      await waitForSubscribers(cluster.nodes, 'testdb_chat', 4)
      const sent: Event[] = []
      const perNode = 20
      for (let round = 0; round < perNode; round++) {
        for (const [i, n] of cluster.nodes.entries()) {
          sent.push(await n.publish('chat', { from: i, round, text: `hello ${i}/${round}`, nested: { list: [1, 2, 3] } }))
        }
      }
      await waitFor(() => received.every((r) => r.length >= perNode * 4), 20_000, 'all events')
      await new Promise((resolve) => setTimeout(resolve, 300)) // any duplicate would arrive by now
      for (const [i, n] of cluster.nodes.entries()) {
        const expected = sent.filter((e) => e.fromPeerId !== n.peerId)
        expect(received[i]!.length).toBe(expected.length)
        const byId = new Map(received[i]!.map((e) => [e.id, e]))
        expect(byId.size).toBe(expected.length)
        for (const e of expected) expect(byId.get(e.id)).toEqual(e)
        expect(received[i]!.some((e) => e.fromPeerId === n.peerId)).toBe(false)
      }
    })

    it('uses the requested transport for the bootstrap connections', () => {
      const addrs = cluster.nodes[0]!.connectedPeers().flatMap((p) => p.addrs)
      expect(addrs.some((a) => transport === 'quic' ? a.includes('/quic-v1') : a.includes('/tcp/'))).toBe(true)
    })
  })
}
