/*
 * Repair after a restart (or a partition): a node that comes back with its data dir holds the
 * topics it was a replica of, but misses what was written while it was away. Once it has enough
 * replica-capable peers again, for every topic whose head set it stores it
 *   1. announces its heads: puts its stored head set to the topic's replicas, which merge it (a
 *      version only it still holds is not lost; an ancestor of theirs is dropped by the merge);
 *   2. reads the current heads from every replica, fetches the records they reference that it lacks
 *      (message root, pages, subscriber collection, snapshot) and stores them, then the heads.
 * So a replica that was down is complete again without waiting for the next write to the topic.
 */
import type { Datastore } from 'interface-datastore'
import { Libp2pRecord } from '@libp2p/record'
import { decodeJson } from '../core/codec.js'
import { parseKey } from '../core/keys.js'
import { checkHeadSet } from '../core/records.js'
import type { StateLoader } from './state-loader.js'
import type { StickyStore } from '../replica/store.js'
import type { Logger } from '../../logger.js'
import { DHT_RECORD_PREFIX, recordKeyOf } from '../../host/internals.js'

/** a pass starts about this long after the node becomes sticky-ready (x0.5-1.5) */
const REPAIR_DELAY_MS = 1_500

export interface RestartRepairDeps { datastore: Datastore, store: StickyStore, loader: StateLoader, db: string, logger: Logger }

export class RestartRepair {
  readonly stats = { runs: 0, topics: 0, restored: 0 }
  private running: Promise<void> | undefined
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor (private readonly deps: RestartRepairDeps) {}

  /** Runs a pass after a moment for identify and the routing tables to settle (jittered across nodes). */
  schedule (delayMs = REPAIR_DELAY_MS * (0.5 + Math.random())): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      void this.run().catch((err: unknown) => { this.deps.logger.debug('restart repair failed', 'error', err) })
    }, delayMs)
    this.timer.unref?.()
  }

  cancel (): void { clearTimeout(this.timer) }

  /** Runs one pass over the stored topics (a pass already running is joined, not repeated). */
  async run (signal?: AbortSignal): Promise<void> {
    this.running ??= this.pass(signal).finally(() => { this.running = undefined })
    await this.running
  }

  /** Topic names of the head sets this node stores for its database. */
  async storedTopics (): Promise<string[]> {
    const topics = new Set<string>()
    for await (const { key, value } of this.deps.datastore.query({ prefix: DHT_RECORD_PREFIX })) {
      const recordKey = recordKeyOf(key.toString())
      if (recordKey == null) continue
      const parsed = parseKey(recordKey)
      if (parsed?.kind !== 'head' || parsed.db !== this.deps.db) continue
      try {
        const set = checkHeadSet(decodeJson(Libp2pRecord.deserialize(value).value))
        if (typeof set !== 'string' && set.heads.length > 0) topics.add(set.heads[0]!.topic)
      } catch {}
    }
    return [...topics]
  }

  private async pass (signal?: AbortSignal): Promise<void> {
    this.stats.runs++
    const { store, loader, logger } = this.deps
    let restored = 0
    const topics = await this.storedTopics()
    for (const topic of topics) {
      if (signal?.aborted === true) break
      try {
        const replicas = await store.replicas(topic, true)
        await store.announceHeads(topic, signal)
        const current = await loader.currentHeads(await store.readHeads(topic, signal, replicas.length), signal)
        const ids: string[] = []
        const loadable = []
        for (const h of current) {
          const loaded = await loader.load(h, signal)
          if (loaded == null) continue // not loadable from anyone now: keep what we have
          loadable.push(h)
          const root = h.head.messages == null ? undefined : await store.getBlob(topic, h.head.messages, signal)
          ids.push(...[h.head.messages, h.head.subscribers, h.head.previous].filter((x): x is string => x != null))
          if (root?.t === 'root') ids.push(...root.pages)
        }
        restored += await store.holdLocally(topic, ids, loadable, signal)
      } catch (err) {
        logger.debug('restart repair of a topic failed; the next pass retries', 'topic', topic, 'error', err)
      }
    }
    this.stats.topics += topics.length
    this.stats.restored += restored
    if (topics.length > 0) logger.info('sticky restart repair pass', 'topics', topics.length, 'recordsRestored', restored)
  }
}
