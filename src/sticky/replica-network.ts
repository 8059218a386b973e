/*
 * Direct kad-dht RPCs to a topic's replica set. kad-dht's own put()/get() run an iterative query
 * per key (tens of ms each, and get() keeps only one "best" value); sticky topics instead find the
 * closest peers of the coordinator key once (cached, refreshed), keep the topic's coordinator and
 * collections on exactly those peers, and talk to them with single PUT_VALUE / GET_VALUE requests
 * in parallel. Records are still ordinary kad-dht records, served by kad-dht to anyone.
 * Uses kad-dht 15's `network.sendRequest` (the module pins that version).
 */
import { MessageType, type KadDHT } from '@libp2p/kad-dht'
import { Libp2pRecord } from '@libp2p/record'
import type { PeerId } from '@libp2p/interface'

export interface ReplicaNetwork {
  /** the closest peers to `key` by a DHT query, this node excluded */
  closestPeers(key: Uint8Array, signal?: AbortSignal): Promise<PeerId[]>
  /** PUT_VALUE to one peer; resolves when it answered */
  put(peer: PeerId, key: Uint8Array, value: Uint8Array, signal?: AbortSignal): Promise<void>
  /** GET_VALUE from one peer: the value it holds, or undefined */
  get(peer: PeerId, key: Uint8Array, signal?: AbortSignal): Promise<Uint8Array | undefined>
  /** an open connection to the peer exists now */
  isConnected(peer: PeerId): boolean
}

interface KadNetwork {
  sendRequest(to: PeerId, msg: { type: MessageType, key: Uint8Array, record?: Uint8Array }, options?: { signal?: AbortSignal }): AsyncIterable<{ name: string, record?: { value: Uint8Array }, error?: Error }>
}

export function kadReplicaNetwork (dht: KadDHT, selfPeerId: string, isConnected: (peer: PeerId) => boolean): ReplicaNetwork {
  const network = (dht as unknown as { network?: KadNetwork }).network
  if (network == null || typeof network.sendRequest !== 'function') throw new Error('this kad-dht version does not expose network.sendRequest')
  const request = async (peer: PeerId, msg: { type: MessageType, key: Uint8Array, record?: Uint8Array }, signal?: AbortSignal): Promise<{ value?: Uint8Array }> => {
    for await (const e of network.sendRequest(peer, msg, { signal })) {
      if (e.name === 'PEER_RESPONSE') return { value: e.record?.value }
      if (e.name === 'QUERY_ERROR') throw e.error ?? new Error('kad-dht request failed')
    }
    throw new Error('no response')
  }
  return {
    isConnected,
    async closestPeers (key, signal) {
      const out = new Map<string, PeerId>()
      try {
        for await (const e of dht.getClosestPeers(key, { signal })) {
          if (e.name === 'FINAL_PEER' && e.peer.id.toString() !== selfPeerId) out.set(e.peer.id.toString(), e.peer.id)
        }
      } catch (err) {
        if (out.size === 0) throw err // a query cut short still found peers: use them
      }
      return [...out.values()]
    },
    async put (peer, key, value, signal) {
      await request(peer, { type: MessageType.PUT_VALUE, key, record: new Libp2pRecord(key, value, new Date()).serialize() }, signal)
    },
    async get (peer, key, signal) {
      return (await request(peer, { type: MessageType.GET_VALUE, key }, signal)).value
    }
  }
}
