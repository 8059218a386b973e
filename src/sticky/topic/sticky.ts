/*
 * `db.sticky`: sticky topics of one database. This file is the public API; create-sticky.ts builds
 * its parts and hands them over finished. Each flow lives in its own file:
 *   committers.ts / committer.ts  the write path: one batching committer per topic written to
 *   subscriptions.ts / subscription.ts  this node's subscriptions: history, pushes, polling, renewal
 *   push.ts                       GossipSub push topics: send after a commit, validate and deliver
 *   recovery.ts                   channel state and the recovery search for unloadable versions
 *   repair.ts                     new replica-set members get the topic's records
 *   renewal-service.ts            subscription renewal, client and serving side
 *   history.ts                    snapshot chains
 *   quorum-readiness.ts           enough replica-capable peers for the write quorum (isReady)
 *   restart-repair.ts             a node back from a restart copies what it missed
 *   sticky-state.ts               the events and closing state the parts share with this facade
 * The records themselves live in the replica network (../replica/store.ts).
 */
import type { StickyTopics } from '../../api.js'
import { encodeRecord } from '../core/codec.js'
import { liveSubscribers, mergeStates, type TopicState } from '../core/merge.js'
import { LIMITS, type Entry, type HeadRecord, type SubscriberEntry } from '../core/records.js'
import type { HeadWithId } from '../core/validation.js'
import type { Sweeper, StoredByKind, SweepResult } from '../replica/sweeper.js'
import type { StickyStore } from '../replica/store.js'
import { checkTtlMs, type StickyOptions } from '../options.js'
import type { StateLoader } from './state-loader.js'
import type { StickySubscription, StickyMessage } from './subscription.js'
import type { Committers } from './committers.js'
import type { SnapshotHistory } from './history.js'
import type { PushChannel } from './push.js'
import type { Recovery } from './recovery.js'
import type { Renewals } from './renewal-service.js'
import type { QuorumReadiness } from './quorum-readiness.js'
import type { RestartRepair } from './restart-repair.js'
import type { StickyEvents, StickyState } from './sticky-state.js'
import type { SubscribeOptions, Subscriptions } from './subscriptions.js'
import type { ComponentLogger } from '../../logger.js'
import { AbortedError, AlreadySubscribedError, InvalidMessageError, InvalidTopicError, DisconnectedError, MessageTooLargeError } from '../../errors.js'
import { ChannelFailedError, NotAuthorizedError, RateLimitedError } from '../core/errors.js'
import type { RateLimiter } from '../core/rate-limit.js'
import { settlesWithin } from '../../abort.js'
import { validateTopicName } from '../../realtime/realtime.js'

/** The built parts of `db.sticky` (see create-sticky.ts), each seen through what the facade uses. */
export interface StickyParts {
  db: string
  /** this node's wallet: the publisher of its messages */
  wallet: string
  /** the wallet may write to this database now (the registry; a wallet it does not list yet is asked about) */
  mayWrite: (wallet: string) => Promise<boolean>
  logger: ComponentLogger
  state: StickyState
  store: StickyStore
  loader: StateLoader
  committers: Pick<Committers, 'get' | 'flush' | 'stats'>
  history: Pick<SnapshotHistory, 'full'>
  recovery: Pick<Recovery, 'state' | 'recoverNow'>
  pushes: Pick<PushChannel, 'pushesDropped'>
  renewals: Pick<Renewals, 'start' | 'stop' | 'rejected' | 'malformed'>
  sweeper: Pick<Sweeper, 'sweep' | 'stored' | 'totals'>
  restartRepair: Pick<RestartRepair, 'run' | 'cancel' | 'stats'>
  readiness: Pick<QuorumReadiness, 'isReady' | 'waitUntilReady' | 'update'>
  subscriptions: Pick<Subscriptions, 'has' | 'open' | 'unsubscribeAll'>
  /** per-publisher publish rate on this node */
  publishLimiter: Pick<RateLimiter, 'take'>
}

