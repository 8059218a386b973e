/*
 * `db.sticky`: sticky topics of one database. Owns the record store, one committer per topic
 * this node writes to, the subscriptions, and the GossipSub push topic per subscribed topic.
 */
import { EventEmitter } from 'node:events'
import type { Message } from '@libp2p/interface'
import type { GossipSub } from '@chainsafe/libp2p-gossipsub'
import type { Datastore } from 'interface-datastore'
import { TopicCommitter, type CommitResult, type Recovered } from './committer.js'
import { decodeJson, encodeRecord } from '../core/codec.js'
import { pushTopic } from '../core/keys.js'
import { liveSubscribers, mergeStates, type TopicState } from '../core/merge.js'
import { checkMessage, type BlobRecord, type ChannelState, type Entry, type HeadRecord, type SubscriberEntry } from '../core/records.js'
import { verifyMessage, type Signer } from '../core/signing.js'
import { StateLoader, type LoadedHead } from './state-loader.js'
import { Sweeper, type SweepResult } from '../replica/sweeper.js'
import { StickyStore, type StoreOptions } from '../replica/store.js'
import type { ReplicaNetwork } from '../replica/replica-network.js'
import { StickySubscription, type StickyMessage } from './subscription.js'
import type { RecordPolicy, HeadWithId } from '../core/validation.js'
import type { TopicOwner, TopicRouter } from '../../host/topic-router.js'
import type { ComponentLogger } from '../../logger.js'
import { AbortedError, AlreadySubscribedError, ConfigError, InvalidMessageError, InvalidTopicError, DisconnectedError, MessageTooLargeError } from '../../errors.js'
import { ChannelFailedError, NotAuthorizedError, RateLimitedError, RenewalRejectedError, TooManyTopicsError } from '../core/errors.js'
import { RateLimiter } from '../core/rate-limit.js'
import { checkRenewal, renewalSignedText, ReplayGuard, type RenewalRequest, type RenewalResponse } from '../core/renewal.js'
import { RenewalService, type RenewalNetwork } from './renewal-service.js'
import { peerIdToWallet, walletToPeerId } from '../../identity.js'
import { deadlineSignal, settlesWithin, sleep } from '../../abort.js'
import { validateTopicName } from '../../realtime/realtime.js'

export interface StickyOptions extends StoreOptions {
  /** message TTL. @default 86_400_000 (24 h) */
  defaultMessageTtlMs: number
  /** subscription TTL. @default 1_800_000 (30 min) */
  defaultSubscriptionTtlMs: number
  /** coordinator poll fallback. @default 5_000 */
  pollIntervalMs: number
  /** batch flush delay. @default 2 */
  flushDelayMs: number
  /** most items per commit. @default 1000 */
  maxBatch: number
  /** give up acknowledging a commit after this. @default 60_000 */
  commitDeadlineMs: number
  /** replicas (this node included) that must hold a commit before it is acknowledged: at least this, and a majority of the replica set. @default 3 */
  writeQuorum: number
  /** pushes inline message data up to this many bytes, ids (poll) above. @default 60_000 */
  pushInlineBytes: number
  /** largest message `data`, JSON-encoded bytes (MessageTooLargeError above). @default 65_536 */
  maxMessageBytes: number
  /** per-publisher publish rate on this node, messages per second on average (RateLimitedError above). @default 500 */
  publishRatePerSecond: number
  /** per-publisher burst: publishes allowed at once before the rate applies. @default 2_000 */
  publishBurst: number
  /** live subscribers one topic may have (TooManySubscribersError above). @default 1_000 */
  maxSubscribersPerTopic: number
  /** topics this node writes (publishes, subscribes, serves renewals); a topic counts until idle for 10 min (TooManyTopicsError above). @default 1_000 */
  maxTopics: number
  /** longest subscription TTL a subscriber may ask for. @default 86_400_000 (24 h) */
  maxSubscriptionTtlMs: number
  /** auto-renewal fires at this fraction of the TTL. @default 0.8 */
  renewAtFraction: number
  /** added to the content expiry of collections and heads before nodes delete them. @default 3_600_000 (1 h) */
  gcGraceMs: number
  /** how often this node sweeps its stored sticky records (delete expired, republish old). @default 60_000 */
  sweepIntervalMs: number
  /** a coordinator version that stays unloadable this long is treated as broken and recovery runs. @default 15_000 */
  recoveryAfterMs: number
  /** a stored live record is republished when its copy is this old (x0.8-1.2 jitter); kad-dht drops values at 36 h. @default 86_400_000 (24 h) */
  republishAfterMs: number
}

