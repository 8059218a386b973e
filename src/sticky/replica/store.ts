/*
 * Sticky records on the topic's replica set (replica-sets.ts), plus this node. Immutable records
 * (pages, roots, subscriber collections, snapshots) are put under their content id and cached once
 * verified (blob-cache.ts). The coordinator key is read from every replica, so sibling heads left
 * by concurrent writers are all seen. Records are validated before any put; writes are confirmed
 * by reading them back from other replicas. When the set gains members, the next commit gives them
 * the topic's current records again (repair; stored-ids.ts keeps what each set is known to hold).
 */
import type { Datastore } from 'interface-datastore'
import type { PeerId } from '@libp2p/interface'
import { contentId, encodeHeadSet, encodeRecord } from '../core/codec.js'
import { blobKey, headKey } from '../core/keys.js'
import { localTopics } from './local-topics.js'
import type { BlobRecord, HeadRecord } from '../core/records.js'
import { CONTENT_NOT_HELD, validateBlob, validateHeadSet, type HeadWithId, type RecordPolicy } from '../core/validation.js'
import type { ReplicaNetwork } from './replica-network.js'
import { RecordRefusedError } from './replica-protocol.js'
import { readStoredRecord, writeStoredRecord } from '../../host/internals.js'
import { ReplicaSets, type ReplicaSetOptions } from './replica-sets.js'
import { BlobCache } from './blob-cache.js'
import { StoredIds } from './stored-ids.js'
import type { Logger } from '../../logger.js'

const SETTLE_GRACE_MS = 100

/** Resolves when every promise settled, or `graceMs` after more than half (or `needed`) resolved true. */
async function settleMajority (promises: Array<Promise<boolean>>, graceMs: number, needed = Math.floor(promises.length / 2) + 1): Promise<void> {
  if (promises.length === 0) return
  await new Promise<void>((resolve) => {
    let done = 0
    let ok = 0
    let timer: ReturnType<typeof setTimeout> | undefined
    const finish = (): void => { clearTimeout(timer); resolve() }
    for (const p of promises) {
      void p.then((success) => {
        done++
        if (success) ok++
        if (done === promises.length) finish()
        else if (ok >= needed && timer == null) timer = setTimeout(finish, graceMs)
      })
    }
  })
}

/** one record to put: its key and encoded bytes */
type PutItem = { key: Uint8Array, bytes: Uint8Array }

export interface StoreStats { blobPuts: number, blobGets: number, blobCacheHits: number, headPuts: number, headReads: number, invalidRecords: number, replicaFailures: number, replicaRefreshes: number, replicaSetsFromTable: number, replicaSetQueries: number, replicaSetQueriesReused: number, repairs: number }

/** An immutable record ready to store (see prepareBlob). */
export interface PreparedBlob { id: string, bytes: Uint8Array, fresh: boolean }

/** What one node holds under a coordinator key. */
export interface ReplicaHeads { from: string, heads: HeadWithId[] }

/** Each request to a replica is bounded by the replica network's own time limit. */
export type StoreOptions = ReplicaSetOptions

export class StickyStore {
  private readonly counts = { blobPuts: 0, blobGets: 0, blobCacheHits: 0, headPuts: 0, headReads: 0, invalidRecords: 0, repairs: 0 }
  /** verified immutable records (bounded by bytes) */
  private readonly cache = new BlobCache()
  /** blob ids known stored on each topic's replica set, and the topics that need a repair */
  private readonly stored = new StoredIds()
  private readonly sets: ReplicaSets

  constructor (
    private readonly deps: {
      net: ReplicaNetwork
      datastore: Datastore
      selfPeerId: string
      policy: RecordPolicy
      logger: Logger
      /** the topic's replica set gained members: they hold none of its records yet */
      onReplicasGained?: (topic: string, gained: PeerId[]) => void
    },
    private readonly db: string,
    private readonly options: StoreOptions
  ) {
    this.sets = new ReplicaSets({
      net: deps.net,
      keyOf: (topic) => headKey(db, topic),
      onGained: (topic, gained) => {
        this.stored.invalidate(topic) // new members need the records again: see ensureReplicated()
        this.deps.onReplicasGained?.(topic, gained)
      },
      logger: deps.logger
    }, options)
  }

