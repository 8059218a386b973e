/*
 * Sticky records on kad-dht. Immutable records (pages, roots, subscriber collections) are put
 * under their content id and cached locally once verified (bytes never change). The coordinator
 * key is read from every replica the query reaches (not just kad-dht's single "best" value), so
 * sibling heads left by concurrent writers are all seen. Every record is validated before it is
 * put, and writes are confirmed by reading them back from other nodes (a PUT echo proves nothing).
 */
import type { Datastore } from 'interface-datastore'
import { Key } from 'interface-datastore'
import { Libp2pRecord } from '@libp2p/record'
import { toString as uint8ToString } from 'uint8arrays/to-string'
import { contentId, encodeRecord, decodeJson } from './codec.js'
import { blobKey, headKey } from './keys.js'
import type { BlobRecord, HeadRecord } from './records.js'
import { validateBlob, validateHeadSet, type HeadWithId, type RecordPolicy } from './validation.js'
import type { Logger } from '../logger.js'

/** The part of kad-dht the store uses. */
export interface DhtClient {
  put(key: Uint8Array, value: Uint8Array, options?: { signal?: AbortSignal }): AsyncIterable<{ name: string, from?: { toString(): string }, record?: { value: Uint8Array } }>
  get(key: Uint8Array, options?: { signal?: AbortSignal }): AsyncIterable<{ name: string, from?: { toString(): string }, record?: { value: Uint8Array }, value?: Uint8Array }>
}

export interface StoreStats { blobPuts: number, blobGets: number, blobCacheHits: number, headPuts: number, headReads: number, invalidRecords: number }

/** What one node holds under a coordinator key. */
export interface ReplicaHeads { from: string, heads: HeadWithId[] }

export class StickyStore {
  readonly stats: StoreStats = { blobPuts: 0, blobGets: 0, blobCacheHits: 0, headPuts: 0, headReads: 0, invalidRecords: 0 }
  private readonly cache = new Map<string, BlobRecord>()
  private readonly stored = new Set<string>()

  constructor (private readonly deps: { dht: DhtClient, datastore: Datastore, selfPeerId: string, policy: RecordPolicy, logger: Logger }, private readonly db: string) {}

  /** Validates and stores an immutable record; returns its id. Already-stored ids are skipped. */
  async putBlob (record: BlobRecord, signal?: AbortSignal): Promise<string> {
    const bytes = encodeRecord(record)
    const id = contentId(bytes)
    if (this.stored.has(id)) return id
    validateBlob(this.db, id, bytes, this.deps.policy)
    this.cache.set(id, record)
    this.stats.blobPuts++
    await drain(this.deps.dht.put(blobKey(this.db, id), bytes, { signal }))
    this.stored.add(id)
    return id
  }

  /** How many other nodes return the record (a read-back, independent of PUT echoes). */
  async confirmBlob (id: string, signal?: AbortSignal): Promise<number> {
    let remote = 0
    try {
      for await (const e of this.deps.dht.get(blobKey(this.db, id), { signal })) {
        if (e.name === 'PEER_RESPONSE' && e.record != null && e.from?.toString() !== this.deps.selfPeerId && contentId(e.record.value) === id) remote++
      }
    } catch { /* not found anywhere else */ }
    return remote
  }

  /** Loads an immutable record: memory cache, local datastore, then the network. */
  async getBlob (id: string, signal?: AbortSignal): Promise<BlobRecord | undefined> {
    const hit = this.cache.get(id)
    if (hit != null) { this.stats.blobCacheHits++; return hit }
    this.stats.blobGets++
    const key = blobKey(this.db, id)
    const local = await this.readLocal(key)
    const candidates: Uint8Array[] = local != null ? [local] : []
    if (candidates.length === 0) {
      try {
        for await (const e of this.deps.dht.get(key, { signal })) {
          if (e.name === 'VALUE' && e.value != null) candidates.push(e.value)
          else if (e.name === 'PEER_RESPONSE' && e.record != null) candidates.push(e.record.value)
          if (candidates.some((c) => contentId(c) === id)) break
        }
      } catch { /* not found */ }
    }
    for (const bytes of candidates) {
      try {
        const record = validateBlob(this.db, id, bytes, this.deps.policy)
        this.remember(id, record)
        return record
      } catch (err) {
        this.stats.invalidRecords++
        this.deps.logger.debug('invalid sticky record dropped', 'id', id, 'error', err)
      }
    }
    return undefined
  }

  /** Puts a head set at the topic's coordinator key (replicas merge it into what they hold). */
  async putHeads (topic: string, heads: HeadRecord[], signal?: AbortSignal): Promise<void> {
    const key = headKey(this.db, topic)
    const bytes = new TextEncoder().encode(JSON.stringify({ t: 'heads', heads }))
    validateHeadSet(key, this.db, bytes, this.deps.policy)
    this.stats.headPuts++
    await drain(this.deps.dht.put(key, bytes, { signal }))
  }

  /** Reads the coordinator key from this node and from every replica the query reaches. */
  async readHeads (topic: string, signal?: AbortSignal): Promise<ReplicaHeads[]> {
    const key = headKey(this.db, topic)
    this.stats.headReads++
    const out = new Map<string, ReplicaHeads>()
    const accept = (from: string, bytes: Uint8Array): void => {
      try {
        out.set(from, { from, heads: validateHeadSet(key, this.db, bytes, this.deps.policy) })
      } catch (err) {
        this.stats.invalidRecords++
        this.deps.logger.debug('invalid coordinator record dropped', 'from', from, 'error', err)
      }
    }
    const local = await this.readLocal(key)
    if (local != null) accept(this.deps.selfPeerId, local)
    try {
      for await (const e of this.deps.dht.get(key, { signal })) {
        if (e.name === 'PEER_RESPONSE' && e.record != null && e.from != null) accept(e.from.toString(), e.record.value)
      }
    } catch (err) {
      if (signal?.aborted === true) throw err
      // no value anywhere (AggregateError / NotFound): an empty topic
    }
    return [...out.values()]
  }

  private remember (id: string, record: BlobRecord): void {
    if (this.cache.size > 50_000) this.cache.clear()
    this.cache.set(id, record)
  }

  private async readLocal (key: Uint8Array): Promise<Uint8Array | undefined> {
    try {
      const raw = await this.deps.datastore.get(new Key(`/dht/record/${uint8ToString(key, 'base32')}`, false))
      return Libp2pRecord.deserialize(raw).value
    } catch {
      return undefined
    }
  }
}

async function drain (events: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of events) { /* the query runs while iterated (stack.md pitfall 7) */ }
}

export { decodeJson }