export const STICKY_DEFAULTS: StickyOptions = {
  defaultMessageTtlMs: 24 * 3600_000,
  defaultSubscriptionTtlMs: 30 * 60_000,
  pollIntervalMs: 5_000,
  flushDelayMs: 2,
  maxBatch: 1_000,
  commitDeadlineMs: 60_000,
  writeQuorum: 3,
  pushInlineBytes: 60_000,
  maxMessageBytes: 65_536,
  publishRatePerSecond: 500,
  publishBurst: 2_000,
  maxSubscribersPerTopic: 1_000,
  maxTopics: 1_000,
  maxSubscriptionTtlMs: 24 * 3600_000,
  renewAtFraction: 0.8,
  gcGraceMs: 3_600_000,
  sweepIntervalMs: 60_000,
  republishAfterMs: 24 * 3600_000,
  recoveryAfterMs: 15_000,
  replicationFactor: 5,
  replicaRefreshMs: 30_000,
  requestTimeoutMs: 5_000
}

/** nodes repairing a topic's new replica-set members start within this many ms of each other */
const REPAIR_JITTER_MS = 2_000

/** A topic this node wrote to counts against maxTopics until it has been idle this long. */
export const TOPIC_IDLE_MS = 10 * 60_000

export interface StickyDeps {
  db: string
  net: ReplicaNetwork
  datastore: Datastore
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

export interface PublishOptions { ttlMs?: number, signal?: AbortSignal }
export interface SubscribeOptions {
  onMessage: (m: StickyMessage) => void | Promise<void>
  receiveHistory?: boolean
  lastSeenVersion?: number | null
  ttlMs?: number
  /** renew before expiry (at renewAtFraction of the TTL) until unsubscribed. @default true */
  autoRenew?: boolean
  signal?: AbortSignal
}

export interface TopicInfo { version: number, messageCount: number, subscriberCount: number, lastModified: number, state: string, retired: boolean }

interface Push { v: 1, version: number, entries?: Entry[], ids?: string[] }

export interface StickyEvents {
  /** a topic's channel state as this node sees it changed (RECOVERING while recovery runs, FAILED if it found nothing) */
  'channel-state': [{ topic: string, state: ChannelState }]
  /** a batch was committed: how long it took from the first attempt to the acknowledgement */
  commit: [{ topic: string, version: number, items: number, durationMs: number }]
}

export class StickyPubSub extends EventEmitter<StickyEvents> implements TopicOwner {
  readonly store: StickyStore
  readonly loader: StateLoader
  private readonly committers = new Map<string, TopicCommitter>()
  private readonly subs = new Map<string, StickySubscription>()
  private readonly pushTopics = new Map<string, string>()
  private closed = false
  /** set when close() starts: no new publishes while the queued ones are flushed */
  private closing = false
  pushesDropped = 0
  rateLimited = 0
  /** counters of committers released by releaseIdleCommitters (so stats stay monotonic) */
  private readonly releasedStats: Record<string, number> = {}
  private readonly renewal: RenewalService
  private readonly sweeper: Sweeper
  private sweepTimer: ReturnType<typeof setTimeout> | undefined
  /** per-topic channel state kept by this node (RECOVERING / FAILED while recovery runs or failed) */
  private readonly channelStates = new Map<string, ChannelState>()
  private readonly replay = new ReplayGuard()
  private readonly publishLimiter: RateLimiter
  /** renewal requests served per client: generous for honest clients (one per TTL), a wall for floods */
  private readonly renewLimiter = new RateLimiter(2, 20)