  get stats (): StoreStats {
    const sets = this.sets.stats
    return { ...this.counts, replicaFailures: sets.failures, replicaRefreshes: sets.refreshes, replicaSetsFromTable: sets.fromTable, replicaSetQueries: sets.queries, replicaSetQueriesReused: sets.reusedQueries }
  }

  /** The publisher may write to this database now (the registry): readers skip other publishers' messages. */
  isPublisher (wallet: string): boolean { return this.deps.policy.isAuthorized(this.db, wallet) }

  /** The topic's remote replicas (see ReplicaSets). */
  async replicas (topic: string, force = false): Promise<PeerId[]> {
    return await this.sets.get(topic, force)
  }

  /** Topics whose coordinator this node holds in its own datastore, as writer or replica. */
  async localTopics (): Promise<string[]> { return await localTopics(this.deps.datastore, this.db) }

  /** A peer's last connection closed (see ReplicaSets.peerDisconnected). */
  peerDisconnected (peerId: string): void { this.sets.peerDisconnected(peerId) }

  /** Validates an immutable record of `topic` and stores it on this node and the replicas. */
  async putBlob (topic: string, record: BlobRecord, signal?: AbortSignal): Promise<string> {
    const blob = this.prepareBlob(topic, record)
    await this.putRecords(topic, [blob], undefined, signal)
    return blob.id
  }

  /**
   * Encodes, validates and caches an immutable record for putCommit(); returns its content id.
   * `fresh` is false when the record is already stored on the topic's replica set.
   */
  prepareBlob (topic: string, record: BlobRecord): PreparedBlob {
    const bytes = encodeRecord(record)
    const id = contentId(bytes)
    if (this.stored.of(topic).has(id)) return { id, bytes, fresh: false }
    validateBlob(this.db, id, bytes, this.deps.policy)
    this.cache.set(id, record, bytes.length)
    return { id, bytes, fresh: true }
  }

  /**
   * Stores a commit: its new immutable records, then its head, here and on every replica. Each
   * replica gets them in one request, in that order, so it never holds the head without its records.
   */
  async putCommit (topic: string, blobs: PreparedBlob[], head: HeadRecord, signal?: AbortSignal): Promise<void> {
    await this.putRecords(topic, blobs, head, signal)
  }

  /** Writes the fresh records (and the head, last) here, then puts them to every replica together. */
  private async putRecords (topic: string, blobs: PreparedBlob[], head: HeadRecord | undefined, signal?: AbortSignal): Promise<void> {
    // taken now: if the replica set changes meanwhile, this set is replaced and the records count as
    // not stored on the new members (see ReplicaSets' onGained)
    const stored = this.stored.of(topic)
    const items: PutItem[] = []
    for (const blob of blobs) {
      if (!blob.fresh) continue
      this.counts.blobPuts++
      const key = blobKey(this.db, blob.id)
      await this.writeLocal(key, blob.bytes)
      items.push({ key, bytes: blob.bytes })
    }
    if (head != null) {
      const key = headKey(this.db, topic)
      const bytes = encodeHeadSet([head])
      validateHeadSet(key, this.db, bytes, this.deps.policy)
      this.counts.headPuts++
      await this.writeLocal(key, bytes).catch((err: unknown) => {
        // this node's own set is full of heads the writer could not merge: the replicas decide
        if ((err as { code?: string }).code !== 'ERR_HEAD_SET_FULL') throw err
        this.deps.logger.debug('own head set full; head stored on the replicas only', 'topic', topic)
      })
      items.push({ key, bytes })
    }
    if (items.length === 0) return
    await this.toReplicas(topic, async (peer, s) => { await this.putTo(peer, items, s) }, signal)
    for (const blob of blobs) stored.add(blob.id)
  }

