/*
 * The public shapes of what connect() returns: `Database` and its `db.sticky`. They carry only the
 * documented API (README "API" and "Sticky topics"); the classes behind them (database.ts,
 * sticky/topic/sticky.ts) have more, for the daemon and the wiring.
 */
import type { DatabaseEvents, DatabaseStats, PeerInfo } from './database.js'
import type { Event } from './realtime/event-codec.js'
import type { EventHandler, RealtimeStats } from './realtime/realtime.js'
import type { DepinLibp2p } from './host/host.js'
import type { TopicState } from './sticky/core/merge.js'
import type { Entry, HeadRecord, SubscriberEntry } from './sticky/core/records.js'
import type { HeadWithId } from './sticky/core/validation.js'
import type { SweepResult } from './sticky/replica/sweeper.js'
import type { PublishOptions, StickyEvents, SubscribeOptions, TopicInfo } from './sticky/topic/sticky.js'
import type { StickySubscription } from './sticky/topic/subscription.js'

type Listener<Events, E extends keyof Events> = Events[E] extends unknown[] ? (...args: Events[E]) => void : never

/** Event subscription as on a Node EventEmitter, typed by event name. */
export interface Emits<Events> {
  /** Calls `listener` on every `event`. */
  on<E extends keyof Events>(event: E, listener: Listener<Events, E>): this
  /** Calls `listener` on the next `event` only. */
  once<E extends keyof Events>(event: E, listener: Listener<Events, E>): this
  /** Removes a listener added with `on` or `once`. */
  off<E extends keyof Events>(event: E, listener: Listener<Events, E>): this
}

/**
 * One database (namespace) opened by {@link connect}: real-time topics (`<database>_<topic>` on
 * GossipSub), sticky topics ({@link Database.sticky}), readiness and the authorized peers. Several
 * databases of one wallet share its host; the host stops when the last one disconnects.
 *
 * Events: `ready` / `not-ready` (readiness changes), `peer:connect` ({@link PeerInfo}) and
 * `peer:disconnect` (`{ peerId, wallet }`) for peers authorized for this database.
 */
export interface Database extends Emits<DatabaseEvents> {
  /** This node's libp2p peer id (derived from the wallet key). */
  readonly peerId: string
  /** This node's wallet address (base58 of the Ed25519 public key). */
  readonly walletAddress: string
  /** The shared libp2p node, for advanced use (shared with the wallet's other databases). */
  readonly libp2p: DepinLibp2p
  /** Real-time counters: published, received, dropped by reason, handler errors. */
  readonly realtimeStats: RealtimeStats
  /** Sticky topics: history persisted in the network (see README "Sticky topics"). */
  readonly sticky: StickyTopics
  /** True while at least one peer authorized for this database is connected and identified. */
  isReady(): boolean
  /** Bytes of the host's data dir on disk (undefined without a `dataDir`). */
  dataDirBytes(): Promise<number | undefined>
  /**
   * Resolves once the database is ready (at once if it is).
   *
   * @throws {@link AbortedError} (`ERR_ABORTED`) when `options.signal` aborts first.
   */
  waitUntilReady(options?: { signal?: AbortSignal }): Promise<void>
  /** Connected peers authorized for this database, once identify has run with them (the peers `peer:connect` announced). */
  connectedPeers(): PeerInfo[]
  /**
   * Subscribes to the real-time topic `<database>_<topic>`: `handler` gets every event other nodes
   * publish there (never this node's own), once each. A handler that throws or rejects is logged and
   * the subscription continues.
   *
   * @throws {@link AlreadySubscribedError}, {@link InvalidTopicError}, {@link TopicCollisionError}
   */
  subscribe<T = unknown>(topic: string, handler: EventHandler<T>): Promise<void>
  /**
   * Stops delivering the real-time topic.
   *
   * @throws {@link NotSubscribedError} when not subscribed.
   */
  unsubscribe(topic: string): Promise<void>
  /**
   * Publishes a JSON value on the real-time topic, signed. Waits up to `publishTimeoutMs` for a
   * subscribed peer it can send to and resolves with the {@link Event} once at least one was sent it.
   *
   * @throws {@link NoSubscribersError} when no subscriber appeared in time (nothing was sent),
   * {@link InvalidMessageError} for a value that is not JSON, {@link MessageTooLargeError} above
   * `maxMessageBytes`.
   */
  publish<T = unknown>(topic: string, message: T, options?: { signal?: AbortSignal }): Promise<Event<T>>
  /** Counters for monitoring (the daemon exports them as Prometheus metrics). Gater counts are host-wide. */
  stats(): DatabaseStats
  /**
   * Stops this database; the shared host stops with the last one. Idempotent. Queued sticky
   * publishes are committed first, waiting at most `flushTimeoutMs` (default sticky commitDeadlineMs).
   */
  disconnect(options?: { flushTimeoutMs?: number }): Promise<void>
}