/**
 * Options of a sticky publish: the message TTL (default `defaultMessageTtlMs`) and a signal that stops
 * the wait (not the commit).
 */
export interface PublishOptions { ttlMs?: number, signal?: AbortSignal }

/** A sticky topic's current state, read from its replicas. */
export interface TopicInfo { version: number, messageCount: number, subscriberCount: number, lastModified: number, state: string, retired: boolean }

/** the first sweep after start runs after about this long (or sweepIntervalMs when shorter) */
const FIRST_SWEEP_MS = 5_000

/**
 * Sticky topics of one database (`db.sticky`): messages persist in the network with a TTL, and late
 * subscribers get the history. See the README's "Sticky topics".
 */
export class StickyPubSub implements StickyTopics {
  /** the replica network's records of this database (tests and tools read it) */
  readonly store: StickyStore
  readonly loader: StateLoader
  rateLimited = 0
  private sweepTimer: ReturnType<typeof setTimeout> | undefined

  constructor (private readonly parts: StickyParts, readonly options: StickyOptions) {
    this.store = parts.store
    this.loader = parts.loader
  }

  on<E extends keyof StickyEvents> (event: E, listener: (...args: StickyEvents[E]) => void): this { this.parts.state.on(event, listener as any); return this }
  once<E extends keyof StickyEvents> (event: E, listener: (...args: StickyEvents[E]) => void): this { this.parts.state.once(event, listener as any); return this }
  off<E extends keyof StickyEvents> (event: E, listener: (...args: StickyEvents[E]) => void): this { this.parts.state.off(event, listener as any); return this }

  /** Starts serving renewal requests and the periodic sweep. */
  async start (): Promise<void> {
    await this.parts.renewals.start()
    const tick = (first: boolean): void => {
      // jittered so the nodes of a cluster do not sweep in step; the first sweep comes early, so
      // records that expired while the node was down leave the disk and the stored-bytes figures
      // are known
      const delay = first ? Math.min(this.options.sweepIntervalMs, FIRST_SWEEP_MS) : this.options.sweepIntervalMs
      this.sweepTimer = setTimeout(() => {
        void this.parts.sweeper.sweep().catch((err: unknown) => { this.parts.logger.debug('sticky sweep failed', 'error', err) }).finally(() => { if (!this.parts.state.closed) tick(false) })
      }, delay * (0.75 + Math.random() / 2))
      this.sweepTimer.unref?.()
    }
    tick(true)
    this.peersChanged()
  }

  /** Enough replica-capable peers are connected for the write quorum (see quorum-readiness.ts). */
  isReady (): boolean { return this.parts.readiness.isReady }

  /** Resolves once isReady() is true; rejects with AbortedError when `signal` aborts. */
  async waitUntilReady (options: { signal?: AbortSignal } = {}): Promise<void> { await this.parts.readiness.waitUntilReady(options.signal) }

  /** The set of connected peers changed: recomputes readiness. */
  peersChanged (): void { if (!this.parts.state.closed) this.parts.readiness.update() }

  /** Runs a restart-repair pass now (see restart-repair.ts); also runs each time the node becomes ready. */
  async repairHeld (signal?: AbortSignal): Promise<void> { await this.parts.restartRepair.run(signal) }

  /** Records and bytes this node stores for the database, by record kind, as of the last sweep. */
  storedByKind (): StoredByKind { return this.parts.sweeper.stored }

  /** pushes dropped by validation (malformed, unsigned, forged or unauthorized) */
  get pushesDropped (): number { return this.parts.pushes.pushesDropped }