  constructor (private readonly deps: StickyDeps, readonly options: StickyOptions) {
    super()
    this.store = new StickyStore({
      net: deps.net,
      datastore: deps.datastore,
      selfPeerId: deps.selfPeerId,
      policy: deps.policy,
      logger: deps.logger.child('component', 'sticky-store'),
      // new replica-set members get the topic's records now, not at this node's next write: a
      // version with no change re-puts everything it references (see ensureReplicated)
      onReplicasGained: (topic) => { this.repairReplicas(topic) }
    }, deps.db, options)
    this.loader = new StateLoader(this.store)
    this.publishLimiter = new RateLimiter(options.publishRatePerSecond, options.publishBurst)
    this.sweeper = new Sweeper({ datastore: deps.datastore, store: this.store, db: deps.db, selfPeerId: deps.selfPeerId, logger: deps.logger.child('component', 'sticky-sweep') }, { republishAfterMs: options.republishAfterMs })
    this.renewal = new RenewalService(deps.renewalNet, deps.db, async (req) => await this.serveRenewal(req), deps.logger.child('component', 'sticky-renewal'))
  }

  /** Starts serving renewal requests and the periodic sweep. */
  async start (): Promise<void> {
    await this.renewal.start()
    const tick = (): void => {
      // jittered so the nodes of a cluster do not sweep in step
      this.sweepTimer = setTimeout(() => {
        void this.sweeper.sweep().catch((err: unknown) => { this.deps.logger.debug('sticky sweep failed', 'error', err) }).finally(() => { if (!this.closed) tick() })
      }, this.options.sweepIntervalMs * (0.75 + Math.random() / 2))
      this.sweepTimer.unref?.()
    }
    tick()
  }

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
    if (options.signal?.aborted === true) throw new AbortedError('sticky publish was aborted before it was queued')
    this.assertAuthorized()
    if (this.channelStates.get(topic) === 'FAILED') throw new ChannelFailedError(topic, 'no valid coordinator could be loaded')
    const committer = this.committer(topic)
    const wait = this.publishLimiter.take(this.deps.signer.wallet)
    if (wait > 0) { this.rateLimited++; throw new RateLimitedError(`sticky publish to ${JSON.stringify(topic)}`, wait) }
    const committed = committer.publish(data, options.ttlMs ?? this.options.defaultMessageTtlMs)
    if (options.signal == null) return await committed
    // an abort stops the wait, not the commit: the message may still be committed and delivered
    return await Promise.race([committed, new Promise<never>((_resolve, reject) => {
      options.signal!.addEventListener('abort', () => { reject(new AbortedError('stopped waiting for the sticky commit; the message may still be committed')) }, { once: true })
    })])
  }

