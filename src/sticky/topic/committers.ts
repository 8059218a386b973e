/*
 * The committers of one database: one TopicCommitter per topic this node writes to (publishes,
 * subscribes, serves renewals), created on first use and counted against maxTopics; one idle for
 * TOPIC_IDLE_MS on a topic this node does not subscribe to is released when the limit is reached.
 * Also sizes each commit's quorum.
 */
import type { ComponentLogger } from '../../logger.js'
import { TooManyTopicsError } from '../core/errors.js'
import type { Signer, VerifiedSignatures } from '../core/signing.js'
import type { StickyOptions } from '../options.js'
import type { StickyStore } from '../replica/store.js'
import { TopicCommitter, type CommitResult, type Recovered } from './committer.js'
import type { HistoryLists } from './history.js'
import type { StateLoader } from './state-loader.js'

/** A topic this node wrote to counts against maxTopics until it has been idle this long. */
export const TOPIC_IDLE_MS = 10 * 60_000

export interface CommittersDeps {
  db: string
  store: StickyStore
  loader: StateLoader
  signer: Signer
  verified?: VerifiedSignatures
  /** walks a snapshot chain (see SnapshotHistory) */
  walkHistory: (topic: string, snapshotId: string, maxDepth: number) => Promise<HistoryLists>
  /** recovery search for a topic (see Recovery.find) */
  recover: (topic: string, isBroken: (headId: string) => boolean) => Promise<Recovered | undefined>
  /** a commit's head was written (before the read-back): push its messages */
  onWritten: (topic: string, result: CommitResult) => void
  onCommitted: (topic: string, result: CommitResult, info: { durationMs: number, items: number }) => void
  /** this node subscribes to the topic (its committer is never released) */
  isSubscribed: (topic: string) => boolean
  /** this node's wallet is authorized for the database now (a queued commit of a removed wallet fails at once) */
  writerAuthorized: () => boolean
  logger: ComponentLogger
}

export type CommittersOptions = Pick<StickyOptions, 'maxTopics' | 'replicationFactor' | 'writeQuorum' | 'flushDelayMs' | 'maxBatch' | 'commitDeadlineMs' | 'maxSubscribersPerTopic' | 'gcGraceMs' | 'recoveryAfterMs'>

export class Committers {
  private readonly committers = new Map<string, TopicCommitter>()
  /** counters of committers released by releaseIdle (so stats stay monotonic) */
  private readonly releasedStats: Record<string, number> = {}

  constructor (private readonly deps: CommittersDeps, private readonly options: CommittersOptions) {}

  /** The topic's committer if this node has one. */
  existing (topic: string): TopicCommitter | undefined { return this.committers.get(topic) }

  /** The topic's committer, created on first use; TooManyTopicsError at maxTopics. */
  get (topic: string): TopicCommitter {
    let c = this.committers.get(topic)
    if (c == null) {
      if (this.committers.size >= this.options.maxTopics) this.releaseIdle()
      if (this.committers.size >= this.options.maxTopics) throw new TooManyTopicsError(topic, this.options.maxTopics)
      const { deps, options } = this
      c = new TopicCommitter({
        store: deps.store,
        loader: deps.loader,
        signer: deps.signer,
        verified: deps.verified,
        db: deps.db,
        topic,
        quorum: async (refresh) => await this.quorum(topic, refresh),
        history: { walk: deps.walkHistory },
        recover: async (isBroken) => await deps.recover(topic, isBroken),
        // push when the head is written: subscribers see the messages one read-back earlier; if the
        // commit is then not acknowledged they may have seen a message whose publish() failed
        onWritten: (r) => { deps.onWritten(topic, r) },
        onCommitted: (r, info) => { deps.onCommitted(topic, r, info) },
        writerAuthorized: deps.writerAuthorized,
        logger: deps.logger.child('component', 'sticky-commit', 'topic', topic)
      }, { flushDelayMs: options.flushDelayMs, maxBatch: options.maxBatch, commitDeadlineMs: options.commitDeadlineMs, maxSubscribers: options.maxSubscribersPerTopic, gcGraceMs: options.gcGraceMs, recoveryAfterMs: options.recoveryAfterMs, writeQuorum: options.writeQuorum })
      this.committers.set(topic, c)
    }
    return c
  }

  /** Waits for every queued publish to be committed. */
  async flush (): Promise<void> {
    await Promise.all([...this.committers.values()].map(async (c) => { await c.flush() }))
  }

  /** Commit counters summed over all committers, released ones included. */
  stats (): Record<string, number> {
    const out: Record<string, number> = { ...this.releasedStats }
    for (const c of this.committers.values()) for (const [k, v] of Object.entries(c.stats)) out[k] = (out[k] ?? 0) + v
    return out
  }

  /**
   * Distinct nodes (this one included) that must hold a commit: writeQuorum, or a majority of the
   * replica set when that is more; never fewer because the network is small. `have` is how many
   * there are now (the replica set plus this node).
   */
  private async quorum (topic: string, refresh = false): Promise<{ need: number, have: number }> {
    const have = Math.min(this.options.replicationFactor, (await this.deps.store.replicas(topic, refresh)).length) + 1
    return { need: Math.max(this.options.writeQuorum, Math.floor(have / 2) + 1), have }
  }

  /** Forgets committers idle for TOPIC_IDLE_MS on topics this node does not subscribe to (their sequence is re-read if needed). */
  private releaseIdle (): void {
    const now = Date.now()
    for (const [topic, c] of this.committers) {
      if (c.idle && now - c.lastUsed > TOPIC_IDLE_MS && !this.deps.isSubscribed(topic)) {
        for (const [k, v] of Object.entries(c.stats)) this.releasedStats[k] = (this.releasedStats[k] ?? 0) + v
        this.committers.delete(topic)
      }
    }
  }
}