  /**
   * Publishes a JSON value to a sticky topic; resolves once it is on a quorum of the topic's replicas.
   *
   * @throws {@link StickyCommitError}, {@link RateLimitedError}, {@link ChannelFailedError},
   * {@link NotAuthorizedError}, {@link MessageTooLargeError}, {@link TooManyTopicsError}
   */
  async publish (topic: string, data: unknown, options: PublishOptions = {}): Promise<{ messageId: string, version: number, publisherSequence: number }> {
    this.parts.state.assertOpen()
    if (this.parts.state.closing) throw new DisconnectedError()
    validateTopicName(topic)
    let size: number
    try {
      size = encodeRecord(data).length // refuses non-JSON data before queueing
    } catch (err) {
      throw new InvalidMessageError((err as Error).message, { cause: err })
    }
    if (size > this.options.maxMessageBytes) throw new MessageTooLargeError(size, this.options.maxMessageBytes)
    // checked here, not in the batch: a bad TTL must fail this call only, not everyone's commit
    const ttlMs = checkTtlMs(options.ttlMs ?? this.options.defaultMessageTtlMs, LIMITS.MAX_TTL_MS)
    if (options.signal?.aborted === true) throw new AbortedError('sticky publish was aborted before it was queued')
    await this.assertAuthorized()
    if (this.parts.recovery.state(topic) === 'FAILED') throw new ChannelFailedError(topic, 'no valid coordinator could be loaded')
    const committer = this.parts.committers.get(topic)
    const wait = this.parts.publishLimiter.take(this.parts.wallet)
    if (wait > 0) { this.rateLimited++; throw new RateLimitedError(`sticky publish to ${JSON.stringify(topic)}`, wait) }
    const committed = committer.publish(data, ttlMs)
    if (options.signal == null) return await committed
    // an abort stops the wait, not the commit: the message may still be committed and delivered
    return await Promise.race([committed, new Promise<never>((_resolve, reject) => {
      options.signal!.addEventListener('abort', () => { reject(new AbortedError('stopped waiting for the sticky commit; the message may still be committed')) }, { once: true })
    })])
  }

  /**
   * Subscribes to a sticky topic: records this node in its subscriber collection, delivers the
   * history (unless `receiveHistory: false`), then live messages. Resolves after the history.
   */
  async subscribe (topic: string, options: SubscribeOptions): Promise<StickySubscription> {
    this.parts.state.assertOpen()
    validateTopicName(topic)
    if (typeof options?.onMessage !== 'function') throw new InvalidTopicError(topic, 'onMessage must be a function')
    if (this.parts.subscriptions.has(topic)) throw new AlreadySubscribedError(topic)
    await this.assertAuthorized()
    return await this.parts.subscriptions.open(topic, options)
  }

  /** A connected peer went away (see StickyStore.peerDisconnected). */
  peerDisconnected (peerId: string): void { this.store.peerDisconnected(peerId) }

  /** The topic's version, live message and subscriber counts, last change and channel state. */
  async topicInfo (topic: string): Promise<TopicInfo> {
    const now = Date.now()
    const { heads, merged } = await this.loader.currentState(topic, now)
    return {
      version: Math.max(0, ...heads.map((h) => h.head.version)),
      messageCount: [...merged.entries.values()].filter((e) => e.m.expiresAt > now).length,
      subscriberCount: liveSubscribers(merged.subs, now).length,
      lastModified: Math.max(0, ...heads.map((h) => h.head.lastModified)),
      state: this.parts.recovery.state(topic) ?? (heads.some((h) => h.head.state === 'FAILED') ? 'FAILED' : heads.some((h) => h.head.state === 'RECOVERING') ? 'RECOVERING' : 'ACTIVE'),
      retired: heads.length > 0 && heads.every((h) => h.head.retired)
    }
  }

  /** Current heads of a topic across replicas (siblings included). */
  async loadCoordinator (topic: string): Promise<HeadWithId[]> {
    return await this.loader.readCurrentHeads(topic)
  }

  /**
   * Low-level: the messages of one message collection (a root id), or `undefined` if it cannot be
   * loaded.
   */
  async loadMessageCollection (topic: string, rootId: string): Promise<Entry[] | undefined> {
    const root = await this.store.getBlob(topic, rootId)
    if (root?.t !== 'root') return undefined
    const pages = await this.loader.loadPages(topic, root.pages)
    return pages?.flatMap((p) => p.entries)
  }

