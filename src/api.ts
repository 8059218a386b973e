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
  on<E extends keyof Events>(event: E, listener: Listener<Events, E>): this
  once<E extends keyof Events>(event: E, listener: Listener<Events, E>): this
  off<E extends keyof Events>(event: E, listener: Listener<Events, E>): this
}

/** One database opened by connect(). */
export interface Database extends Emits<DatabaseEvents> {
  readonly peerId: string
  readonly walletAddress: string
  /** the shared libp2p node, for advanced use */
  readonly libp2p: DepinLibp2p
  readonly realtimeStats: RealtimeStats
  /** sticky topics (persistent history) */
  readonly sticky: StickyTopics
  isReady(): boolean
  waitUntilReady(options?: { signal?: AbortSignal }): Promise<void>
  connectedPeers(): PeerInfo[]
  subscribe<T = unknown>(topic: string, handler: EventHandler<T>): Promise<void>
  unsubscribe(topic: string): Promise<void>
  publish<T = unknown>(topic: string, message: T, options?: { signal?: AbortSignal }): Promise<Event<T>>
  /** counters for monitoring (the daemon exports them as Prometheus metrics) */
  stats(): DatabaseStats
  disconnect(options?: { flushTimeoutMs?: number }): Promise<void>
}

/** `db.sticky`: sticky topics of one database. */
export interface StickyTopics extends Emits<StickyEvents> {
  publish(topic: string, data: unknown, options?: PublishOptions): Promise<{ messageId: string, version: number, publisherSequence: number }>
  subscribe(topic: string, options: SubscribeOptions): Promise<StickySubscription>
  topicInfo(topic: string): Promise<TopicInfo>
  recover(topic: string, options?: { signal?: AbortSignal }): Promise<{ version: number }>
  // low-level calls for tools and tests
  loadCoordinator(topic: string): Promise<HeadWithId[]>
  loadMessageCollection(topic: string, rootId: string): Promise<Entry[] | undefined>
  loadSubscriberCollection(topic: string, id: string): Promise<SubscriberEntry[] | undefined>
  mergeCoordinators(states: TopicState[], now?: number): TopicState
  loadFullHistory(head: HeadRecord, maxDepth?: number): Promise<string[]>
  sweep(now?: number): Promise<SweepResult>
  stats(): Record<string, number>
  flush(): Promise<void>
}