  async subscribe (topic: string, options: SubscribeOptions): Promise<StickySubscription> {
    this.assertOpen()
    validateTopicName(topic)
    if (typeof options?.onMessage !== 'function') throw new InvalidTopicError(topic, 'onMessage must be a function')
    if (this.subs.has(topic)) throw new AlreadySubscribedError(topic)
    this.assertAuthorized()
    const ttlMs = options.ttlMs ?? this.options.defaultSubscriptionTtlMs
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > this.options.maxSubscriptionTtlMs) throw new ConfigError('ttlMs', `expected an integer number of milliseconds 1-${this.options.maxSubscriptionTtlMs}, got ${String(ttlMs)}`)
    const log = this.deps.logger.child('component', 'sticky-sub', 'topic', topic)
    const sub = new StickySubscription({
      store: this.store,
      loader: this.loader,
      topic,
      onMessage: options.onMessage,
      logger: log,
      onClose: async () => { await this.closeSubscription(topic) },
      renew: async (ttl) => await this.requestRenewal(topic, ttl)
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
    const name = pushTopic(this.deps.db, topic)
    this.pushTopics.set(name, topic)
    this.deps.router.add(name, this)
    try {
      const now = Date.now()
      await this.committer(topic).updateSubscriber({ client: this.deps.signer.wallet, subscribedAt: now, expiresAt: now + ttlMs, updatedAt: now })
      sub.expiresAt = now + ttlMs
      await sub.start()
      options.signal?.addEventListener('abort', () => { void sub.unsubscribe() }, { once: true })
      if (options.signal?.aborted === true) await sub.unsubscribe()
    } catch (err) {
      this.subs.delete(topic)
      this.deps.router.remove(name, this)
      throw err
    }
    return sub
  }

  /**
   * The topic's replica set gained members. Every node using the topic notices the same change, so
   * each waits a random moment and then writes a version with no change (which re-puts every record
   * it references) only if some replica still lacks the current heads.
   */
  private repairReplicas (topic: string): void {
    const committer = this.committers.get(topic)
    if (committer == null || this.closed) return
    void (async () => {
      await sleep(Math.random() * REPAIR_JITTER_MS)
      if (this.closed) return
      const replicas = await this.store.replicas(topic)
      const answers = await this.store.readHeads(topic)
      const current = this.loader.currentHeads(answers)
      const holding = answers.filter((a) => current.every((h) => a.heads.some((x) => x.id === h.id))).length
      if (holding >= replicas.length + 1) return // every replica and this node hold the current version
      await committer.touch()
    })().catch((err: unknown) => { this.deps.logger.debug('replica repair failed', 'topic', topic, 'error', err) })
  }

  /** A connected peer went away (see StickyStore.peerDisconnected). */
  peerDisconnected (peerId: string): void { this.store.peerDisconnected(peerId) }

  async topicInfo (topic: string): Promise<TopicInfo> {
    const now = Date.now()
    const { heads, merged } = await this.currentState(topic, now)
    return {
      version: Math.max(0, ...heads.map((h) => h.head.version)),
      messageCount: [...merged.entries.values()].filter((e) => e.m.expiresAt > now).length,
      subscriberCount: liveSubscribers(merged.subs, now).length,
      lastModified: Math.max(0, ...heads.map((h) => h.head.lastModified)),
      state: this.channelStates.get(topic) ?? (heads.some((h) => h.head.state === 'FAILED') ? 'FAILED' : heads.some((h) => h.head.state === 'RECOVERING') ? 'RECOVERING' : 'ACTIVE'),
      retired: heads.length > 0 && heads.every((h) => h.head.retired)
    }
  }

  /** Current heads of a topic across replicas (siblings included). */
  async loadCoordinator (topic: string): Promise<HeadWithId[]> {
    return this.loader.currentHeads(await this.store.readHeads(topic))
  }

  async loadMessageCollection (topic: string, rootId: string): Promise<Entry[] | undefined> {
    const root = await this.store.getBlob(topic, rootId)
    if (root?.t !== 'root') return undefined
    const pages = await this.loader.loadPages(topic, root.pages)
    return pages?.flatMap((p) => p.entries)
  }

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
    if (head.previous == null) return [...head.messageHistory]
    const older = await this.walkSnapshots(head.topic, head.previous, maxDepth)
    return dedupe([...older.messageHistory, ...head.messageHistory])
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
    const found = await this.findRecoverable(topic, () => true, options.signal)
    if (found == null) throw new ChannelFailedError(topic, 'no coordinator version whose collections load on any replica')
    const c = this.committer(topic)
    c.prime(found)
    const version = await c.touch()
    return { version }
  }

  /**
   * Recovery search: reads the coordinator from every replica and takes the highest version whose
   * collections load (asking each head's writer directly too, since it keeps what it wrote). Only
   * heads `isBroken` accepts are superseded; a failing head that is not (yet) broken stays a sibling.
   * The channel is FAILED when nothing loads and every head seen is broken; it is ACTIVE otherwise.
   */
  private async findRecoverable (topic: string, isBroken: (headId: string) => boolean, signal?: AbortSignal): Promise<Recovered | undefined> {
    this.setChannelState(topic, 'RECOVERING')
    try {
      const replicas = await this.store.replicas(topic, true)
      const answers = await this.store.readHeads(topic, signal, replicas.length)
      const all = new Map<string, HeadWithId>()
      for (const a of answers) for (const h of a.heads) all.set(h.id, h)
      const byVersion = [...all.values()].sort((a, b) => b.head.version - a.head.version || (a.id < b.id ? -1 : 1))
      const failed: HeadWithId[] = []
      for (const h of byVersion) {
        if (signal?.aborted === true) break
        const loaded = await this.loadAskingWriter(h, signal)
        if (loaded == null) { failed.push(h); continue }
        const supersede = failed.filter((x) => isBroken(x.id)).map((x) => x.id)
        if (supersede.length > 0) this.deps.logger.warn('sticky topic recovered from an earlier coordinator version', 'topic', topic, 'version', h.head.version, 'superseded', supersede.length)
        this.setChannelState(topic, 'ACTIVE')
        return { base: h, loaded, supersede, topVersion: byVersion[0]!.head.version }
      }
      const allBroken = failed.length > 0 && failed.every((x) => isBroken(x.id))
      if (allBroken) this.deps.logger.error('sticky topic FAILED: no coordinator version loads on any replica', 'topic', topic, 'versionsSeen', byVersion.length)
      this.setChannelState(topic, allBroken ? 'FAILED' : 'ACTIVE')
      return undefined
    } catch (err) {
      this.setChannelState(topic, 'ACTIVE')
      throw err
    }
  }

