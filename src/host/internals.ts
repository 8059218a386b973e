/*
 * Every place this project relies on a dependency's internals (anything outside its published
 * interface) goes through this file, so a dependency bump has one place to check. The versions are
 * pinned in package.json; test/integration/internals.test.ts builds a real node and fails loudly
 * when one of these assumptions no longer holds.
 *
 *   kad-dht     `routingTable` (size, kBucketSize, kb.toIterable(), find, add): the peers it knows;
 *               `network.sendRequest` (tests only: raw PUT_VALUE / GET_VALUE to one peer);
 *               the datastore layout of its records: `/dht/record/<base32 of the record key>`,
 *               each value a serialized Libp2pRecord.
 *   gossipsub   `streamsOutbound` (peers it has an open outbound stream to);
 *               `handleReceivedSubscription` (wrapped to filter subscriptions) and `topics`
 *               (topic -> subscribed peer ids);
 *               the error a publish with no subscribed peer throws (`NoPeersSubscribedToTopic`).
 */
import type { PeerId } from '@libp2p/interface'
import type { GossipSub } from '@chainsafe/libp2p-gossipsub'
import type { MessageType } from '@libp2p/kad-dht'
import { Key, type Datastore } from 'interface-datastore'
import { Libp2pRecord } from '@libp2p/record'
import { fromString } from 'uint8arrays/from-string'
import { toString as uint8ToString } from 'uint8arrays/to-string'

// --- kad-dht ---------------------------------------------------------------------------------------

/** The part of kad-dht's routing table this project uses. */
export interface RoutingTableView {
  /** peers in the table */
  size: number
  /** the k-bucket size (20 by default) */
  kBucketSize: number
  peers(): PeerId[]
  find(peer: PeerId): Promise<PeerId | undefined>
  /** adds a peer (kad-dht pings it first) */
  add(peer: PeerId, options?: { signal?: AbortSignal }): Promise<void>
}

interface RawRoutingTable {
  size?: number
  kBucketSize?: number
  kb?: { toIterable(): Iterable<{ peerId: PeerId }> }
  find?: (peer: PeerId) => Promise<PeerId | undefined>
  add?: (peer: PeerId, options?: { signal?: AbortSignal }) => Promise<void>
}

/** kad-dht's routing table, or undefined when this kad-dht does not expose one the way we expect. */
export function routingTableOf (dht: object): RoutingTableView | undefined {
  const table = (dht as unknown as { routingTable?: RawRoutingTable }).routingTable
  if (table?.kb == null || typeof table.size !== 'number' || typeof table.find !== 'function' || typeof table.add !== 'function') return undefined
  return {
    size: table.size,
    kBucketSize: table.kBucketSize ?? 20,
    peers: () => [...table.kb!.toIterable()].map((p) => p.peerId),
    find: async (peer) => await table.find!.call(table, peer),
    add: async (peer, options) => { await table.add!.call(table, peer, options) }
  }
}

/** kad-dht's own request sender (tests use it to reach a node through kad-dht itself). */
export interface KadNetwork {
  sendRequest(to: PeerId, msg: { type: MessageType, key: Uint8Array, record?: Uint8Array }, options?: { signal?: AbortSignal }): AsyncIterable<{ name: string, record?: { value: Uint8Array }, error?: Error }>
}

export function kadNetworkOf (dht: object): KadNetwork | undefined {
  const network = (dht as unknown as { network?: KadNetwork }).network
  return network != null && typeof network.sendRequest === 'function' ? network : undefined
}

/** kad-dht keeps record `key` under this datastore key; the value is a serialized Libp2pRecord. */
export const DHT_RECORD_PREFIX = '/dht/record/'

export function recordDatastoreKey (key: Uint8Array): Key {
  return new Key(`${DHT_RECORD_PREFIX}${uint8ToString(key, 'base32')}`, false)
}

/** The value of record `key` as kad-dht stores it in `datastore`, or undefined when there is none (or it does not parse). */
export async function readStoredRecord (datastore: Pick<Datastore, 'get'>, key: Uint8Array): Promise<Uint8Array | undefined> {
  try {
    return Libp2pRecord.deserialize(await datastore.get(recordDatastoreKey(key))).value
  } catch {
    return undefined
  }
}

/** Stores `value` under record `key` as kad-dht would (received now); `putOptions` go to the datastore's put. */
export async function writeStoredRecord (datastore: Pick<Datastore, 'put'>, key: Uint8Array, value: Uint8Array, putOptions: object): Promise<void> {
  await datastore.put(recordDatastoreKey(key), new Libp2pRecord(key, value, new Date()).serialize(), putOptions as any)
}

/** The record key of a datastore key under DHT_RECORD_PREFIX, else undefined. */
export function recordKeyOf (datastoreKey: string): Uint8Array | undefined {
  if (!datastoreKey.startsWith(DHT_RECORD_PREFIX)) return undefined
  try { return fromString(datastoreKey.slice(DHT_RECORD_PREFIX.length), 'base32') } catch { return undefined }
}

// --- gossipsub -------------------------------------------------------------------------------------

/** True when gossipsub has an open outbound stream to the peer; undefined when it does not say. */
export function hasOutboundStream (pubsub: GossipSub, peerId: string): boolean | undefined {
  const streams = (pubsub as unknown as { streamsOutbound?: Map<string, unknown> }).streamsOutbound
  return streams == null ? undefined : streams.has(peerId)
}

export type SubscriptionHandler = (from: PeerId, topic: string, subscribe: boolean) => void

/**
 * Puts `filter` in front of gossipsub's handling of a peer's SUBSCRIBE / UNSUBSCRIBE (gossipsub 14
 * has no public subscription filter). Returns gossipsub's own handler, to pass a subscription on.
 */
export function interceptSubscriptions (pubsub: GossipSub, filter: (original: SubscriptionHandler) => SubscriptionHandler): SubscriptionHandler {
  const target = pubsub as unknown as { handleReceivedSubscription?: SubscriptionHandler }
  if (typeof target.handleReceivedSubscription !== 'function') throw new Error('this gossipsub version has no handleReceivedSubscription to filter subscriptions')
  const original = target.handleReceivedSubscription.bind(pubsub)
  target.handleReceivedSubscription = filter(original)
  return original
}

/** gossipsub's record of remote subscriptions: topic -> peer ids (mutable: deleting unsubscribes). */
export function subscriptionTable (pubsub: GossipSub): Map<string, Set<string>> {
  const topics = (pubsub as unknown as { topics?: Map<string, Set<string>> }).topics
  if (!(topics instanceof Map)) throw new Error('this gossipsub version has no topics map')
  return topics
}

/** The error gossipsub's publish throws when no peer is subscribed to the topic. */
export function isNoPeersSubscribedError (err: unknown): boolean {
  return (err as Error | undefined)?.message?.includes('NoPeersSubscribedToTopic') === true
}
