/*
 * The periodic sweep of this node's sticky records for one database: deletes records whose
 * content-based expiry has passed (heads sets lose their expired heads), and republishes live
 * records whose stored copy is getting old (kad-dht stops serving values after 36 h and never
 * republishes them itself). Each record's republish time is jittered per node and key, so the
 * replicas of a topic spread their republishing; a republish refreshes the other replicas' copies,
 * which then skip theirs. Malformed stored values are deleted and counted.
 */
import { Key, type Datastore } from 'interface-datastore'
import { Libp2pRecord } from '@libp2p/record'
import { DHT_RECORD_PREFIX, recordKeyOf } from '../../host/internals.js'
import { decodeJson } from '../core/codec.js'
import { parseKey } from '../core/keys.js'
import { sweepAction } from '../core/lifecycle.js'
import { checkBlob, checkHeadSet, recordExpiry, type HeadRecord } from '../core/records.js'
import type { StickyStore } from './store.js'
import type { MergingDatastore } from './merging-datastore.js'
import type { Logger } from '../../logger.js'


export interface SweepResult { scanned: number, deleted: number, republished: number, pruned: number, malformed: number }

export interface SweeperDeps {
  /** the node's datastore; coordinator keys are swept through its per-key lock (MergingDatastore) */
  datastore: Datastore & Pick<MergingDatastore, 'pruneExpiredHeads'>
  store: Pick<StickyStore, 'republish' | 'forget'>
  db: string
  selfPeerId: string
  logger: Logger
  /** returns the space of deleted records to the file system (on-disk stores) */
  compact?: () => Promise<void>
}

/** Records and bytes (stored values) of this database by record kind, as of the last sweep. */
export type StoredByKind = Record<string, { records: number, bytes: number }>

export class Sweeper {
  readonly totals: SweepResult = { scanned: 0, deleted: 0, republished: 0, pruned: 0, malformed: 0 }
  /** what the last sweep found stored and kept (see StoredByKind) */
  stored: StoredByKind = {}
  /**
   * Expiry of immutable records by datastore key and receive time: a sweep parses a page (up to
   * 512 KiB of JSON) once, not on every sweep. Head sets change and are small: always parsed.
   */
  private readonly blobExpiry = new Map<string, { storedAt: number, expiresAt: number, topic: string, kind: string }>()

  constructor (private readonly deps: SweeperDeps, private readonly options: { republishAfterMs: number }) {}

  async sweep (now = Date.now()): Promise<SweepResult> {
    const result: SweepResult = { scanned: 0, deleted: 0, republished: 0, pruned: 0, malformed: 0 }
    const work: Array<() => Promise<void>> = []
    const byKind: StoredByKind = {}
    const count = (kind: string, bytes: number): void => {
      const k = (byKind[kind] ??= { records: 0, bytes: 0 })
      k.records++
      k.bytes += bytes
    }
    for await (const { key, value } of this.deps.datastore.query({ prefix: DHT_RECORD_PREFIX })) {
      const recordKey = recordKeyOf(key.toString())
      if (recordKey == null) continue
      const parsed = parseKey(recordKey)
      if (parsed == null || parsed.db !== this.deps.db) continue
      result.scanned++
      let stored: Libp2pRecord
      try { stored = Libp2pRecord.deserialize(value) } catch { work.push(async () => { await this.remove(key, result, 'malformed') }); continue }
      const storedAt = stored.timeReceived.getTime()
      const info = this.describe(key.toString(), parsed.kind, stored.value, storedAt)
      if (info == null) { work.push(async () => { await this.remove(key, result, 'malformed') }); continue }
      const action = sweepAction(info.expiresAt, storedAt, now, this.options.republishAfterMs, `${this.deps.selfPeerId}${key.toString()}`)
      const expiredHeads = info.heads?.filter((h) => h.expiresAt <= now) ?? []
      if (action !== 'delete') count(info.kind, value.length)
      if (parsed.kind === 'head' && (action === 'delete' || expiredHeads.length > 0)) {
        // decided again and written under the key's lock: a head put since the scan is kept
        work.push(async () => {
          const done = await this.deps.datastore.pruneExpiredHeads(key, now)
          if (done.action === 'deleted') result.deleted++
          else if (done.action === 'pruned') { result.pruned++; await this.deps.store.republish(info.topic, recordKey, done.value!) }
        })
      } else if (action === 'delete') {
        work.push(async () => {
          await this.remove(key, result, 'deleted')
          this.blobExpiry.delete(key.toString())
          if (parsed.kind === 'blob') this.deps.store.forget(parsed.id)
        })
      } else if (action === 'republish') {
        work.push(async () => { await this.deps.store.republish(info.topic, recordKey, stored.value); result.republished++ })
      }
    }
    for (const job of work) {
      await job().catch((err: unknown) => { this.deps.logger.debug('sweep step failed', 'error', err) })
    }
    this.stored = byKind
    if (result.deleted + result.malformed > 0) await this.deps.compact?.().catch((err: unknown) => { this.deps.logger.debug('compaction after sweep failed', 'error', err) })
    for (const k of Object.keys(result) as Array<keyof SweepResult>) this.totals[k] += result[k]
    if (result.deleted + result.republished + result.pruned + result.malformed > 0) this.deps.logger.debug('sticky sweep', ...Object.entries(result).flat())
    return result
  }

  /** Expiry and topic of a stored value (immutable records parsed once per receive time); undefined when malformed. */
  private describe (dsKey: string, kind: 'head' | 'blob', value: Uint8Array, storedAt: number): { expiresAt: number, topic: string, kind: string, heads?: HeadRecord[] } | undefined {
    const cached = kind === 'blob' ? this.blobExpiry.get(dsKey) : undefined
    if (cached != null && cached.storedAt === storedAt) return cached
    const decoded = decodeJson(value)
    const record = kind === 'head' ? checkHeadSet(decoded) : checkBlob(decoded)
    if (typeof record === 'string') return undefined
    if (record.t === 'heads') return { expiresAt: recordExpiry(record), topic: record.heads[0]!.topic, kind: 'head', heads: record.heads }
    if (this.blobExpiry.size > 200_000) this.blobExpiry.clear()
    const info = { storedAt, expiresAt: record.expiresAt, topic: record.topic, kind: record.t }
    this.blobExpiry.set(dsKey, info)
    return info
  }

  private async remove (key: Key, result: SweepResult, what: 'deleted' | 'malformed'): Promise<void> {
    await this.deps.datastore.delete(key)
    result[what]++
  }
}
