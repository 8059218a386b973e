/*
 * Sticky topics in a mixed network. Go nodes are authorized peers but cannot hold sticky records
 * (no replica protocol; go-libp2p-kad-dht refuses PUT_VALUE outside the pk/ipns namespaces): replica
 * sets and the write quorum count only peers announcing the replica protocol. With Go nodes in WAN
 * DHT server mode they sit in the TS nodes' WAN routing tables and DHT query results, where they were
 * picked as replicas before.
 */
import { afterAll, describe, expect, it } from 'vitest'
import type { Database } from '../../src/index.js'
import { newWallet, startNode, TestRegistry, waitFor, type Wallet } from '../../support/cluster.js'
import { GoNode } from '../fixtures/go-node.js'
import { stickyOf } from '../fixtures/sticky-records.js'

const DB = 'sticky-mix'
const STICKY = { pollIntervalMs: 1_000, commitDeadlineMs: 20_000, requestTimeoutMs: 2_000 }
const live: Array<() => Promise<void>> = []
afterAll(async () => { await Promise.allSettled(live.splice(0).map(async (stop) => { await stop() })) })

function portsOf (db: Database): { quicPort: number, tcpPort: number } {
  const addrs = db.libp2p.getMultiaddrs().map(String)
  const port = (re: RegExp): number => Number(addrs.map((a) => re.exec(a)?.[1]).find((p) => p != null) ?? 0)
  return { quicPort: port(/^\/ip4\/127\.0\.0\.1\/udp\/(\d+)\/quic-v1/), tcpPort: port(/^\/ip4\/127\.0\.0\.1\/tcp\/(\d+)/) }
}

async function mixed (tsCount: number, goCount: number, wanDhtServer: boolean): Promise<{ ts: Database[], go: GoNode[], registry: TestRegistry, goWallets: Wallet[] }> {
  const registry = new TestRegistry()
  const goWallets = Array.from({ length: goCount }, () => newWallet())
  const tsWallets = Array.from({ length: tsCount + 1 }, () => newWallet()) // one more: the late joiner
  registry.add(...goWallets.map((w) => w.address), ...tsWallets.map((w) => w.address))
  const go = await Promise.all(goWallets.map(async (wallet, i) => await GoNode.start({ wallet, db: DB, authorizedWallets: [...registry.wallets], wanDhtServer, name: `go${i}` })))
  live.push(...go.map((g) => async () => { await g.stop() }))
  for (const [i, g] of go.entries()) for (const other of go.slice(i + 1)) await g.request({ cmd: 'connect', addr: other.addr('tcp') })
  const ts: Database[] = []
  for (const [i, wallet] of tsWallets.slice(0, tsCount).entries()) {
    const earlier = ts.map((d) => ({ publicKey: d.walletAddress, ip: '127.0.0.1', ...portsOf(d) }))
    const db = (await startNode({ wallet, registry, databaseName: DB, name: `ts${i}`, bootstrap: () => [...go.map((g) => g.bootstrapEntry()), ...earlier], extra: { sticky: STICKY } })).db
    live.push(async () => { await db.disconnect() })
    ts.push(db)
  }
  const everyone = [...go.map((g) => g.peerId), ...ts.map((d) => d.peerId)]
  await waitFor(() => ts.every((d) => d.connectedPeers().length === everyone.length - 1), 30_000, 'TS nodes connected to every node')
  return { ts, go, registry, goWallets: tsWallets.slice(tsCount) }
}

describe('Go interop: sticky topics with Go nodes present', () => {
  for (const wanDhtServer of [false, true]) {
    it(`3 TS + 3 Go${wanDhtServer ? ' (Go WAN DHT in server mode)' : ''}: publishes are acknowledged by TS replicas only; a late TS joiner gets every acknowledged message`, async () => {
      const { ts, go, registry, goWallets: [lateWallet] } = await mixed(3, 3, wanDhtServer)
      const goIds = new Set(go.map((g) => g.peerId))
      const [pub] = ts as [Database]
      if (wanDhtServer) {
        // the case this guards: Go nodes are DHT servers in the TS nodes' WAN routing tables
        const table = (pub.libp2p.services.dht as any).routingTable
        await waitFor(() => [...table.kb.toIterable()].some((e: any) => goIds.has(e.peerId.toString())), 15_000, 'a Go node in the WAN routing table')
      }
      const started = Date.now()
      const acks = []
      for (let i = 0; i < 5; i++) acks.push(await pub.sticky.publish('news', { i }))
      const ackMs = Date.now() - started
      expect(acks.map((a) => a.version).every((v) => v > 0)).toBe(true)
      const replicas = (await stickyOf(pub).store.replicas('news')).map(String)
      expect(replicas.length).toBe(2) // the two other TS nodes
      expect(replicas.some((p) => goIds.has(p))).toBe(false)
      expect(pub.sticky.stats().replicaFailures ?? 0).toBe(0) // no request ever went to a Go node
      // a late TS joiner, bootstrapping from a Go node only, receives the whole history
      const late = (await startNode({ wallet: lateWallet!, registry, databaseName: DB, name: 'late', bootstrap: () => [go[0]!.bootstrapEntry()], extra: { sticky: STICKY } })).db
      live.push(async () => { await late.disconnect() })
      await waitFor(() => ts.every((d) => late.connectedPeers().some((p) => p.peerId === d.peerId)), 30_000, 'late joiner connected to the TS nodes')
      const got: unknown[] = []
      await late.sticky.subscribe('news', { onMessage: (m) => { got.push(m.data) } })
      await waitFor(() => got.length >= 5, 45_000, 'history at the late joiner')
      expect(got).toEqual([0, 1, 2, 3, 4].map((i) => ({ i })))
      console.log(`sticky mix${wanDhtServer ? ' (WAN server)' : ''}: 5 acks in ${ackMs} ms, replicas ${replicas.length}`)
    }, 120_000)
  }

  it('with fewer TS nodes than the write quorum, a publish fails with ERR_NO_QUORUM within its deadline instead of waiting on Go peers', async () => {
    const { ts } = await mixed(1, 3, true)
    const [pub] = ts as [Database]
    const started = Date.now()
    const outcome = await pub.sticky.publish('alone', { x: 1 }).then(() => 'acknowledged', (err: { code?: string }) => err.code)
    const ms = Date.now() - started
    console.log(`lone TS node with 3 Go peers: publish ${String(outcome)} in ${ms} ms`)
    // Go peers are not replicas: one replica-capable node (this one) is below writeQuorum (3), so
    // nothing is acknowledged and the publish rejects with the quorum error once its deadline passes
    // (before the replica-protocol filter it counted the Go peers as replicas and timed out instead)
    expect(outcome).toBe('ERR_NO_QUORUM')
    expect(ms).toBeLessThan(STICKY.commitDeadlineMs + 5_000)
  }, 60_000)
})