  /** Loads a head; when that fails, fetches its collections from the head's writer and tries again. */
  private async loadAskingWriter (h: HeadWithId, signal?: AbortSignal): Promise<LoadedHead | undefined> {
    const first = await this.loader.load(h, signal).catch(() => undefined)
    if (first != null) return first
    let writer
    try { writer = walletToPeerId(h.head.writer) } catch { return undefined }
    if (writer.toString() === this.deps.selfPeerId) return undefined
    const ids = [h.head.messages, h.head.subscribers].filter((x): x is string => x != null)
    const records = await this.store.prefetchFrom(writer, ids, signal)
    const root = records.find((r) => r.t === 'root')
    if (root?.t === 'root') await this.store.prefetchFrom(writer, root.pages, signal)
    return await this.loader.load(h, signal).catch(() => undefined)
  }

  private setChannelState (topic: string, state: ChannelState): void {
    if (state === 'ACTIVE') this.channelStates.delete(topic)
    else this.channelStates.set(topic, state)
    this.subs.get(topic)?.setChannelState(state)
    this.emit('channel-state', { topic, state })
  }

  /** Runs one sweep of this node's stored records now (it also runs every sweepIntervalMs). */
  async sweep (now = Date.now()): Promise<SweepResult> { return await this.sweeper.sweep(now) }

  private async walkSnapshots (topic: string, snapshotId: string, maxDepth: number): Promise<{ messageHistory: string[], subscriberHistory: string[] }> {
    const chain: Array<{ messageHistory: string[], subscriberHistory: string[] }> = []
    let next: string | null = snapshotId
    for (let depth = 0; next != null && depth < maxDepth; depth++) {
      const snap: BlobRecord | undefined = await this.store.getBlob(topic, next).catch(() => undefined)
      if (snap?.t !== 'snap') break
      chain.unshift(snap)
      next = snap.previous
    }
    return { messageHistory: dedupe(chain.flatMap((c) => c.messageHistory)), subscriberHistory: dedupe(chain.flatMap((c) => c.subscriberHistory)) }
  }

  /** Waits for every queued publish to be committed (used on shutdown). */
  async flush (): Promise<void> {
    await Promise.all([...this.committers.values()].map(async (c) => { await c.flush() }))
  }

  stats (): Record<string, number> {
    const out: Record<string, number> = {
      ...this.store.stats,
      ...this.releasedStats,
      pushesDropped: this.pushesDropped,
      rateLimited: this.rateLimited,
      renewalsRejected: this.renewal.rejected,
      renewalsMalformed: this.renewal.malformed,
      sweptDeleted: this.sweeper.totals.deleted,
      sweptRepublished: this.sweeper.totals.republished,
      sweptMalformed: this.sweeper.totals.malformed
    }
    for (const c of this.committers.values()) for (const [k, v] of Object.entries(c.stats)) out[k] = (out[k] ?? 0) + v
    return out
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
    await this.renewal.stop()
    if (!await settlesWithin(flushTimeoutMs, this.flush())) this.deps.logger.warn('sticky close: queued commits not finished in time; abandoning them', 'waitedMs', flushTimeoutMs)
    this.closed = true
    for (const sub of [...this.subs.values()]) await sub.unsubscribe().catch(() => {})
  }

  // --- push delivery (TopicOwner) ----------------------------------------------------------------

  async validate (pubsubTopic: string, msg: Message): Promise<Push | undefined> {
    const topic = this.pushTopics.get(pubsubTopic)
    if (topic == null || msg.type !== 'signed') return this.dropPush('unsigned or unknown topic')
    const push = decodeJson(msg.data) as Push | undefined
    if (push == null || push.v !== 1 || !Number.isInteger(push.version)) return this.dropPush('malformed push')
    if (push.entries != null) {
      if (!Array.isArray(push.entries)) return this.dropPush('malformed push entries')
      for (const e of push.entries) {
        const m = checkMessage(e?.m)
        if (typeof m === 'string' || !Number.isInteger(e.v) || m.topic !== topic || m.db !== this.deps.db || !verifyMessage(m, this.deps.policy.verified) || !this.deps.policy.isAuthorized(this.deps.db, m.publisher)) {
          return this.dropPush('invalid message in push')
        }
      }
    }
    return push
  }

