/*
 * The seed's bootstrap scenarios on real nodes: a node started before its bootstrap node becomes
 * ready once that node appears; when the bootstrap node dies, a node that lost all peers
 * re-bootstraps through a second one. Entries use the Go library's format.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Keypair } from '@solana/web3.js'
import { freePorts, newWallet, startNode, TestRegistry, waitFor, waitForSubscribers } from '../../support/cluster.js'
import { PublicKey } from '@solana/web3.js'
import type { BootstrapNode, Database, Event } from '../../src/index.js'

describe('bootstrap and readiness', () => {
  const open: Database[] = []
  afterEach(async () => { await Promise.allSettled(open.splice(0).map(async (d) => { await d.disconnect() })) })

  it('scenario 1: a node started before its bootstrap node becomes ready once it appears', async () => {
    const registry = new TestRegistry()
    const boot = newWallet()
    const ports = await freePorts()
    const entry: BootstrapNode = { publicKey: boot.address, ip: '127.0.0.1', quicPort: ports.quic, tcpPort: ports.tcp }
    const client = await startNode({ registry, name: 'client', bootstrap: () => [entry] }); open.push(client.db)
    registry.add(boot.address, client.wallet.address)
    const events: string[] = []
    client.db.on('ready', () => events.push('ready'))
    await new Promise((resolve) => setTimeout(resolve, 1_200))
    expect(client.db.isReady()).toBe(false)
    const attemptsBefore = client.db.stats().bootstrapAttempts
    expect(attemptsBefore).toBeGreaterThanOrEqual(1) // a QUIC dial to a closed UDP port waits for the connect timeout

    const b = await startNode({ wallet: boot, registry, name: 'boot', extra: { listenPorts: ports } }); open.push(b.db)
    await client.db.waitUntilReady({ signal: AbortSignal.timeout(10_000) })
    expect(events).toEqual(['ready'])
    expect(client.db.connectedPeers().map((p) => p.wallet)).toEqual([boot.address])
    // the retry loop stopped: no further attempts
    const attempts = client.db.stats().bootstrapAttempts
    await new Promise((resolve) => setTimeout(resolve, 1_200))
    expect(client.db.stats().bootstrapAttempts).toBe(attempts)
  })

  it('scenario 2: when the bootstrap node dies, a node that lost all peers re-bootstraps through a second one', async () => {
    const registry = new TestRegistry()
    const first = newWallet(); const second = newWallet()
    const p1 = await freePorts(); const p2 = await freePorts()
    // Go-format entries; the second node's key given as a PublicKey object
    const entries: BootstrapNode[] = [
      { publicKey: first.address, ip: '127.0.0.1', quicPort: p1.quic, tcpPort: p1.tcp },
      { publicKey: new PublicKey(second.address), ip: '127.0.0.1', quicPort: p2.quic, tcpPort: p2.tcp }
    ]
    const b1 = await startNode({ wallet: first, registry, name: 'boot1', extra: { listenPorts: p1 }, bootstrap: () => entries })
    const node = await startNode({ registry, name: 'node', bootstrap: () => entries }); open.push(node.db)
    registry.add(first.address, second.address, node.wallet.address)
    await node.db.waitUntilReady({ signal: AbortSignal.timeout(10_000) })
    expect(node.db.connectedPeers().map((p) => p.wallet)).toEqual([first.address])

    const lost = new Promise<void>((resolve) => { node.db.once('not-ready', resolve) })
    await b1.db.disconnect()
    await lost
    expect(node.db.isReady()).toBe(false)

    const b2 = await startNode({ wallet: second, registry, name: 'boot2', extra: { listenPorts: p2 }, bootstrap: () => entries }); open.push(b2.db)
    await node.db.waitUntilReady({ signal: AbortSignal.timeout(10_000) })
    expect(node.db.connectedPeers().map((p) => p.wallet)).toEqual([second.address])

    // and events flow over the new path
    const got: Event[] = []
    await b2.db.subscribe('t', (e) => { got.push(e) })
    await node.db.subscribe('t', () => {})
    await waitForSubscribers([node.db], 'testdb_t', 1)
    const sent = await node.db.publish('t', { after: 'failover' })
    await waitFor(() => got.length === 1, 5_000, 'event after failover')
    expect(got[0]).toEqual(sent)
  })

  it('skips its own entry in the bootstrap list and stays not ready when it is the only one', async () => {
    const registry = new TestRegistry()
    const me = newWallet()
    registry.add(me.address)
    const n = await startNode({ wallet: me, registry, name: 'alone', bootstrap: () => [{ publicKey: me.address, ip: '127.0.0.1', quicPort: 1, tcpPort: 2 }] }); open.push(n.db)
    await new Promise((resolve) => setTimeout(resolve, 800))
    expect(n.db.isReady()).toBe(false)
    expect(n.db.libp2p.getConnections()).toHaveLength(0)
    const controller = new AbortController()
    setTimeout(() => { controller.abort() }, 100)
    await expect(n.db.waitUntilReady({ signal: controller.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' })
  })

  it('keeps working after a disconnect() mid-retry: nothing is left running', async () => {
    const registry = new TestRegistry()
    const n = await startNode({ registry, name: 'quitter', bootstrap: () => [{ publicKey: Keypair.generate().publicKey.toBase58(), ip: '127.0.0.1', quicPort: 9, tcpPort: 9 }] })
    await new Promise((resolve) => setTimeout(resolve, 300))
    await n.db.disconnect()
    const attempts = n.db.stats().bootstrapAttempts
    await new Promise((resolve) => setTimeout(resolve, 1_200))
    expect(n.db.stats().bootstrapAttempts).toBe(attempts)
    await expect(n.db.publish('t', 1)).rejects.toMatchObject({ code: 'ERR_DISCONNECTED' })
  })
})
