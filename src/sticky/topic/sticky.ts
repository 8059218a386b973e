/*
 * `db.sticky`: sticky topics of one database. This file is the public API and the wiring of its
 * parts; each flow lives in its own file:
 *   committers.ts / committer.ts  the write path: one batching committer per topic written to
 *   subscription.ts               one subscription: history, pushes, polling, auto-renewal
 *   push.ts                       GossipSub push topics: send after a commit, validate and deliver
 *   recovery.ts                   channel state and the recovery search for unloadable versions
 *   repair.ts                     new replica-set members get the topic's records
 *   renewal-service.ts            subscription renewal, client and serving side
 *   history.ts                    snapshot chains
 * The records themselves live in the replica network (../replica/store.ts).
 */
import { EventEmitter } from 'node:events'
import type { StickyTopics } from '../../api.js'
import type { GossipSub } from '@chainsafe/libp2p-gossipsub'
import type { Datastore } from 'interface-datastore'
import type { MergingDatastore } from '../replica/merging-datastore.js'
import { encodeRecord } from '../core/codec.js'
import { liveSubscribers, mergeStates, type TopicState } from '../core/merge.js'
import { LIMITS, type ChannelState, type Entry, type HeadRecord, type SubscriberEntry } from '../core/records.js'
import type { Signer } from '../core/signing.js'
import type { RecordPolicy, HeadWithId } from '../core/validation.js'
import { Sweeper, type SweepResult } from '../replica/sweeper.js'
import { StickyStore } from '../replica/store.js'
import type { ReplicaNetwork } from '../replica/replica-network.js'
import type { StickyOptions } from '../options.js'
import { StateLoader } from './state-loader.js'
import { StickySubscription, type StickyMessage } from './subscription.js'
import { Committers } from './committers.js'
import { SnapshotHistory } from './history.js'
import { PushChannel } from './push.js'
import { Recovery } from './recovery.js'
import { ReplicaRepair } from './repair.js'
import { Renewals, type RenewalNetwork } from './renewal-service.js'
import type { TopicRouter } from '../../host/topic-router.js'
import type { ComponentLogger } from '../../logger.js'
import { AbortedError, AlreadySubscribedError, ConfigError, InvalidMessageError, InvalidTopicError, DisconnectedError, MessageTooLargeError } from '../../errors.js'
import { ChannelFailedError, NotAuthorizedError, RateLimitedError } from '../core/errors.js'
import { RateLimiter } from '../core/rate-limit.js'
import { settlesWithin } from '../../abort.js'
import { validateTopicName } from '../../realtime/realtime.js'


export interface StickyDeps {
  db: string
  net: ReplicaNetwork
  /** the host's datastore: coordinator keys merge on put and are swept under their lock */
  datastore: Datastore & Pick<MergingDatastore, 'pruneExpiredHeads'>
  pubsub: GossipSub
  router: TopicRouter
  signer: Signer
  selfPeerId: string
  policy: RecordPolicy
  /** authorized peers currently connected for this database (caps the quorum) */
  peerCount: () => number
  /** libp2p protocol handling for subscription renewals */
  renewalNet: RenewalNetwork
  logger: ComponentLogger
}

/**
 * Options of a sticky publish: the message TTL (default `defaultMessageTtlMs`) and a signal that stops
 * the wait (not the commit).
 */
export interface PublishOptions { ttlMs?: number, signal?: AbortSignal }
/** Options of a sticky subscription. */
export interface SubscribeOptions {
  /** Receives each message once: the history first (oldest first), then live ones. */
  onMessage: (m: StickyMessage) => void | Promise<void>
  /** deliver the unexpired history first. @default true */
  receiveHistory?: boolean
  /** deliver only messages added after this version (resume after a restart). @default null */
  lastSeenVersion?: number | null
  ttlMs?: number
  /** renew before expiry (at renewAtFraction of the TTL) until unsubscribed. @default true */
  autoRenew?: boolean
  signal?: AbortSignal
}

