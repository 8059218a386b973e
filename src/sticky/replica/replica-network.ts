/*
 * How the sticky store reaches a topic's replicas. The replica set is found with a kad-dht query
 * (the peers closest to the coordinator key; the store caches and refreshes it); records move over
 * the replica protocol (replica-protocol.ts). Single put/get calls made close together to the same
 * peer are coalesced into one request: a commit's pages, root and subscriber collection travel in
 * one stream per replica, and a history load asks each replica for many records at once. At most
 * MAX_REQUESTS_PER_PEER requests to one peer are open at once (a replica resets inbound streams
 * past its own limit); later batches wait their turn.
 */
import type { KadDHT } from '@libp2p/kad-dht'
import type { PeerId } from '@libp2p/interface'
import { MAX_ITEMS, MAX_REQUESTS_PER_PEER, RecordRefusedError, sendReplicaRequest, type ReplicaProtocolNetwork } from './replica-protocol.js'
import { deadlineSignal } from '../../abort.js'
import { routingTableOf } from '../../host/internals.js'
import { isProtocolRefusal } from './replica-peers.js'

export interface ReplicaNetwork {
  /**
   * The closest replica-speaking peers to `key` by a DHT query, this node excluded; when the query is
   * cut short (time limit), the peers that answered it and the connected ones (the caller picks the
   * closest); rejects only when it knows none.
   */
  closestPeers(key: Uint8Array, signal?: AbortSignal): Promise<PeerId[]>
  /**
   * Every DHT peer this node knows, from its routing table, when that table plausibly holds the
   * whole network: fewer peers than a k-bucket's 20, and every peer this node is connected to among
   * them (a table still filling up after start fails this). Undefined otherwise. Lets a topic's
   * first write start without waiting for a DHT query (see StickyStore.replicas).
   */
  knownPeers?(): PeerId[] | undefined
  /**
   * Stores a record on one peer; rejects with RecordRefusedError when the peer's validation refused
   * it. Every put and get settles within the network's requestTimeoutMs (or when `signal` aborts).
   */
  put(peer: PeerId, key: Uint8Array, value: Uint8Array, signal?: AbortSignal): Promise<void>
  /** the value one peer holds under `key`, or undefined */
  get(peer: PeerId, key: Uint8Array, signal?: AbortSignal): Promise<Uint8Array | undefined>
  /** an open connection to the peer exists now */
  isConnected(peer: PeerId): boolean
}

export interface ReplicaNetworkOptions {
  /** time limit of one request (a batch of records) to one peer. @default 5_000 */
  requestTimeoutMs: number
  /** bytes of values one put request carries at most. @default 1_048_576 */
  maxBatchBytes: number
}

export const REPLICA_NETWORK_DEFAULTS: ReplicaNetworkOptions = { requestTimeoutMs: 5_000, maxBatchBytes: 1024 * 1024 }

interface Item { key: Uint8Array, value?: Uint8Array, resolve: (v: any) => void, reject: (e: unknown) => void, signal?: AbortSignal }
interface Batch { peer: PeerId, op: 'put' | 'get', items: Item[], bytes: number }

