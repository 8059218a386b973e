/*
 * The datastore under kad-dht and the replica protocol, with one change: a put of a sticky
 * coordinator record merges the incoming head set into the stored one (see merge.ts) instead of
 * overwriting it. kad-dht has no compare-and-swap and overwrites on every PUT_VALUE (its selector
 * can only pick one of the values, not merge them); with this, a replica never loses a head whose content is not included in another
 * head it keeps. Puts to one key are serialized so concurrent puts cannot interleave their
 * read-modify-write.
 */
import { BaseDatastore } from 'datastore-core'
import { Key, type Datastore, type Pair, type Query, type KeyQuery } from 'interface-datastore'
import { Libp2pRecord } from '@libp2p/record'
import { recordKeyOf } from '../../host/internals.js'
import { parseKey } from '../core/keys.js'
import { mergeHeadSetBytes } from '../core/validation.js'


export class MergingDatastore extends BaseDatastore {
  private readonly locks = new Map<string, Promise<unknown>>()
  merges = 0

  constructor (private readonly inner: Datastore) { super() }

  override async put (key: Key, value: Uint8Array, options?: any): Promise<Key> {
    const k = key.toString()
    const recordKey = recordKeyOf(k)
    if (recordKey == null || parseKey(recordKey)?.kind !== 'head') return await this.inner.put(key, value, options)
    return await this.serialize(k, async () => {
      let existing: Uint8Array | undefined
      try { existing = await this.inner.get(key) } catch { existing = undefined }
      if (existing == null) return await this.inner.put(key, value, options)
      const incoming = Libp2pRecord.deserialize(value)
      const stored = Libp2pRecord.deserialize(existing)
      const merged = mergeHeadSetBytes(stored.value, incoming.value)
      this.merges++
      return await this.inner.put(key, new Libp2pRecord(incoming.key, merged, incoming.timeReceived).serialize(), options)
    })
  }

  override async get (key: Key, options?: any): Promise<Uint8Array> { return await this.inner.get(key, options) }
  override async has (key: Key, options?: any): Promise<boolean> { return await this.inner.has(key, options) }
  override async delete (key: Key, options?: any): Promise<void> { await this.inner.delete(key, options) }
  override query (q: Query, options?: any): AsyncIterable<Pair> { return toAsync(this.inner.query(q, options)) }
  override queryKeys (q: KeyQuery, options?: any): AsyncIterable<Key> { return toAsync(this.inner.queryKeys(q, options)) }

  private async serialize<T> (key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve()
    const next = previous.then(fn, fn)
    const tail = next.catch(() => {})
    this.locks.set(key, tail)
    try {
      return await next
    } finally {
      if (this.locks.get(key) === tail) this.locks.delete(key)
    }
  }
}

async function * toAsync<T> (source: AsyncIterable<T> | Iterable<T>): AsyncIterable<T> {
  yield * source
}
