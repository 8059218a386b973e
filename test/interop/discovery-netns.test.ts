/*
 * Discovery between TS and Go nodes through the database's rendezvous CID alone, across network
 * namespaces on one switch (10.202.1.0/24): Go's LAN DHT drops loopback addresses, so these nodes
 * need real ones. Every node knows only the hub H; the others find each other through provider
 * records of `p2p-database-discovery_<db>`. Each direction is checked where the finding happens: a
 * TS node's rendezvous lookup lists the Go node (which only advertises), and the Go node's lookup
 * reports the TS node (which only advertises); then the two are connected and exchange an event.
 * (Who dials first is a race: a DHT query of either side may connect them before discovery does.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newWallet } from '../../support/cluster.js'
import { ChildNode, netnsAvailable, Topology } from '../fixtures/netns.js'
import { GoNode } from '../fixtures/go-node.js'

const DB = 'disco'
const base = {
  listenPorts: { quic: 4001, tcp: 4002 },
  registryRefreshIntervalMs: 1_000,
  bootstrapFirstRetryDelayMs: 200,
  bootstrapRetryIntervalMs: 500,
  connectTimeoutMs: 3_000,
  discoveryAdvertiseIntervalMs: 1_000,
  discoveryLookupIntervalMs: 1_000,
  publishTimeoutMs: 10_000
}
const NO_LOOKUPS = { discoveryLookupIntervalMs: 3_600_000 }

describe.runIf(netnsAvailable())('Go interop: discovery through the rendezvous CID (network namespaces)', () => {
  const topo = new Topology('dgo')
  const children: ChildNode[] = []
  const goNodes: GoNode[] = []
  const [h, a, b, c, d] = [newWallet(), newWallet(), newWallet(), newWallet(), newWallet()]
  const registry = [h, a, b, c, d].map((w) => w.address)
  const hub = { publicKey: h.address, ip: '10.202.1.1', quicPort: 4001, tcpPort: 4002 }
  const ns: Record<string, string> = {}

  beforeAll(async () => {
    const sw = topo.switch('sw')
    for (const [name, addr] of [['h', '10.202.1.1'], ['a', '10.202.1.2'], ['b', '10.202.1.3'], ['c', '10.202.1.4'], ['d', '10.202.1.5']] as const) {
      ns[name] = topo.ns(name)
      topo.attach(ns[name], sw, addr)
    }
    children.push(new ChildNode(ns.h!, { name: 'H', secret: h.secretBase58, databaseName: DB, registry, topic: 't', options: { ...base, listenHost: '10.202.1.1' } }, 'H'))
    await children[0]!.waitFor((l) => l.type === 'started', 20_000, 'H started')
  }, 60_000)

  afterAll(async () => {
    await Promise.allSettled([...children.map(async (n) => { await n.stop() }), ...goNodes.map(async (g) => { await g.stop() })])
    topo.cleanup()
  })

  async function conns (node: ChildNode): Promise<Array<{ peerId: string, direction: string, addr: string }>> {
    const before = node.lines.length
    node.send({ cmd: 'peers' })
    const line = await node.waitFor((l) => l.type === 'peers' && node.lines.indexOf(l) >= before, 5_000, 'peers')
    return line.conns
  }

  async function until (what: string, cond: () => Promise<boolean>, ms: number): Promise<void> {
    const deadline = Date.now() + ms
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
  }

  async function providers (node: ChildNode): Promise<string[]> {
    const before = node.lines.length
    node.send({ cmd: 'providers' })
    return (await node.waitFor((l) => (l.type === 'providers' || l.type === 'error') && node.lines.indexOf(l) >= before, 10_000, 'providers')).peers ?? []
  }

  it('a TS node finds a Go node (that only advertises) through the rendezvous CID', async () => {
    const goB = await GoNode.start({ wallet: b, db: DB, authorizedWallets: registry, bootstrapNodes: [hub], listenHost: '10.202.1.3', quicPort: 4001, tcpPort: 4002, netns: ns.b, findPeers: false, subscribe: ['t'], name: 'B(go)' })
    goNodes.push(goB)
    const tsA = new ChildNode(ns.a!, { name: 'A', secret: a.secretBase58, databaseName: DB, registry, topic: 't', bootstrap: [hub], options: { ...base, listenHost: '10.202.1.2' } }, 'A')
    children.push(tsA)
    await tsA.waitFor((l) => l.type === 'ready', 20_000, 'A ready')
    await until('B among the rendezvous providers A finds', async () => (await providers(tsA)).includes(goB.peerId), 40_000)
    await until('A connected to B', async () => (await conns(tsA)).some((x) => x.peerId === goB.peerId), 20_000)
    // and the two exchange events over the discovered connection
    tsA.send({ cmd: 'publish', message: { from: 'A' } })
    const sent = await tsA.waitFor((l) => l.type === 'published' || l.type === 'error', 15_000, 'A publish')
    expect(sent.type).toBe('published')
    await goB.waitFor((l) => l.type === 'event' && l.event.id === sent.event.id, 10_000, 'A event on B')
  }, 90_000)

  it('a Go node finds a TS node (that only advertises) through the rendezvous CID', async () => {
    const tsC = new ChildNode(ns.c!, { name: 'C', secret: c.secretBase58, databaseName: DB, registry, topic: 't', bootstrap: [hub], options: { ...base, ...NO_LOOKUPS, listenHost: '10.202.1.4' } }, 'C')
    children.push(tsC)
    const cId = (await tsC.waitFor((l) => l.type === 'started', 20_000, 'C started')).peerId
    await tsC.waitFor((l) => l.type === 'ready', 20_000, 'C ready')
    const goD = await GoNode.start({ wallet: d, db: DB, authorizedWallets: registry, bootstrapNodes: [hub], listenHost: '10.202.1.5', quicPort: 4001, tcpPort: 4002, netns: ns.d, subscribe: ['t'], name: 'D(go)' })
    goNodes.push(goD)
    await goD.waitFor((l) => l.type === 'found' && l.peerId === cId, 40_000, 'C among the providers D finds')
    await until('C connected to D', async () => (await conns(tsC)).some((x) => x.peerId === goD.peerId), 20_000)
    const event = await goD.publish('t', { from: 'D' })
    await tsC.waitFor((l) => l.type === 'event' && l.event.id === event.id, 10_000, 'D event on C')
  }, 90_000)
})