/**
 * Sticky topics of one database (`db.sticky`): messages persist in the network with a TTL, and late
 * subscribers get the history. See the README's "Sticky topics". Events: `commit` and
 * `channel-state`.
 */
export interface StickyTopics extends Emits<StickyEvents> {
  /**
   * Publishes a JSON value to a sticky topic; resolves once it is on a quorum of the topic's replicas.
   *
   * @throws {@link StickyCommitError}, {@link RateLimitedError}, {@link ChannelFailedError},
   * {@link NotAuthorizedError}, {@link MessageTooLargeError}, {@link TooManyTopicsError},
   * {@link ConfigError} for a `ttlMs` that is not an integer number of milliseconds >= 1
   */
  publish(topic: string, data: unknown, options?: PublishOptions): Promise<{ messageId: string, version: number, publisherSequence: number }>
  /**
   * Subscribes to a sticky topic: records this node in its subscriber collection, delivers the
   * history (unless `receiveHistory: false`), then live messages. Resolves after the history.
   */
  subscribe(topic: string, options: SubscribeOptions): Promise<StickySubscription>
  /** The topic's version, live message and subscriber counts, last change and channel state. */
  topicInfo(topic: string): Promise<TopicInfo>
  /**
   * Recovers a topic's channel: takes the highest coordinator version whose collections load on some
   * replica and commits a new version on top of it. Rejects with {@link ChannelFailedError} when no
   * version loads.
   */
  recover(topic: string, options?: { signal?: AbortSignal }): Promise<{ version: number }>
  /** Low-level: current heads of a topic across replicas (siblings included). */
  loadCoordinator(topic: string): Promise<HeadWithId[]>
  /** Low-level: the messages of one message collection (a root id), or `undefined` if it cannot be loaded. */
  loadMessageCollection(topic: string, rootId: string): Promise<Entry[] | undefined>
  /** Low-level: the entries of one subscriber collection, or `undefined` if it cannot be loaded. */
  loadSubscriberCollection(topic: string, id: string): Promise<SubscriberEntry[] | undefined>
  /** Low-level: the pure merge of loaded topic states. */
  mergeCoordinators(states: TopicState[], now?: number): TopicState
  /** Low-level: the message-collection history of a head, oldest first, walking up to `maxDepth` snapshots. */
  loadFullHistory(head: HeadRecord, maxDepth?: number): Promise<string[]>
  /** Runs one sweep of this node's stored records now (it also runs every sweepIntervalMs). */
  sweep(now?: number): Promise<SweepResult>
  /**
   * True once enough connected peers serve the replica protocol for the write quorum
   * (`writeQuorum - 1` of them); the 'ready' / 'not-ready' events report changes.
   */
  isReady(): boolean
  /**
   * Resolves once isReady() is true.
   *
   * @throws {@link AbortedError} (`ERR_ABORTED`) when `options.signal` aborts first.
   */
  waitUntilReady(options?: { signal?: AbortSignal }): Promise<void>
  /** Counters of the sticky layer (commits, retries, replica traffic...), for monitoring. */
  stats(): Record<string, number>
  /** Waits for every queued publish to be committed. */
  flush(): Promise<void>
}
