/*
 * This node's sticky subscriptions of one database, one per topic. Opening one records this node
 * in the topic's subscriber collection (once the node is sticky-ready: without a write quorum the
 * entry could not be acknowledged), opens the topic's push channel and starts the subscription
 * (history, then live messages). Closing one removes the entry again (else it expires).
 */
import type { ComponentLogger } from '../../logger.js'
import { deadlineSignal } from '../../abort.js'
import type { SubscriberEntry } from '../core/records.js'
import type { StickyOptions } from '../options.js'
import { checkTtlMs } from '../options.js'
import type { StickyStore } from '../replica/store.js'
import type { PushChannel } from './push.js'
import type { QuorumReadiness } from './quorum-readiness.js'
import type { StateLoader } from './state-loader.js'
import type { StickyState } from './sticky-state.js'
import { StickySubscription, type StickyMessage } from './subscription.js'

/** subscribe() on a node that is not sticky-ready waits this long for readiness before going on without it */
const SUBSCRIBE_READY_WAIT_MS = 5_000

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

export interface SubscriptionsDeps {
  store: StickyStore
  loader: StateLoader
  /** this node's wallet: the client of its subscriber entries */
  wallet: string
  /** the topic's committer (created on first use): writes the subscriber entry */
  committer: (topic: string) => { updateSubscriber: (entry: SubscriberEntry) => Promise<number> }
  /** sends a signed renewal for the topic; resolves with the new expiry */
  renew: (topic: string, ttlMs: number) => Promise<{ expiresAt: number }>
  pushes: Pick<PushChannel, 'open' | 'close'>
  readiness: Pick<QuorumReadiness, 'isReady' | 'waitUntilReady'>
  state: StickyState
  logger: ComponentLogger
}

export type SubscriptionsOptions = Pick<StickyOptions, 'defaultSubscriptionTtlMs' | 'maxSubscriptionTtlMs' | 'pollIntervalMs' | 'renewAtFraction' | 'commitDeadlineMs'>

export class Subscriptions {
  private readonly subs = new Map<string, StickySubscription>()

  constructor (private readonly deps: SubscriptionsDeps, private readonly options: SubscriptionsOptions) {}

  /** This node's subscription to a topic, if any. */
  get (topic: string): StickySubscription | undefined { return this.subs.get(topic) }

  has (topic: string): boolean { return this.subs.has(topic) }

  /**
   * Opens a subscription (the caller checked the topic name, onMessage and that there is none yet);
   * resolves after the history was delivered.
   */
  async open (topic: string, options: SubscribeOptions): Promise<StickySubscription> {
    const { deps } = this
    const ttlMs = checkTtlMs(options.ttlMs ?? this.options.defaultSubscriptionTtlMs, this.options.maxSubscriptionTtlMs)
    const sub = new StickySubscription({
      store: deps.store,
      loader: deps.loader,
      topic,
      onMessage: options.onMessage,
      logger: deps.logger.child('component', 'sticky-sub', 'topic', topic),
      onClose: async () => { await this.closed(topic) },
      renew: async (ttl) => await deps.renew(topic, ttl)
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
    deps.pushes.open(topic)
    const record = async (): Promise<void> => {
      const now = Date.now()
      await deps.committer(topic).updateSubscriber({ client: deps.wallet, subscribedAt: now, expiresAt: now + ttlMs, updatedAt: now })
      sub.expiresAt = now + ttlMs
    }
    try {
      // right after connecting, identify may still be running on the peers that make the quorum
      if (!deps.readiness.isReady) await deps.readiness.waitUntilReady(deadlineSignal(Math.min(SUBSCRIBE_READY_WAIT_MS, this.options.commitDeadlineMs), 'not ready')).catch(() => {})
      if (deps.readiness.isReady) {
        await record()
      } else {
        // Without enough replicas the entry could not be acknowledged (NoQuorumError after
        // commitDeadlineMs): history and live delivery start now, the entry is recorded once the
        // node is sticky-ready.
        deps.logger.info('sticky not ready: the subscription is recorded in the topic once enough replicas are connected', 'topic', topic)
        deps.state.once('ready', () => {
          if (this.subs.get(topic) !== sub) return
          record().catch((err: unknown) => { deps.logger.warn('could not record the subscription in the topic', 'topic', topic, 'error', err) })
        })
      }
      await sub.start()
      options.signal?.addEventListener('abort', () => { void sub.unsubscribe() }, { once: true })
      if (options.signal?.aborted === true) await sub.unsubscribe()
    } catch (err) {
      this.subs.delete(topic)
      deps.pushes.close(topic)
      throw err
    }
    return sub
  }

  /** Ends every subscription locally (on close). */
  async unsubscribeAll (): Promise<void> {
    for (const sub of [...this.subs.values()]) await sub.unsubscribe().catch(() => {})
  }

  /** A subscription was unsubscribed: stop its pushes and remove its entry from the topic. */
  private async closed (topic: string): Promise<void> {
    this.subs.delete(topic)
    this.deps.pushes.close(topic)
    if (this.deps.state.closed) return
    const now = Date.now()
    await this.deps.committer(topic).updateSubscriber({ client: this.deps.wallet, subscribedAt: now, expiresAt: now, updatedAt: now + 1 }).catch((err: unknown) => {
      this.deps.logger.warn('could not remove the subscription from the coordinator; it will expire', 'topic', topic, 'error', err)
    })
  }
}