  /** Puts records to one peer in one request (the replica network batches a peer's puts), in order. */
  private async putTo (peer: PeerId, items: PutItem[], signal?: AbortSignal): Promise<void> {
    await Promise.all(items.map(async (item) => { await this.deps.net.put(peer, item.key, item.bytes, signal) }))
  }

  /**
   * Records a commit keeps from earlier versions: after the replica set gained members they are
   * put again so the new members hold them too (repair); otherwise they are taken as stored.
   */
  async ensureReplicated (topic: string, ids: string[], signal?: AbortSignal): Promise<void> {
    const stored = this.stored.of(topic)
    const missing = ids.filter((id) => !stored.has(id))
    if (missing.length === 0) return
    if (!this.stored.takeRepair(topic)) { for (const id of missing) stored.add(id); return }
    this.counts.repairs += missing.length
    const records = await Promise.all(missing.map(async (id) => await this.getBlob(topic, id, signal)))
    const blobs: PreparedBlob[] = []
    for (const r of records) {
      if (r == null) continue
      // a record the replicas would refuse now (e.g. a publisher left the registry) is skipped
      try { blobs.push(this.prepareBlob(topic, r)) } catch (err) { this.deps.logger.debug('repair skipped a record', 'topic', topic, 'error', err) }
    }
    await this.putRecords(topic, blobs, undefined, signal)
  }

  /**
   * Read-back of new immutable records: each id is fetched from one remote replica (a different
   * one per id) and must come back intact. True when every id did (a PUT echo proves nothing).
   */
  async confirmBlobs (topic: string, ids: string[], signal?: AbortSignal): Promise<boolean> {
    const peers = (await this.replicas(topic)).filter((p) => !this.sets.isSuspect(p))
    if (peers.length === 0) return ids.length === 0
    const results = await Promise.all(ids.map(async (id, i) => {
      for (let attempt = 0; attempt < Math.min(2, peers.length); attempt++) {
        const peer = peers[(i + attempt) % peers.length]!
        const value = await this.deps.net.get(peer, blobKey(this.db, id), signal).catch(() => undefined)
        if (value != null && contentId(value) === id) return true
      }
      return false
    }))
    return results.every(Boolean)
  }

  /**
   * Loads an immutable record of `topic`: memory cache, local datastore, then the replicas. A record
   * of another topic is not one of this topic's (a head could point at any content id): undefined.
   */
  async getBlob (topic: string, id: string, signal?: AbortSignal): Promise<BlobRecord | undefined> {
    const r = await this.findBlob(topic, id, signal)
    if (r == null || r.topic === topic) return r
    this.counts.invalidRecords++
    this.deps.logger.debug('record of another topic refused', 'topic', topic, 'id', id)
    return undefined
  }