export function replicaNetwork (deps: {
  dht: Pick<KadDHT, 'getClosestPeers'>
  libp2p: Pick<ReplicaProtocolNetwork, 'dialProtocol'>
  selfPeerId: string
  isConnected: (peer: PeerId) => boolean
  /** peers with an open connection now */
  connectedPeers: () => PeerId[]
  /** the peer announces the replica protocol and never refused it (see ReplicaPeers); others are never replicas */
  speaksReplica: (peer: PeerId) => boolean
  /** identify has run for the connected peer (until then whether it speaks the protocol is unknown) */
  isIdentified: (peer: PeerId) => boolean
  /** the peer answered a replica request with "protocol not supported" */
  refusedReplica: (peer: PeerId) => void
}, overrides: Partial<ReplicaNetworkOptions> = {}): ReplicaNetwork {
  const options = { ...REPLICA_NETWORK_DEFAULTS, ...overrides }
  const open = new Map<string, Batch>()
  let scheduled = false

  // requests open per peer, and the batches waiting for one of them to end
  const inFlight = new Map<string, number>()
  const waitingBatches = new Map<string, Batch[]>()
  const done = (peer: string): void => {
    const queue = waitingBatches.get(peer)
    const next = queue?.shift()
    if (queue?.length === 0) waitingBatches.delete(peer)
    const n = (inFlight.get(peer) ?? 1) - 1
    if (n > 0) inFlight.set(peer, n)
    else inFlight.delete(peer)
    if (next != null) send(next)
  }

  const send = (batch: Batch): void => {
    const live = batch.items.filter((item) => item.signal?.aborted !== true)
    for (const item of batch.items) if (item.signal?.aborted === true) item.reject(item.signal.reason)
    if (live.length === 0) return
    const peer = batch.peer.toString()
    const requests = inFlight.get(peer) ?? 0
    if (requests >= MAX_REQUESTS_PER_PEER) {
      batch.items = live
      const queue = waitingBatches.get(peer)
      if (queue == null) waitingBatches.set(peer, [batch])
      else queue.push(batch)
      return
    }
    inFlight.set(peer, requests + 1)
    const signal = deadlineSignal(options.requestTimeoutMs, 'replica request timed out')
    const request = batch.op === 'put'
      ? sendReplicaRequest(deps.libp2p, batch.peer, 'put', live as Array<{ key: Uint8Array, value: Uint8Array }>, signal)
      : sendReplicaRequest(deps.libp2p, batch.peer, 'get', live, signal)
    request.then((results) => {
      live.forEach((item, i) => {
        const r = results[i]
        if (batch.op === 'get') item.resolve(r)
        else if (r == null) item.resolve(undefined)
        else item.reject(new RecordRefusedError(String(r)))
      })
    }, (err: unknown) => {
      if (isProtocolRefusal(err)) deps.refusedReplica(batch.peer)
      for (const item of live) item.reject(err)
    }).finally(() => { done(peer) })
  }

  const flushAll = (): void => {
    scheduled = false
    const batches = [...open.values()]
    open.clear()
    for (const b of batches) send(b)
  }

  // Callers pass one signal for many items (a commit's records to every replica), so each signal
  // gets one abort listener shared by all its waiting items, not one per item.
  const waiting = new Map<AbortSignal, { items: Set<Item>, onAbort: () => void }>()
  const watch = (signal: AbortSignal, item: Item): void => {
    let entry = waiting.get(signal)
    if (entry == null) {
      const items = new Set<Item>()
      // the caller stops waiting at its own deadline; the batch goes on for the others
      const onAbort = (): void => { waiting.delete(signal); for (const it of items) it.reject(signal.reason) }
      entry = { items, onAbort }
      waiting.set(signal, entry)
      signal.addEventListener('abort', onAbort, { once: true })
    }
    entry.items.add(item)
  }
  const unwatch = (signal: AbortSignal | undefined, item: Item): void => {
    if (signal == null) return
    const entry = waiting.get(signal)
    if (entry == null || !entry.items.delete(item) || entry.items.size > 0) return
    waiting.delete(signal)
    signal.removeEventListener('abort', entry.onAbort)
  }

  const enqueue = async <T>(peer: PeerId, op: 'put' | 'get', key: Uint8Array, value: Uint8Array | undefined, signal?: AbortSignal): Promise<T> => {
    if (signal?.aborted === true) throw signal.reason
    return await new Promise<T>((resolve, reject) => {
      const item: Item = {
        key,
        value,
        signal,
        resolve: (v) => { unwatch(signal, item); resolve(v) },
        reject: (e) => { unwatch(signal, item); reject(e) }
      }
      if (signal != null) watch(signal, item)
      const id = `${op}:${peer.toString()}`
      let batch = open.get(id)
      const size = value?.length ?? 0
      if (batch != null && (batch.items.length >= MAX_ITEMS || batch.bytes + size > options.maxBatchBytes)) {
        open.delete(id)
        send(batch)
        batch = undefined
      }
      if (batch == null) { batch = { peer, op, items: [], bytes: 0 }; open.set(id, batch) }
      batch.items.push(item)
      batch.bytes += size
      if (!scheduled) { scheduled = true; setImmediate(flushAll) }
    })
  }

  return {
    isConnected: deps.isConnected,
    async closestPeers (key, signal) {
      const replica = (p: PeerId): boolean => p.toString() !== deps.selfPeerId && deps.speaksReplica(p)
      const out = new Map<string, PeerId>()
      // kad-dht names the closest peers (FINAL_PEER) only once its query is over: a query cut short
      // by the time limit (every one, on a machine whose event loops lag by seconds: 30 daemons on two
      // cores could not find a single replica for 60 s) knows the peers that answered it and the
      // connected peers; the closest of those are the best set this node can know now
      const partial = new Map<string, PeerId>()
      try {
        for await (const e of deps.dht.getClosestPeers(key, { signal })) {
          if (e.name === 'FINAL_PEER' && replica(e.peer.id)) out.set(e.peer.id.toString(), e.peer.id)
          else if (e.name === 'PEER_RESPONSE' && replica(e.from)) partial.set(e.from.toString(), e.from)
        }
      } catch (err) {
        if (out.size > 0) return [...out.values()]
        for (const p of deps.connectedPeers()) if (replica(p)) partial.set(p.toString(), p)
        if (partial.size === 0) throw err
        return [...partial.values()]
      }
      return [...out.values()]
    },
    knownPeers () {
      const table = routingTableOf(deps.dht)
      // no peer at all: the whole network is known (nobody), and a DHT query would only time out
      if (table?.size === 0 && deps.connectedPeers().length === 0) return []
      if (table == null || table.size === 0 || table.size >= table.kBucketSize) return undefined
      const peers = table.peers().filter(deps.speaksReplica)
      const inTable = new Set(peers.map(String))
      // a connected peer not identified yet may be a replica the table does not show: not the whole network
      if (!deps.connectedPeers().every((p) => deps.isIdentified(p) && (!deps.speaksReplica(p) || inTable.has(p.toString())))) return undefined
      return peers
    },
    async put (peer, key, value, signal) { await enqueue<void>(peer, 'put', key, value, signal) },
    async get (peer, key, signal) { return await enqueue<Uint8Array | undefined>(peer, 'get', key, undefined, signal) }
  }
}
