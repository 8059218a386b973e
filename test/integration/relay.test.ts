/*
 * Circuit relay v2 across real address separation: three network namespaces, R linked to A and
 * to C, no route between A and C. C reserves a slot on R; A finds C through DHT discovery and
 * reaches it only through the relay; events cross both ways.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newWallet } from '../../support/cluster.js'
import { ChildNode, netnsAvailable, Topology } from '../fixtures/netns.js'

const fast = {
  listenPorts: { quic: 4001, tcp: 4002 },
  registryRefreshIntervalMs: 1_000,
  bootstrapFirstRetryDelayMs: 200,
  bootstrapRetryIntervalMs: 500,
  connectTimeoutMs: 3_000,
  discoveryAdvertiseIntervalMs: 1_000,
  discoveryLookupIntervalMs: 1_000,
  publishTimeoutMs: 55_000
}

describe.runIf(netnsAvailable())('relay across network namespaces', () => {
  const topo = new Topology()
  const nodes: ChildNode[] = []
  const [r, a, c] = [newWallet(), newWallet(), newWallet()]
  const registry = [r.address, a.address, c.address]

  beforeAll(() => {
    const nsR = topo.ns('r'); const nsA = topo.ns('a'); const nsC = topo.ns('c')
    topo.link(nsR, '10.201.1.1', nsA, '10.201.1.2')
    topo.link(nsR, '10.201.2.1', nsC, '10.201.2.2')
    nodes.push(new ChildNode(nsR, { name: 'R', secret: r.secretBase58, registry, options: { ...fast, listenHost: '0.0.0.0', relayServer: true } }, 'R'))
    nodes.push(new ChildNode(nsA, { name: 'A', secret: a.secretBase58, registry, topic: 'relay', bootstrap: [{ publicKey: r.address, ip: '10.201.1.1', quicPort: 4001, tcpPort: 4002 }], options: { ...fast, listenHost: '10.201.1.2' } }, 'A'))
    nodes.push(new ChildNode(nsC, { name: 'C', secret: c.secretBase58, registry, topic: 'relay', bootstrap: [{ publicKey: r.address, ip: '10.201.2.1', quicPort: 4001, tcpPort: 4002 }], options: { ...fast, listenHost: '10.201.2.2', relayReservation: true } }, 'C'))
  })
  afterAll(async () => {
    await Promise.allSettled(nodes.map(async (n) => { await n.stop() }))
    topo.cleanup()
  })

  it('a node reachable only through a relay still exchanges events', async () => {
    const [, nodeA, nodeC] = nodes as [ChildNode, ChildNode, ChildNode]
    await Promise.all([nodeA.waitFor((l) => l.type === 'ready', 20_000, 'A ready'), nodeC.waitFor((l) => l.type === 'ready', 20_000, 'C ready')])
    nodeA.send({ cmd: 'publish', message: { from: 'A' } })
    const sentA = await nodeA.waitFor((l) => l.type === 'published' || l.type === 'error', 60_000, 'A publish')
    expect(sentA.type).toBe('published')
    const atC = await nodeC.waitFor((l) => l.type === 'event', 10_000, 'event at C')
    expect(atC.event).toEqual(sentA.event)

    nodeC.send({ cmd: 'publish', message: { from: 'C' } })
    const sentC = await nodeC.waitFor((l) => l.type === 'published' || l.type === 'error', 30_000, 'C publish')
    expect(sentC.type).toBe('published')
    const atA = await nodeA.waitFor((l) => l.type === 'event', 10_000, 'event at A')
    expect(atA.event).toEqual(sentC.event)

    nodeA.send({ cmd: 'peers' })
    const peers = await nodeA.waitFor((l) => l.type === 'peers', 5_000, 'peers')
    const toC = peers.peers.find((p: { wallet: string }) => p.wallet === c.address)
    expect(toC.addrs.every((addr: string) => addr.includes('/p2p-circuit'))).toBe(true)
  }, 90_000)
})
