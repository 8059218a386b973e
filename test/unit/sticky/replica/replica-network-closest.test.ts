/*
 * The replica client's DHT lookup: kad-dht names the closest peers only when its query is over, so
 * a query cut short by the time limit falls back to the peers that answered it and the connected
 * ones (replica-speaking, this node left out) instead of finding nobody.
 */
import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { replicaNetwork } from '../../../../src/sticky/replica/replica-network.js'

const peers = async (n: number): Promise<PeerId[]> => await Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))

function netWith (events: (signal?: AbortSignal) => AsyncGenerator<any>, connected: PeerId[], nonReplica: PeerId[] = []): ReturnType<typeof replicaNetwork> {
  return replicaNetwork({
    dht: { getClosestPeers: (_key: Uint8Array, options?: { signal?: AbortSignal }) => events(options?.signal) } as any,
    libp2p: { dialProtocol: async () => { throw new Error('unused') } } as any,
    selfPeerId: 'self',
    isConnected: (p) => connected.some((c) => c.equals(p)),
    connectedPeers: () => connected,
    speaksReplica: (p) => !nonReplica.some((c) => c.equals(p)),
    isIdentified: () => true,
    refusedReplica: () => {}
  })
}

describe('replica network: closest peers', () => {
  it('a finished query gives its final peers', async () => {
    const [a, b, c] = await peers(3)
    const net = netWith(async function * () {
      yield { name: 'PEER_RESPONSE', from: c, closer: [] }
      yield { name: 'FINAL_PEER', peer: { id: a } }
      yield { name: 'FINAL_PEER', peer: { id: b } }
    }, [c!])
    expect((await net.closestPeers(new Uint8Array([1]))).map(String)).toEqual([a, b].map(String))
  })

  it('a query cut short gives the peers that answered and the connected ones, replica-speaking only', async () => {
    const [answered, connected, notReplica, silent] = await peers(4)
    const controller = new AbortController()
    const net = netWith(async function * (signal) {
      yield { name: 'PEER_RESPONSE', from: answered, closer: [{ id: silent }] }
      yield { name: 'PEER_RESPONSE', from: notReplica, closer: [] }
      controller.abort(new Error('replica lookup timed out'))
      signal?.throwIfAborted()
    }, [connected!, notReplica!], [notReplica!])
    const found = (await net.closestPeers(new Uint8Array([1]), controller.signal)).map(String).sort()
    expect(found).toEqual([answered, connected].map(String).sort())
  })

  it('a query cut short knowing nobody rejects with its error', async () => {
    const net = netWith(async function * () {
      throw new Error('replica lookup timed out')
    }, [])
    await expect(net.closestPeers(new Uint8Array([1]))).rejects.toThrow('replica lookup timed out')
  })
})
