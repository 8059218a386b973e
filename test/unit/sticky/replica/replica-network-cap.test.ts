/*
 * The replica client keeps at most MAX_REQUESTS_PER_PEER requests open to one peer (a replica
 * resets inbound streams past MAX_INBOUND_STREAMS); later batches wait and are sent as earlier ones end.
 */
import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { replicaNetwork } from '../../../../src/sticky/replica/replica-network.js'
import { MAX_INBOUND_STREAMS, MAX_REQUESTS_PER_PEER } from '../../../../src/sticky/replica/replica-protocol.js'

describe('replica network: requests per peer', () => {
  it('never has more than MAX_REQUESTS_PER_PEER requests open to one peer; the rest are sent as earlier ones end', async () => {
    expect(MAX_REQUESTS_PER_PEER).toBeLessThan(MAX_INBOUND_STREAMS)
    const [a, b] = await Promise.all([0, 1].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
    const open = new Map<string, number>()
    let most = 0
    let dials = 0
    const pending: Array<() => void> = []
    const net = replicaNetwork({
      dht: {} as any,
      libp2p: {
        dialProtocol: async (peer: PeerId) => {
          dials++
          const id = peer.toString()
          open.set(id, (open.get(id) ?? 0) + 1)
          most = Math.max(most, open.get(id)!)
          await new Promise<void>((resolve) => { pending.push(resolve) })
          open.set(id, open.get(id)! - 1)
          throw new Error('connection reset')
        }
      } as any,
      selfPeerId: 'self',
      isConnected: () => true,
      connectedPeers: () => [],
      speaksReplica: () => true,
      isIdentified: () => true,
      refusedReplica: () => {}
    }, { requestTimeoutMs: 60_000, maxBatchBytes: 10 })
    // values over maxBatchBytes: one batch (one request) each
    const calls = [a!, b!].flatMap((peer) => Array.from({ length: 40 }, async () => await net.put(peer, new Uint8Array([1]), new Uint8Array(20)).catch(() => 'failed')))
    await new Promise((resolve) => setImmediate(resolve))
    expect(dials).toBe(2 * MAX_REQUESTS_PER_PEER)
    while (pending.length > 0) {
      pending.shift()!()
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(await Promise.all(calls)).toEqual(Array(80).fill('failed'))
    expect(dials).toBe(80)
    expect(most).toBe(MAX_REQUESTS_PER_PEER)
  })
})