  deliver (pubsubTopic: string, payload: unknown): void {
    const topic = this.pushTopics.get(pubsubTopic)
    const sub = topic == null ? undefined : this.subs.get(topic)
    if (sub == null) return
    const push = payload as Push
    if (push.entries != null) sub.receivePush(push.version, push.entries)
    else sub.pollNow('push without inline data')
  }

  private dropPush (reason: string): undefined {
    this.pushesDropped++
    this.deps.logger.debug('sticky push dropped', 'reason', reason)
    return undefined
  }

  private committer (topic: string): TopicCommitter {
    let c = this.committers.get(topic)
    if (c == null) {
      if (this.committers.size >= this.options.maxTopics) this.releaseIdleCommitters()
      if (this.committers.size >= this.options.maxTopics) throw new TooManyTopicsError(topic, this.options.maxTopics)
      c = new TopicCommitter({
        store: this.store,
        loader: this.loader,
        signer: this.deps.signer,
        verified: this.deps.policy.verified,
        db: this.deps.db,
        topic,
        quorum: async () => await this.quorum(topic),
        history: { walk: async (t, id, depth) => await this.walkSnapshots(t, id, depth) },
        recover: async (isBroken) => await this.findRecoverable(topic, isBroken),
        // push when the head is written: subscribers see the messages one read-back earlier; if the
        // commit is then not acknowledged they may have seen a message whose publish() failed
        onWritten: (r) => { this.push(topic, r) },
        onCommitted: (r, info) => { this.emit('commit', { topic, version: r.version, ...info }) },
        logger: this.deps.logger.child('component', 'sticky-commit', 'topic', topic)
      }, { flushDelayMs: this.options.flushDelayMs, maxBatch: this.options.maxBatch, commitDeadlineMs: this.options.commitDeadlineMs, maxSubscribers: this.options.maxSubscribersPerTopic, gcGraceMs: this.options.gcGraceMs, recoveryAfterMs: this.options.recoveryAfterMs })
      this.committers.set(topic, c)
    }
    return c
  }

  private push (topic: string, r: CommitResult): void {
    if (r.entries.length === 0 && this.subs.get(topic) == null) return
    const name = pushTopic(this.deps.db, topic)
    const local = this.subs.get(topic)
    if (local != null && r.entries.length > 0) local.receivePush(r.version, r.entries)
    let body: Push = { v: 1, version: r.version, entries: r.entries }
    let bytes = encodeRecord(body)
    if (bytes.length > this.options.pushInlineBytes) {
      body = { v: 1, version: r.version, ids: r.entries.map((e) => this.loader.idOf(e.m)) }
      bytes = encodeRecord(body)
    }
    if (this.deps.pubsub.getSubscribers(name).length === 0) return
    this.deps.pubsub.publish(name, bytes).catch((err: unknown) => { this.deps.logger.debug('sticky push not sent; subscribers will poll', 'error', err) })
  }

  private async closeSubscription (topic: string): Promise<void> {
    this.subs.delete(topic)
    const name = pushTopic(this.deps.db, topic)
    this.pushTopics.delete(name)
    this.deps.router.remove(name, this)
    if (this.closed) return
    const now = Date.now()
    await this.committer(topic).updateSubscriber({ client: this.deps.signer.wallet, subscribedAt: now, expiresAt: now, updatedAt: now + 1 }).catch((err: unknown) => {
      this.deps.logger.warn('could not remove the subscription from the coordinator; it will expire', 'topic', topic, 'error', err)
    })
  }

  /** Forgets committers idle for TOPIC_IDLE_MS on topics this node does not subscribe to (their sequence is re-read if needed). */
  private releaseIdleCommitters (): void {
    const now = Date.now()
    for (const [topic, c] of this.committers) {
      if (c.idle && now - c.lastUsed > TOPIC_IDLE_MS && !this.subs.has(topic)) {
        for (const [k, v] of Object.entries(c.stats)) this.releasedStats[k] = (this.releasedStats[k] ?? 0) + v
        this.committers.delete(topic)
      }
    }
  }

