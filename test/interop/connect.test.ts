/*
 * Go <-> TS basics against a real Go node (interop/go, built like the Go library): the peer id of a
 * Solana key, dials in both directions over QUIC only and TCP only with identify's protocol lists,
 * and the registry gate in both directions (unknown wallet, non-Ed25519 key).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createLibp2p } from 'libp2p'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { quic } from '@chainsafe/libp2p-quic'
import { tcp } from '@libp2p/tcp'
import { identify } from '@libp2p/identify'
import { multiaddr } from '@multiformats/multiaddr'
import { walletToPeerId, type Database } from '../../src/index.js'
import { newWallet, startNode, TestRegistry, waitFor, type Wallet } from '../../support/cluster.js'
import { GoNode, goPeerIds } from '../fixtures/go-node.js'

const DB = 'interop'
const live: Array<{ stop: () => Promise<void> }> = []
const track = <T extends { stop: () => Promise<void> }>(x: T): T => { live.push(x); return x }
afterEach(async () => { await Promise.allSettled(live.splice(0).map(async (x) => { await x.stop() })) })
afterAll(async () => { await Promise.allSettled(live.splice(0).map(async (x) => { await x.stop() })) })

async function tsNode (wallet: Wallet, authorized: string[], extra = {}): Promise<Database> {
  const registry = new TestRegistry()
  registry.add(...authorized)
  const { db } = await startNode({ wallet, registry, databaseName: DB, extra })
  track({ stop: async () => { await db.disconnect() } })
  return db
}

const openConns = (db: Database, peerId: string): number => db.libp2p.getConnections().filter((c) => c.remotePeer.toString() === peerId && c.status === 'open').length

describe('Go interop: identity and connections', () => {
  it('derives the same peer id from 32 random Solana keys as the Go code', () => {
    const wallets = Array.from({ length: 32 }, () => newWallet())
    const fromGo = goPeerIds(wallets.map((w) => w.secretBase58))
    expect(fromGo).toEqual(wallets.map((w) => walletToPeerId(w.address).toString()))
  })

  for (const transport of ['quic', 'tcp'] as const) {
    it(`TS dials Go over ${transport} only; identify shows each side's protocols`, async () => {
      const [tw, gw] = [newWallet(), newWallet()]
      const go = track(await GoNode.start({ wallet: gw, db: DB, authorizedWallets: [tw.address, gw.address] }))
      const entry = go.bootstrapEntry()
      const ts = await tsNode(tw, [tw.address, gw.address], { getBootstrapNodes: async () => [{ ...entry, quicPort: transport === 'quic' ? entry.quicPort : 0, tcpPort: transport === 'tcp' ? entry.tcpPort : 0 }] })
      await ts.waitUntilReady({ signal: AbortSignal.timeout(20_000) })
      const conns = ts.libp2p.getConnections().filter((c) => c.remotePeer.toString() === go.peerId)
      expect(conns.length).toBeGreaterThan(0)
      for (const c of conns) expect(c.remoteAddr.toString()).toContain(transport === 'quic' ? '/quic-v1' : '/tcp/')
      await waitFor(() => ts.connectedPeers().some((p) => p.peerId === go.peerId), 5_000, 'authorized Go peer')
      // identify, TS side: what the Go node announces
      let goProtocols: string[] = []
      await waitFor(() => { void ts.libp2p.peerStore.get(walletToPeerId(gw.address)).then((p) => { goProtocols = p.protocols }, () => {}); return goProtocols.includes('/meshsub/1.2.0') }, 10_000, 'identify of the Go node')
      expect(goProtocols).toEqual(expect.arrayContaining(['/ipfs/id/1.0.0', '/ipfs/ping/1.0.0', '/meshsub/1.2.0', '/ipfs/lan/kad/1.0.0']))
      expect(goProtocols).not.toContain('/depin/sticky/replica/1.0.0')
      // identify, Go side: what the TS node announces
      let tsProtocols: string[] = []
      const deadline = Date.now() + 10_000
      while (Date.now() < deadline && !tsProtocols.includes('/depin/sticky/replica/1.0.0')) {
        tsProtocols = (await go.peers()).find((p) => p.peerId === ts.peerId)?.protocols ?? []
        if (!tsProtocols.includes('/depin/sticky/replica/1.0.0')) await new Promise((resolve) => setTimeout(resolve, 200))
      }
      expect(tsProtocols).toEqual(expect.arrayContaining(['/ipfs/id/1.0.0', '/meshsub/1.2.0', '/ipfs/kad/1.0.0', '/ipfs/lan/kad/1.0.0', '/depin/sticky/replica/1.0.0']))
    })

    it(`Go dials TS over ${transport} only`, async () => {
      const [tw, gw] = [newWallet(), newWallet()]
      const ts = await tsNode(tw, [tw.address, gw.address])
      const go = track(await GoNode.start({ wallet: gw, db: DB, authorizedWallets: [tw.address, gw.address] }))
      const addr = ts.libp2p.getMultiaddrs().map(String).find((a) => a.startsWith('/ip4/127.0.0.1/') && (transport === 'quic' ? a.includes('/quic-v1/') : a.includes('/tcp/')))!
      await go.request({ cmd: 'connect', addr })
      await waitFor(() => ts.connectedPeers().some((p) => p.peerId === go.peerId), 10_000, 'Go peer on the TS side')
      const peer = (await go.peers()).find((p) => p.peerId === ts.peerId)
      expect(peer?.addrs.every((a) => a.includes(transport === 'quic' ? '/quic-v1' : '/tcp/'))).toBe(true)
    })

    it(`a wallet outside the registry is refused both ways over ${transport}`, async () => {
      const [tw, gw] = [newWallet(), newWallet()]
      // TS authorizes only itself; Go authorizes both: Go's dial reaches TS's gate, which refuses
      const ts = await tsNode(tw, [tw.address])
      const go = track(await GoNode.start({ wallet: gw, db: DB, authorizedWallets: [tw.address, gw.address] }))
      const addr = ts.libp2p.getMultiaddrs().map(String).find((a) => a.startsWith('/ip4/127.0.0.1/') && (transport === 'quic' ? a.includes('/quic-v1/') : a.includes('/tcp/')))!
      await go.request({ cmd: 'connect', addr }).catch(() => {})
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      expect(openConns(ts, go.peerId)).toBe(0)
      expect((await go.peers()).some((p) => p.peerId === ts.peerId)).toBe(false)
      // Go authorizes only itself: a TS dial is refused by Go's gate after the handshake
      const [tw2, gw2] = [newWallet(), newWallet()]
      const go2 = track(await GoNode.start({ wallet: gw2, db: DB, authorizedWallets: [gw2.address] }))
      const ts2 = await tsNode(tw2, [tw2.address, gw2.address])
      await ts2.libp2p.dial(multiaddr(go2.addr(transport))).catch(() => {})
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      expect(openConns(ts2, go2.peerId)).toBe(0)
      expect((await go2.peers()).some((p) => p.peerId === ts2.peerId)).toBe(false)
      expect(ts2.connectedPeers()).toHaveLength(0)
    })

    it(`a non-Ed25519 key is refused both ways over ${transport}`, async () => {
      // a plain libp2p node with a secp256k1 key dials the Go node
      const gw = newWallet()
      const go = track(await GoNode.start({ wallet: gw, db: DB, authorizedWallets: [gw.address] }))
      const stranger = await createLibp2p({
        privateKey: await generateKeyPair('secp256k1'),
        transports: [quic(), tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        services: { identify: identify() }
      })
      track({ stop: async () => { await stranger.stop() } })
      await stranger.dial(multiaddr(go.addr(transport))).catch(() => {})
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      expect(stranger.getConnections().filter((c) => c.status === 'open')).toHaveLength(0)
      expect(await go.peers()).toHaveLength(0)
      // a Go node with a secp256k1 key dials a TS node
      const tw = newWallet()
      const ts = await tsNode(tw, [tw.address, gw.address])
      const odd = track(await GoNode.start({ wallet: gw, db: DB, authorizedWallets: [tw.address], secp256k1Identity: true }))
      const addr = ts.libp2p.getMultiaddrs().map(String).find((a) => a.startsWith('/ip4/127.0.0.1/') && (transport === 'quic' ? a.includes('/quic-v1/') : a.includes('/tcp/')))!
      await odd.request({ cmd: 'connect', addr }).catch(() => {})
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      expect(openConns(ts, odd.peerId)).toBe(0)
      expect((await odd.peers()).some((p) => p.peerId === ts.peerId)).toBe(false)
    })
  }
})