/** A sticky topic's current state, read from its replicas. */
export interface TopicInfo { version: number, messageCount: number, subscriberCount: number, lastModified: number, state: string, retired: boolean }

export interface StickyEvents {
  /** a topic's channel state as this node sees it changed (RECOVERING while recovery runs, FAILED if it found nothing) */
  'channel-state': [{ topic: string, state: ChannelState }]
  /** a batch was committed: how long it took from the first attempt to the acknowledgement */
  commit: [{ topic: string, version: number, items: number, durationMs: number }]
}

/**
 * Sticky topics of one database (`db.sticky`): messages persist in the network with a TTL, and late
 * subscribers get the history. See the README's "Sticky topics".
 */
export class StickyPubSub extends EventEmitter<StickyEvents> implements StickyTopics {
  readonly store: StickyStore
  readonly loader: StateLoader
  private readonly subs = new Map<string, StickySubscription>()
  private closed = false
  /** set when close() starts: no new publishes while the queued ones are flushed */
  private closing = false
  rateLimited = 0
  private readonly committers: Committers
  private readonly history: SnapshotHistory
  private readonly recovery: Recovery
  private readonly pushes: PushChannel
  private readonly repair: ReplicaRepair
  private readonly renewals: Renewals
  private readonly sweeper: Sweeper
  private sweepTimer: ReturnType<typeof setTimeout> | undefined
  private readonly publishLimiter: RateLimiter

  constructor (private readonly deps: StickyDeps, readonly options: StickyOptions) {
    super()
    this.store = new StickyStore({
      net: deps.net,
      datastore: deps.datastore,
      selfPeerId: deps.selfPeerId,
      policy: deps.policy,
      logger: deps.logger.child('component', 'sticky-store'),
      onReplicasGained: (topic) => { this.repair.replicasGained(topic) }
    }, deps.db, options)
    this.loader = new StateLoader(this.store)
    this.history = new SnapshotHistory(this.store)
    this.recovery = new Recovery({
      store: this.store,
      loader: this.loader,
      selfPeerId: deps.selfPeerId,
      onState: (topic, state) => { this.channelStateChanged(topic, state) },
      logger: deps.logger
    })
    this.pushes = new PushChannel({
      db: deps.db,
      pubsub: deps.pubsub,
      router: deps.router,
      policy: deps.policy,
      idOf: this.loader.idOf,
      subscription: (topic) => this.subs.get(topic),
      logger: deps.logger
    }, options)
    this.committers = new Committers({
      db: deps.db,
      store: this.store,
      loader: this.loader,
      signer: deps.signer,
      verified: deps.policy.verified,
      peerCount: deps.peerCount,
      walkHistory: async (topic, id, depth) => await this.history.walk(topic, id, depth),
      recover: async (topic, isBroken) => await this.recovery.find(topic, isBroken),
      onWritten: (topic, r) => { this.pushes.send(topic, r) },
      onCommitted: (topic, r, info) => { this.emit('commit', { topic, version: r.version, ...info }) },
      isSubscribed: (topic) => this.subs.has(topic),
      logger: deps.logger
    }, options)
    this.repair = new ReplicaRepair({
      store: this.store,
      loader: this.loader,
      committerOf: (topic) => this.committers.existing(topic),
      isClosed: () => this.closed,
      logger: deps.logger
    })
    this.renewals = new Renewals({
      db: deps.db,
      net: deps.renewalNet,
      selfPeerId: deps.selfPeerId,
      signer: deps.signer,
      policy: deps.policy,
      store: this.store,
      loader: this.loader,
      committer: (topic) => this.committers.get(topic),
      assertOpen: () => { this.assertOpen() },
      isClosing: () => this.closing,
      logger: deps.logger
    }, options)
    this.publishLimiter = new RateLimiter(options.publishRatePerSecond, options.publishBurst)
    this.sweeper = new Sweeper({ datastore: deps.datastore, store: this.store, db: deps.db, selfPeerId: deps.selfPeerId, logger: deps.logger.child('component', 'sticky-sweep') }, { republishAfterMs: options.republishAfterMs })
  }