  private async findBlob (topic: string, id: string, signal?: AbortSignal): Promise<BlobRecord | undefined> {
    const hit = this.cache.get(id)
    if (hit != null) { this.counts.blobCacheHits++; return hit }
    this.counts.blobGets++
    const key = blobKey(this.db, id)
    const local = await this.readLocal(key)
    if (local != null) {
      const r = this.accept(id, local)
      if (r != null) return r
    }
    const peers = await this.replicas(topic)
    // start at a different replica per id so a history load spreads over all of them
    const start = id.charCodeAt(0) % Math.max(1, peers.length)
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[(start + i) % peers.length]!
      const value = await this.deps.net.get(peer, key, signal).catch(() => { this.sets.failed(peer); return undefined })
      if (value == null) continue
      const r = this.accept(id, value)
      if (r != null) return r
    }
    return undefined
  }

  /** Fetches records straight from one peer (e.g. a head's writer, which keeps what it wrote) into the cache. */
  async prefetchFrom (topic: string, peer: PeerId, ids: string[], signal?: AbortSignal): Promise<BlobRecord[]> {
    const out: BlobRecord[] = []
    await Promise.all(ids.map(async (id) => {
      const cached = this.cache.get(id)
      if (cached != null) { if (cached.topic === topic) out.push(cached); return }
      const value = await this.deps.net.get(peer, blobKey(this.db, id), signal).catch(() => undefined)
      const r = value == null ? undefined : this.accept(id, value)
      if (r != null && r.topic === topic) out.push(r)
    }))
    return out
  }

  /** Writes a stored record again, here (fresh receive time) and on the topic's replicas. */
  async republish (topic: string, key: Uint8Array, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    await this.writeLocal(key, bytes)
    await this.toReplicas(topic, async (peer, s) => { await this.deps.net.put(peer, key, bytes, s) }, signal)
  }

  /**
   * Restart repair: stores here the records of `ids` this node lacks (read from the replicas), then
   * merges `heads` into its stored head set, in that order (never a head without its records).
   * Returns how many records were copied.
   */
  async holdLocally (topic: string, ids: string[], heads: HeadWithId[], signal?: AbortSignal): Promise<number> {
    let copied = 0
    for (const id of new Set(ids)) {
      const key = blobKey(this.db, id)
      if (await this.readLocal(key) != null) continue
      const record = await this.getBlob(topic, id, signal)
      if (record == null) continue
      await this.writeLocal(key, encodeRecord(record))
      copied++
    }
    if (heads.length > 0) {
      const key = headKey(this.db, topic)
      const bytes = encodeHeadSet(heads.map((h) => h.head))
      validateHeadSet(key, this.db, bytes, this.deps.policy)
      await this.writeLocal(key, bytes)
    }
    return copied
  }

  /** Puts this node's stored head set of `topic` to the replicas, which merge it into theirs (restart announce). */
  async announceHeads (topic: string, signal?: AbortSignal): Promise<void> {
    const key = headKey(this.db, topic)
    const bytes = await this.readLocal(key)
    if (bytes == null) return
    await this.toReplicas(topic, async (peer, s) => { await this.deps.net.put(peer, key, bytes, s) }, signal)
  }

  /** Drops a swept record from the caches (so a later identical write is stored again). */
  forget (id: string): void {
    this.cache.delete(id)
    this.stored.forget(id)
  }

  /** The topic's current head ids on one peer (empty when it holds none); rejects when the peer does not answer. */
  async headIdsAt (topic: string, peer: PeerId, signal?: AbortSignal): Promise<Set<string>> {
    const key = headKey(this.db, topic)
    const heads = this.validHeads(key, peer.toString(), await this.deps.net.get(peer, key, signal))
    return new Set(heads?.map((h) => h.id))
  }

  /** A head set read from `from`, validated; undefined (an invalid one counted and logged) when there is none. */
  private validHeads (key: Uint8Array, from: string, bytes: Uint8Array | undefined): HeadWithId[] | undefined {
    if (bytes == null) return undefined
    try {
      return validateHeadSet(key, this.db, bytes, this.deps.policy, 'read')
    } catch (err) {
      this.counts.invalidRecords++
      this.deps.logger.debug('invalid coordinator record dropped', 'from', from, 'error', err)
      return undefined
    }
  }

  /** The topic's replica set gained members since this node's last commit re-put its records (see ensureReplicated). */
  repairPending (topic: string): boolean { return this.stored.needsRepair(topic) }

  /** The new members were repaired another way (copyTo): the next commit need not put every record again. */
  repaired (topic: string): void { this.stored.takeRepair(topic) }

  /**
   * Repair without a new version: puts the records `ids` (from here or the replicas), then the head
   * set `heads`, to one peer in one request, in that order (a replica refuses a head whose records
   * it does not hold). Resolves with the number of records put; rejects when the peer refused or
   * did not answer.
   */
  async copyTo (topic: string, peer: PeerId, heads: HeadWithId[], ids: string[], signal?: AbortSignal): Promise<number> {
    const items = await Promise.all([...new Set(ids)].map(async (id): Promise<PutItem> => {
      const record = await this.getBlob(topic, id, signal)
      if (record == null) throw new Error(`record ${id} of topic "${topic}" could not be loaded`)
      return { key: blobKey(this.db, id), bytes: encodeRecord(record) }
    }))
    await this.putTo(peer, [...items, { key: headKey(this.db, topic), bytes: encodeHeadSet(heads.map((h) => h.head)) }], signal)
    this.counts.repairs += items.length
    return items.length
  }

  /** Reads the coordinator key from this node and every replica. */
  async readHeads (topic: string, signal?: AbortSignal, minAnswers?: number): Promise<ReplicaHeads[]> {
    const key = headKey(this.db, topic)
    this.counts.headReads++
    const out: ReplicaHeads[] = []
    const accept = (from: string, bytes: Uint8Array | undefined): void => {
      const heads = this.validHeads(key, from, bytes)
      if (heads != null) out.push({ from, heads })
    }
    accept(this.deps.selfPeerId, await this.readLocal(key))
    const peers = await this.replicas(topic)
    await settleMajority(peers.map(async (peer) => {
      const value = await this.deps.net.get(peer, key, signal).catch(() => { this.sets.failed(peer); return null })
      if (value === null) return false
      accept(peer.toString(), value)
      return true
    }), SETTLE_GRACE_MS, minAnswers)
    return [...out]
  }

  private accept (id: string, bytes: Uint8Array): BlobRecord | undefined {
    try {
      const record = validateBlob(this.db, id, bytes, this.deps.policy, 'read')
      this.cache.set(id, record, bytes.length)
      return record
    } catch (err) {
      this.counts.invalidRecords++
      this.deps.logger.debug('invalid sticky record dropped', 'id', id, 'error', err)
      return undefined
    }
  }

  /**
   * Runs `fn` against every replica in parallel. Returns when all answered, or `settleGraceMs`
   * after a majority did (a dead or slow replica must not stall every write; the read-back decides
   * whether a write counts). A failing replica triggers a refresh next time.
   */
  private async toReplicas (topic: string, fn: (peer: PeerId, signal?: AbortSignal) => Promise<void>, signal?: AbortSignal): Promise<void> {
    const peers = await this.replicas(topic)
    await settleMajority(peers.map(async (peer) => {
      try {
        await fn(peer, signal)
        return true
      } catch (err) {
        if (err instanceof RecordRefusedError) {
          // the replica answered but its validation refused the record (e.g. its registry view lags)
          this.deps.logger.debug('replica refused a record', 'peer', peer.toString(), 'reason', err.message)
          if (err.message.includes(CONTENT_NOT_HELD)) {
            // it missed a record an earlier put carried (e.g. that request timed out): the next
            // commit puts every record the topic's head references again (repair)
            this.stored.invalidate(topic)
          }
          return false
        }
        this.sets.failed(peer, topic)
        return false
      }
    }), SETTLE_GRACE_MS)
  }

  /** Memory the store holds: cached records (bytes), topics with stored-id sets, replica sets. */
  get memory (): { cacheBytes: number, cachedRecords: number, storedTopics: number, replicaSets: number } {
    return { cacheBytes: this.cache.bytes, cachedRecords: this.cache.size, storedTopics: this.stored.topics, replicaSets: this.sets.size }
  }

  private async writeLocal (key: Uint8Array, value: Uint8Array): Promise<void> {
    await writeStoredRecord(this.deps.datastore, key, value, { own: true })
  }

  private async readLocal (key: Uint8Array): Promise<Uint8Array | undefined> { return await readStoredRecord(this.deps.datastore, key) }
}