  /** Low-level: the entries of one subscriber collection, or `undefined` if it cannot be loaded. */
  async loadSubscriberCollection (topic: string, id: string): Promise<SubscriberEntry[] | undefined> {
    const rec = await this.store.getBlob(topic, id)
    return rec?.t === 'subs' ? rec.subs : undefined
  }

  /** Pure merge of loaded topic states (see merge.ts). */
  mergeCoordinators (states: TopicState[], now = Date.now()): TopicState { return mergeStates(states, now) }

  /**
   * The message-collection history of a head, oldest first: its own recent entries preceded by those
   * of up to `maxDepth` snapshots down its `previous` chain (a snapshot that has expired or cannot be
   * loaded ends the walk).
   */
  async loadFullHistory (head: HeadRecord, maxDepth = 10): Promise<string[]> {
    return await this.parts.history.full(head, maxDepth)
  }

  /**
   * Recovers a topic's channel: reads the coordinator from every replica, takes the highest version
   * whose collections load and commits a new version on top of it (superseding the unloadable
   * ones). Resolves with the new version (ACTIVE); rejects with ChannelFailedError when no version
   * loads (FAILED: publishes are refused until a recovery succeeds). Bounded by `signal` and
   * commitDeadlineMs.
   */
  async recover (topic: string, options: { signal?: AbortSignal } = {}): Promise<{ version: number }> {
    this.parts.state.assertOpen()
    validateTopicName(topic)
    return await this.parts.recovery.recoverNow(topic, this.parts.committers.get(topic), options.signal)
  }

  /** Runs one sweep of this node's stored records now (it also runs every sweepIntervalMs). */
  async sweep (now = Date.now()): Promise<SweepResult> { return await this.parts.sweeper.sweep(now) }

  /** Waits for every queued publish to be committed (used on shutdown). */
  async flush (): Promise<void> { await this.parts.committers.flush() }

  /** Counters of the sticky layer (commits, retries, replica traffic...), for monitoring. */
  stats (): Record<string, number> {
    return {
      ...this.store.stats,
      ...this.parts.committers.stats(),
      pushesDropped: this.parts.pushes.pushesDropped,
      rateLimited: this.rateLimited,
      renewalsRejected: this.parts.renewals.rejected,
      renewalsMalformed: this.parts.renewals.malformed,
      sweptDeleted: this.parts.sweeper.totals.deleted,
      sweptRepublished: this.parts.sweeper.totals.republished,
      sweptMalformed: this.parts.sweeper.totals.malformed,
      restored: this.parts.restartRepair.stats.restored
    }
  }

  /**
   * Stops: no new publishes, queued ones are committed (waiting at most `flushTimeoutMs`, default
   * commitDeadlineMs; what is still unacknowledged then is abandoned and its publish() rejects or
   * never resolves), subscriptions end locally.
   */
  async close (flushTimeoutMs = this.options.commitDeadlineMs): Promise<void> {
    if (this.parts.state.closed) return
    this.parts.state.closing = true
    clearTimeout(this.sweepTimer)
    this.parts.restartRepair.cancel()
    await this.parts.renewals.stop()
    if (!await settlesWithin(flushTimeoutMs, this.flush())) this.parts.logger.warn('sticky close: queued commits not finished in time; abandoning them', 'waitedMs', flushTimeoutMs)
    this.parts.state.closed = true
    await this.parts.subscriptions.unsubscribeAll()
  }

  private async assertAuthorized (): Promise<void> {
    if (!await this.parts.mayWrite(this.parts.wallet)) throw new NotAuthorizedError(this.parts.wallet, this.parts.db)
  }
}

export type { StickyMessage, StickySubscription, HeadWithId, StickyEvents, SubscribeOptions }