  // --- subscription renewal ----------------------------------------------------------------------

  /** Signs a renewal and asks a replica of the topic to commit it; serves it here when no replica answers. */
  private async requestRenewal (topic: string, ttlMs: number): Promise<{ expiresAt: number }> {
    this.assertOpen()
    const timestamp = Date.now()
    const client = this.deps.selfPeerId
    const sig = Buffer.from(await this.deps.signer.sign(new TextEncoder().encode(renewalSignedText(this.deps.db, topic, client, timestamp, ttlMs)))).toString('base64')
    const req: RenewalRequest = { v: 1, topic, client, timestamp, ttlMs, sig }
    const peers = (await this.store.replicas(topic).catch(() => [])).slice(0, 3)
    let answer: RenewalResponse | undefined
    for (const peer of peers) {
      try {
        answer = await this.renewal.send(peer, req, deadlineSignal(this.options.commitDeadlineMs, 'renewal request timed out'))
        break
      } catch (err) {
        this.deps.logger.debug('renewal request to replica failed; trying the next', 'peer', peer.toString(), 'error', err)
      }
    }
    answer ??= await this.serveRenewal(req)
    if (!answer.ok) throw new RenewalRejectedError(topic, answer.error)
    return { expiresAt: answer.expiresAt }
  }

  /** Serving side: verifies a renewal (see renewal.ts) and commits the new expiry. */
  async serveRenewal (req: RenewalRequest): Promise<RenewalResponse> {
    if (this.closing) return { ok: false, error: 'serving node is stopping' }
    if (this.renewLimiter.take(req.client) > 0) return { ok: false, error: 'rate limited' }
    const now = Date.now()
    const checked = checkRenewal(req, {
      db: this.deps.db,
      now,
      walletOf: (peerId) => peerIdToWallet(peerId),
      lastAccepted: (topic, client) => this.replay.last(topic, client),
      isAuthorized: (wallet) => this.deps.policy.isAuthorized(this.deps.db, wallet),
      maxTtlMs: this.options.maxSubscriptionTtlMs
    })
    if ('error' in checked) {
      this.deps.logger.debug('renewal refused', 'topic', req.topic, 'client', req.client, 'reason', checked.error)
      return { ok: false, error: checked.error }
    }
    this.replay.accept(req.topic, req.client, req.timestamp, now)
    try {
      validateTopicName(req.topic)
      const { merged } = await this.currentState(req.topic, now)
      const existing = merged.subs.get(checked.wallet)
      if (existing == null || existing.expiresAt <= now) return { ok: false, error: 'not a subscriber of this topic' }
      const expiresAt = now + req.ttlMs
      const version = await this.committer(req.topic).updateSubscriber({ ...existing, expiresAt, updatedAt: now })
      return { ok: true, expiresAt, version }
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err.message : String(err) }
    }
  }

  /** The merged content of the topic's current heads. */
  /** The topic's current heads and the merged content of those that load. */
  private async currentState (topic: string, now = Date.now()): Promise<{ heads: HeadWithId[], merged: TopicState }> {
    const heads = await this.loadCoordinator(topic)
    const loaded = (await Promise.all(heads.map(async (h) => await this.loader.load(h)))).filter((x) => x != null)
    return { heads, merged: mergeStates(loaded.map((l) => l!.state), now) }
  }

  /** Replicas (this node included) that must hold a commit: a majority of the replica set, at least writeQuorum where the set allows. */
  private async quorum (topic: string): Promise<number> {
    const replicas = (await this.store.replicas(topic)).length
    const size = Math.min(this.options.replicationFactor, Math.max(replicas, this.deps.peerCount())) + 1
    return Math.min(size, Math.max(this.options.writeQuorum, Math.floor(size / 2) + 1))
  }

  private assertOpen (): void { if (this.closed) throw new DisconnectedError() }

  private assertAuthorized (): void {
    if (!this.deps.policy.isAuthorized(this.deps.db, this.deps.signer.wallet)) throw new NotAuthorizedError(this.deps.signer.wallet, this.deps.db)
  }
}

function dedupe (ids: string[]): string[] { return [...new Set(ids)] }

export type { StickyMessage, StickySubscription, HeadWithId }
