/*
 * Slow-loris before the gate, across network namespaces (libp2p exempts loopback addresses from its
 * inbound limits, so the attack only exists between real addresses). An attacker namespace keeps 50
 * silent TCP sockets open to a node and replaces every socket the node closes; meanwhile an
 * authorized node in a third namespace must still connect. Without a per-IP limit on connections
 * that have not finished their handshake, the attacker holds every pending slot of the node (10 by
 * default, shared with QUIC) and locks everyone out.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newWallet } from '../../support/cluster.js'
import { ChildNode, netnsAvailable, Topology } from '../fixtures/netns.js'

const options = {
  listenPorts: { quic: 4001, tcp: 4002 },
  registryRefreshIntervalMs: 1_000,
  bootstrapFirstRetryDelayMs: 200,
  bootstrapRetryIntervalMs: 500,
  connectTimeoutMs: 3_000,
  discoveryAdvertiseIntervalMs: 5_000,
  discoveryLookupIntervalMs: 5_000
}

describe.runIf(netnsAvailable())('slow-loris across network namespaces', () => {
  const topo = new Topology('dhh')
  const nodes: ChildNode[] = []
  let attacker: ChildProcess | undefined
  const attack: Array<{ open: number, maxOpen: number, attempts: number }> = []
  const [s, h] = [newWallet(), newWallet()]
  const registry = [s.address, h.address]
  let nsS = ''; let nsX = ''; let nsH = ''

  beforeAll(() => {
    nsS = topo.ns('s'); nsX = topo.ns('x'); nsH = topo.ns('h')
    topo.link(nsS, '10.206.1.1', nsX, '10.206.1.2')
    topo.link(nsS, '10.206.2.1', nsH, '10.206.2.2')
  })
  afterAll(async () => {
    if (attacker?.pid != null && attacker.exitCode == null) attacker.kill('SIGKILL')
    await Promise.allSettled(nodes.map(async (n) => { await n.stop() }))
    topo.cleanup()
  })

  it('50 silent sockets from one IP do not stop an authorized node from connecting', async () => {
    const server = new ChildNode(nsS, { name: 'S', secret: s.secretBase58, registry, options: { ...options, listenHost: '0.0.0.0' } }, 'S')
    nodes.push(server)
    await server.waitFor((l) => l.type === 'started', 20_000, 'S started')

    attacker = spawn('ip', ['netns', 'exec', nsX, process.execPath, '--import', 'tsx', 'test/fixtures/slow-loris.ts', '10.206.1.1', '4002', '50', '100'],
      { stdio: ['ignore', 'pipe', 'ignore'] })
    createInterface({ input: attacker.stdout! }).on('line', (line) => { try { attack.push(JSON.parse(line)) } catch {} })
    // let the attack settle: every pending slot it can get is taken
    const deadline = Date.now() + 15_000
    while ((attack.at(-1)?.attempts ?? 0) < 100 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200))
    expect(attack.at(-1)?.attempts ?? 0).toBeGreaterThanOrEqual(100)

    const honest = new ChildNode(nsH, {
      name: 'H', secret: h.secretBase58, registry,
      bootstrap: [{ publicKey: s.address, ip: '10.206.2.1', quicPort: 4001, tcpPort: 4002 }],
      options: { ...options, listenHost: '10.206.2.2' }
    }, 'H')
    nodes.push(honest)
    // process start (tsx compiling the sources on a busy machine) is not part of the measurement
    await honest.waitFor((l) => l.type === 'started', 30_000, 'H started')
    const started = Date.now()
    const ready = await honest.waitFor((l) => l.type === 'ready', 10_000, 'H ready while the attack runs').then(() => true, () => false)
    const last = attack.at(-1)
    console.log(`slow-loris: honest node ${ready ? `connected after ${Date.now() - started} ms` : 'locked out'}; attacker: ${last?.attempts} connection attempts, at most ${last?.maxOpen} sockets open at once, ${last?.open} open now`)
    expect(ready).toBe(true)
    expect(attacker.exitCode).toBeNull() // the attack was still running
  }, 90_000)
})
