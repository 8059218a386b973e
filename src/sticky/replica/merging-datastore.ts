/*
 * The datastore under kad-dht and the replica protocol, with one change: a put of a sticky
 * coordinator record merges the incoming head set into the stored one (see merge.ts) instead of
 * overwriting it. kad-dht has no compare-and-swap and overwrites on every PUT_VALUE (its selector
 * can only pick one of the values, not merge them); with this, a
 * replica never loses a head whose content is not provably included in another head it keeps
 * (inclusion.ts, against the records stored here), and a put that would grow the set past
 * MAX_HEADS is refused (the writer merges first). Puts to one key are serialized so concurrent puts
 * cannot interleave their read-modify-write.
 */
import { BaseDatastore } from 'datastore-core'
import { Key, type Datastore, type Pair, type Query, type KeyQuery } from 'interface-datastore'
import { Libp2pRecord } from '@libp2p/record'
import { DHT_RECORD_PREFIX, readStoredRecord, recordDatastoreKey, recordKeyOf } from '../../host/internals.js'
import { parseKey } from '../core/keys.js'
import { mergeHeadSetBytes } from '../core/validation.js'
import { LocalInclusion } from '../core/inclusion.js'
import { StorageQuota, type QuotaLimits } from './quota.js'
import { decodeJson, encodeHeadSet } from '../core/codec.js'
import { checkHeadSet } from '../core/records.js'

/** the quota of puts that arrive through kad-dht (which does not tell the datastore the sender) */
const KAD_DHT_OWNER = 'kad-dht'
/** the owner of records found in the store when it opened without a note of who put them (this node's own) */
const RESTORED_OWNER = 'restored'
/**
 * With a data dir, who put each record of a peer (its peer id, or "kad-dht") is noted under this
 * prefix + the record's datastore key, so the per-peer quota survives a restart.
 */
const OWNER_PREFIX = '/depin/record-owner'
const ownerKey = (datastoreKey: string): Key => new Key(`${OWNER_PREFIX}${datastoreKey}`, false)
const encoder = new TextEncoder()
const decoder = new TextDecoder()

export class MergingDatastore extends BaseDatastore {
  private readonly locks = new Map<string, Promise<unknown>>()
  merges = 0
  private inclusion: LocalInclusion
  private now: () => number = Date.now
  private readonly quota = new StorageQuota()

  /** `persistOwners`: note who put each record in `inner` too (a data dir), for restoreQuota after a restart */
  constructor (private readonly inner: Datastore, private readonly persistOwners = false) {
    super()
    this.inclusion = new LocalInclusion(this.localRecords(), () => true)
  }

  /** Who may publish (messages of removed publishers need no inclusion) and the clock. */
  setPolicy (policy: { isAuthorized: (db: string, wallet: string) => boolean, now?: () => number }): void {
    this.inclusion = new LocalInclusion(this.localRecords(), (db, wallet) => policy.isAuthorized(db, wallet)) // bound: the host passes its AccessPolicy instance
    this.now = policy.now ?? Date.now
  }

  /** This node's stored sticky records by record key (what the validator and inclusion checks read). */
  localRecords (): { get: (key: Uint8Array) => Promise<Uint8Array | undefined>, has: (key: Uint8Array) => Promise<boolean> } {
    return {
      get: async (key) => await readStoredRecord(this.inner, key),
      has: async (key) => await this.inner.has(recordDatastoreKey(key))
    }
  }

  /** Limits of what peers' puts may make this node hold (see quota.ts). */
  setQuota (limits: QuotaLimits): void { this.quota.limits = limits }

  get quotaStats (): { refused: number, totalBytes: number } { return { refused: this.quota.refused, totalBytes: this.quota.totalBytes } }

  /** Settles once restoreQuota is done; puts and deletes wait for it. */
  private restoring: Promise<unknown> = Promise.resolve()

  /**
   * Starts restoreQuota in the background (the host opens without waiting for it: 100,000 records
   * on disk take about 1.5 s to read). Puts and deletes wait until it is done, so every record is
   * counted once, at its current size.
   */
  startRestoreQuota (): Promise<{ records: number, bytes: number }> {
    const done = this.restoreQuota()
    this.restoring = done.catch(() => {})
    return done
  }