  /** Starts serving renewal requests and the periodic sweep. */
  async start (): Promise<void> {
    await this.renewals.start()
    const tick = (): void => {
      // jittered so the nodes of a cluster do not sweep in step
      this.sweepTimer = setTimeout(() => {
        void this.sweeper.sweep().catch((err: unknown) => { this.deps.logger.debug('sticky sweep failed', 'error', err) }).finally(() => { if (!this.closed) tick() })
      }, this.options.sweepIntervalMs * (0.75 + Math.random() / 2))
      this.sweepTimer.unref?.()
    }
    tick()
  }

  /** pushes dropped by validation (malformed, unsigned, forged or unauthorized) */
  get pushesDropped (): number { return this.pushes.pushesDropped }

  /**
   * Publishes a JSON value to a sticky topic; resolves once it is on a quorum of the topic's replicas.
   *
   * @throws {@link StickyCommitError}, {@link RateLimitedError}, {@link ChannelFailedError},
   * {@link NotAuthorizedError}, {@link MessageTooLargeError}, {@link TooManyTopicsError}
   */
  async publish (topic: string, data: unknown, options: PublishOptions = {}): Promise<{ messageId: string, version: number, publisherSequence: number }> {
    this.assertOpen()
    if (this.closing) throw new DisconnectedError()
    validateTopicName(topic)
    let size: number
    try {
      size = encodeRecord(data).length // refuses non-JSON data before queueing
    } catch (err) {
      throw new InvalidMessageError((err as Error).message, { cause: err })
    }
    if (size > this.options.maxMessageBytes) throw new MessageTooLargeError(size, this.options.maxMessageBytes)
    // checked here, not in the batch: a bad TTL must fail this call only, not everyone's commit
    const ttlMs = checkTtl(options.ttlMs ?? this.options.defaultMessageTtlMs, LIMITS.MAX_TTL_MS)
    if (options.signal?.aborted === true) throw new AbortedError('sticky publish was aborted before it was queued')
    this.assertAuthorized()
    if (this.recovery.state(topic) === 'FAILED') throw new ChannelFailedError(topic, 'no valid coordinator could be loaded')
    const committer = this.committers.get(topic)
    const wait = this.publishLimiter.take(this.deps.signer.wallet)
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
    this.assertOpen()
    validateTopicName(topic)
    if (typeof options?.onMessage !== 'function') throw new InvalidTopicError(topic, 'onMessage must be a function')
    if (this.subs.has(topic)) throw new AlreadySubscribedError(topic)
    this.assertAuthorized()
    const ttlMs = checkTtl(options.ttlMs ?? this.options.defaultSubscriptionTtlMs, this.options.maxSubscriptionTtlMs)
    const log = this.deps.logger.child('component', 'sticky-sub', 'topic', topic)
    const sub = new StickySubscription({
      store: this.store,
      loader: this.loader,
      topic,
      onMessage: options.onMessage,
      logger: log,
      onClose: async () => { await this.closeSubscription(topic) },
      renew: async (ttl) => await this.renewals.request(topic, ttl)
    }, {
      receiveHistory: options.receiveHistory ?? true,
      lastSeenVersion: options.lastSeenVersion ?? null,
      pollIntervalMs: this.options.pollIntervalMs,
      ttlMs,
      expiresAt: Date.now() + ttlMs,
      autoRenew: options.autoRenew ?? true,
      renewAtFraction: this.options.renewAtFraction
    })
    this.subs.set(topic, sub)
    this.pushes.open(topic)
    try {
      const now = Date.now()
      await this.committers.get(topic).updateSubscriber({ client: this.deps.signer.wallet, subscribedAt: now, expiresAt: now + ttlMs, updatedAt: now })
      sub.expiresAt = now + ttlMs
      await sub.start()
      options.signal?.addEventListener('abort', () => { void sub.unsubscribe() }, { once: true })
      if (options.signal?.aborted === true) await sub.unsubscribe()
    } catch (err) {
      this.subs.delete(topic)
      this.pushes.close(topic)
      throw err
    }
    return sub
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
      state: this.recovery.state(topic) ?? (heads.some((h) => h.head.state === 'FAILED') ? 'FAILED' : heads.some((h) => h.head.state === 'RECOVERING') ? 'RECOVERING' : 'ACTIVE'),
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
    return await this.history.full(head, maxDepth)
  }

