/*
 * A Go node reaching a TS node only through a circuit relay (TS relay server R), across network
 * namespaces: A (Go) linked to R on 10.203.1.0/24, C (TS, relay reservation on R) on 10.203.2.0/24,
 * no route between A and C. The Go library enables the relay client only (no reservations of its
 * own, no auto-relay, no hole punching), so the relayed connection is Go -> relay -> TS.
 *
 * Measured limit: no events flow either way. go-libp2p's swarm refuses to open a stream over a
 * limited (relayed) connection unless the caller's context allows it (network.WithAllowLimitedConn;
 * p2p/net/swarm/swarm.go NewStream waits for a direct connection instead), and go-libp2p-pubsub
 * v0.14.2 opens its outbound stream with a plain context (comm.go handleNewPeer). So the Go node
 * never opens its GossipSub stream to C: it sends C neither messages nor its subscriptions, and C,
 * never learning that A subscribes, has nobody to publish to (ERR_NO_SUBSCRIBERS).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newWallet } from '../../support/cluster.js'
import { ChildNode, netnsAvailable, Topology } from '../fixtures/netns.js'
import { GoNode } from '../fixtures/go-node.js'

const DB = 'relaymix'
const fast = {
  listenPorts: { quic: 4001, tcp: 4002 },
  registryRefreshIntervalMs: 1_000,
  bootstrapFirstRetryDelayMs: 200,
  bootstrapRetryIntervalMs: 500,
  connectTimeoutMs: 3_000,
  discoveryAdvertiseIntervalMs: 1_000,
  discoveryLookupIntervalMs: 1_000,
  publishTimeoutMs: 4_000
}

describe.runIf(netnsAvailable())('Go interop: a Go node behind a circuit relay (TS relay server)', () => {
  const topo = new Topology(`dgr${process.pid % 1000}`)
  const children: ChildNode[] = []
  let goA: GoNode | undefined
  const [r, a, c] = [newWallet(), newWallet(), newWallet()]
  const registry = [r.address, a.address, c.address]
  const ns: Record<string, string> = {}

  beforeAll(async () => {
    ns.r = topo.ns('r'); ns.a = topo.ns('a'); ns.c = topo.ns('c')
    topo.link(ns.r, '10.203.1.1', ns.a, '10.203.1.2')
    topo.link(ns.r, '10.203.2.1', ns.c, '10.203.2.2')
    children.push(new ChildNode(ns.r, { name: 'R', secret: r.secretBase58, databaseName: DB, registry, options: { ...fast, listenHost: '0.0.0.0', relayServer: true } }, 'R'))
    children.push(new ChildNode(ns.c, { name: 'C', secret: c.secretBase58, databaseName: DB, registry, topic: 't', bootstrap: [{ publicKey: r.address, ip: '10.203.2.1', quicPort: 4001, tcpPort: 4002 }], options: { ...fast, listenHost: '10.203.2.2', relayReservation: true } }, 'C'))
    await children[1]!.waitFor((l) => l.type === 'ready', 30_000, 'C ready')
  }, 60_000)

  afterAll(async () => {
    await Promise.allSettled([...children.map(async (n) => { await n.stop() }), goA?.stop()])
    topo.cleanup()
  })

  it('documented limit: Go dials the TS node through the relay, but no events flow either way (go-libp2p-pubsub opens no stream over a limited connection)', async () => {
    const [nodeR, nodeC] = children as [ChildNode, ChildNode]
    const rId = (await nodeR.waitFor((l) => l.type === 'started', 10_000, 'R started')).peerId
    const cId = (await nodeC.waitFor((l) => l.type === 'started', 10_000, 'C started')).peerId
    goA = await GoNode.start({ wallet: a, db: DB, authorizedWallets: registry, bootstrapNodes: [{ publicKey: r.address, ip: '10.203.1.1', quicPort: 4001, tcpPort: 4002 }], listenHost: '10.203.1.2', quicPort: 4001, tcpPort: 4002, netns: ns.a, subscribe: ['t'], name: 'A(go)' })
    await goA.waitFor((l) => l.type === 'ready', 20_000, 'A ready')
    // C's reservation on R is in place once C listens on a circuit address
    const deadline = Date.now() + 20_000
    for (;;) {
      const before = nodeC.lines.length
      nodeC.send({ cmd: 'peers' })
      const line = await nodeC.waitFor((l) => l.type === 'peers' && nodeC.lines.indexOf(l) >= before, 5_000, 'C peers')
      if (line.addrs.some((x: string) => x.includes('/p2p-circuit'))) break
      if (Date.now() > deadline) throw new Error('C has no relay reservation')
      await new Promise((resolve) => setTimeout(resolve, 300))
    }
    await goA.request({ cmd: 'connect', addr: `/ip4/10.203.1.1/tcp/4002/p2p/${rId}/p2p-circuit/p2p/${cId}` })
    const peer = (await goA.peers()).find((p) => p.peerId === cId)
    expect(peer?.addrs.every((x) => x.includes('/p2p-circuit'))).toBe(true)

    // Go -> TS: the Go node never opens its GossipSub stream over the relayed connection
    const fromGo = await goA.publish('t', { from: 'A' })
    // TS -> Go: Go announces its subscriptions on that same (never opened) stream, so C never
    // learns that A subscribes to the topic and has no one to send to
    const before = nodeC.lines.length
    nodeC.send({ cmd: 'publish', message: { from: 'C' } })
    const sent = await nodeC.waitFor((l) => (l.type === 'published' || l.type === 'error') && nodeC.lines.indexOf(l) >= before, 30_000, 'C publish')
    expect(sent).toMatchObject({ type: 'error', code: 'ERR_NO_SUBSCRIBERS' })
    expect(nodeC.lines.some((l) => l.type === 'event' && l.event.id === fromGo.id)).toBe(false)
    expect(goA.events('t')).toHaveLength(0)
    // the relayed connection itself stays up: it is GossipSub that does not use it
    expect((await goA.peers()).some((p) => p.peerId === cId)).toBe(true)
  }, 120_000)
})
