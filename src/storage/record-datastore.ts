/*
 * The host's datastore (under libp2p, kad-dht and the sticky replica protocol). Without a data dir
 * everything is in memory. With one, records go to disk: kad-dht values under `/dht/record` and
 * `/dht-lan/record` (sticky heads and content are kad-dht records, see replica-protocol.ts); the
 * rest (peer store, kad-dht provider records, which are re-announced every few seconds anyway)
 * stays in memory. (datastore-core's MountDatastore would query the disk store once per mount.)
 */
import { BaseDatastore, MemoryDatastore } from 'datastore-core'
import type { Datastore, Key, KeyQuery, Pair, Query } from 'interface-datastore'

/** Key prefixes whose values are written to the data dir (the last: who put each sticky record, see merging-datastore.ts). */
export const DURABLE_PREFIXES = ['/dht/record/', '/dht-lan/record/', '/depin/record-owner/']

export class RecordDatastore extends BaseDatastore {
  private readonly memory = new MemoryDatastore()

  constructor (private readonly disk?: Datastore) { super() }

  private route (key: Key): Datastore {
    if (this.disk == null) return this.memory
    const k = key.toString()
    return DURABLE_PREFIXES.some((p) => k.startsWith(p)) ? this.disk : this.memory
  }

  /** the stores a query with this prefix must read */
  private stores (prefix = '/'): Datastore[] {
    if (this.disk == null) return [this.memory]
    if (DURABLE_PREFIXES.some((p) => prefix.startsWith(p))) return [this.disk]
    if (DURABLE_PREFIXES.some((p) => p.startsWith(prefix.endsWith('/') ? prefix : prefix + '/'))) return [this.disk, this.memory]
    return [this.memory]
  }

  override async put (key: Key, value: Uint8Array, options?: any): Promise<Key> {
    const store = this.route(key)
    // A value read off the network is usually a view into a larger buffer (a stream's read chunk,
    // tens of KiB); kept as it is in memory, it keeps that whole buffer alive. The 30-minute soak
    // grew its heap by about 5 MiB a minute this way while the records themselves stayed a few MiB.
    // Values kept in memory are copied when they do not own their buffer.
    const owned = store === this.memory && (value.byteOffset !== 0 || value.byteLength !== value.buffer.byteLength) ? value.slice() : value
    return await store.put(key, owned, options)
  }
  override async get (key: Key, options?: any): Promise<Uint8Array> { return await this.route(key).get(key, options) }
  override async has (key: Key, options?: any): Promise<boolean> { return await this.route(key).has(key, options) }
  override async delete (key: Key, options?: any): Promise<void> { await this.route(key).delete(key, options) }

  override async * query (q: Query, options?: any): AsyncGenerator<Pair> {
    for (const store of this.stores(q.prefix)) yield * store.query(q, options)
  }

  override async * queryKeys (q: KeyQuery, options?: any): AsyncGenerator<Key> {
    for (const store of this.stores(q.prefix)) yield * store.queryKeys(q, options)
  }
}