  /**
   * Recovers a topic's channel: reads the coordinator from every replica, takes the highest version
   * whose collections load and commits a new version on top of it (superseding the unloadable
   * ones). Resolves with the new version (ACTIVE); rejects with ChannelFailedError when no version
   * loads (FAILED: publishes are refused until a recovery succeeds). Bounded by `signal` and
   * commitDeadlineMs.
   */
  async recover (topic: string, options: { signal?: AbortSignal } = {}): Promise<{ version: number }> {
    this.assertOpen()
    validateTopicName(topic)
    return await this.recovery.recoverNow(topic, this.committers.get(topic), options.signal)
  }

  /** Runs one sweep of this node's stored records now (it also runs every sweepIntervalMs). */
  async sweep (now = Date.now()): Promise<SweepResult> { return await this.sweeper.sweep(now) }

  /** Waits for every queued publish to be committed (used on shutdown). */
  async flush (): Promise<void> { await this.committers.flush() }

  /** Counters of the sticky layer (commits, retries, replica traffic...), for monitoring. */
  stats (): Record<string, number> {
    return {
      ...this.store.stats,
      ...this.committers.stats(),
      pushesDropped: this.pushes.pushesDropped,
      rateLimited: this.rateLimited,
      renewalsRejected: this.renewals.rejected,
      renewalsMalformed: this.renewals.malformed,
      sweptDeleted: this.sweeper.totals.deleted,
      sweptRepublished: this.sweeper.totals.republished,
      sweptMalformed: this.sweeper.totals.malformed
    }
  }

  /**
   * Stops: no new publishes, queued ones are committed (waiting at most `flushTimeoutMs`, default
   * commitDeadlineMs; what is still unacknowledged then is abandoned and its publish() rejects or
   * never resolves), subscriptions end locally.
   */
  async close (flushTimeoutMs = this.options.commitDeadlineMs): Promise<void> {
    if (this.closed) return
    this.closing = true
    clearTimeout(this.sweepTimer)
    await this.renewals.stop()
    if (!await settlesWithin(flushTimeoutMs, this.flush())) this.deps.logger.warn('sticky close: queued commits not finished in time; abandoning them', 'waitedMs', flushTimeoutMs)
    this.closed = true
    for (const sub of [...this.subs.values()]) await sub.unsubscribe().catch(() => {})
  }

  private channelStateChanged (topic: string, state: ChannelState): void {
    this.subs.get(topic)?.setChannelState(state)
    this.emit('channel-state', { topic, state })
  }

  private async closeSubscription (topic: string): Promise<void> {
    this.subs.delete(topic)
    this.pushes.close(topic)
    if (this.closed) return
    const now = Date.now()
    await this.committers.get(topic).updateSubscriber({ client: this.deps.signer.wallet, subscribedAt: now, expiresAt: now, updatedAt: now + 1 }).catch((err: unknown) => {
      this.deps.logger.warn('could not remove the subscription from the coordinator; it will expire', 'topic', topic, 'error', err)
    })
  }

  private assertOpen (): void { if (this.closed) throw new DisconnectedError() }

  private assertAuthorized (): void {
    if (!this.deps.policy.isAuthorized(this.deps.db, this.deps.signer.wallet)) throw new NotAuthorizedError(this.deps.signer.wallet, this.deps.db)
  }
}

/** A `ttlMs` argument: an integer number of milliseconds 1-max, else ConfigError naming `ttlMs`. */
function checkTtl (ttlMs: unknown, max: number): number {
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > max) {
    throw new ConfigError('ttlMs', `expected an integer number of milliseconds 1-${max}, got ${String(ttlMs)}`)
  }
  return ttlMs
}

export type { StickyMessage, StickySubscription, HeadWithId }