  /**
   * Charges the sticky records already in the store to the quota; run once when the host opens
   * (startRestoreQuota), before any put or delete. With a data dir those are the records kept from
   * before a restart: without this a restarted node counted from zero while its disk still held
   * them, and peers could fill it past its quota again after every restart. A record of a peer is charged to that peer again (its
   * owner note); one without a note (this node's own, or written by a version that kept no notes)
   * counts in the total only. Memory-only stores are empty at this point.
   */
  private async restoreQuota (): Promise<{ records: number, bytes: number }> {
    const owners = new Map<string, string>()
    for await (const { key, value } of this.inner.query({ prefix: `${OWNER_PREFIX}/` })) owners.set(key.toString().slice(OWNER_PREFIX.length), decoder.decode(value))
    let records = 0
    let bytes = 0
    for await (const { key, value } of this.inner.query({ prefix: DHT_RECORD_PREFIX })) {
      const k = key.toString()
      const recordKey = recordKeyOf(k)
      if (recordKey == null || parseKey(recordKey) == null) continue
      this.quota.stored(k, value.length, owners.get(k) ?? RESTORED_OWNER)
      owners.delete(k)
      records++
      bytes += value.length
    }
    // notes whose record is gone (a crash between the two deletes): dropped
    for (const k of owners.keys()) await this.dropNote(k)
    return { records, bytes }
  }

  /**
   * `options.owner`: the peer whose put this is (charged to its quota); `options.own`: this node's
   * own write (counted, never refused). A put with neither came through kad-dht's PUT_VALUE from
   * some peer: it is charged to one shared "kad-dht" quota.
   */
  override async put (key: Key, value: Uint8Array, options?: { owner?: string, own?: boolean, signal?: AbortSignal }): Promise<Key> {
    const owner = options?.own === true ? undefined : options?.owner ?? KAD_DHT_OWNER
    const k = key.toString()
    const recordKey = recordKeyOf(k)
    if (recordKey == null) return await this.inner.put(key, value, options)
    if (parseKey(recordKey) == null) return await this.inner.put(key, value, options)
    if (parseKey(recordKey)?.kind !== 'head') return await this.write(key, value, owner)
    return await this.serialize(k, async () => {
      let existing: Uint8Array | undefined
      try { existing = await this.inner.get(key) } catch { existing = undefined }
      if (existing == null) return await this.write(key, value, owner)
      const incoming = Libp2pRecord.deserialize(value)
      const stored = Libp2pRecord.deserialize(existing)
      const now = this.now()
      const merged = await mergeHeadSetBytes(stored.value, incoming.value, async (child, parent) => await this.inclusion.includes(child, parent, now), now)
      this.merges++
      return await this.write(key, new Libp2pRecord(incoming.key, merged, incoming.timeReceived).serialize(), owner)
    })
  }

  /** Writes a sticky record, within the quota of `owner`. */
  private async write (key: Key, value: Uint8Array, owner?: string): Promise<Key> {
    await this.restoring
    const k = key.toString()
    this.quota.check(k, value.length, owner)
    const previous = this.quota.ownerOf(k)
    // the owner note first, without fsync: the record's synced write after it makes both durable
    // (LevelDB has one log, written in order), so a record on disk never lacks its note
    if (this.persistOwners && owner != null && owner !== previous) await this.inner.put(ownerKey(k), encoder.encode(owner), { sync: false } as any)
    const out = await this.inner.put(key, value)
    if (this.persistOwners && owner == null && previous != null && previous !== '') await this.dropNote(k)
    this.quota.stored(k, value.length, owner)
    return out
  }

  /**
   * The sweep of one coordinator key, decided and written under the key's lock (a head put between
   * a sweep's scan and its write is therefore seen): drops the heads expired at `now`, deletes the
   * key when none is left. Returns what it did and, when heads remain after a prune, their bytes.
   */
  async pruneExpiredHeads (key: Key, now: number): Promise<{ action: 'keep' | 'deleted' | 'pruned' | 'missing', value?: Uint8Array }> {
    return await this.serialize(key.toString(), async () => {
      let stored: Libp2pRecord
      try { stored = Libp2pRecord.deserialize(await this.inner.get(key)) } catch { return { action: 'missing' } }
      const set = checkHeadSet(decodeJson(stored.value))
      if (typeof set === 'string') { await this.delete(key); return { action: 'deleted' } }
      const live = set.heads.filter((h) => h.expiresAt > now)
      if (live.length === set.heads.length) return { action: 'keep', value: stored.value }
      if (live.length === 0) { await this.delete(key); return { action: 'deleted' } }
      const value = encodeHeadSet(live)
      await this.write(key, new Libp2pRecord(stored.key, value, new Date()).serialize())
      return { action: 'pruned', value }
    })
  }

  /** Deletes a record's owner note (without fsync: a note left behind is dropped at the next open). */
  private async dropNote (datastoreKey: string): Promise<void> {
    try { await this.inner.delete(ownerKey(datastoreKey), { sync: false } as any) } catch {}
  }

  override async get (key: Key, options?: any): Promise<Uint8Array> { return await this.inner.get(key, options) }
  override async has (key: Key, options?: any): Promise<boolean> { return await this.inner.has(key, options) }
  override async delete (key: Key, options?: any): Promise<void> {
    await this.restoring
    await this.inner.delete(key, options)
    const k = key.toString()
    const owner = this.quota.ownerOf(k)
    if (this.persistOwners && owner != null && owner !== '') await this.dropNote(k)
    this.quota.release(k)
  }
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
