import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { UnsupportedProtocolError, type PeerId } from '@libp2p/interface'
import { ReplicaPeers } from '../../../../src/sticky/replica/replica-peers.js'
import { replicaNetwork } from '../../../../src/sticky/replica/replica-network.js'
import { REPLICA_PROTOCOL } from '../../../../src/sticky/replica/replica-protocol.js'

async function peers (n: number): Promise<PeerId[]> {
  return await Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
}

/** a replica network over a fake routing table / DHT / dialer; `refuse` answers like a Go node (multistream "na") */
function fixture (all: PeerId[], refuse: Set<string>) {
  const rp = new ReplicaPeers()
  const dialed: string[] = []
  const net = replicaNetwork({
    dht: {
      getClosestPeers: async function * () { for (const p of all) yield { name: 'FINAL_PEER', peer: { id: p, multiaddrs: [] } } as any },
      routingTable: { size: all.length, kBucketSize: 20, kb: { toIterable: () => all.map((peerId) => ({ peerId })) }, find: async () => undefined, add: async () => {} }
    } as any,
    libp2p: {
      dialProtocol: async (peer: PeerId) => {
        dialed.push(peer.toString())
        if (refuse.has(peer.toString())) throw new UnsupportedProtocolError('protocol selection failed')
        throw new Error('connection reset')
      }
    } as any,
    selfPeerId: 'self',
    isConnected: () => true,
    connectedPeers: () => all,
    speaksReplica: (p) => rp.speaks(p),
    isIdentified: (p) => rp.isIdentified(p),
    refusedReplica: (p) => { rp.refused(p) }
  }, { requestTimeoutMs: 1_000 })
  return { rp, net, dialed }
}

describe('replica-capable peers', () => {
  it('only peers whose identify lists the replica protocol are replica candidates (table and DHT query)', async () => {
    const [ts1, ts2, go1, go2] = await peers(4)
    const { rp, net } = fixture([ts1!, ts2!, go1!, go2!], new Set())
    for (const p of [ts1!, ts2!]) rp.identified(p, ['/ipfs/id/1.0.0', '/meshsub/1.2.0', REPLICA_PROTOCOL])
    for (const p of [go1!, go2!]) rp.identified(p, ['/ipfs/id/1.0.0', '/meshsub/1.2.0', '/ipfs/kad/1.0.0'])
    expect(net.knownPeers!()!.map(String).sort()).toEqual([ts1!, ts2!].map(String).sort())
    expect((await net.closestPeers(new Uint8Array([1]))).map(String).sort()).toEqual([ts1!, ts2!].map(String).sort())
  })

  it('the routing table is not taken for the whole network while a connected peer is not identified yet', async () => {
    const [ts1, ts2, fresh] = await peers(3)
    const { rp, net } = fixture([ts1!, ts2!, fresh!], new Set())
    for (const p of [ts1!, ts2!]) rp.identified(p, [REPLICA_PROTOCOL])
    // right after start: `fresh` is connected and in the table, its identify has not run
    expect(net.knownPeers!()).toBeUndefined()
    rp.identified(fresh!, [REPLICA_PROTOCOL])
    expect(net.knownPeers!()!.map(String).sort()).toEqual([ts1!, ts2!, fresh!].map(String).sort())
    rp.disconnected(fresh!.toString())
    expect(rp.isIdentified(fresh!)).toBe(false)
  })

  it('a peer that refuses the protocol is never a candidate again, even if it announces it later', async () => {
    const [ts1, liar] = await peers(2)
    const { rp, net, dialed } = fixture([ts1!, liar!], new Set([liar!.toString()]))
    for (const p of [ts1!, liar!]) rp.identified(p, [REPLICA_PROTOCOL])
    expect(rp.speaks(liar!)).toBe(true)
    await expect(net.put(liar!, new Uint8Array([1]), new Uint8Array([2]))).rejects.toThrow(/protocol selection failed/)
    expect(dialed).toEqual([liar!.toString()])
    expect(rp.speaks(liar!)).toBe(false)
    rp.identified(liar!, [REPLICA_PROTOCOL])
    rp.disconnected(liar!.toString())
    rp.identified(liar!, [REPLICA_PROTOCOL])
    expect(rp.speaks(liar!)).toBe(false)
    expect((await net.closestPeers(new Uint8Array([1]))).map(String)).toEqual([ts1!.toString()])
    // a network error is not a refusal
    await expect(net.put(ts1!, new Uint8Array([1]), new Uint8Array([2]))).rejects.toThrow(/connection reset/)
    expect(rp.speaks(ts1!)).toBe(true)
  })
})
