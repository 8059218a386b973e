/*
 * The dependency internals this project relies on (src/host/internals.ts), checked on a real node
 * (and a second one for what needs a peer). A dependency bump that changes one of them fails here,
 * by name, instead of somewhere deep in a cluster test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Libp2pRecord } from '@libp2p/record'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createHost, type DepinLibp2p } from '../../src/host/host.js'
import { createConnectionGater, createGaterStats } from '../../src/auth/gater.js'
import { hasOutboundStream, interceptSubscriptions, isNoPeersSubscribedError, kadNetworkOf, recordDatastoreKey, recordKeyOf, routingTableOf, subscriptionTable, DHT_RECORD_PREFIX } from '../../src/host/internals.js'
import { MemoryDatastore } from 'datastore-core'
import { waitFor } from '../../support/cluster.js'

async function node (datastore = new MemoryDatastore()): Promise<DepinLibp2p> {
  const gater = createConnectionGater({ mayConnect: () => true, mayConnectChecked: async () => true }, createGaterStats())
  return await createHost({
    privateKey: await generateKeyPair('Ed25519'),
    gater,
    listenHost: '127.0.0.1',
    listenPorts: { quic: 0, tcp: 0 },
    announceAddresses: [],
    relayServer: false,
    relayReservation: false,
    maxConnections: 10,
    maxMessageBytes: 4096,
    datastore,
    dhtValidators: { test: async () => {} },
    dhtSelectors: { test: () => 0 }
  })
}

describe('dependency internals (src/host/internals.ts)', () => {
  let a: DepinLibp2p
  let b: DepinLibp2p
  const store = new MemoryDatastore()
  beforeAll(async () => {
    a = await node(store)
    b = await node()
    await b.dial(a.getMultiaddrs()[0]!)
  })
  afterAll(async () => { await Promise.all([a?.stop(), b?.stop()]) })

  it('kad-dht: both DHTs expose a routing table with size, k-bucket size, peers, find and add; it learns a connected DHT peer', async () => {
    for (const dht of [a.services.dht, a.services.lanDht]) {
      const table = routingTableOf(dht)
      expect(table, 'kad-dht routingTable shape changed').toBeDefined()
      expect(table!.kBucketSize).toBe(20)
    }
    const table = routingTableOf(a.services.dht)!
    // kad-dht admits a new peer only after a PING and never retries one that failed (a loaded machine
    // makes that happen); the routing-table keeper re-adds such peers through `add`, and so does this
    await waitFor(() => table.size > 0, 10_000, 'B in A\'s routing table').catch(async () => { await table.add(b.peerId) })
    expect(table.peers().map(String)).toContain(b.peerId.toString())
    expect(String(await table.find(b.peerId))).toBe(b.peerId.toString())
  })

  it('kad-dht: network.sendRequest exists, and records are stored under /dht/record/<base32 key> as Libp2pRecords', async () => {
    expect(kadNetworkOf(a.services.dht), 'kad-dht network.sendRequest changed').toBeDefined()
    const key = new TextEncoder().encode('/test/some/record')
    const value = new TextEncoder().encode('value')
    // as above: a failed admission PING under load is never retried by kad-dht; add A as the keeper would
    await waitFor(() => routingTableOf(b.services.dht)!.size > 0, 10_000, 'A in B\'s routing table').catch(async () => { await routingTableOf(b.services.dht)!.add(a.peerId) })
    for await (const _ of b.services.dht.put(key, value)) { /* a put runs while iterated */ }
    let stored = false
    for (let i = 0; i < 100 && !stored; i++) {
      stored = await store.has(recordDatastoreKey(key))
      if (!stored) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(stored, 'kad-dht no longer stores records under /dht/record/<base32 key>').toBe(true)
    const dsKey = recordDatastoreKey(key).toString()
    expect(dsKey.startsWith(DHT_RECORD_PREFIX)).toBe(true)
    expect(recordKeyOf(dsKey)).toEqual(key)
    expect(Libp2pRecord.deserialize(await store.get(recordDatastoreKey(key))).value).toEqual(value)
  })

  it('gossipsub: outbound streams, the subscription handler and the topics table are where we expect them', async () => {
    const seen: string[] = []
    interceptSubscriptions(a.services.pubsub, (original) => (from, topic, subscribe) => { seen.push(`${topic}:${String(subscribe)}`); original(from, topic, subscribe) })
    b.services.pubsub.subscribe('internals')
    await waitFor(() => seen.includes('internals:true'), 10_000, 'A saw B subscribe through the intercepted handler')
    expect(subscriptionTable(a.services.pubsub).get('internals')?.has(b.peerId.toString())).toBe(true)
    await waitFor(() => hasOutboundStream(a.services.pubsub, b.peerId.toString()) === true, 10_000, 'A has an outbound gossipsub stream to B')
    expect(hasOutboundStream(a.services.pubsub, 'not-a-peer')).toBe(false)
  })

  it('gossipsub: publishing to a topic nobody subscribes to throws the error we recognise', async () => {
    const err = await a.services.pubsub.publish('nobody-here', new Uint8Array([1])).then(() => undefined, (e: unknown) => e)
    expect(err, 'gossipsub no longer throws when no peer is subscribed').toBeDefined()
    expect(isNoPeersSubscribedError(err)).toBe(true)
  })
})
