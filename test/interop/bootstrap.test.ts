/*
 * Bootstrap across implementations, on loopback: a Go bootstrap node with TS followers and a TS
 * bootstrap node with Go followers; the bootstrap node is stopped and restarted on the same
 * address, and every node is ready again (followers retry their bootstrap list while they have no
 * peer: TS every bootstrapRetryIntervalMs, Go every 5 s).
 */
import { afterAll, describe, expect, it } from 'vitest'
import type { Database } from '../../src/index.js'
import { freePorts, newWallet, startNode, TestRegistry, waitFor } from '../../support/cluster.js'
import { GoNode } from '../fixtures/go-node.js'

const DB = 'boot'
// followers know only the bootstrap node: no DHT lookups that could connect them to each other
const FOLLOWER = { discoveryLookupIntervalMs: 3_600_000, discoveryAdvertiseIntervalMs: 3_600_000 }
const live: Array<() => Promise<void>> = []
afterAll(async () => { await Promise.allSettled(live.splice(0).map(async (stop) => { await stop() })) })

describe('Go interop: bootstrap', () => {
  it('Go bootstrap node with TS followers; after the Go node restarts everyone is ready again', async () => {
    const registry = new TestRegistry()
    const [gw, w1, w2] = [newWallet(), newWallet(), newWallet()]
    registry.add(gw.address, w1.address, w2.address)
    const ports = await freePorts()
    const goOpts = { wallet: gw, db: DB, authorizedWallets: [...registry.wallets], quicPort: ports.quic, tcpPort: ports.tcp, name: 'goboot' }
    let go = await GoNode.start(goOpts)
    live.push(async () => { await go.stop() })
    const entry = go.bootstrapEntry()
    const followers: Database[] = []
    for (const [i, wallet] of [w1, w2].entries()) {
      const db = (await startNode({ wallet, registry, databaseName: DB, name: `f${i}`, bootstrap: () => [entry], extra: FOLLOWER })).db
      live.push(async () => { await db.disconnect() })
      followers.push(db)
    }
    await Promise.all(followers.map(async (f) => { await f.waitUntilReady({ signal: AbortSignal.timeout(20_000) }) }))
    await go.waitFor((l) => l.type === 'ready', 10_000, 'Go bootstrap ready')
    expect(followers.every((f) => f.connectedPeers().map((p) => p.peerId).join() === go.peerId)).toBe(true)

    await go.stop()
    await waitFor(() => followers.every((f) => !f.isReady()), 20_000, 'followers not ready')
    go = await GoNode.start(goOpts)
    await Promise.all(followers.map(async (f) => { await f.waitUntilReady({ signal: AbortSignal.timeout(30_000) }) }))
    await go.waitFor((l) => l.type === 'ready', 10_000, 'restarted Go bootstrap ready')
    await waitFor(() => followers.every((f) => f.connectedPeers().some((p) => p.peerId === go.peerId)), 10_000, 'followers reconnected to the Go node')
  }, 120_000)

  it('TS bootstrap node with Go followers; after the TS node restarts everyone is ready again', async () => {
    const registry = new TestRegistry()
    const [bw, g1, g2] = [newWallet(), newWallet(), newWallet()]
    registry.add(bw.address, g1.address, g2.address)
    const ports = await freePorts()
    const bootOpts = { wallet: bw, registry, databaseName: DB, name: 'tsboot', extra: { listenPorts: ports } }
    let boot = (await startNode(bootOpts)).db
    live.push(async () => { await boot.disconnect() })
    const entry = { publicKey: bw.address, ip: '127.0.0.1', quicPort: ports.quic, tcpPort: ports.tcp }
    const followers = await Promise.all([g1, g2].map(async (wallet, i) => await GoNode.start({ wallet, db: DB, authorizedWallets: [...registry.wallets], bootstrapNodes: [entry], name: `gf${i}` })))
    live.push(...followers.map((f) => async () => { await f.stop() }))
    await Promise.all(followers.map(async (f) => await f.waitFor((l) => l.type === 'ready', 20_000, 'Go follower ready')))
    await boot.waitUntilReady({ signal: AbortSignal.timeout(10_000) })

    await boot.disconnect()
    // Go's LAN DHT drops loopback addresses, so on loopback the Go followers only know the bootstrap node
    await Promise.all(followers.map(async (f) => await f.waitFor((l) => l.type === 'not-ready', 20_000, 'Go follower not ready')))
    const notReadyAt = followers.map((f) => f.lines.findIndex((l) => l.type === 'not-ready'))
    boot = (await startNode(bootOpts)).db
    await Promise.all(followers.map(async (f, i) => await f.waitFor((l) => l.type === 'ready' && f.lines.indexOf(l) > notReadyAt[i]!, 30_000, 'Go follower ready again')))
    await boot.waitUntilReady({ signal: AbortSignal.timeout(10_000) })
    await waitFor(() => boot.connectedPeers().length === 2, 10_000, 'both Go followers identified on the restarted TS node')
    expect(boot.connectedPeers().map((p) => p.peerId).sort()).toEqual(followers.map((f) => f.peerId).sort())
  }, 120_000)
})
